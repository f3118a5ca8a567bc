"""The ``evaluate_pipeline`` contract of seed 000, checked through ``run()`` and its files.

What a user returns (or raises) must end up in ``report.yaml`` unchanged in meaning, and a
contract violation must be loud (a ``TypeError`` naming the type) without leaving the trial
stuck in ``EVALUATING``.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import neps_core as neps
from neps_core.result_contract import parse_result

TrialFileReader = Callable[..., Any]
SPACE = {"x": neps.Float(0.0, 1.0), "units": neps.Integer(1, 4)}


def _run(root: Path, function: Any, **settings: Any) -> neps.Summary:
    settings.setdefault("evaluations_to_spend", 1)
    return neps.run(function, SPACE, root_directory=root, **settings)


def _counts(root: Path) -> dict[str, int]:
    return {state: n for state, n in neps.status(root).counts.items() if n}


# -- accepted results ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [3, 2.5, np.float64(0.25), np.float32(0.5), np.int64(7), -1e9, Decimal("0.1"), Fraction(1, 3)],
    ids=repr,
)
def test_scalar_results_are_the_objective(
    root: Path, trial_file: TrialFileReader, value: Any
) -> None:
    summary = _run(root, lambda x, units: value)
    report = trial_file(root, 1, "report")
    assert report["objective_to_minimize"] == pytest.approx(float(value))
    assert isinstance(report["objective_to_minimize"], float)
    assert _counts(root) == {"success": 1}
    assert summary.best_objective == pytest.approx(float(value))


def test_decimals_and_fractions_are_numbers_everywhere_in_a_result(
    root: Path, trial_file: TrialFileReader
) -> None:
    # A Decimal (not registered as numbers.Real) was refused as "got Decimal".
    def evaluate(x: float, units: int) -> dict[str, Any]:
        return {
            "objective_to_minimize": [Decimal("0.25"), Fraction(1, 2)],
            "cost": Decimal("1.5"),
            "learning_curve": [Decimal("0.75"), Fraction(1, 4)],
        }

    _run(root, evaluate)
    report = trial_file(root, 1, "report")
    assert report["objective_to_minimize"] == [0.25, 0.5]
    assert (report["cost"], report["learning_curve"]) == (1.5, [0.75, 0.25])
    assert _counts(root) == {"success": 1}


@pytest.mark.parametrize("value", [Decimal("1e400"), Fraction(10**400)], ids=repr)
def test_an_exact_real_beyond_a_floats_range_is_named_not_taken_as_infinite(
    root: Path, value: Any
) -> None:
    # Decimal("1e400") became inf, a diverged run, where an int that large is an error.
    with pytest.raises(ValueError, match="objective_to_minimize is too large for a float"):
        _run(root, lambda x, units: {"objective_to_minimize": value})


def test_full_result_dict_is_stored(root: Path, trial_file: TrialFileReader) -> None:
    def evaluate(x: float, units: int) -> dict[str, Any]:
        return {
            "objective_to_minimize": x,
            "cost": 3,
            "learning_curve": np.array([0.9, 0.5, x]),
            "extra": {"train_loss": np.float64(0.125), "per_class": [1, 2]},
            "accuracy": 0.75,  # an unreserved key: kept, never dropped
            "notes": "ok",
        }

    _run(root, evaluate)
    config = trial_file(root, 1, "config")
    report = trial_file(root, 1, "report")
    assert report["objective_to_minimize"] == pytest.approx(config["x"])
    assert report["cost"] == 3.0
    assert report["learning_curve"] == pytest.approx([0.9, 0.5, config["x"]])
    assert report["extra"]["train_loss"] == 0.125
    assert report["extra"]["per_class"] == [1, 2]
    assert report["extra"]["accuracy"] == 0.75
    assert report["extra"]["notes"] == "ok"
    assert report["error"] is None
    assert _counts(root) == {"success": 1}


@pytest.mark.parametrize("failing", [False, True], ids=["success", "exception key"])
def test_a_metadata_dict_goes_to_the_trials_metadata(
    root: Path, trial_file: TrialFileReader, failing: bool
) -> None:
    def evaluate(x: float, units: int) -> dict[str, Any]:
        result = {"objective_to_minimize": x, "metadata": {"num_parameters": np.int64(420)}}
        return {**result, "exception": "diverged"} if failing else result

    _run(root, evaluate)
    assert trial_file(root, 1, "metadata")["metadata"]["num_parameters"] == 420
    assert "metadata" not in trial_file(root, 1, "report")["extra"]


def test_a_metadata_value_that_is_no_dict_stays_in_extra(
    root: Path, trial_file: TrialFileReader
) -> None:
    _run(root, lambda x, units: {"objective_to_minimize": x, "metadata": "v2"})
    assert trial_file(root, 1, "report")["extra"] == {"metadata": "v2"}


def test_extra_keys_that_become_the_same_text_are_both_kept(
    root: Path, trial_file: TrialFileReader, caplog: pytest.LogCaptureFixture
) -> None:
    # Keys were compared before they became text: a top-level "1" overwrote extra's 1, and
    # within extra a later "1" overwrote 1, silently.
    results = iter(
        [
            {"objective_to_minimize": 1.0, "extra": {1: "from extra"}, "1": "top-level"},
            {"objective_to_minimize": 2.0, "extra": {1: "int key", "1": "str key", None: "n"}},
        ]
    )
    _run(root, lambda x, units: next(results), evaluations_to_spend=2)
    assert trial_file(root, 1, "report")["extra"] == {
        "1": "top-level",
        "extra": {"1": "from extra"},
    }
    assert trial_file(root, 2, "report")["extra"] == {
        "1 (int)": "int key",
        "1": "str key",
        "None": "n",
    }
    (warning,) = [r for r in caplog.records if "both become" in r.getMessage()]
    assert warning.levelname == "WARNING"
    assert "the int key 1 is stored as '1 (int)'" in warning.getMessage()


def test_extra_keys_of_a_str_subclass_are_stored_as_text(
    root: Path, trial_file: TrialFileReader
) -> None:
    # *Review*: np.str_ keys (dict(zip(np.array(["acc", "f1"]), ...))) were kept as they
    # were, which YAML cannot write: the disk storage stopped the run after the first trial.
    extra = dict(zip(np.array(["acc", "f1"]), [0.9, 0.8], strict=True))
    result = {"extra": extra}
    _run(root, lambda x, units: {"objective_to_minimize": x, **result}, evaluations_to_spend=2)
    assert _counts(root) == {"success": 2}
    assert trial_file(root, 2, "report")["extra"] == {"acc": 0.9, "f1": 0.8}


@pytest.mark.parametrize("kind", [tuple, list, np.array], ids=["tuple", "list", "array"])
def test_a_sequence_of_numbers_is_a_multi_objective_result(
    root: Path, trial_file: TrialFileReader, kind: Callable[[list[float]], Any]
) -> None:
    """NePS reads any sequence of numbers as several objectives: ``return [loss, latency]``."""
    summary = _run(root, lambda x, units: kind([x, float(units)]), evaluations_to_spend=4)
    for trial_id in range(1, 5):
        config = trial_file(root, trial_id, "config")
        objective = trial_file(root, trial_id, "report")["objective_to_minimize"]
        assert objective == pytest.approx([config["x"], float(config["units"])])
    assert _counts(root) == {"success": 4}
    assert len(summary.pareto_front) >= 1


def test_dict_with_a_list_objective_is_multi_objective(
    root: Path, trial_file: TrialFileReader
) -> None:
    _run(root, lambda x, units: {"objective_to_minimize": [x, 1.0 - x], "cost": 1})
    report = trial_file(root, 1, "report")
    assert len(report["objective_to_minimize"]) == 2
    assert sum(report["objective_to_minimize"]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "value",
    [[0.25], (0.25,), np.array([0.25]), {"objective_to_minimize": [0.25]}],
    ids=["list-in-dict", "tuple", "1d-array", "dict"],
)
def test_one_objective_in_a_sequence_is_a_single_objective(
    root: Path, trial_file: TrialFileReader, value: Any
) -> None:
    # It made a "multi-objective" run of one objective: no best trial, a Pareto front instead.
    if not isinstance(value, tuple | dict):
        value = {"objective_to_minimize": value}
    summary = _run(root, lambda x, units: value, evaluations_to_spend=2)
    assert trial_file(root, 1, "report")["objective_to_minimize"] == 0.25
    assert summary.best_objective == 0.25


def test_a_0d_array_or_tensor_is_a_number(root: Path, trial_file: TrialFileReader) -> None:
    import torch  # a test dependency; neps_core itself never imports it

    values = iter(
        [
            np.array(0.5),
            torch.tensor(0.25),
            {"objective_to_minimize": torch.tensor(1.0), "cost": torch.tensor(2.0)},
        ]
    )
    _run(root, lambda x, units: next(values), evaluations_to_spend=3)
    objectives = [trial_file(root, i, "report")["objective_to_minimize"] for i in (1, 2, 3)]
    assert objectives == [0.5, 0.25, 1.0]
    assert trial_file(root, 3, "report")["cost"] == 2.0


def test_lists_of_0d_tensors_are_lists_of_numbers(root: Path, trial_file: TrialFileReader) -> None:
    """``[loss, latency]`` with a tensor loss, or a curve of appended tensor losses."""
    import torch

    curve = [torch.tensor(0.5), torch.tensor(0.25)]
    values = iter(
        [
            {"objective_to_minimize": [torch.tensor(1.0), 2.0], "learning_curve": curve},
            (torch.tensor(0.5), np.float32(3.0)),
        ]
    )
    _run(root, lambda x, units: next(values), evaluations_to_spend=2)
    first = trial_file(root, 1, "report")
    assert first["objective_to_minimize"] == [1.0, 2.0]
    assert first["learning_curve"] == [0.5, 0.25]
    assert trial_file(root, 2, "report")["objective_to_minimize"] == [0.5, 3.0]


def test_tensors_among_extra_keys_are_stored_as_numbers(
    root: Path, trial_file: TrialFileReader
) -> None:
    # A multi-element tensor was stored as its repr, "tensor([0.1000, 0.2000])".
    import torch

    result = {
        "objective_to_minimize": 0.5,
        "per_class": torch.tensor([0.25, 0.5]),
        "extra": {"step": torch.tensor(3), "grid": torch.ones(2, 2, requires_grad=True)},
    }
    _run(root, lambda x, units: result)
    extra = trial_file(root, 1, "report")["extra"]
    assert extra == {"step": 3, "grid": [[1.0, 1.0], [1.0, 1.0]], "per_class": [0.25, 0.5]}


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ({"objective_to_minimize": [0.5, "fast"]}, r"objective_to_minimize\[1\] must be a number"),
        ({"objective_to_minimize": 0.5, "learning_curve": [0.5, None]}, r"'learning_curve'\[1\]"),
    ],
)
def test_a_sequence_element_that_is_no_number_is_named(
    root: Path, value: dict[str, Any], named: str
) -> None:
    with pytest.raises(TypeError, match=named):
        _run(root, lambda x, units: value, evaluations_to_spend=1)


# -- failures the user reports ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        np.float64("nan"),
        {"objective_to_minimize": math.nan},
        math.inf,
        -math.inf,
        {"objective_to_minimize": [0.5, -math.inf]},
        Decimal("NaN"),
        Decimal("sNaN"),  # float() refuses it
        Decimal("-Infinity"),
    ],
    ids=repr,
)
def test_a_nan_or_infinite_objective_fails_the_trial(
    root: Path, trial_file: TrialFileReader, value: Any
) -> None:
    # -inf was stored as a success, and became the best result of the run.
    summary = _run(root, lambda x, units: value, evaluations_to_spend=2)
    assert _counts(root) == {"failed": 2}
    error = trial_file(root, 1, "report")["error"].lower()
    assert "nan" in error or "inf" in error
    assert summary.best_trial is None


def test_a_none_objective_is_named_as_none(root: Path) -> None:
    with pytest.raises(TypeError, match="'objective_to_minimize' is None"):
        _run(root, lambda x, units: {"objective_to_minimize": None, "cost": 1.0})


def test_failure_string_fails_the_trial_with_that_reason(
    root: Path, trial_file: TrialFileReader
) -> None:
    _run(root, lambda x, units: "F_out_of_memory", evaluations_to_spend=2)
    assert _counts(root) == {"failed": 2}
    assert "F_out_of_memory" in trial_file(root, 2, "report")["error"]


def test_exception_key_fails_the_trial_and_keeps_the_message(
    root: Path, trial_file: TrialFileReader
) -> None:
    def evaluate(x: float, units: int) -> dict[str, Any]:
        return {"objective_to_minimize": x, "exception": RuntimeError("diverged at step 7")}

    _run(root, evaluate)
    report = trial_file(root, 1, "report")
    assert _counts(root) == {"failed": 1}
    assert "diverged at step 7" in report["error"]


@pytest.mark.parametrize(
    ("exception", "refused"),
    [
        (False, "TypeError: 'exception' must be an exception or a message string, got bool"),
        (0, "TypeError: 'exception' must be an exception or a message string, got int"),
        ([], "TypeError: 'exception' must be an exception or a message string, got list"),
        (ValueError, "TypeError: 'exception' must be an exception or a message string, got type"),
        ("", "ValueError: 'exception' is an empty string ''; give the failure a message"),
        (" ", "ValueError: 'exception' is an empty string ' '"),
    ],
    ids=["False", "0", "[]", "the class ValueError", "empty string", "blank string"],
)
def test_an_exception_key_neither_an_exception_nor_a_message_is_refused(
    root: Path, trial_file: TrialFileReader, exception: Any, refused: str
) -> None:
    # Any value but None silently failed the trial, with an error of "False" or "".
    kind, message = refused.split(": ", 1)
    with pytest.raises((TypeError, ValueError), match=f"Trial 1: {re.escape(message)}") as raised:
        _run(root, lambda x, units: {"objective_to_minimize": 0.1, "exception": exception})
    assert type(raised.value).__name__ == kind
    assert _counts(root) == {"failed": 1}
    stored = trial_file(root, 1, "report")["error"]
    assert stored.startswith(kind) and message in stored


def test_an_exception_class_under_the_exception_key_is_refused_suggesting_an_instance() -> None:
    with pytest.raises(TypeError, match=re.escape("(a class; return an instance such as Value")):
        parse_result({"objective_to_minimize": 0.1, "exception": ValueError})


# -- contract violations ---------------------------------------------------------------------------
async def _awaited_objective(x: float, units: int, pipeline_directory: Path) -> dict[str, Any]:
    await asyncio.sleep(0.001)
    return {"objective_to_minimize": x * units, "extra": {"folder": pipeline_directory.name}}


def test_an_async_def_function_is_awaited(root: Path, trial_file: TrialFileReader) -> None:
    """DeepHyper's run functions may be coroutine functions; every evaluator awaits them."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited" would fail this
        summary = _run(root, _awaited_objective, evaluations_to_spend=2)
    assert _counts(root) == {"success": 2}
    report = trial_file(root, 1, "report")
    config = trial_file(root, 1, "config")
    assert report["objective_to_minimize"] == pytest.approx(config["x"] * config["units"])
    assert report["extra"] == {"folder": "config_1"}
    assert summary.best_trial is not None


