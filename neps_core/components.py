"""Turning settings into live plugin objects: space, optimizer and evaluator.

(The storage, which a run remembers, is opened by ``neps_core.run_storage``.)

Every name is looked up in the registries the plugins filled; options are structured into the
plugin's ``Settings`` attrs class, so an unknown or ill-typed option is an error that names
the plugin and the option.
"""

from __future__ import annotations

import difflib
import functools
import os
import typing
from collections.abc import Mapping
from typing import Any

import attrs
import cattrs

from neps_core.call_checks import names_a_folder, older_argument_order
from neps_core.component_spec import ComponentSpec
from neps_core.config import RunSettings
from neps_core.errors import SettingsError, UnknownPluginError, add_note, object_of_type
from neps_core.interfaces import Evaluator, Optimizer
from neps_core.neps_options import without_neps_options
from neps_core.plugin_checks import plugin_errors
from neps_core.plugin_manager import Plugins, warn_plugin_problem
from neps_core.registry import Registry
from neps_core.serialization import make_settings_converter
from neps_core.space import PipelineSpace

#: The hook ``optimizer="auto"`` asks.
SELECT = "neps_select_optimizer"


def resolve_space(space: Any, plugins: Plugins) -> PipelineSpace:
    """The native space for a user's space object, via the first adapter that accepts it."""
    if isinstance(space, PipelineSpace):
        return space
    for name, adapter, origin in plugins.space_adapters.in_order():  # a clash drops none
        role = f"space adapter {name!r} of"
        if not _accepts(adapter, space, f"{role} {origin}"):
            continue
        with plugin_errors(role, origin):
            adapted = adapter.adapt(space)
        if not isinstance(adapted, PipelineSpace):
            raise TypeError(
                f"{role} {origin}: adapt() returned {object_of_type(adapted)}; it must "
                "return a neps_core PipelineSpace"
            )
        return adapted
    error = SettingsError(
        f"pipeline_space: no space adapter accepts {object_of_type(space)}; installed "
        f"adapters: {sorted({name for name, _, _ in plugins.space_adapters.in_order()})}"
    )
    if isinstance(space, str | os.PathLike):
        add_note(
            error,
            "(a path is read as a YAML space, ending in .yaml or .yml; for a ConfigSpace JSON "
            "file pass ConfigurationSpace.from_json(path))",
        )
    raise error


def refuse_a_root_directory_as_space(space: Any, plugins: Plugins) -> None:
    """``run(f, "results/x")``, written for NePS's older argument order, is refused before the
    default root is opened: a folder, or a path without a file suffix, that no space adapter
    reads is meant as the root (other files get ``resolve_space``'s error, naming the files
    a space can be)."""
    if not names_a_folder(space):
        return
    adapters = plugins.space_adapters.in_order()
    if any(_accepts(cls, space, f"space adapter {name!r} of {at}") for name, cls, at in adapters):
        return
    raise SettingsError(
        f"pipeline_space {os.fspath(space)!r} is no space file (a YAML space ends in .yaml or "
        f".yml) but a folder's name: {older_argument_order(space)}"
    )


def _accepts(adapter: Any, space: Any, role: str) -> bool:
    """``adapter.can_adapt(space)``; one that raises is skipped with a warning, as it would
    otherwise break every run, not only those whose space it adapts."""
    try:
        return bool(adapter.can_adapt(space))
    except Exception as error:
        warn_plugin_problem(
            f"{role}: can_adapt() raised {type(error).__name__}: {error}; it is skipped"
        )
        return False


