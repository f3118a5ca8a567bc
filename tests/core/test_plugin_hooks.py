"""Hooks seen from a plugin: registration (checks, name clashes), observers, the converter hook
and errors raised in plugin code, mostly through plugins passed to ``run(plugins=...)``.

(Discovery of installed plugins, unknown names and blocking are in test_plugin_system.py.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import attrs
import cattrs
import pluggy
import pytest

import neps_core as neps
from neps_core.errors import DuplicatePluginError
from neps_core.interfaces import Optimizer, SpaceAdapter, Storage
from neps_core.models import Proposal, TrialState
from neps_core.plugin_manager import PluginLoadWarning, load_plugins
from neps_core.run_context import RunContext
from neps_core.serialization import read_yaml
from neps_core.testing import toy_objective, toy_spaces
from neps_core_plugins.disk_storage.storage import DiskStorage
from neps_core_plugins.random_search import RandomSearch
from neps_core_plugins.sync_evaluator import SyncEvaluator

pytest_plugins = ["neps_core.testing.fixtures"]

Run = Callable[..., neps.Summary]


class Recorder:
    """An observer plugin that records every call with its arguments."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @neps.hookimpl
    def neps_run_started(self, run: RunContext) -> None:
        self.calls.append(("neps_run_started", {"run": run}))

    @neps.hookimpl
    def neps_trial_sampled(self, run: RunContext, trial: neps.Trial) -> None:
        self.calls.append(("neps_trial_sampled", {"run": run, "trial": trial}))

    @neps.hookimpl
    def neps_trial_finished(self, run: RunContext, trial: neps.Trial, report: neps.Report) -> None:
        self.calls.append(("neps_trial_finished", {"run": run, "trial": trial, "report": report}))

    @neps.hookimpl
    def neps_run_finished(self, run: RunContext, summary: neps.Summary) -> None:
        self.calls.append(("neps_run_finished", {"run": run, "summary": summary}))

    def events(self) -> list[str]:
        return [name.removeprefix("neps_") for name, _ in self.calls]


def _failing_third(pipeline_id: str, **config: Any) -> float:
    if pipeline_id == "3":
        raise RuntimeError("the third one breaks")
    return toy_objective(config)


# -- observers -----------------------------------------------------------------------------------
def test_observers_see_the_run_and_every_trial(neps_run: Run, neps_root: Path) -> None:
    recorder = Recorder()
    summary = neps_run(
        evaluate_pipeline=_failing_third,
        evaluations_to_spend=4,
        ignore_errors=True,
        worker_id="observed-worker",
        optimizer="random_search",
        plugins=[recorder],
    )
    assert recorder.events() == [
        "run_started",
        *["trial_sampled", "trial_finished"] * 4,
        "run_finished",
    ]
    runs = {id(arguments["run"]) for _, arguments in recorder.calls}
    assert len(runs) == 1  # one context for the whole run
    run = recorder.calls[0][1]["run"]
    assert run.worker_id == "observed-worker"
    assert run.root_directory == neps_root
    assert isinstance(run.storage, Storage)
    assert run.optimizer.name == "random_search"
    assert set(run.space) == set(summary.best_config or {})

    sampled = [a["trial"] for name, a in recorder.calls if name == "neps_trial_sampled"]
    finished = [a for name, a in recorder.calls if name == "neps_trial_finished"]
    assert [t.id for t in sampled] == [a["trial"].id for a in finished] == ["1", "2", "3", "4"]
    assert all(t.state is TrialState.EVALUATING for t in sampled)
    assert all(t.worker_id == "observed-worker" for t in sampled)
    for arguments in finished:
        trial, report = arguments["trial"], arguments["report"]
        assert report == trial.report
        expected = TrialState.FAILED if trial.id == "3" else TrialState.SUCCESS
        assert trial.state is expected
        if expected is TrialState.SUCCESS:
            assert report.objective_to_minimize == toy_objective(trial.config)
        else:
            assert report.error is not None
            assert "the third one breaks" in report.error
    assert recorder.calls[-1][1]["summary"] is summary
    assert summary.counts["success"] == 3
    assert summary.counts["failed"] == 1