def test_an_async_def_function_runs_where_an_event_loop_already_runs(root: Path) -> None:
    """As in a Jupyter cell: asyncio.run is refused inside a running loop, so the call
    gets a loop of its own."""

    async def notebook_cell() -> neps.Summary:
        return _run(root, _awaited_objective, evaluations_to_spend=2)

    summary = asyncio.run(notebook_cell())
    assert summary.counts["success"] == 2


NOTEBOOK_SCRIPT = """
import asyncio, sys
from pathlib import Path
import neps_core as neps

async def evaluate_pipeline(x, pipeline_directory):
    (pipeline_directory / "started").touch()
    await asyncio.sleep(600)
    return x

async def cell():
    neps.run(evaluate_pipeline, {"x": neps.Float(0.0, 1.0)}, root_directory=sys.argv[1],
             evaluations_to_spend=1)

# As a notebook kernel runs a cell: a loop without asyncio.run's own Ctrl-C handling.
asyncio.new_event_loop().run_until_complete(cell())
"""


def test_ctrl_c_stops_an_awaited_function_where_an_event_loop_runs(tmp_path: Path) -> None:
    """A kernel interrupt in a notebook: the run stops now, not when the coroutine ends."""
    root = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-c", NOTEBOOK_SCRIPT, str(root)], stderr=subprocess.PIPE, text=True
    )
    started = root / "configs" / "config_1" / "started"
    deadline = time.monotonic() + 120
    try:
        while not started.exists():
            assert process.poll() is None and time.monotonic() < deadline, process.stderr
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)  # the coroutine would sleep 600 s
    finally:
        process.kill()
    assert "KeyboardInterrupt" in stderr
    assert neps.status(root).counts["pending"] == 1  # given back, to be evaluated again


