"""The ``disk`` storage's journal under heartbeats: small delta lines, replayed with guards;
journals of whole records only (written before) still read; reads in bounded chunks."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import attrs
import pytest
from worker_processes import kill, start_worker

from neps_core.errors import StorageError
from neps_core.models import Trial, TrialState
from neps_core.testing import make_trial
from neps_core_plugins.disk_storage import journal as journal_module
from neps_core_plugins.disk_storage import storage as disk
from neps_core_plugins.disk_storage.storage import DiskStorage

WORKER = textwrap.dedent(
    """
    import sys
    import time
    from pathlib import Path

    import neps_core as neps

    root = Path(sys.argv[1])

    def evaluate_pipeline(x, pipeline_directory):
        (pipeline_directory / "started").touch()
        while not (root / "go").exists():  # the test lets it finish once it saw the beats
            time.sleep(0.01)
        return x

    neps.run(
        evaluate_pipeline,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=root,
        evaluations_to_spend=2,  # one trial for each of two workers
        heartbeat_interval=0.01,
        stale_after=120,
    )
    """
)

#: Reads the run in another process, printing each trial's state and heartbeat as JSON.
READER = textwrap.dedent(
    """
    import json
    import sys

    from neps_core.inspection import read_run

    history = read_run(sys.argv[1]).history
    print(json.dumps({i: [t.state.value, t.last_heartbeat] for i, t in history.items()}))
    """
)


def _open(storages: list[DiskStorage], root: Path) -> DiskStorage:
    storages.append(DiskStorage(root))
    return storages[-1]


def _journal(root: Path) -> Path:
    return root / disk.STATE_DIRECTORY / "journal.jsonl"


def _lines(root: Path) -> list[dict[str, Any]]:
    """The journal's lines written so far (not one being written)."""
    return [json.loads(line) for line in _journal(root).read_text().split("\n")[:-1]]


def _lines_of(root: Path, trial_id: str) -> int:
    return sum(line["id"] == trial_id for line in _lines(root))


def _read_elsewhere(root: Path) -> dict[str, list[Any]]:
    """Each trial's ``[state, last_heartbeat]`` as a fresh process reads the run."""
    completed = subprocess.run(
        [sys.executable, "-c", READER, str(root)], capture_output=True, text=True, check=True
    )
    return json.loads(completed.stdout)


def _claimed(trial_id: int, worker: str, attempts: int = 1, beat: float = 100.0) -> Trial:
    trial = make_trial(trial_id, {"x": 0.5}, "evaluating", worker_id=worker)
    return attrs.evolve(trial, attempts=attempts, last_heartbeat=beat)


def _beat(trial_id: str, now: float) -> Any:
    """A heartbeat's change, as a worker's heartbeat thread makes it."""
    return lambda history: [attrs.evolve(history[trial_id], last_heartbeat=now)]


# -- real processes --------------------------------------------------------------------------
@pytest.mark.slow
def test_heartbeating_workers_append_small_lines_read_by_other_processes(root: Path) -> None:
    """Two workers beat their trials every 10 ms, appending to one journal; a third process
    reads meanwhile and after."""
    workers = []
    try:
        for trial_id in "12":
            marker = f"configs/config_{trial_id}/started"
            workers.append(start_worker(WORKER, [str(root)], root, marker))
        deadline = time.monotonic() + 120
        while min(_lines_of(root, "1"), _lines_of(root, "2")) < 31:  # a claim and 30 beats
            assert all(worker.poll() is None for worker in workers), "a worker exited early"
            assert time.monotonic() < deadline, "the workers did not heartbeat"
            time.sleep(0.05)
        newest = {line["id"]: line["heartbeat"] for line in _lines(root) if "heartbeat" in line}
        seen = _read_elsewhere(root)  # while the workers beat on
        for trial_id, beat in newest.items():
            assert seen[trial_id][0] == "evaluating"
            assert seen[trial_id][1] >= beat  # this beat or a later one
        (root / "go").touch()
        assert [worker.wait(timeout=120) for worker in workers] == [0, 0]
    finally:
        for worker in workers:
            if worker.poll() is None:
                kill(worker)

    lines = _lines(root)
    whole = {line["id"]: line for line in lines if "heartbeat" not in line}  # the last ones
    delta = [line for line in lines if "heartbeat" in line]
    assert all(set(line) == {"heartbeat", "id", "worker_id", "attempts"} for line in delta)
    assert all(line["worker_id"] == whole[line["id"]]["worker_id"] for line in delta)
    # Each trial has its claim and its result as whole records, however long it ran.
    assert sorted(line["id"] for line in lines if "heartbeat" not in line) == ["1", "1", "2", "2"]
    assert _read_elsewhere(root) == {
        trial_id: ["success", line["last_heartbeat"]] for trial_id, line in whole.items()
    }


