"""``@neps_core.profile``: run time and peak memory land in the trial's metadata."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import neps_core as neps
from neps_core.inspection import read_run
from neps_core.profiling import with_profile

SPACE = {"x": neps.Float(0.0, 1.0)}


def record_of(root: Path, trial_id: str = "1", name: str = "report") -> dict:
    path = root / "configs" / f"config_{trial_id}" / f"{name}.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def profile_of(root: Path, trial_id: str = "1") -> dict:
    """The trial's metadata as stored in its folder's metadata.yaml."""
    metadata = record_of(root, trial_id, "metadata")["metadata"]
    assert isinstance(metadata, dict)
    return metadata


@neps.profile
def allocating(x: float, pipeline_directory: Path) -> dict:
    block = np.ones(8 * 1024 * 1024 // 8)  # 8 MB, freed before returning
    (pipeline_directory / "seen").write_text(str(block.nbytes))
    del block
    return {"objective_to_minimize": x, "extra": {"mine": 1}, "metadata": {"note": "kept"}}


def test_a_profiled_run_records_time_and_peak_memory(root: Path) -> None:
    before = time.time()
    neps.run(allocating, SPACE, root_directory=root, evaluations_to_spend=2)
    history = read_run(root).history
    for trial_id in ("1", "2"):
        profile = profile_of(root, trial_id)
        assert history[trial_id].metadata == profile  # the same record, from Python
        assert record_of(root, trial_id)["extra"] == {"mine": 1}  # the user's extra is kept
        assert profile["note"] == "kept"  # and so is the user's own metadata
        assert before <= profile["timestamp_start"] <= profile["timestamp_end"]
        assert profile["duration"] == pytest.approx(
            profile["timestamp_end"] - profile["timestamp_start"], abs=1e-3
        )
        assert profile["peak_memory_mb"] >= 8.0  # the freed block still counts at its peak
        assert profile["max_rss_mb"] >= profile["peak_memory_mb"]
        # injected arguments still arrive through the wrapper
        assert (root / "configs" / f"config_{trial_id}" / "seen").exists()


def test_a_number_becomes_a_result_dict() -> None:
    @neps.profile
    def evaluate(x: float) -> float:
        return x * 2

    result: Any = evaluate(x=2.0)  # the decorator turned the float into a result dict
    assert result["objective_to_minimize"] == 4.0
    assert set(result["metadata"]) == {
        "timestamp_start",
        "timestamp_end",
        "duration",
        "peak_memory_mb",
        "max_rss_mb",
    }


def test_a_tuple_stays_multi_objective(root: Path) -> None:
    @neps.profile(memory=False)
    def evaluate(x: float) -> tuple[float, float]:
        return x, 1 - x

    summary = neps.run(evaluate, SPACE, root_directory=root, evaluations_to_spend=3)
    assert summary.counts["success"] == 3
    assert len(record_of(root)["objective_to_minimize"]) == 2
    assert profile_of(root)["peak_memory_mb"] is None


@pytest.mark.parametrize("value", [None, "F_out_of_memory", {1, 2}, True])
def test_results_without_a_report_or_breaking_the_contract_pass_unchanged(value: object) -> None:
    assert with_profile(value, {"duration": 1.0}) == value


def _list(x: float) -> Any:
    return [x]


def _array(x: float) -> Any:
    return np.array([x, 1 - x])


def _tensor(x: float) -> Any:
    import torch

    return torch.tensor(x)


def _returned_error(x: float) -> Any:
    return RuntimeError("diverged")


def _decimal(x: float) -> Any:
    return Decimal(str(x))


@pytest.mark.parametrize("result", [_list, _array, _tensor, _returned_error, _decimal])
def test_every_kind_of_result_carries_the_profile(root: Path, result: Any) -> None:
    # A list, an array, a 0-d tensor: the trial succeeded with no profile at all.
    profiled = neps.profile(memory=False)(result)
    neps.run(profiled, SPACE, root_directory=root, evaluations_to_spend=1)
    assert profile_of(root)["duration"] >= 0.0


def test_an_async_function_is_measured_while_awaited(root: Path) -> None:
    @neps.profile(memory=False)
    async def evaluate(x: float) -> float:
        await asyncio.sleep(0.2)
        return x

    neps.run(evaluate, SPACE, root_directory=root, evaluations_to_spend=1)
    assert profile_of(root)["duration"] >= 0.2


def test_the_users_metadata_is_kept_and_a_non_mapping_one_is_refused() -> None:
    merged = with_profile({"objective_to_minimize": 1.0, "metadata": {"a": 1}}, {"duration": 1.0})
    assert merged["metadata"] == {"a": 1, "duration": 1.0}
    with pytest.raises(TypeError, match="'metadata' of a result must be a dict, got str"):
        with_profile({"objective_to_minimize": 1.0, "metadata": "note"}, {"duration": 1.0})


def test_exceptions_propagate_unchanged_and_tracing_is_stopped() -> None:
    import tracemalloc

    @neps.profile
    def evaluate(x: float) -> float:
        raise ArithmeticError("boom")

    with pytest.raises(ArithmeticError, match="boom"):
        evaluate(x=1.0)
    assert not tracemalloc.is_tracing()


def test_calls_overlapping_in_threads_each_keep_their_peak() -> None:
    # The process has one tracer: the second call's start reset the peak the first had
    # reached (it reported ~0 MB), and the first one's end stopped tracing under the second
    # (it reported 0.0), as in the ask-and-tell thread-pool loop.
    first_freed, second_started = threading.Event(), threading.Event()
    first_ended = threading.Event()

    @neps.profile
    def first(x: float) -> float:
        block = bytearray(8 * 1024 * 1024)  # an 8 MB peak, freed before the second starts
        del block
        first_freed.set()
        second_started.wait()
        return x

    @neps.profile
    def second(x: float) -> float:
        second_started.set()
        first_ended.wait()
        block = bytearray(8 * 1024 * 1024)  # its 8 MB peak, once the first has ended
        del block
        return x

    with ThreadPoolExecutor(2) as pool:
        early = pool.submit(first, x=0.0)
        first_freed.wait()
        late = pool.submit(second, x=0.0)
        early_peak = early.result()["metadata"]["peak_memory_mb"]
        first_ended.set()
        late_peak = late.result()["metadata"]["peak_memory_mb"]
    assert early_peak >= 8.0
    assert late_peak >= 8.0
    assert not tracemalloc.is_tracing()  # stopped by the last call to end


def test_a_forked_child_stops_tracing_after_its_own_calls() -> None:
    # The child kept the parent's running call (its thread is not copied), so after the
    # child's only profiled call ended, tracemalloc went on tracing every allocation.
    running, release = threading.Event(), threading.Event()

    @neps.profile
    def long(x: float) -> float:
        running.set()
        release.wait()
        return x

    @neps.profile
    def short(x: float) -> float:
        return x

    thread = threading.Thread(target=long, args=(0.0,))
    thread.start()
    running.wait()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, and never return into pytest
        try:
            short(1.0)
            os.write(write, b"tracing" if tracemalloc.is_tracing() else b"stopped")
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as child:
        told = child.read()
    os.waitpid(pid, 0)
    release.set()
    thread.join()
    assert told == b"stopped"
    assert not tracemalloc.is_tracing()


def test_a_profiled_call_that_forks_ends_in_the_child_too() -> None:
    # The fork forgot the running call, whose end then raised a KeyError in the child.
    @neps.profile
    def forking(x: float) -> dict:
        pid = os.fork()
        return {"objective_to_minimize": x, "pid": pid}

    read, write = os.pipe()
    try:
        result = forking(1.0)
    except BaseException as error:  # the child's: reported, never raised into pytest
        os.write(write, repr(error).encode())
        os._exit(1)
    if result["pid"] == 0:  # the child: report, and never return into pytest
        try:
            told = (result["metadata"]["peak_memory_mb"], tracemalloc.is_tracing())
            os.write(write, repr(told).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as child:
        told = child.read()
    os.waitpid(result["pid"], 0)
    assert told == b"(None, False)"  # its start was traced in the parent only
    assert result["metadata"]["peak_memory_mb"] is not None
    assert not tracemalloc.is_tracing()


def test_a_nested_profiled_call_keeps_the_outer_calls_peak() -> None:
    @neps.profile
    def helper() -> float:
        return 1.0

    @neps.profile
    def evaluate(x: float) -> float:
        block = bytearray(8 * 1024 * 1024)  # an 8 MB peak, before the helper reset it (0.03)
        del block
        helper()
        return x

    assert evaluate(x=0.0)["metadata"]["peak_memory_mb"] >= 8.0


def test_the_signature_is_kept_for_injection() -> None:
    import inspect

    assert list(inspect.signature(allocating).parameters) == ["x", "pipeline_directory"]


def test_profiling_works_in_a_subprocess_evaluator(root: Path) -> None:
    neps.run(
        allocating,
        SPACE,
        root_directory=root,
        evaluations_to_spend=1,
        evaluator="subprocess",
    )
    assert profile_of(root)["peak_memory_mb"] >= 8.0


BALLAST_SCRIPT = """
import neps_core as neps
from neps_core.profiling import _max_rss_mb