RERUN_SCRIPT = """
import asyncio, json, os, signal, sys, threading, time
from pathlib import Path
import neps_core as neps

root = Path(sys.argv[1])
log = root / "configs" / "config_1" / "progress.log"
attempt = 0

async def evaluate_pipeline(x, pipeline_directory):
    mine = attempt
    try:
        for step in range(5):
            with open(pipeline_directory / "progress.log", "a") as stream:
                stream.write(f"{mine} {step}\\n")
            await asyncio.sleep(0.2)
    except asyncio.CancelledError:
        with open(pipeline_directory / "progress.log", "a") as stream:
            stream.write(f"{mine} cancelled\\n")
        raise
    return x

def interrupt_once_it_runs():
    while not log.exists():
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGINT)  # the kernel's Ctrl-C

def run():
    global attempt
    attempt += 1
    neps.run(evaluate_pipeline, {"x": neps.Float(0.0, 1.0)}, root_directory=root,
             evaluations_to_spend=1)

async def cell():  # a notebook cell, run twice in the same kernel
    threading.Thread(target=interrupt_once_it_runs, daemon=True).start()
    try:
        run()
    except KeyboardInterrupt:
        pass
    left = sorted(t.name for t in threading.enumerate() if t is not threading.main_thread())
    written = log.read_text()
    time.sleep(0.6)  # three more steps, had the coroutine gone on
    state = neps.status(root).counts
    after = {"threads": left, "unchanged": log.read_text() == written, "pending": state["pending"]}
    run()
    print(json.dumps({**after, "lines": log.read_text().splitlines()}))

asyncio.new_event_loop().run_until_complete(cell())
"""