# -- replay ---------------------------------------------------------------------------------
def test_a_heartbeat_reaches_readers_that_read_its_trial_before(
    root: Path, storages: list[DiskStorage]
) -> None:
    writer, reader = _open(storages, root), _open(storages, root)
    writer.transact(lambda history: [_claimed(1, "a")])
    assert reader.sync()["1"].last_heartbeat == 100.0
    for now in (101.0, 102.0):
        writer.transact(_beat("1", now))
    assert reader.sync()["1"] == writer.sync()["1"]
    assert reader.sync()["1"].last_heartbeat == 102.0
    assert _open(storages, root).sync()["1"].last_heartbeat == 102.0  # read all at once
    assert len(_lines(root)) == 3 and "config" not in _lines(root)[-1]


def test_a_change_beyond_the_heartbeat_is_a_whole_record(
    root: Path, storages: list[DiskStorage]
) -> None:
    writer = _open(storages, root)
    writer.transact(lambda history: [_claimed(1, "a")])
    writer.transact(
        lambda history: [attrs.evolve(history["1"], last_heartbeat=101.0, metadata={"k": 1})]
    )
    writer.transact(lambda history: [make_trial(1, {"x": 0.5}, "success", worker_id="a")])
    assert all("config" in line for line in _lines(root))
    assert _open(storages, root).sync()["1"].state is TrialState.SUCCESS


def test_a_heartbeat_after_a_newer_version_changes_nothing_it_was_not_written_for(
    root: Path, storages: list[DiskStorage]
) -> None:
    """The order a broken lock would give: worker a's beat, computed from its claim, lands
    after worker b re-claimed the trial (and after trial 2's result)."""
    writer = _open(storages, root)
    writer.transact(lambda history: [_claimed(1, "a"), _claimed(2, "a")])
    stale = [{"heartbeat": 500.0, "id": i, "worker_id": "a", "attempts": 1} for i in "12"]
    writer.transact(
        lambda history: [
            _claimed(1, "b", attempts=2, beat=200.0),
            make_trial(2, {"x": 0.5}, "success", worker_id="a"),
        ]
    )
    with _journal(root).open("a") as handle:
        handle.writelines(json.dumps(line) + "\n" for line in stale)

    for history in (_open(storages, root).sync(), writer.sync()):
        assert (history["1"].worker_id, history["1"].attempts) == ("b", 2)
        assert history["1"].last_heartbeat == 200.0
        assert history["2"] == make_trial(2, {"x": 0.5}, "success", worker_id="a")


def test_an_edited_heartbeat_line_is_ignored(root: Path, storages: list[DiskStorage]) -> None:
    writer = _open(storages, root)
    writer.transact(lambda history: [_claimed(1, "a")])
    edited = [
        {"heartbeat": "soon", "id": "1", "worker_id": "a", "attempts": 1},
        {"heartbeat": 300.0, "worker_id": "a", "attempts": 1},
        {"heartbeat": 300.0, "id": "7", "worker_id": "a", "attempts": 1},
    ]
    with _journal(root).open("a") as handle:
        handle.writelines(json.dumps(line) + "\n" for line in edited)
    history = _open(storages, root).sync()
    assert list(history) == ["1"] and history["1"].last_heartbeat == 100.0