def structure_settings(
    settings_class: type,
    options: Mapping[str, Any],
    label: str,
    converter: cattrs.Converter | None = None,
) -> Any:
    """Build a plugin's ``Settings`` from user options; errors name the plugin and option.

    A ``Settings`` class may map other projects' option names to its own in a class
    attribute ``option_aliases`` (NePS's ``size_per_numerical_dimension`` for ``size``), and
    list NePS's options that need no counterpart in ``neps_options`` (see ``neps_options``).
    """
    options = with_canonical_names(
        settings_class, without_neps_options(settings_class, options, label), label
    )
    known = {field.name for field in attrs.fields(settings_class)}
    unknown = sorted(set(options) - known)
    if unknown:
        meant = [  # not for an option with advice: the closest name may mean something else
            f"{close[0]!r} instead of {name!r}"
            for name in unknown
            if not option_advice(name) and (close := difflib.get_close_matches(name, known, n=1))
        ]
        hint = f" (did you mean {', '.join(meant)}?)" if meant else ""
        advice = "".join(option_advice(name) for name in unknown)
        raise SettingsError(
            f"{label}: unknown option(s) {unknown}{hint}; known: {sorted(known)}{advice}"
        )
    try:
        return make_settings_converter(converter).structure(dict(options), settings_class)
    except (cattrs.BaseValidationError, cattrs.StructureHandlerNotFoundError) as error:
        left_out = {field.name for field in attrs.fields(settings_class)} - set(options)
        details = _validation_details(error, left_out)
        raise SettingsError(f"{label}: invalid options: {details}") from error
    except (TypeError, ValueError) as error:
        raise SettingsError(f"{label}: invalid options: {error}") from error


#: Options of other projects' components with no counterpart here, and what to use instead.
_FOREIGN_OPTIONS = {
    "callbacks": "DeepHyper's callbacks are observer plugins here: a plugin with the "
    "neps_trial_finished hook, passed as run(plugins=[...]); see docs/plugins/hooks.md",
    "timeout": "a per-trial timeout needs an evaluator that can stop an evaluation: "
    "'process_pool', 'subprocess', 'dask' or 'slurm'",
}


def option_advice(name: str) -> str:
    """`` (...)`` saying what to use instead of another project's option ``name``."""
    return f" ({_FOREIGN_OPTIONS[name]})" if name in _FOREIGN_OPTIONS else ""


def with_canonical_names(
    settings_class: type, options: Mapping[str, Any], label: str
) -> dict[str, Any]:
    """``options`` under the names of ``settings_class``'s fields (see ``structure_settings``)."""
    aliases: Mapping[str, str] = getattr(settings_class, "option_aliases", {})
    renamed: dict[str, Any] = {}
    for name, value in options.items():
        canonical = aliases.get(name, name)
        if canonical in renamed:
            raise SettingsError(f"{label}: {name!r} is another name of {canonical!r}; give one")
        renamed[canonical] = value
    return renamed


def _validation_details(error: Exception, left_out: set[str]) -> str:
    """The options cattrs refused, each with why; ``left_out``: options not given."""
    if isinstance(error, cattrs.BaseValidationError):
        describe = functools.partial(_describe_error, left_out=left_out)
        messages = cattrs.transform_error(error, format_exception=describe)
        # A check of the whole Settings class is located at "$"; its message names the option.
        return "; ".join(message.removesuffix(" @ $") for message in messages)
    return str(error)


def _describe_error(error: BaseException, expected: type | None, left_out: set[str]) -> str:
    if isinstance(error, KeyError) and error.args and error.args[0] in left_out:
        return f"missing required option {error.args[0]!r}"  # cattrs: a field without default
    if expected is not None and isinstance(error, TypeError | ValueError) and not str(error):
        return f"expected {expected.__name__}"
    if isinstance(error, AttributeError) and typing.get_origin(expected) in (dict, Mapping):
        return "expected a mapping such as {NAME: value}"  # cattrs called .items() on it
    return str(error) or type(error).__name__


def check_run_fits_space(settings: RunSettings, space: PipelineSpace) -> None:
    """Refuse runs that could never make progress on ``space`` instead of looping forever."""
    if len(space) == 0:
        raise SettingsError(
            "pipeline_space has no parameters: declare at least one (e.g. neps.Float) to search"
        )
    for budget in ("fidelities_to_spend", "max_fidelities_per_run"):
        if getattr(settings, budget) is None:
            continue
        if space.fidelity is None:
            raise SettingsError(
                f"{budget} needs a fidelity parameter (e.g. neps.IntegerFidelity) in "
                "pipeline_space, which has none; budget the run with evaluations_to_spend or "
                "cost_to_spend instead"
            )
        lowest = space.fidelity.lower
        if lowest <= 0:  # a trial at fidelity <= 0 would give budget back, or spend none
            raise SettingsError(
                f"{budget} sums the fidelity {space.fidelity_name!r} of every trial, so its "
                f"lower bound must be > 0, got {lowest}; budget the run with "
                "evaluations_to_spend or cost_to_spend instead"
            )