def test_an_interrupted_coroutine_ends_before_its_trial_is_run_again(tmp_path: Path) -> None:
    """A kernel interrupt, then the cell run again: the first coroutine is cancelled before
    its trial is given back, so the second evaluation of the trial runs alone."""
    root = tmp_path / "run"
    process = subprocess.run(
        [sys.executable, "-c", RERUN_SCRIPT, str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    seen = json.loads(process.stdout.splitlines()[-1])
    assert seen["threads"] == [] and seen["unchanged"] and seen["pending"] == 1
    first = [line for line in seen["lines"] if line.startswith("1 ")]
    assert first[-1] == "1 cancelled"
    assert seen["lines"][len(first) :] == [f"2 {step}" for step in range(5)]  # not interleaved
    assert neps.status(root).counts["success"] == 1


def test_an_unawaited_coroutine_is_named_with_what_to_do() -> None:
    """A plugin evaluator that calls the function itself hands the core a coroutine."""
    coroutine = _awaited_objective(0.5, 1, Path("x"))
    with pytest.raises(TypeError, match=r"got coroutine: .*neps_core\.interfaces\.call_evaluate"):
        parse_result(coroutine)
    assert coroutine.cr_frame is None  # closed: no "never awaited" warning later


def test_a_returned_exception_fails_its_trial_and_the_run_goes_on(
    root: Path, trial_file: TrialFileReader
) -> None:
    """NePS takes a returned exception as the evaluation's failure, like a dict's 'exception'."""
    calls = iter(range(6))

    def evaluate(x: float, units: int) -> float | MemoryError:
        return MemoryError("batch too large") if next(calls) % 2 else x

    summary = _run(root, evaluate, evaluations_to_spend=6)
    assert _counts(root) == {"success": 3, "failed": 3}
    for trial_id in (2, 4, 6):
        assert trial_file(root, trial_id, "report")["error"] == "MemoryError: batch too large"
    assert summary.best_trial is not None


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ([[0.1, 0.2]], r"\[0\] must be a number, got list"),
        ([], "non-empty"),
        ([0.5, "a"], r"\[1\] must be a number, got str"),
    ],
    ids=["nested", "empty", "string-element"],
)
def test_a_sequence_of_other_than_numbers_is_refused_naming_the_element(
    value: Any, named: str
) -> None:
    with pytest.raises(TypeError, match=named):
        parse_result(value)