def test_a_torn_heartbeat_line_is_cut_off_and_a_whole_one_kept(
    root: Path, storages: list[DiskStorage]
) -> None:
    writer = _open(storages, root)
    writer.transact(lambda history: [_claimed(1, "a")])
    torn = b'{"heartbeat":101.0,"id":"1","wor'
    with _journal(root).open("ab") as handle:  # what a writer killed mid-line leaves behind
        handle.write(torn)
    assert _open(storages, root).sync()["1"].last_heartbeat == 100.0

    _open(storages, root).transact(_beat("1", 102.0))
    assert torn in _journal(root).with_suffix(".torn").read_bytes()
    whole = b'{"heartbeat":103.0,"id":"1","worker_id":"a","attempts":1}'
    with _journal(root).open("ab") as handle:  # the write of a beat, before its newline
        handle.write(whole)
    reader = _open(storages, root)
    assert reader.sync()["1"].last_heartbeat == 103.0
    _open(storages, root).transact(_beat("1", 104.0))
    assert reader.sync()["1"].last_heartbeat == 104.0
    assert _journal(root).read_bytes().count(b'"heartbeat"') == 3


def test_a_journal_of_whole_heartbeat_records_still_reads(
    root: Path, storages: list[DiskStorage]
) -> None:
    """Before heartbeat lines, every beat was the whole trial again (configuration and all)."""
    _open(storages, root).transact(lambda history: [_claimed(1, "a"), _claimed(2, "a")])
    claim_1 = _journal(root).read_text().splitlines()[0]
    old_beats = [{**json.loads(claim_1), "last_heartbeat": 100.0 + k} for k in range(1, 4)]
    with _journal(root).open("a") as handle:
        handle.writelines(json.dumps(line) + "\n" for line in old_beats)

    assert _open(storages, root).sync()["1"].last_heartbeat == 103.0
    later = _open(storages, root)  # a worker of this version continues the old run
    later.transact(_beat("2", 104.0))
    assert "config" not in _lines(root)[-1]
    history = _open(storages, root).sync()
    assert (history["1"].last_heartbeat, history["2"].last_heartbeat) == (103.0, 104.0)


# -- reading in chunks ------------------------------------------------------------------------
def test_lines_longer_than_a_read_and_damage_past_it_are_read_and_named(
    root: Path, storages: list[DiskStorage]
) -> None:
    long_value = "v" * (3 * journal_module.READ_CHUNK)
    writer = _open(storages, root)
    writer.transact(lambda history: [make_trial(1, {"x": long_value}, "success")])
    writer.transact(lambda history: [make_trial(2, {"x": "short"}, "success")])
    assert _open(storages, root).sync()["1"].config == {"x": long_value}
    with _journal(root).open("ab") as handle:
        handle.write(b"not json\n")
    with pytest.raises(StorageError, match=r"journal\.jsonl, line 3"):
        _open(storages, root).sync()


@pytest.mark.slow
def test_a_reader_holds_a_bounded_part_of_a_long_journal_in_memory(root: Path) -> None:
    """200,000 beats (12 MB) since a reader's last read cost it a few reads' worth of memory
    (6.7 MB at its peak when measured), not the whole remainder (read at once: 33 MB)."""
    storage = DiskStorage(root)
    storage.transact(lambda history: [_claimed(1, "a")])
    storage.close()
    beat = '{"heartbeat":%.1f,"id":"1","worker_id":"a","attempts":1}\n'
    with _journal(root).open("a") as handle:
        handle.writelines(beat % (100.0 + k) for k in range(200_000))
    measure = textwrap.dedent(
        """
        import sys, tracemalloc
        from neps_core_plugins.disk_storage.storage import DiskStorage

        storage = DiskStorage(sys.argv[1])
        tracemalloc.start()
        history = storage.sync()
        print(tracemalloc.get_traced_memory()[1], history["1"].last_heartbeat)
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", measure, str(root)], capture_output=True, text=True, check=True
    )
    peak, last = completed.stdout.split()
    assert float(last) == 100.0 + 199_999
    assert int(peak) < 16 * 2**20
