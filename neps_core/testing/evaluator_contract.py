"""The contract every evaluator plugin fulfils, as pytest classes to subclass.

Usage, in a plugin's test suite::

    from neps_core.testing import BackgroundEvaluatorContract, EvaluatorContract

    class TestMyEvaluator(BackgroundEvaluatorContract):   # runs trials in the background
        evaluator_class = MyEvaluator
        evaluator_options = {"queue": "debug"}            # optional
        capacity_options = {"n_workers": 2}               # options giving a capacity of 2

:class:`EvaluatorContract` holds what every evaluator must do: outcomes carry what the
function returned (type included) or raised (type, message, traceback) verbatim, injected
arguments arrive, every job gets exactly one outcome. :class:`BackgroundEvaluatorContract`
adds what evaluators running trials elsewhere must do: honour their capacity with real
concurrency, stop running work on ``close()``, and kill an evaluation that exceeds the
``timeout`` option, recording an error that says ``timeout``.

The jobs call the module-level functions below, so they work in fresh interpreters and on
cluster workers too. The tests make no assertion about wall-clock time; ``patience`` is only
a safety net against a hung evaluator.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

from neps_core.components import structure_settings
from neps_core.evaluation import trial_context
from neps_core.evaluation.trial_context import TrialContext
from neps_core.interfaces import EvaluationJob, EvaluationOutcome, Evaluator
from neps_core.models import Trial, TrialState

#: What :func:`echo` returns by name; each must reach the core unchanged, type included.
RESULTS: dict[str, Any] = {
    "number": 0.25,
    "integer": 3,
    "dict": {
        "objective_to_minimize": 1.5,
        "cost": 2.0,
        "learning_curve": [3.0, 2.0, 1.5],
        "extra": {"nested": {"a": [1, 2]}, "text": "x"},
    },
    "tuple": (1.0, 2.0),
    "failure": "F_out_of_memory",
    "none": None,
}


class ContractEvaluationError(ValueError):
    """The exception :func:`fail` raises (importable, so its type can cross processes)."""


# -- the functions the jobs call ----------------------------------------------------------------
def echo(kind: str) -> Any:
    """Return ``RESULTS[kind]``."""
    return RESULTS[kind]


async def echo_awaited(kind: str) -> Any:
    """:func:`echo` as an ``async def`` function, which must be awaited to give its result."""
    await asyncio.sleep(0)
    return RESULTS[kind]


def fail(message: str) -> float:
    """Raise :class:`ContractEvaluationError` with ``message``."""
    raise ContractEvaluationError(message)


def inspect_injected(value: float, pipeline_directory: Path, pipeline_id: str) -> dict[str, Any]:
    """Report the types of the injected arguments and leave a file in the trial's directory."""
    (pipeline_directory / "touched").write_text(pipeline_id, encoding="utf-8")
    return {
        "objective_to_minimize": value,
        "extra": {
            "directory_type": type(pipeline_directory).__name__,
            "directory": str(pipeline_directory),
            "pipeline_id": pipeline_id,
        },
    }


def report_the_trial() -> dict[str, Any]:
    """Name the trial being evaluated as helpers find it (NePS's ``tblogger``)."""
    context = trial_context.current()
    return {
        "objective_to_minimize": 0.0,
        "extra": {
            "trial": None if context is None else context.trial_id,
            "directory": None if context is None else str(context.pipeline_directory),
        },
    }


def rendezvous(directory: str, index: int, count: int, patience: float) -> Any:
    """Arrive, then wait until ``count`` jobs arrived: proves they ran at the same time."""
    meeting = Path(directory)
    (meeting / f"{index}.arrived").write_text(str(os.getpid()), encoding="utf-8")
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if len(list(meeting.glob("*.arrived"))) >= count:
            return float(index)
        time.sleep(0.01)
    return "F_the_jobs_did_not_run_concurrently"