@pytest.mark.parametrize("batched", [np.array([[0.1, 0.2]]), np.zeros((2, 1, 3))])
def test_an_array_of_several_dimensions_is_named_by_its_shape(batched: Any) -> None:
    """A (1, 2) array (a batch dimension left on) was refused as "[0] must be a number, got
    list", naming neither the array nor what to return instead."""
    shape = re.escape(str(batched.shape))
    with pytest.raises(TypeError, match=rf"1-d sequence of numbers .*ndarray of shape {shape}"):
        parse_result(batched)
    with pytest.raises(TypeError, match=rf"objective_to_minimize .*shape {shape}"):
        parse_result({"objective_to_minimize": batched})


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("learning_curve", np.ones((3, 1)), r"'learning_curve' must be a 1-d list .*\(3, 1\)"),
        ("cost", np.ones((1, 1)), r"'cost' must be a number, got ndarray of shape \(1, 1\)"),
        ("cost", np.ones(1), r"'cost' must be a number, got ndarray of shape \(1,\)"),
    ],
)
def test_a_cost_or_learning_curve_array_of_too_many_dimensions_is_named_by_its_shape(
    key: str, value: Any, named: str
) -> None:
    """The objective's fix, one level down: these were refused as "got list" (or "[0] must be
    a number, got list"), naming neither the array nor its shape."""
    with pytest.raises(TypeError, match=named):
        parse_result({"objective_to_minimize": 1.0, key: value})
    assert parse_result({"objective_to_minimize": 1.0, "cost": np.float32(2.0)}).report.cost == 2


def test_deephypers_objective_key_is_refused_saying_it_is_maximized() -> None:
    """{"objective": 42.0} is DeepHyper's result, to maximize: taking it as a loss would
    search for the worst configurations."""
    with pytest.raises(TypeError, match=r"'objective' is maximized, so return its negative"):
        parse_result({"objective": 42.0})
    with pytest.raises(TypeError, match=r"return the failure 'F_fail' itself, not in a dict"):
        parse_result({"objective": "F_fail"})  # DeepHyper's failure, under its key


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ({0.1}, "set"),
        ("0.5", "str"),
        (object(), "object"),
        (True, "bool"),
        ({"cost": 1.0, "extra": {}}, "objective_to_minimize"),
    ],
    ids=["set", "str", "object", "bool", "dict-without-objective"],
)
def test_bad_return_types_raise_and_fail_the_trial(
    root: Path, trial_file: TrialFileReader, value: Any, named: str
) -> None:
    with pytest.raises(TypeError, match=named) as raised:
        _run(root, lambda x, units: value, evaluations_to_spend=3)
    if named not in ("str", "objective_to_minimize"):  # messages of their own
        assert "an exception or None (a result reported later), got" in str(raised.value)
    assert _counts(root) == {"failed": 1}  # recorded, not left EVALUATING; the run stopped
    assert "TypeError" in trial_file(root, 1, "report")["error"]
    assert trial_file(root, 1, "metadata")["state"] == "failed"


def _containing_itself() -> dict[str, Any]:
    loop: dict[str, Any] = {"objective_to_minimize": 0.5}
    loop["self"] = loop
    return loop


def _sparse_objective() -> Any:
    import torch

    return torch.tensor([0.5]).to_sparse()


@pytest.mark.parametrize(
    ("make_value", "problem"),
    [(_containing_itself, "RecursionError"), (_sparse_objective, "RuntimeError")],
    ids=["dict containing itself", "sparse tensor objective"],
)
def test_a_result_that_breaks_on_reading_fails_its_trial_for_good(
    root: Path, trial_file: TrialFileReader, make_value: Callable[[], Any], problem: str
) -> None:
    # The worker stopped on the bare error and gave the trial back without counting an
    # attempt: every later run() evaluated it again, and stopped again.
    value = make_value()
    for trial_id in (1, 2):
        message = f"Trial {trial_id}: evaluate_pipeline's return value cannot be read: {problem}"
        with pytest.raises(TypeError, match=message):
            _run(root, lambda x, units: value, evaluations_to_spend=2, ignore_errors=True)
    assert _counts(root) == {"failed": 2}
    assert problem in trial_file(root, 1, "report")["error"]


def test_extra_values_without_a_plain_form_are_stored_as_text(
    root: Path, trial_file: TrialFileReader
) -> None:
    import torch

    class Unprintable:
        def __repr__(self) -> str:
            raise RuntimeError("half built")

    result = {
        "objective_to_minimize": 0.25,
        "adjacency": torch.eye(2).to_sparse(),
        "model": Unprintable(),
    }
    _run(root, lambda x, units: result)
    report = trial_file(root, 1, "report")
    assert report["objective_to_minimize"] == 0.25
    assert "layout=torch.sparse_coo" in report["extra"]["adjacency"]
    assert report["extra"]["model"] == "<Unprintable object whose repr() fails>"