def test_a_continued_run_with_nothing_left_only_starts_and_finishes(neps_run: Run) -> None:
    neps_run(evaluations_to_spend=2)
    recorder = Recorder()
    neps_run(evaluations_to_spend=2, plugins=[recorder])
    assert recorder.events() == ["run_started", "run_finished"]
    assert recorder.calls[-1][1]["summary"].counts["success"] == 2


def test_run_finished_fires_when_an_evaluation_error_stops_the_run(neps_run: Run) -> None:
    recorder = Recorder()
    with pytest.raises(RuntimeError, match="the third one breaks"):
        neps_run(evaluate_pipeline=_failing_third, evaluations_to_spend=5, plugins=[recorder])
    assert recorder.events()[-1] == "run_finished"
    assert recorder.calls[-1][1]["summary"].counts["failed"] == 1


class FailsToFinish:
    """An observer whose ``neps_run_finished`` raises ``message``."""

    def __init__(self, message: str) -> None:
        self.message = message

    @neps.hookimpl
    def neps_run_finished(self, run: RunContext, summary: neps.Summary) -> None:
        raise RuntimeError(self.message)


def test_every_observer_hears_the_end_of_the_run_when_one_raises(neps_run: Run) -> None:
    """pluggy stopped at the first error: the observers after it (the progress line, others
    registered earlier) never ended, and their state outlived the run."""
    recorder = Recorder()
    with pytest.raises(RuntimeError, match="first observer fails") as caught:
        # Called in reverse order of registration: the failing ones come first.
        neps_run(
            evaluations_to_spend=1,
            plugins=[
                recorder,
                FailsToFinish("second observer fails"),
                FailsToFinish("first observer fails"),
            ],
        )
    assert recorder.events()[-1] == "run_finished"
    notes = caught.value.__notes__
    assert notes[0].startswith("(raised in neps_run_finished of run(plugins=...) 'FailsToFinish')")
    assert "second observer fails" in notes[1]


class WrapsRunStart:
    @neps.hookimpl(wrapper=True)
    def neps_run_started(self, run: RunContext) -> Any:
        return (yield)


class WrapsTrialSampled:
    @neps.hookimpl(wrapper=True)
    def neps_trial_sampled(self, run: RunContext, trial: neps.Trial) -> Any:
        return (yield)


@pytest.mark.parametrize(
    ("wrapping", "hook"),
    [(WrapsRunStart, "neps_run_started"), (WrapsTrialSampled, "neps_trial_sampled")],
)
def test_an_observer_hook_wrapper_is_refused_before_the_run_starts(
    neps_run: Run, neps_root: Path, wrapping: type, hook: str
) -> None:
    """Refused only when first called, a wrapped ``neps_trial_sampled`` failed the run after
    its first trial was created, leaving it pending in a new root."""
    with pytest.raises(pluggy.PluginValidationError) as caught:
        neps_run(evaluations_to_spend=1, plugins=[wrapping()])
    assert str(caught.value).endswith(
        f"{wrapping.__name__}' implements the observer hook(s) '{hook}' as a hook wrapper: "
        "observer hooks are called one by one (each is told even when another raises), so "
        "there is nothing to wrap; write them as plain @neps_core.hookimpl functions"
    )
    assert not neps_root.exists()


# -- registration hooks of plugins passed to run() ------------------------------------------------
class RegistersOptimizers:
    """An ad-hoc plugin object (as passed to ``run(plugins=...)``) registering ``classes``."""

    def __init__(self, *classes: type) -> None:
        self.classes = list(classes)

    @neps.hookimpl
    def neps_register_optimizers(self) -> list[type]:
        return self.classes


def test_a_name_claimed_twice_names_both_origins(neps_run: Run) -> None:
    class Impostor(RandomSearch):
        name = "random_search"

    with pytest.raises(DuplicatePluginError) as caught:
        neps_run(plugins=[RegistersOptimizers(Impostor)])
    message = str(caught.value)
    assert "'random_search' is registered twice" in message
    assert "distribution 'neps-core' (entry point 'random_search')" in message
    assert "run(plugins=...)" in message
    assert "neps_core_plugins.random_search.RandomSearch" in message
    assert "Impostor" in message