#: NePS optimizers neps_core does not ship, and what to use instead.
NEPS_OPTIMIZERS_NOT_HERE = {
    "primo": "not in neps_core; for several objectives use 'mo_asha' (with a fidelity) "
    "or 'random_search'",
    "ifbo": "not in neps_core; with a fidelity use 'asha', 'hyperband' or 'priorband'",
    "mobster": "not in neps_core; for asynchronous multi-fidelity use 'async_hb' or 'asha'",
    "default": "old NePS's name for the automatic choice, which is 'auto' here (the default: "
    "leave optimizer= out)",
    "neps_local_and_incumbent": "not in neps_core; to search around a known good "
    "configuration make it the space's prior (prior=..., prior_confidence='high') and use "
    "'priorband' or ('hyperband', {'sampler': 'prior'})",
    "mfbo": "not in neps_core; with a fidelity use 'asha' or 'priorband', without one "
    "'bayesian_optimization'",
    "mopriorband": "not in neps_core; for several objectives with priors use "
    "('mo_hyperband', {'sampler': 'prior'}) or ('mo_asha', {'sampler': 'prior'})",
    "custom": "NePS's wrapper of an optimizer of its own kind; here pass an Optimizer class "
    "(optimizer=MyOptimizer or (MyOptimizer, {...options})), see docs/plugins/index.md",
}
NEPS_OPTIMIZERS_NOT_HERE["priormoasha"] = NEPS_OPTIMIZERS_NOT_HERE["mopriorband"]


def select_optimizer_class(
    spec: ComponentSpec,
    space: PipelineSpace,
    settings: RunSettings,
    plugins: Plugins,
    *,
    multi_objective: bool = False,
) -> type[Optimizer]:
    """The optimizer class for ``spec``; ``"auto"`` asks the ``neps_select_optimizer`` hook."""
    if isinstance(spec.name, type):
        if not issubclass(spec.name, Optimizer):
            raise SettingsError(
                f"optimizer: {spec.name!r} is not an Optimizer subclass; an optimizer here "
                "subclasses neps_core.interfaces.Optimizer and implements ask(trials, budget, "
                "n) returning Proposals (NePS's __call__(trials, budget_info, n) returning "
                "SampledConfigs is not read)"
            )
        # Checked as a registration hook's class is: a missing `name` was an AttributeError.
        plugins.optimizers.check(spec.name, plugins.origin(spec.name))
        _refuse_a_taken_name(spec.name, plugins)
        return spec.name
    if spec.name != "auto":
        refuse_other_projects_name(plugins.optimizers, spec.name)
        return plugins.optimizers[spec.name]
    question = {"space": space, "settings": settings, "multi_objective": multi_objective}
    try:
        name = plugins.hook.neps_select_optimizer(**question)
    except Exception as error:
        add_note(error, f"(raised in neps_select_optimizer of {plugins.culprit(SELECT, error)})")
        raise
    if not isinstance(name, str):
        raise SettingsError(
            f"optimizer='auto': the neps_select_optimizer hook of {_answerer(plugins, question)} "
            f"answered {name!r}, not an optimizer's name"
        )
    try:
        return plugins.optimizers[name]
    except UnknownPluginError as error:
        hook = f"the neps_select_optimizer hook of {_answerer(plugins, question)}"
        add_note(error, f"(chosen for optimizer='auto' by {hook})")
        raise


def _refuse_a_taken_name(cls: type[Optimizer], plugins: Plugins) -> None:
    """A run records its optimizer by name: another class passed under an installed
    optimizer's name would be recorded as that one, and a continued run would switch to it.
    (A subclass, e.g. one that instruments it, is that optimizer still.)"""
    name = str(getattr(cls, "name", ""))
    if name in plugins.optimizers and not issubclass(cls, plugins.optimizers[name]):
        raise SettingsError(
            f"optimizer: {cls.__qualname__} is named {name!r}, the name of the installed "
            f"optimizer of {plugins.optimizers.origin(name)}; give your class a name of its "
            f"own (name: ClassVar[str] = 'my_{name}')"
        )