def test_an_exception_whose_message_raises_is_stored_by_its_type(
    root: Path, trial_file: TrialFileReader
) -> None:
    class HalfBuiltError(Exception):
        def __str__(self) -> str:
            return self.detail  # type: ignore[attr-defined, no-any-return]

    def evaluate(x: float, units: int) -> float:
        raise HalfBuiltError

    _run(root, evaluate, evaluations_to_spend=2, ignore_errors=True)
    assert _counts(root) == {"failed": 2}
    error = trial_file(root, 2, "report")["error"]
    assert error == "HalfBuiltError (its message cannot be shown: AttributeError)"


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (10**400, "evaluate_pipeline's return value"),
        ({"objective_to_minimize": [0.5, -(10**400)]}, r"objective_to_minimize\[1\]"),
        ({"objective_to_minimize": 0.5, "cost": 10**5000}, "'cost'"),
        ({"objective_to_minimize": 0.5, "learning_curve": [1, 10**400]}, r"'learning_curve'\[1\]"),
    ],
    ids=["objective", "second objective", "cost of 5000 digits", "learning curve"],
)
def test_an_int_too_large_for_a_float_fails_the_trial_and_names_it(
    root: Path, trial_file: TrialFileReader, value: Any, named: str
) -> None:
    # A bare OverflowError stopped the run, even with ignore_errors, and left the trial
    # EVALUATING with no report.
    with pytest.raises(ValueError, match=f"Trial 1: {named} is too large for a float"):
        _run(root, lambda x, units: value, evaluations_to_spend=2, ignore_errors=True)
    assert _counts(root) == {"failed": 1}
    assert "too large for a float" in trial_file(root, 1, "report")["error"]


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_an_int_too_long_to_write_in_extra_or_metadata_is_stored_as_its_size(
    root: Path, storage: str
) -> None:
    # Python refuses to write an int of over 4300 digits in decimal, so the journal (or the
    # SQLite row) could not be written: run() stopped, even with ignore_errors, naming neither
    # trial nor key, and the trial went back to pending to be evaluated again on every restart.
    def evaluate(x: float, units: int) -> dict[str, Any]:
        return {
            "objective_to_minimize": x,
            "extra": {"n": 10**5000, "by_size": {10**5000: 1, -(10**5000): 2, (10**5000, 1): 3}},
            "metadata": {"m": -(10**5000)},
        }

    _run(root, evaluate, evaluations_to_spend=2, storage=storage)
    assert _counts(root) == {"success": 2}
    trial = neps.status(root).trials[0]
    assert trial.report is not None
    big = f"<an int of about 5001 digits: {10**5000:#x}>"
    assert trial.report.extra["n"] == big
    assert int(big.split(": ")[1].rstrip(">"), 16) == 10**5000  # nothing lost
    negative = big.replace("0x", "-0x")
    assert trial.report.extra["by_size"] == {big: 1, negative: 2, f"['{big}', 1]": 3}
    assert trial.metadata["m"] == negative


@pytest.mark.parametrize("cost", [math.nan, math.inf, -1.0], ids=repr)
def test_a_cost_that_would_corrupt_the_budget_fails_the_trial_and_names_it(
    root: Path, trial_file: TrialFileReader, cost: float
) -> None:
    # A NaN cost made the used cost NaN for good; a negative one made the run endless.
    with pytest.raises(ValueError, match=r"Trial 1: 'cost' must be a finite number >= 0"):
        _run(
            root,
            lambda x, units: {
                "objective_to_minimize": 0.25,
                "cost": cost,
                "acc": 0.9,
                "metadata": {"gpu": "a100"},
            },
            evaluations_to_spend=None,
            cost_to_spend=10.0,
        )
    assert _counts(root) == {"failed": 1}
    report = trial_file(root, 1, "report")
    assert "'cost' must be a finite number" in report["error"]
    # The rest of the result is kept (it was all lost): the evaluation may have been costly.
    assert (report["objective_to_minimize"], report["cost"]) == (0.25, None)
    assert report["extra"] == {"acc": 0.9}
    assert trial_file(root, 1, "metadata")["metadata"]["gpu"] == "a100"
    assert neps.status(root).budget.used_cost == 0.0
    assert neps.status(root).best_trial is None  # still a failed trial


def test_a_changed_number_of_objectives_raises_and_fails_only_that_trial(
    root: Path, trial_file: TrialFileReader
) -> None:
    """Two objectives, then three: no Pareto front can compare them, so the run stops."""
    calls = iter(range(100))

    def changing(x: float, units: int) -> dict[str, Any]:
        values = [x, 1.0 - x] if next(calls) < 2 else [x, 1.0 - x, float(units)]
        return {"objective_to_minimize": values}

    with pytest.raises(neps.ObjectiveCountError, match=r"Trial 3: .* 3 value\(s\), but trial 1"):
        _run(root, changing, evaluations_to_spend=5, ignore_errors=True)
    assert _counts(root) == {"success": 2, "failed": 1}
    report = trial_file(root, 3, "report")
    assert "every result of a run needs the same number of objectives" in report["error"]
    assert len(report["objective_to_minimize"]) == 3  # what the user returned is kept
    assert len(neps.status(root).pareto_front) >= 1  # built from the two consistent results
    # Continuing with a consistent function works and keeps the failed trial.
    _run(root, lambda x, units: (x, 1.0 - x), evaluations_to_spend=5)
    assert _counts(root) == {"success": 4, "failed": 1}
    with pytest.raises(neps.ObjectiveCountError, match="1 value"):
        _run(root, lambda x, units: x, evaluations_to_spend=6)


# -- raised exceptions -----------------------------------------------------------------------------
def _raising(x: float, units: int) -> float:
    raise ValueError(f"bad units {units}")