@neps.profile
def small(x: float) -> float:
    return x  # allocates nothing

if __name__ == "__main__":
    ballast = b"\\x01" * (300 * 1024 * 1024)  # resident, then freed
    del ballast
    print("worker", _max_rss_mb())
    for evaluator in ("process_pool", "subprocess"):
        root = f"results/{evaluator}"
        neps.run(small, {"x": neps.Float(0.0, 1.0)}, root_directory=root,
                 evaluations_to_spend=1, evaluator=evaluator)
        print(evaluator, neps.status(root).best_trial.metadata["max_rss_mb"])
"""


@pytest.mark.skipif(sys.platform != "linux", reason="VmHWM: Linux's peak that exec resets")
def test_a_fresh_evaluating_process_reports_its_own_peak_not_its_parents(tmp_path: Path) -> None:
    # getrusage keeps the peak across exec: a child allocating nothing reported the 442 MB
    # its worker had touched before starting it.
    (tmp_path / "ballast.py").write_text(BALLAST_SCRIPT)
    done = subprocess.run(
        [sys.executable, "ballast.py"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    peaks = {name: float(mb) for name, mb in (line.split() for line in done.stdout.splitlines())}
    assert peaks["worker"] >= 300
    assert peaks["process_pool"] < peaks["worker"] - 200
    assert peaks["subprocess"] < peaks["worker"] - 200