def beat_forever(directory: str) -> float:
    """Count up in ``directory/beats`` until killed (a stuck evaluation that shows it is alive)."""
    beats = Path(directory) / "beats"
    count = 0
    while True:
        count += 1
        temporary = beats.with_name(f"beats.{os.getpid()}.tmp")
        temporary.write_text(str(count), encoding="utf-8")
        os.replace(temporary, beats)
        time.sleep(0.02)


# -- helpers ------------------------------------------------------------------------------------
def make_job(
    trial_id: str,
    function: Callable[..., Any],
    arguments: Mapping[str, Any],
    directory: Path,
) -> EvaluationJob:
    """A job for a fresh trial, as the worker loop builds it."""
    directory.mkdir(parents=True, exist_ok=True)
    trial = Trial(
        id=trial_id,
        config=dict(arguments),
        state=TrialState.EVALUATING,
        created_at=time.time(),
        worker_id="contract",
        started_at=time.time(),
        attempts=1,
    )
    context = TrialContext(trial_id, directory)
    return EvaluationJob(trial, function, dict(arguments), directory, context=context)


def collect(evaluator: Evaluator, count: int, patience: float) -> dict[str, EvaluationOutcome]:
    """Wait until ``count`` outcomes arrived; fail (not hang) after ``patience`` seconds."""
    outcomes: dict[str, EvaluationOutcome] = {}
    deadline = time.monotonic() + patience
    while len(outcomes) < count:
        assert time.monotonic() < deadline, f"only {len(outcomes)} of {count} outcomes arrived"
        for outcome in evaluator.wait(timeout=0.1):
            assert outcome.trial_id not in outcomes, f"two outcomes for {outcome.trial_id}"
            outcomes[outcome.trial_id] = outcome
    return outcomes


def beats_stop(directory: Path, patience: float) -> bool:
    """Whether the beats of :func:`beat_forever` stop (two reads 0.5 s apart agree)."""
    beats = directory / "beats"
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        before = beats.read_text(encoding="utf-8")
        time.sleep(0.5)
        if beats.read_text(encoding="utf-8") == before:
            return True
    return False


def wait_for_beats(directory: Path, patience: float) -> None:
    """Wait until :func:`beat_forever` has started beating in ``directory``."""
    deadline = time.monotonic() + patience
    while not (directory / "beats").exists():
        assert time.monotonic() < deadline, "the evaluation never started"
        time.sleep(0.05)


