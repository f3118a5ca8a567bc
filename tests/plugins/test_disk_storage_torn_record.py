"""A finished trial whose journal line was torn (a power cut without ``fsync``) is recovered
from its ``report.yaml`` and ``metadata.yaml``, never marked CRASHED over its result."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import neps_core as neps
from neps_core.testing._storage_workers import child_environment

SPACE = {"x": neps.Float(0.0, 1.0)}


def _run(root: Path, budget: int) -> neps.Summary:
    return neps.run(
        lambda x: {"objective_to_minimize": x, "cost": 1.0},
        SPACE,
        root_directory=root,
        evaluations_to_spend=budget,
        optimizer="random_search",
    )


def _run_for_trial_3(root: Path) -> object:
    """Run three trials; the objective trial 3's ``report.yaml`` holds."""
    _run(root, 3)
    report = yaml.safe_load((root / "configs" / "config_3" / "report.yaml").read_text())
    return report["objective_to_minimize"]


def _journal(root: Path) -> Path:
    return root / ".neps_core" / "journal.jsonl"


def _tear_last_line(root: Path) -> bytes:
    """Cut the journal in the middle of its last line (trial 3's success); return that line."""
    journal = _journal(root)
    data = journal.read_bytes()
    last = data[data.rstrip(b"\n").rfind(b"\n") + 1 :]
    assert b'"id":"3"' in last and b'"state":"success"' in last
    journal.write_bytes(data[: len(data) - len(last) // 2])
    return last


def _clean(root: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "neps_core.cli", "clean", str(root), *arguments],
        capture_output=True,
        text=True,
        env=child_environment(),
        timeout=120,
        check=False,
    )


def test_clean_recovers_a_result_whose_journal_line_was_torn(tmp_path: Path) -> None:
    root = tmp_path / "run"
    _run(root, 3)
    report = root / "configs" / "config_3" / "report.yaml"
    kept = report.read_text()
    last = _tear_last_line(root)

    done = _clean(root)
    assert done.returncode == 0, done.stderr
    assert "Recovered the final version (success) of trial 3" in done.stderr
    assert str(report) in done.stderr
    assert _journal(root).read_bytes().endswith(last)  # the very record the tear cut
    assert report.read_text() == kept
    status = neps.status(root)
    assert status.counts.get("crashed", 0) == 0
    assert status.counts["success"] == 3


def test_a_continued_run_keeps_a_result_whose_journal_line_was_torn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "run"
    objective = _run_for_trial_3(root)
    _tear_last_line(root)
    summary = _run(root, 4)
    assert summary.counts["success"] == 4
    assert summary.counts.get("crashed", 0) == 0
    trials = {trial.id: trial for trial in neps.status(root).trials}
    assert trials["3"].objective == objective
    assert "Recovered the final version (success) of trial 3" in caplog.text


@pytest.mark.parametrize(
    ("file", "text", "reason"),
    [
        ("report.yaml", "objective_to_minimize: [0.5", "report.yaml cannot be read"),
        ("metadata.yaml", None, "attempts differ"),
        ("metadata.yaml", "id: '2'\nstate: success\ncreated_at: 1.0\n", "about trial '2'"),
    ],
)
def test_files_that_do_not_fit_the_torn_trial_are_not_taken(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, file: str, text: str | None, reason: str
) -> None:
    root = tmp_path / "run"
    _run(root, 3)
    path = root / "configs" / "config_3" / file
    if text is None:  # the files of another attempt at the trial
        metadata = yaml.safe_load(path.read_text())
        text = yaml.safe_dump({**metadata, "attempts": metadata["attempts"] + 1})
    path.write_text(text)
    _tear_last_line(root)

    done = _clean(root)
    assert done.returncode == 0, done.stderr
    assert "was not recovered" in done.stderr and reason in done.stderr
    assert neps.status(root).counts["crashed"] == 1


def test_status_shows_what_the_repair_will_give_without_writing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "run"
    _run(root, 3)
    _tear_last_line(root)
    torn = _journal(root).read_bytes()

    status = neps.status(root)
    assert status.counts["success"] == 3
    assert status.counts.get("evaluating", 0) == 0
    assert "ends in an incomplete record" in caplog.text
    assert _journal(root).read_bytes() == torn  # a read repairs nothing
    done = _clean(root)  # the repair the read foresaw
    assert done.returncode == 0, done.stderr
    assert neps.status(root).counts["success"] == 3


def test_a_line_another_process_is_still_appending_is_read_whole_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader may see part of a large append under way (status polled beside a run): that
    is no torn record to warn about, once the writer's microseconds are waited for."""
    root = tmp_path / "run"
    _run(root, 3)
    whole = _journal(root).read_bytes()
    _tear_last_line(root)

    def writer_finishes(seconds: float) -> None:  # whoever waits, the append is then done
        _journal(root).write_bytes(whole)

    monkeypatch.setattr(time, "sleep", writer_finishes)
    assert neps.status(root).counts["success"] == 3
    assert "incomplete record" not in caplog.text
    assert "torn" not in caplog.text


def _lose_last_line(root: Path) -> bytes:
    """Cut the journal's last line (trial 3's final version) off whole, as a crash without
    fsync can after the trial's files were written; return that line."""
    journal = _journal(root)
    data = journal.read_bytes()
    cut = data.rstrip(b"\n").rfind(b"\n") + 1
    journal.write_bytes(data[:cut])
    return data[cut:]


def test_a_result_whose_whole_journal_line_was_lost_is_kept_not_evaluated_again(
    tmp_path: Path,
) -> None:
    """The files survived a crash without fsync, the journal's last line did not at all: the
    trial is not re-queued (to be evaluated again, its report.yaml overwritten), and the dry
    run of ``clean`` says what ``clean`` does (it said it would mark the trial crashed)."""
    root = tmp_path / "run"
    _run(root, 3)
    report = root / "configs" / "config_3" / "report.yaml"
    kept = report.read_text()
    last = _lose_last_line(root)

    dry = _clean(root, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.strip() == f"Nothing to clean in {root}"
    done = _clean(root)  # another process: it finds trial 3's worker gone
    assert done.returncode == 0, done.stderr
    assert done.stdout == dry.stdout
    assert "Recovered the final version (success) of trial 3" in done.stderr
    assert "its journal record was lost (a crash without fsync?)" in done.stderr
    assert neps.status(root).counts["success"] == 3
    assert report.read_text() == kept
    assert _journal(root).read_bytes().endswith(last)


def test_reads_show_a_result_whose_journal_line_was_lost_without_writing(
    tmp_path: Path,
) -> None:
    """``status`` showed the trial evaluating until some process wrote to the run."""
    root = tmp_path / "run"
    objective = _run_for_trial_3(root)
    _lose_last_line(root)
    lost = _journal(root).read_bytes()

    status = neps.status(root)
    assert status.counts["success"] == 3
    assert status.counts.get("evaluating", 0) == 0
    assert {trial.id: trial.objective for trial in status.trials}["3"] == objective
    assert len(neps.read_neps_results(root)) == 3
    assert _journal(root).read_bytes() == lost  # a read repairs nothing


CRASHING_WORKER = """
import os, signal, sys
import neps_core as neps

def evaluate(x):
    os.kill(os.getpid(), signal.SIGKILL)

neps.run(evaluate, {"x": neps.Float(0.0, 1.0)}, root_directory=sys.argv[1],
         evaluations_to_spend=1)
"""


def test_a_crash_clean_recorded_whose_line_was_lost_is_not_cleaned_again(tmp_path: Path) -> None:
    """The final version its files hold is CRASHED: ``clean`` listed it again as a trial it
    marked crashed (and its dry run as one it would), though it only kept that version."""
    root = tmp_path / "run"
    killed = subprocess.run(
        [sys.executable, "-c", CRASHING_WORKER, str(root)], env=child_environment(), check=False
    )
    assert killed.returncode == -9
    before = _journal(root).read_bytes()
    assert "marked 1 trial(s) CRASHED" in _clean(root).stdout
    crashed = neps.status(root).trials[0]
    _journal(root).write_bytes(before)  # clean's line lost whole, the files it wrote kept

    assert neps.status(root).counts["crashed"] == 1
    for arguments in (["--dry-run"], []):
        again = _clean(root, *arguments)
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip() == f"Nothing to clean in {root}"
    assert "Recovered the final version (crashed) of trial 1" in again.stderr
    assert neps.status(root).trials[0].report.error == crashed.report.error


def _line(record: dict[str, object]) -> bytes:
    """``record`` as a journal line (without its newline)."""
    return json.dumps(record, separators=(",", ":")).encode()


def test_a_torn_claim_names_its_trial_and_the_run_goes_on(tmp_path: Path) -> None:
    """A worker killed appending the claim that created trial 3: the warnings named no trial
    (only a number of bytes); now they say which, and that it is not recorded."""
    root = tmp_path / "run"
    _run(root, 2)
    claim = {**json.loads(_journal(root).read_bytes().splitlines()[-1]), "id": "3"}
    claim.update(state="evaluating", report=None, finished_at=None)
    line = _line(claim)
    with _journal(root).open("ab") as journal:
        journal.write(line[: len(line) // 2])
    said = "the first version of trial 3 (evaluating), without which the trial is not recorded"

    dry = _clean(root, "--dry-run")
    assert said in dry.stderr and "the next write to the run repairs it" in dry.stderr
    summary = _run(root, 3)
    assert summary.counts["success"] == 3
    done = _clean(root)
    assert done.stdout.strip() == f"Nothing to clean in {root}"


def test_a_torn_claim_of_a_queued_trial_leaves_it_queued(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The claim is dropped, the trial evaluated by the next worker; the warning names it."""
    root = tmp_path / "run"
    _run(root, 2)
    pending = {**json.loads(_journal(root).read_bytes().splitlines()[-1]), "id": "3"}
    pending.update(state="pending", report=None, finished_at=None, worker_id=None)
    claim = _line({**pending, "state": "evaluating", "attempts": 1})
    with _journal(root).open("ab") as journal:
        journal.write(_line(pending) + b"\n" + claim[: len(claim) // 2])

    summary = _run(root, 3)
    assert summary.counts["success"] == 3
    assert {trial.id: trial.config for trial in neps.status(root).trials}["3"] == pending["config"]
    assert "a new version of trial 3 (evaluating) after the recorded one (pending)" in caplog.text