def test_raised_exception_fails_the_trial_stores_the_traceback_and_propagates(
    root: Path, trial_file: TrialFileReader
) -> None:
    with pytest.raises(ValueError, match="bad units") as caught:
        _run(root, _raising, evaluations_to_spend=3)
    assert type(caught.value) is ValueError  # its own type, and a note naming the trial
    assert any("in trial 1, stored as failed" in n for n in caught.value.__notes__)
    report = trial_file(root, 1, "report")
    assert _counts(root) == {"failed": 1}
    assert report["error"].startswith("ValueError: bad units")
    assert "Traceback" in report["traceback"] and "_raising" in report["traceback"]
    assert report["objective_to_minimize"] is None
    summary = yaml.safe_load((root / "summary.yaml").read_text(encoding="utf-8"))
    assert summary["counts"]["failed"] == 1  # the files reflect the failure that stopped the run


UNREACHABLE = RuntimeError("dataset server unreachable")  # a cached failure, raised again


def _raise_the_same_instance(x: float, units: int) -> float:
    raise UNREACHABLE


def test_an_error_raised_again_names_only_its_latest_trial(
    root: Path, trial_file: TrialFileReader
) -> None:
    """The note piled up per trial, and a later trial's stored error named an earlier one."""
    for trial_id in ("1", "2"):
        with pytest.raises(RuntimeError) as caught:
            _run(root, _raise_the_same_instance, evaluations_to_spend=5)
        assert [n for n in caught.value.__notes__ if "raised by evaluate_pipeline" in n] == [
            f"neps_core: raised by evaluate_pipeline in trial {trial_id}, stored as failed "
            "(ignore_errors=True goes on after such errors)"
        ]
    second = trial_file(root, 2, "report")
    assert second["error"] == "RuntimeError: dataset server unreachable"
    assert "raised by evaluate_pipeline" not in second["traceback"]


def _terminated(x: float, units: int) -> float:
    os.kill(os.getpid(), signal.SIGTERM)  # as scancel or a node's cleanup would, from outside
    time.sleep(300)
    return x


@pytest.mark.parametrize("evaluator", ["process_pool", "subprocess"])
def test_an_evaluation_killed_from_outside_is_not_said_to_be_raised_by_the_function(
    root: Path, trial_file: TrialFileReader, evaluator: str
) -> None:
    # The note said "raised by evaluate_pipeline in trial 1" under "was killed by signal 15".
    with pytest.raises(Exception, match=r"was killed by signal 15 \(SIGTERM\)") as caught:
        _run(root, _terminated, evaluator=evaluator)
    assert [n for n in caught.value.__notes__ if n.startswith("neps_core:")] == [
        "neps_core: not raised by evaluate_pipeline: the process evaluating trial 1 ended this "
        "way (killed from outside neps_core, or a crash), stored as failed (ignore_errors=True "
        "goes on after such errors)"
    ]
    assert "neps_core:" not in trial_file(root, 1, "report")["error"]  # a note, never stored


@pytest.mark.parametrize(
    "failure",
    [ValueError("diverged"), "F: diverged", float("nan"), {"exception": "diverged"}],
    ids=["exception", "F-string", "nan", "dict"],
)
def test_a_returned_failure_gets_the_substitute_values_too(root: Path, failure: Any) -> None:
    """Only raised errors got them: 20 returned failures stopped a cost budget whose
    cost_value_on_error was set, as if it were not."""
    summary = _run(
        root,
        lambda x, units: failure,
        evaluations_to_spend=3,
        ignore_errors=True,
        objective_value_on_error=100.0,
        cost_value_on_error=2.5,
    )
    assert summary.budget.used_cost == 7.5
    trials = neps.status(root).trials
    assert [(t.state.value, t.objective, t.cost) for t in trials] == [("failed", 100.0, 2.5)] * 3


@pytest.mark.parametrize(
    "failure",
    [ValueError("diverged"), "F: diverged", float("nan"), {"exception": "diverged"}],
    ids=["exception", "F-string", "nan", "dict"],
)
def test_a_returned_failure_is_logged_like_a_raised_one(
    root: Path, caplog: pytest.LogCaptureFixture, failure: Any
) -> None:
    """Only raised errors were logged: a diverged run returning NaN failed without a word."""
    with caplog.at_level("WARNING", logger="neps_core"):
        _run(root, lambda x, units: failure, evaluations_to_spend=1)
    assert "Trial 1 failed:" in caplog.text
    assert "diverged" in caplog.text or "NaN" in caplog.text