# -- the contracts ------------------------------------------------------------------------------
class EvaluatorContract:
    """Contract tests for every evaluator; subclass it and set ``evaluator_class``."""

    #: The evaluator under test (required).
    evaluator_class: ClassVar[type[Evaluator] | None] = None
    #: Options as a user passes them in ``evaluator={"name": ..., **options}``.
    evaluator_options: ClassVar[Mapping[str, Any]] = {}
    #: Seconds to wait for outcomes before failing (a safety net, never a measurement).
    patience: ClassVar[float] = 120.0

    @pytest.fixture
    def make_evaluator(self) -> Iterator[Callable[..., Evaluator]]:
        """Build evaluators with extra options; every one is closed after the test."""
        cls = self.evaluator_class
        assert cls is not None, "set evaluator_class on the contract subclass"
        built: list[Evaluator] = []

        def make(**options: Any) -> Evaluator:
            merged = {**self.evaluator_options, **options}
            settings = structure_settings(cls.Settings, merged, f"evaluator {cls.name!r}")
            evaluator = cls(settings)
            built.append(evaluator)
            return evaluator

        yield make
        for evaluator in built:
            evaluator.close()

    def _run(self, evaluator: Evaluator, jobs: list[EvaluationJob]) -> dict[str, EvaluationOutcome]:
        """Submit ``jobs`` never exceeding the capacity; all outcomes by trial id."""
        outcomes: dict[str, EvaluationOutcome] = {}
        pending, in_flight = list(jobs), 0
        deadline = time.monotonic() + self.patience
        while pending or in_flight:
            assert time.monotonic() < deadline, f"outcomes missing for {len(jobs) - len(outcomes)}"
            while pending and in_flight < evaluator.capacity:
                evaluator.submit(pending.pop(0))
                in_flight += 1
            for outcome in evaluator.wait(timeout=0.1):
                assert outcome.trial_id not in outcomes, f"two outcomes for {outcome.trial_id}"
                outcomes[outcome.trial_id] = outcome
                in_flight -= 1
        return outcomes

    def test_the_name_is_registered_by_a_class_attribute(self) -> None:
        assert self.evaluator_class is not None
        assert isinstance(self.evaluator_class.name, str) and self.evaluator_class.name

    @pytest.mark.parametrize("kind", sorted(RESULTS))
    def test_results_pass_through_verbatim(
        self, kind: str, make_evaluator: Callable[..., Evaluator], tmp_path: Path
    ) -> None:
        evaluator = make_evaluator()
        outcome = self._run(evaluator, [make_job("1", echo, {"kind": kind}, tmp_path / "1")])["1"]
        assert outcome.error is None, outcome.traceback
        assert outcome.result == RESULTS[kind]
        assert type(outcome.result) is type(RESULTS[kind])
        assert outcome.duration >= 0.0

    def test_an_async_def_function_is_awaited(
        self, make_evaluator: Callable[..., Evaluator], tmp_path: Path
    ) -> None:
        """Its result, not the coroutine: ``call_evaluate_pipeline`` makes the call."""
        evaluator = make_evaluator()
        job = make_job("4", echo_awaited, {"kind": "dict"}, tmp_path / "4")
        outcome = self._run(evaluator, [job])["4"]
        assert outcome.error is None, outcome.traceback
        assert outcome.result == RESULTS["dict"]

    def test_exceptions_pass_through_with_type_message_and_traceback(
        self, make_evaluator: Callable[..., Evaluator], tmp_path: Path
    ) -> None:
        evaluator = make_evaluator()
        outcome = self._run(
            evaluator, [make_job("7", fail, {"message": "broken on purpose 7"}, tmp_path / "7")]
        )["7"]
        assert outcome.result is None
        assert isinstance(outcome.error, ContractEvaluationError)
        assert str(outcome.error) == "broken on purpose 7"
        assert outcome.traceback is not None and "fail" in outcome.traceback

    def test_injected_arguments_arrive_as_given(
        self, make_evaluator: Callable[..., Evaluator], tmp_path: Path
    ) -> None:
        directory = tmp_path / "trial_3"
        job = make_job("3", inspect_injected, {"value": 0.5, "pipeline_id": "3"}, directory)
        job = EvaluationJob(
            job.trial, job.function, {**job.arguments, "pipeline_directory": directory}, directory
        )
        outcome = self._run(make_evaluator(), [job])["3"]
        assert outcome.error is None, outcome.traceback
        assert outcome.result["extra"]["directory_type"].endswith("Path")
        assert Path(outcome.result["extra"]["directory"]) == directory
        assert outcome.result["extra"]["pipeline_id"] == "3"
        assert (directory / "touched").read_text(encoding="utf-8") == "3"

    def test_the_function_finds_its_trial(
        self, make_evaluator: Callable[..., Evaluator], tmp_path: Path
    ) -> None:
        """The job's context reaches the call (``call_evaluate_pipeline(..., job.context)``):
        NePS's ``tblogger.ConfigWriter()`` finds the trial's folder through it."""
        job = make_job("5", report_the_trial, {}, tmp_path / "5")
        outcome = self._run(make_evaluator(), [job])["5"]
        assert outcome.error is None, outcome.traceback
        assert outcome.result["extra"] == {"trial": "5", "directory": str(tmp_path / "5")}

    def test_every_job_gets_exactly_one_outcome(
        self, make_evaluator: Callable[..., Evaluator], tmp_path: Path
    ) -> None:
        evaluator = make_evaluator()
        kinds = sorted(RESULTS)
        jobs = [
            make_job(str(i), echo, {"kind": kinds[i % len(kinds)]}, tmp_path / str(i))
            for i in range(4)
        ]
        jobs.append(make_job("99", fail, {"message": "x"}, tmp_path / "99"))
        outcomes = self._run(evaluator, jobs)
        assert set(outcomes) == {job.trial.id for job in jobs}
        for i in range(4):
            assert outcomes[str(i)].result == RESULTS[kinds[i % len(kinds)]]
        assert isinstance(outcomes["99"].error, ContractEvaluationError)

    def test_wait_without_jobs_returns_nothing(
        self, make_evaluator: Callable[..., Evaluator]
    ) -> None:
        assert make_evaluator().wait(timeout=0.05) == []