def test_an_alias_answers_for_its_class_and_clashes_like_a_name(neps_run: Run) -> None:
    class Aliased(RandomSearch):
        name = "aliased_search"
        aliases = ("other_spelling",)

    summary = neps_run(optimizer="other_spelling", plugins=[RegistersOptimizers(Aliased)])
    assert summary.counts["success"] == 5

    class Squatter(RandomSearch):
        name = "squatter"
        aliases = ("random_search",)

    with pytest.raises(DuplicatePluginError, match=r"'random_search' .* twice.*Squatter"):
        neps_run(plugins=[RegistersOptimizers(Squatter)])


def test_registering_the_same_class_twice_is_harmless(neps_run: Run) -> None:
    summary = neps_run(optimizer="random_search", plugins=[RegistersOptimizers(RandomSearch)])
    assert summary.counts["success"] == 5


def test_an_ad_hoc_object_registers_an_optimizer_for_one_run(
    neps_run: Run, neps_root: Path
) -> None:
    class Local(RandomSearch):
        name = "local_search_of_my_site"

    summary = neps_run(optimizer="local_search_of_my_site", plugins=[RegistersOptimizers(Local)])
    assert summary.counts["success"] == 5
    assert read_yaml(neps_root / "run_info.yaml")["optimizer"] == "local_search_of_my_site"
    assert "local_search_of_my_site" not in load_plugins().optimizers


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (
            RandomSearch,
            r"neps_register_optimizers of run\(plugins=...\) .* returned "
            r"<class .*RandomSearch'> \(a class\); it must return a list",
        ),
        (
            [int],
            r"run\(plugins=...\) .* registered <class 'int'> as optimizer: "
            r"not a subclass of neps_core.interfaces.optimizer.Optimizer",
        ),
        (
            [type("Letters", (RandomSearch,), {"name": "letters", "aliases": "topk"})],
            r"`aliases` must be a tuple of names, .* not 'topk'",
        ),
        (
            [type("Plain", (RandomSearch,), {"name": "plain", "Settings": type("S", (), {})})],
            r"`Settings` must be an attrs class",
        ),
        (
            [type("Unfinished", (Optimizer,), {"name": "unfinished"})],
            r"optimizer class .*Unfinished'> from run\(plugins=...\) .* leaves ask abstract",
        ),
        (
            None,
            r"neps_register_optimizers of run\(plugins=...\) .* returned None: is its `return`",
        ),
    ],
    ids=[
        "a bare class",
        "not an optimizer",
        "aliases as a str",
        "plain Settings",
        "abstract",
        "no return",
    ],
)
def test_a_bad_registration_is_refused_naming_the_plugin(
    neps_run: Run, returned: Any, message: str
) -> None:
    class Plugin:
        @neps.hookimpl
        def neps_register_optimizers(self) -> Any:
            return returned

    with pytest.raises(TypeError, match=message):
        neps_run(optimizer="random_search", plugins=[Plugin()])


def test_a_misspelt_hook_is_refused_and_an_optional_one_is_not(neps_run: Run) -> None:
    class Typo:
        @neps.hookimpl
        def neps_trial_finshed(self, run: Any, trial: Any, report: Any) -> None:
            pass

        @neps.hookimpl(optionalhook=True)
        def neps_hook_of_a_later_version(self) -> None:
            pass

    with pytest.raises(pluggy.PluginValidationError) as caught:
        neps_run(plugins=[Typo()])
    assert str(caught.value).startswith("run(plugins=...) '")
    assert str(caught.value).endswith(
        "Typo' implements unknown hook(s) 'neps_trial_finshed' (did you mean "
        "'neps_trial_finished'?), which neps_core never calls; see the hook reference (mark "
        "hooks of other neps_core versions @hookimpl(optionalhook=True))"
    )
    del Typo.neps_trial_finshed
    assert neps_run(plugins=[Typo()]).counts["success"] == 5


def test_a_hook_with_an_argument_its_spec_lacks_is_refused_naming_the_plugin(
    neps_run: Run,
) -> None:
    """pluggy's own message named the plugin by its id(), a number."""

    class Extra:
        @neps.hookimpl
        def neps_trial_finished(self, run: Any, trial: Any, report: Any, nonexistent: Any) -> None:
            pass

    with pytest.raises(pluggy.PluginValidationError) as caught:
        neps_run(plugins=[Extra()])
    message = str(caught.value)
    assert message.startswith("run(plugins=...) '")
    assert "Extra' for hook 'neps_trial_finished'" in message
    assert "Argument(s) {'nonexistent'}" in message
    assert str(id(caught.value.plugin)) not in message