def test_a_long_error_is_logged_shortened_and_stored_whole(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Each failing trial logged its whole message: two 200 KB messages, 400 KB of log.
    message = "first line\n" + "y" * 200_000

    def evaluate(x: float, units: int) -> float:
        raise ValueError(message)

    with caplog.at_level("WARNING", logger="neps_core"):
        _run(root, evaluate, evaluations_to_spend=2, ignore_errors=True)
    logged = [r.getMessage() for r in caplog.records if "failed:" in r.getMessage()]
    assert len(logged) == 2
    for text in logged:
        assert len(text) < 1300
        assert text.startswith("Trial ") and "ValueError: first line yyy" in text
        assert f"{len(message) + len('ValueError: ')} characters in all" in text
        assert f"neps.status({str(root)!r})" in text
    assert [t.report.error for t in neps.status(root).trials if t.report] == [
        f"ValueError: {message}"
    ] * 2


def test_a_nan_among_several_objectives_is_named_by_its_index(
    root: Path, trial_file: TrialFileReader
) -> None:
    _run(root, lambda x, units: [1.0, math.nan], evaluations_to_spend=1)
    assert trial_file(root, 1, "report")["error"] == "objective_to_minimize[1] is NaN"


def test_ignore_errors_continues_with_substitute_values(
    root: Path, trial_file: TrialFileReader
) -> None:
    summary = _run(
        root,
        _raising,
        evaluations_to_spend=3,
        ignore_errors=True,
        objective_value_on_error=100.0,
        cost_value_on_error=2.5,
    )
    assert _counts(root) == {"failed": 3}
    for trial_id in (1, 2, 3):
        report = trial_file(root, trial_id, "report")
        assert report["objective_to_minimize"] == 100.0 and report["cost"] == 2.5
        assert "ValueError" in report["traceback"]
    assert summary.best_trial is None  # a substitute value never makes a failure "best"


def test_cost_on_error_counts_towards_the_cost_budget(root: Path) -> None:
    _run(
        root,
        _raising,
        evaluations_to_spend=None,
        cost_to_spend=5.0,
        ignore_errors=True,
        cost_value_on_error=2.5,
    )
    assert _counts(root) == {"failed": 2}


def test_one_failure_among_successes(root: Path) -> None:
    def evaluate(x: float, units: int, pipeline_id: str) -> float:
        if pipeline_id == "2":
            raise RuntimeError("flaky")
        return x

    summary = _run(root, evaluate, evaluations_to_spend=4, ignore_errors=True)
    assert _counts(root) == {"success": 3, "failed": 1}
    assert summary.best_trial is not None and summary.best_trial.id != "2"


# -- injected arguments ----------------------------------------------------------------------------
def test_injected_arguments_when_the_signature_names_them(root: Path) -> None:
    received: list[dict[str, Any]] = []

    def evaluate(
        x: float,
        units: int,
        *,
        pipeline_directory: Path,
        previous_pipeline_directory: Path | None,
        pipeline_id: str,
        root_directory: Path,
    ) -> float:
        (pipeline_directory / "checkpoint.txt").write_text(str(x))
        received.append(dict(locals()))
        return x

    _run(root, evaluate, evaluations_to_spend=2)
    assert [r["pipeline_id"] for r in received] == ["1", "2"]
    for args in received:
        trial_dir = Path(args["pipeline_directory"])
        assert trial_dir == root / "configs" / f"config_{args['pipeline_id']}"
        assert (trial_dir / "checkpoint.txt").read_text() == str(args["x"])
        assert args["previous_pipeline_directory"] is None
        assert Path(args["root_directory"]).resolve() == root.resolve()
        assert neps.load_config(root, config_id=args["pipeline_id"])["x"] == args["x"]


def test_only_the_named_injections_are_passed(root: Path) -> None:
    received: list[tuple[Any, ...]] = []

    def evaluate(units: int, *, pipeline_id: str, x: float) -> float:
        received.append((units, pipeline_id, x))
        return x

    _run(root, evaluate)
    assert received and received[0][1] == "1"


def test_var_keyword_function_receives_only_the_configuration(root: Path) -> None:
    received: list[dict[str, Any]] = []

    def evaluate(**config: Any) -> float:
        received.append(config)
        return float(config["x"])

    _run(root, evaluate, evaluations_to_spend=2)
    assert [set(c) for c in received] == [{"x", "units"}, {"x", "units"}]


@pytest.mark.parametrize(
    ("returned", "stored"),
    [
        ({"extra": {"acc": 0.9}, "acc": 0.1}, {"acc": 0.1, "extra": {"acc": 0.9}}),
        ({"extra": {"acc": 0.9}, "f1": 0.1}, {"acc": 0.9, "f1": 0.1}),
        ({"extra": [1, 2]}, {"extra": [1, 2]}),
        (
            {"extra": {"acc": 1}, "info_dict": {"acc": 2}, "acc": 3},
            {"acc": 3, "info_dict": {"acc": 2}, "extra": {"acc": 1}},
        ),
        ({"extra": {"a": 1}, "info_dict": {"b": 2}}, {"a": 1, "b": 2}),
        ({"loss": 5.0}, {"loss": 5.0}),  # beside objective_to_minimize: kept, not dropped
    ],
)
def test_no_extra_value_overwrites_another(
    root: Path, trial_file: TrialFileReader, returned: dict[str, Any], stored: dict[str, Any]
) -> None:
    # An "acc" in the extra blob and an "acc" beside it: the blob's value was silently lost.
    def evaluate(x: float) -> dict[str, Any]:
        return {"objective_to_minimize": x, **returned}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # info_dict, loss
        neps.run(evaluate, {"x": neps.Float(0.0, 1.0)}, root_directory=root, evaluations_to_spend=1)
    assert trial_file(root, 1, "report").get("extra", {}) == stored


def test_a_returned_exception_whose_message_raises_fails_only_its_trial(
    root: Path, trial_file: TrialFileReader
) -> None:
    class HalfBuiltError(Exception):
        def __str__(self) -> str:
            return self.detail  # type: ignore[attr-defined, no-any-return]

    _run(root, lambda x, units: HalfBuiltError(), evaluations_to_spend=2)
    assert _counts(root) == {"failed": 2}
    error = trial_file(root, 1, "report")["error"]
    assert error == "HalfBuiltError (its message cannot be shown: AttributeError)"