def _answerer(plugins: Plugins, question: dict[str, Any]) -> str:
    """The plugin whose ``neps_select_optimizer`` gave the run's answer: the first in call
    order not to abstain, found by asking each again (the hook only decides)."""
    for implementation in reversed(getattr(plugins.hook, SELECT).get_hookimpls()):
        if implementation.wrapper or implementation.hookwrapper:
            continue
        answer = implementation.function(**{k: question[k] for k in implementation.argnames})
        if answer is not None:
            return plugins.discovery.origin(implementation.plugin)
    return "an unknown plugin"


def check_optimizer_fits(cls: type[Optimizer], space: PipelineSpace) -> None:
    """Refuse optimizer/space combinations the optimizer declares it cannot handle."""
    if cls.requires_fidelity and space.fidelity_name is None:
        raise SettingsError(
            f"optimizer {cls.name!r} needs a fidelity parameter (e.g. IntegerFidelity) in the space"
        )
    if cls.requires_prior and not space.has_priors:
        raise SettingsError(f"optimizer {cls.name!r} needs priors on the space's parameters")


def build_optimizer(
    cls: type[Optimizer],
    options: Mapping[str, Any],
    space: PipelineSpace,
    seed: int | None,
    converter: cattrs.Converter | None = None,
) -> Optimizer:
    """Instantiate ``cls`` with validated options."""
    check_optimizer_fits(cls, space)
    settings = structure_settings(cls.Settings, options, f"optimizer {cls.name!r}", converter)
    try:
        return cls(space, settings, seed=seed)
    except SettingsError as error:  # options that do not fit together or with the space
        label = f"optimizer {cls.name!r}"
        if str(error).startswith(label):
            raise
        raise SettingsError(f"{label}: {error}") from error


#: DeepHyper's evaluator methods neps_core does not ship, and what to use instead.
DEEPHYPER_METHODS_NOT_HERE = {
    "thread": "not in neps_core; use 'process_pool' (n_workers) for parallel trials on this "
    "machine, or 'sync'",
    "ray": "not in neps_core; use 'dask' for a cluster, or 'slurm', or start run() on every "
    "node with one root_directory",
    "loky": "not in neps_core; use 'process_pool' (n_workers), which also reuses its processes",
    "mpicomm": "not in neps_core; start run() in every MPI rank with one root_directory "
    "(they share the run through it), or use 'dask' or 'slurm'",
}
DEEPHYPER_METHODS_NOT_HERE["mpipool"] = DEEPHYPER_METHODS_NOT_HERE["mpicomm"]  # its old name


#: Other projects' names of components neps_core lacks, by registry kind: (project, advice).
_OTHER_PROJECTS = {
    "optimizer": ("NePS", NEPS_OPTIMIZERS_NOT_HERE),
    "evaluator": ("DeepHyper", DEEPHYPER_METHODS_NOT_HERE),
}


def refuse_other_projects_name(registry: Registry[Any], name: str) -> None:
    """Raise ``UnknownPluginError`` saying what to use instead of another project's ``name``
    that no installed plugin provides (NePS's ``ifbo``, DeepHyper's ``thread``)."""
    project, missing = _OTHER_PROJECTS.get(registry.kind, ("", {}))
    if name in missing and name not in registry:
        advice = f"{project}'s {name!r} is {missing[name]}."
        raise UnknownPluginError(registry.kind, name, registry, [], advice)


def build_evaluator(spec: ComponentSpec, plugins: Plugins) -> Evaluator:
    """Instantiate the evaluator named by ``spec`` with validated options."""
    if isinstance(spec.name, str):
        refuse_other_projects_name(plugins.evaluators, spec.name)
    cls: type[Evaluator] = (
        spec.name if isinstance(spec.name, type) else plugins.evaluators[spec.name]
    )
    label = f"evaluator {spec.label!r}"
    settings = structure_settings(cls.Settings, spec.options, label, plugins.converter)
    with plugins.errors_of("evaluator", cls):
        evaluator = cls(settings)
        capacity = evaluator.capacity
    if not (isinstance(capacity, int) and capacity >= 1):  # 0 waited forever for a free slot
        raise SettingsError(
            f"{label} of {plugins.origin(cls)}: its capacity is {capacity!r}; it must be at least 1"
        )
    return evaluator