def test_a_hook_without_hookimpl_is_refused_naming_the_plugin(neps_run: Run) -> None:
    """pluggy skips it without a word: the run failed with "Unknown optimizer"."""

    class Unmarked:
        def neps_register_optimizers(self) -> list[type]:
            return [RandomSearch]

        @neps.hookimpl
        def neps_trial_finished(self, run: Any, trial: Any, report: Any) -> None:
            pass

    with pytest.raises(pluggy.PluginValidationError) as caught:
        neps_run(plugins=[Unmarked()])
    assert str(caught.value).startswith("run(plugins=...) '")
    assert str(caught.value).endswith(
        "Unmarked' defines 'neps_register_optimizers' without @neps_core.hookimpl, so "
        "neps_core never calls it; decorate it with @neps_core.hookimpl"
    )


def test_an_async_or_generator_hook_is_refused_naming_the_plugin(neps_run: Run) -> None:
    """Called, but what the call returned never ran: the observer silently saw nothing (a
    RuntimeWarning, pointing into neps_core, said a coroutine was never awaited)."""

    class Unrun:
        def __init__(self) -> None:
            self.finished = 0

        @neps.hookimpl
        async def neps_trial_finished(self, run: Any, trial: Any, report: Any) -> None:
            self.finished += 1

        @neps.hookimpl
        def neps_trial_sampled(self, run: Any, trial: Any) -> Any:
            yield trial

    with pytest.raises(pluggy.PluginValidationError) as caught:
        neps_run(plugins=[Unrun()])
    assert str(caught.value).startswith("run(plugins=...) '")
    assert str(caught.value).endswith(
        "Unrun' implements 'neps_trial_finished' (async def), 'neps_trial_sampled' (a "
        "generator), which neps_core calls without running the coroutine or generator the call "
        "returns: the hook's body never runs; write hooks as plain functions (`def`, no "
        "`yield`), calling asyncio.run(...) inside one for asynchronous work"
    )


def test_a_plugin_without_any_hook_is_warned_about(neps_run: Run) -> None:
    nothing = ModuleType("helpers_not_hooks")
    with pytest.warns(PluginLoadWarning) as warned:
        assert neps_run(plugins=[nothing]).counts["success"] == 5
    assert [str(w.message) for w in warned] == [
        "run(plugins=...) 'helpers_not_hooks' implements no neps_core hook, so it does nothing; "
        "hooks are functions (or methods) named like one of the hook reference and decorated "
        "@neps_core.hookimpl"
    ]


def test_plugin_warnings_point_at_the_users_call(
    neps_run: Run, neps_disable_plugins: Callable[..., None]
) -> None:
    neps_disable_plugins("grid_serch")
    with pytest.warns(PluginLoadWarning) as warned:
        neps_run()  # deep inside run(), through the neps_core.testing fixture
    assert {(w.filename, w.lineno) for w in warned} == {(__file__, _line_of("neps_run()  # deep"))}


def _line_of(text: str) -> int:
    lines = Path(__file__).read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if line.strip().startswith(text))


# -- errors in plugin code -----------------------------------------------------------------------
class PluginBug(Exception):
    """An error of a plugin's own type."""


def _notes(error: BaseException) -> str:
    return " ".join(getattr(error, "__notes__", []))


class BuggyOptimizer(RandomSearch):
    name = "buggy_optimizer"

    def ask(self, trials: Any, budget: Any, n: int) -> Any:
        raise PluginBug("ask broke")


class BuggyStorage(DiskStorage):
    name = "buggy_storage"

    def __init__(self, root_directory: Path, **options: Any) -> None:
        raise PluginBug("cannot open")


class Contributor:
    """An ad-hoc plugin contributing the buggy classes."""

    @neps.hookimpl
    def neps_register_optimizers(self) -> list[type]:
        return [BuggyOptimizer]

    @neps.hookimpl
    def neps_register_storages(self) -> list[type]:
        return [BuggyStorage]


