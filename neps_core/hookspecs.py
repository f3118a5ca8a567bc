"""The hook contract between the neps_core core and its plugins.

Plugins are modules (or objects) with functions marked ``@neps_core.hookimpl`` whose names
match the specifications below. They are found through the ``neps_core`` entry-point group,
or passed ad hoc with ``neps_core.run(..., plugins=[...])``. The built-in optimizers,
storages, evaluators and space adapters use exactly these hooks.

Hooks come in three phases:

* **registration** - plugins contribute classes; results from all plugins are collected and
  every class is registered under its ``name`` (a name two installed plugins claim fails the
  runs that select it, one a plugin of ``run(plugins=...)`` claims again fails that run at
  once; either way with a ``DuplicatePluginError`` naming both);
* **decision** - the first plugin with an answer wins;
* **observation** - plugins are told what happened; they return nothing and cannot change it.
  Every implementation is called, even after one raised (so each observer also hears of the
  end of a run, to clean up); then the first error is raised with a note naming its plugin,
  and the run stops as for any error. Observer hooks are called one by one, so they cannot be
  wrappers (``wrapper=True``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import cattrs

    from neps_core.interfaces import Evaluator, Optimizer, SpaceAdapter, Storage
    from neps_core.models import Report, Summary, Trial
    from neps_core.run_context import RunContext
    from neps_core.space import PipelineSpace

PROJECT_NAME = "neps_core"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: The observation hooks below, each implementation called on its own (``Plugins.notify``).
OBSERVER_HOOKS = frozenset(
    {"neps_run_started", "neps_trial_sampled", "neps_trial_finished", "neps_run_finished"}
)


# -- registration ------------------------------------------------------------------------------
@hookspec
def neps_register_optimizers() -> Sequence[type[Optimizer]]:
    """Return optimizer classes (subclasses of ``neps_core.interfaces.Optimizer``).

    Each class is selectable as ``optimizer="<cls.name>"``; its ``Settings`` attrs class
    validates the options given with it.
    """


@hookspec
def neps_register_storages() -> Sequence[type[Storage]]:
    """Return storage classes (subclasses of ``neps_core.interfaces.Storage``).

    Each class is selectable as ``storage="<cls.name>"`` and through URLs whose scheme it
    lists in ``schemes``.
    """


@hookspec
def neps_register_evaluators() -> Sequence[type[Evaluator]]:
    """Return evaluator classes (subclasses of ``neps_core.interfaces.Evaluator``).

    Each class is selectable as ``evaluator="<cls.name>"`` or
    ``evaluator={"name": "<cls.name>", **options}``.
    """


@hookspec
def neps_register_space_adapters() -> Sequence[type[SpaceAdapter]]:
    """Return space adapters that turn user space objects into a native ``PipelineSpace``.

    Adapters are asked in pluggy's call order: ``tryfirst`` ones, then plain ones (plugins
    registered later first), then ``trylast`` ones (earlier first), among them the built-in
    adapters; the first whose ``can_adapt`` accepts the object converts it.
    """


@hookspec
def neps_configure_converter(converter: cattrs.Converter) -> None:
    """Add cattrs (un)structure hooks for a plugin's own types to the shared converter.

    Each plugin's hook is called on its own: an installed plugin whose hook raises is broken
    (left out, like one that fails to import) and the converter is built again without it.
    """


# -- decision ----------------------------------------------------------------------------------
@hookspec(firstresult=True)
def neps_select_optimizer(space: PipelineSpace, settings: Any, multi_objective: bool) -> str | None:
    """Return the optimizer name to use for ``optimizer="auto"``, or ``None`` to abstain.

    The built-in choice is registered with ``trylast``, so any plugin may override it.
    ``settings`` are the run's validated ``neps_core.config.RunSettings``. ``multi_objective``
    is true once the run's results have several objectives: the hook is asked again then,
    and the run switches to its answer if the first choice cannot use such results.
    """


# -- observation -------------------------------------------------------------------------------
@hookspec
def neps_run_started(run: RunContext) -> None:
    """A worker started (or continued) a run; ``run`` exposes settings, space and storage."""


@hookspec
def neps_trial_sampled(run: RunContext, trial: Trial) -> None:
    """This worker claimed ``trial`` and is about to hand it to the evaluator."""


@hookspec
def neps_trial_finished(run: RunContext, trial: Trial, report: Report) -> None:
    """``trial`` got its result; ``report`` is what was stored (``trial.state`` is final).

    Also called for a trial that became CRASHED in this worker (a job the scheduler lost,
    after its last attempt), and for this worker's asynchronous trials (``evaluate_pipeline``
    returned ``None``) whose ``save_pipeline_results`` it sees arrive while it runs.
    """


@hookspec
def neps_run_finished(run: RunContext, summary: Summary) -> None:
    """This worker stopped; ``summary`` describes the whole run as far as it is known."""