class BackgroundEvaluatorContract(EvaluatorContract):
    """Adds capacity, ``close()`` and timeout tests for evaluators that run trials elsewhere."""

    #: Options that give the evaluator a capacity of ``expected_capacity``.
    capacity_options: ClassVar[Mapping[str, Any]] = {"n_workers": 2}
    expected_capacity: ClassVar[int] = 2
    #: The option that sets a per-trial timeout in seconds, and the value the test uses.
    timeout_option: ClassVar[str] = "timeout"
    timeout_seconds: ClassVar[float] = 2.0

    def test_capacity_is_the_configured_one(self, make_evaluator: Callable[..., Evaluator]) -> None:
        assert make_evaluator(**self.capacity_options).capacity == self.expected_capacity

    def test_capacity_jobs_really_run_at_the_same_time(
        self, make_evaluator: Callable[..., Evaluator], tmp_path: Path
    ) -> None:
        evaluator = make_evaluator(**self.capacity_options)
        count = evaluator.capacity
        meeting = tmp_path / "meeting"
        meeting.mkdir()
        for index in range(count):
            arguments = {
                "directory": str(meeting),
                "index": index,
                "count": count,
                "patience": self.patience,
            }
            evaluator.submit(make_job(str(index), rendezvous, arguments, tmp_path / str(index)))
        outcomes = collect(evaluator, count, self.patience + 30)
        assert {o.trial_id: o.result for o in outcomes.values()} == {
            str(i): float(i) for i in range(count)
        }

    def test_close_stops_running_work(
        self, make_evaluator: Callable[..., Evaluator], tmp_path: Path
    ) -> None:
        evaluator = make_evaluator()
        directory = tmp_path / "stuck"
        evaluator.submit(make_job("1", beat_forever, {"directory": str(directory)}, directory))
        wait_for_beats(directory, self.patience)
        evaluator.close()
        assert beats_stop(directory, self.patience), "the evaluation survived close()"

    def test_a_timeout_kills_the_evaluation_and_is_recorded(
        self, make_evaluator: Callable[..., Evaluator], tmp_path: Path
    ) -> None:
        evaluator = make_evaluator(**{self.timeout_option: self.timeout_seconds})
        directory = tmp_path / "stuck"
        directory.mkdir()
        evaluator.submit(make_job("1", beat_forever, {"directory": str(directory)}, directory))
        outcome = collect(evaluator, 1, self.patience)["1"]
        assert outcome.result is None
        assert outcome.error is not None and "timeout" in str(outcome.error).lower()
        if (directory / "beats").exists():  # it got going before the timeout: now it is dead
            assert beats_stop(directory, self.patience), "the evaluation survived its timeout"
        else:  # killed while starting up: it must never start later
            time.sleep(1.0)
            assert not (directory / "beats").exists(), "the evaluation survived its timeout"
        # The evaluator is still usable afterwards (with a timeout of its own, not the short
        # one above: a fresh process may need longer just to start on a loaded machine).
        again = make_job("2", echo, {"kind": "number"}, tmp_path / "2")
        evaluator.submit(attrs.evolve(again, timeout=self.patience))
        assert collect(evaluator, 1, self.patience)["2"].result == RESULTS["number"]