def test_an_optimizer_error_keeps_its_type_and_names_the_plugin(neps_run: Run) -> None:
    with pytest.raises(PluginBug, match="ask broke") as caught:
        neps_run(optimizer="buggy_optimizer", plugins=[Contributor()])
    assert "optimizer 'buggy_optimizer'" in _notes(caught.value)
    assert "run(plugins=...)" in _notes(caught.value)


def _optimizer_answering(name: str, mistake: Callable[[list[Proposal]], Any]) -> type:
    """A random search whose ``ask()`` answer a plugin author got wrong in one way."""

    def ask(self: Any, trials: Any, budget: Any, n: int) -> Any:
        return mistake(list(RandomSearch.ask(self, trials, budget, n)))

    return type(name, (RandomSearch,), {"name": name, "ask": ask})


@pytest.mark.parametrize(
    ("mistake", "error", "message"),
    [
        # Was a bare "'dict' object has no attribute 'config'" naming nobody.
        (
            lambda ps: [p.config for p in ps],
            TypeError,
            r"returned an object of type dict from ask\(\); it must",
        ),
        # Was accepted: evaluate_pipeline got a previous_pipeline_directory that did not exist.
        (
            lambda ps: [attrs.evolve(p, previous_trial_id="999") for p in ps],
            ValueError,
            r"continue trial '999' \(previous_trial_id\), which this run",
        ),
        # These were "... is not iterable", noted as raised by the optimizer.
        (lambda ps: None, TypeError, r"ask\(\) returned an object of type NoneType; it must"),
        (lambda ps: ps[0], TypeError, r"ask\(\) returned an object of type Proposal; it must"),
        (lambda ps: [Proposal(None)], TypeError, "proposed an object of type NoneType as a config"),  # type: ignore[arg-type]
    ],
    ids=["dicts", "unknown previous trial", "None", "a lone proposal", "a None config"],
)
def test_malformed_proposals_are_refused_naming_the_optimizer(
    neps_run: Run, neps_root: Path, mistake: Callable[..., Any], error: type, message: str
) -> None:
    optimizer = _optimizer_answering("sloppy", mistake)
    with pytest.raises(error, match=message) as caught:
        neps_run(optimizer=optimizer)
    assert "Optimizer 'sloppy'" in str(caught.value)
    assert not (neps_root / "configs").exists() or not any((neps_root / "configs").iterdir())


def _evaluator_answering(name: str, mistake: Callable[[list[Any]], Any], capacity: int = 1) -> type:
    """The in-process evaluator with its ``wait()`` answer wrong in one way."""

    def wait(self: Any, timeout: float | None = None) -> Any:
        outcomes = SyncEvaluator.wait(self, timeout)
        return mistake(outcomes) if outcomes else outcomes

    return type(name, (SyncEvaluator,), {"name": name, "wait": wait, "capacity": capacity})


def _int_id(outcome: Any) -> Any:
    return attrs.evolve(outcome, trial_id=int(outcome.trial_id))


class DownClusterEvaluator(SyncEvaluator):
    name = "cluster_down"

    def submit(self, job: Any) -> None:
        raise PluginBug("cluster down")


class EvaluatorContributor:
    @neps.hookimpl
    def neps_register_evaluators(self) -> list[type]:
        return [
            DownClusterEvaluator,
            _evaluator_answering("raw_values", lambda outcomes: [o.result for o in outcomes]),
            _evaluator_answering("twice", lambda outcomes: outcomes * 2),  # was a bare KeyError
            _evaluator_answering("int_ids", lambda outcomes: [_int_id(o) for o in outcomes]),
            _evaluator_answering(
                "one_int_id", lambda outcomes: [*outcomes[:-1], _int_id(outcomes[-1])], capacity=2
            ),
            _evaluator_answering("nothing", lambda outcomes: None),
            _evaluator_answering(  # was stored, then "exceptions must derive from BaseException"
                "error_text", lambda outcomes: [attrs.evolve(o, error="boom") for o in outcomes]
            ),
            _evaluator_answering(  # was stored, then read back as corrupted: its result lost
                "timedelta_duration",
                lambda outcomes: [attrs.evolve(o, duration=timedelta(seconds=3)) for o in outcomes],
            ),
            _evaluator_answering(  # was "'list' object has no attribute 'splitlines'", no note
                "listed_traceback",
                lambda outcomes: [attrs.evolve(o, traceback=["line 1"]) for o in outcomes],
            ),
            _evaluator_answering(  # was "'NoneType' object is not a mapping", no note
                "no_metadata", lambda outcomes: [attrs.evolve(o, metadata=None) for o in outcomes]
            ),
        ]


@pytest.mark.parametrize(
    ("evaluator", "error", "message"),
    [
        ("cluster_down", PluginBug, "cluster down"),  # had no note
        (
            "raw_values",
            TypeError,
            r"wait\(\) returned an object of type float; it must return a list",
        ),
        ("nothing", TypeError, r"wait\(\) returned an object of type NoneType; it must"),
        ("error_text", TypeError, "trial '1' whose error is a str; it must be the exception"),
        (
            "timedelta_duration",
            TypeError,
            r"trial '1' whose duration is datetime.timedelta\(seconds=3\); it must be a number",
        ),
        ("listed_traceback", TypeError, "trial '1' whose traceback is an object of type list"),
        (
            "no_metadata",
            TypeError,
            "trial '1' whose metadata is an object of type NoneType; it must",
        ),
        # Was "... for trial 1, which is not in flight (any more): in flight were ['1']".
        ("int_ids", TypeError, r"trial_id is 1, of type int; trial ids are str: pass the job's"),
    ],
)
def test_an_evaluator_error_names_the_plugin_and_loses_no_trial(
    neps_run: Run, neps_root: Path, evaluator: str, error: type, message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        neps_run(evaluator=evaluator, plugins=[EvaluatorContributor()])
    assert f"evaluator {evaluator!r} of run(plugins=...)" in _notes(caught.value)
    assert neps.status(neps_root).counts["pending"] == 1  # handed back, not lost


@pytest.mark.parametrize(
    ("evaluator", "message", "pending"),
    [
        ("twice", r"wait\(\) returned two outcomes for trial '1'\n", 0),
        ("one_int_id", r"trial_id is 2, of type int; trial ids are str", 1),
    ],
)
def test_the_well_formed_outcomes_of_a_refused_wait_are_stored(
    neps_run: Run, neps_root: Path, evaluator: str, message: str, pending: int
) -> None:
    # They were handed back with the malformed one, and evaluated again by the next run.
    with pytest.raises((TypeError, ValueError), match=message) as caught:
        neps_run(evaluator=evaluator, plugins=[EvaluatorContributor()])
    assert f"evaluator {evaluator!r} of run(plugins=...)" in _notes(caught.value)
    counts = neps.status(neps_root).counts
    assert (counts["success"], counts["pending"]) == (1, pending)


class FailingTrialObserver:
    @neps.hookimpl
    def neps_trial_finished(self, run: RunContext, trial: neps.Trial, report: neps.Report) -> None:
        raise RuntimeError("observer fails")


def test_a_refused_wait_is_raised_when_storing_its_other_outcomes_fails(neps_run: Run) -> None:
    # The observer's error replaced the refusal: the evaluator's bug went unreported.
    with pytest.raises(TypeError, match=r"trial_id is 2, of type int") as caught:
        neps_run(evaluator="one_int_id", plugins=[EvaluatorContributor(), FailingTrialObserver()])
    assert "evaluator 'one_int_id' of run(plugins=...)" in _notes(caught.value)
    assert repr(caught.value.__context__) == "RuntimeError('observer fails')"


class UnreachableCluster(SyncEvaluator):
    name = "unreachable"

    def __init__(self, settings: Any = None) -> None:
        raise PluginBug("no route to the scheduler")


class NoSlots(SyncEvaluator):
    name = "no_slots"
    capacity = 0


class BrokenOptimizer(RandomSearch):
    name = "broken_at_start"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise PluginBug("model file missing")


class Starters:
    @neps.hookimpl
    def neps_register_evaluators(self) -> list[type]:
        return [UnreachableCluster, NoSlots]

    @neps.hookimpl
    def neps_register_optimizers(self) -> list[type]:
        return [BrokenOptimizer]


@pytest.mark.parametrize(
    ("component", "error", "message", "note"),
    [
        ({"evaluator": "unreachable"}, PluginBug, "no route", "evaluator 'unreachable' of"),
        ({"optimizer": "broken_at_start"}, PluginBug, "model file", "optimizer 'broken_at_start'"),
        # A capacity of 0 waited forever for a free slot.
        (
            {"evaluator": "no_slots"},
            neps.SettingsError,
            "of run.plugins=.... 'Starters': its capacity is 0; it must",
            "",
        ),
    ],
    ids=["evaluator", "optimizer", "capacity 0"],
)
def test_a_plugin_failing_to_start_is_named(
    neps_run: Run, component: dict[str, str], error: type, message: str, note: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        neps_run(plugins=[Starters()], **component)
    assert note in _notes(caught.value)


class FailsToClose(SyncEvaluator):
    name = "fails_to_close"

    def close(self) -> None:
        raise PluginBug("cluster session lost")


class Closers:
    @neps.hookimpl
    def neps_register_evaluators(self) -> list[type]:
        return [FailsToClose]


def test_a_close_error_while_checking_an_overwrite_names_the_plugin(
    neps_run: Run, neps_root: Path
) -> None:
    """overwrite_root_directory builds the evaluator (and closes it) to check the new run."""
    neps_run(evaluations_to_spend=2)
    with pytest.raises(PluginBug, match="cluster session lost") as caught:
        neps_run(evaluator="fails_to_close", overwrite_root_directory=True, plugins=[Closers()])
    assert "evaluator 'fails_to_close' of run(plugins=...) 'Closers'" in _notes(caught.value)
    assert neps.status(neps_root).counts["success"] == 2  # the old run is still there


def test_a_storage_error_keeps_its_type_and_names_the_plugin(neps_run: Run) -> None:
    with pytest.raises(PluginBug, match="cannot open") as caught:
        neps_run(storage="buggy_storage", plugins=[Contributor()])
    assert "storage 'buggy_storage'" in _notes(caught.value)


def test_a_registration_error_keeps_its_type_and_names_the_plugin(neps_run: Run) -> None:
    class Broken:
        @neps.hookimpl
        def neps_register_evaluators(self) -> list[type]:
            raise PluginBug("registration broke")

    with pytest.raises(PluginBug, match="registration broke") as caught:
        neps_run(plugins=[Broken()])
    assert "neps_register_evaluators of run(plugins=...)" in _notes(caught.value)


def test_a_space_adapter_error_keeps_its_type_and_names_the_plugin(neps_run: Run) -> None:
    class Adapter(SpaceAdapter):
        name = "fussy"

        @classmethod
        def can_adapt(cls, space: Any) -> bool:
            return isinstance(space, str) and space.startswith("fussy:")

        @classmethod
        def adapt(cls, space: Any) -> Any:
            raise PluginBug("unreadable space")

    class Plugin:
        @neps.hookimpl
        def neps_register_space_adapters(self) -> list[type]:
            return [Adapter]

    with pytest.raises(PluginBug, match="unreadable space") as caught:
        neps_run(pipeline_space="fussy:space", plugins=[Plugin()])
    assert "space adapter 'fussy'" in _notes(caught.value)


def test_an_observer_error_keeps_its_type_and_names_the_plugin(neps_run: Run) -> None:
    class Observer:
        @neps.hookimpl
        def neps_trial_sampled(self, run: Any, trial: Any) -> None:
            raise PluginBug("observer broke")

    with pytest.raises(PluginBug, match="observer broke") as caught:
        neps_run(plugins=[Observer()])
    assert "neps_trial_sampled" in _notes(caught.value)
    assert "run(plugins=...)" in _notes(caught.value)


class MarkingSearch(RandomSearch):
    """Proposes with metadata, including marks only the runtime may set."""

    name = "marking_search"

    def ask(self, trials: Any, budget: Any, n: int) -> list[Proposal]:
        marks = {
            "awaiting_result": True,
            "worker_process": "x/1/2",
            "stale_after": 1e9,
            "source": "mine",
        }
        return [attrs.evolve(p, metadata=marks) for p in super().ask(trials, budget, n)]


def test_a_proposals_metadata_reaches_its_trial_without_the_runtimes_marks(
    neps_run: Run,
) -> None:
    """A copied "awaiting_result" made a promotion look asynchronous: never re-queued."""
    sampled: list[dict[str, Any]] = []

    class Plugin:
        @neps.hookimpl
        def neps_register_optimizers(self) -> list[type]:
            return [MarkingSearch]

        @neps.hookimpl
        def neps_trial_sampled(self, trial: Any) -> None:
            sampled.append(dict(trial.metadata))

    neps_run(optimizer="marking_search", plugins=[Plugin()], sample_batch_size=3)
    assert len(sampled) == 5
    assert all(metadata.get("source") == "mine" for metadata in sampled)
    assert not any(metadata.get("awaiting_result") for metadata in sampled)
    assert all(metadata.get("worker_process") != "x/1/2" for metadata in sampled)
    assert all(metadata.get("stale_after") == 120.0 for metadata in sampled)  # the run's


# -- the converter hook --------------------------------------------------------------------------
@attrs.frozen
class StepSettings:
    step: Fraction = Fraction(1, 2)
    use_priors: bool = False  # read by the inherited RandomSearch.ask


class StepSearch(RandomSearch):
    name = "step_search"
    Settings: ClassVar[type] = StepSettings


class FractionPlugin:
    """Teaches the shared converter the plugin's own option type."""

    def __init__(self) -> None:
        self.converters: list[cattrs.Converter] = []

    @neps.hookimpl
    def neps_register_optimizers(self) -> list[type]:
        return [StepSearch]

    @neps.hookimpl
    def neps_configure_converter(self, converter: cattrs.Converter) -> None:
        self.converters.append(converter)
        converter.register_structure_hook(Fraction, lambda value, _: Fraction(value))
        converter.register_unstructure_hook(Fraction, str)


def test_plugins_configure_the_shared_converter(neps_run: Run) -> None:
    plugin = FractionPlugin()
    summary = neps_run(optimizer=("step_search", {"step": "1/3"}), plugins=[plugin])
    assert summary.counts["success"] == 5
    assert plugin.converters
    assert all(isinstance(c, cattrs.Converter) for c in plugin.converters)


def test_the_plugins_converter_records_and_reads_back_its_option_types(
    neps_run: Run, neps_root: Path, tmp_path: Path
) -> None:
    """The run recorded ``Fraction(1, 3)``'s repr and a continued ``"auto"`` run failed on it;
    a run config's options were checked without the plugin's structure hook."""
    neps_run(optimizer=("step_search", {"step": "1/3"}), plugins=[FractionPlugin()])
    info = read_yaml(neps_root / "run_info.yaml")
    assert info["optimizer_settings"]["step"] == "1/3"
    summary = neps_run(evaluations_to_spend=7, plugins=[FractionPlugin()])  # "auto" continues
    assert summary.counts["success"] == 7

    (tmp_path / "fraction_plugin.py").write_text(FRACTION_PLUGIN_MODULE, encoding="utf-8")
    config = tmp_path / "run.yaml"
    config.write_text(
        "plugins: ['fraction_plugin:Plugin']\n"
        "optimizer: {name: yaml_step_search, step: '2/3'}\n"
        f"root_directory: {tmp_path / 'from_yaml'}\n"
        "evaluations_to_spend: 2\n",
        encoding="utf-8",
    )
    summary = neps.run(
        evaluate_pipeline=lambda **c: 1.0, pipeline_space=toy_spaces()["mixed"], run_config=config
    )
    assert summary.counts["success"] == 2


FRACTION_PLUGIN_MODULE = """
from fractions import Fraction

import attrs

import neps_core as neps
from neps_core_plugins.random_search import RandomSearch


@attrs.frozen
class Settings:
    step: Fraction = Fraction(1, 2)
    use_priors: bool = False


class YamlStepSearch(RandomSearch):
    name = "yaml_step_search"
    Settings = Settings


class Plugin:
    @neps.hookimpl
    def neps_register_optimizers(self):
        return [YamlStepSearch]

    @neps.hookimpl
    def neps_configure_converter(self, converter):
        converter.register_structure_hook(Fraction, lambda value, _: Fraction(value))
        converter.register_unstructure_hook(Fraction, str)
"""
