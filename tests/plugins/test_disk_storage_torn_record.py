"""A finished trial whose journal line was torn (a power cut without ``fsync``) is recovered
from its ``report.yaml`` and ``metadata.yaml``, never marked CRASHED over its result."""

from __future__ import annotations

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


def _clean(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "neps_core.cli", "clean", str(root)],
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
    _run(root, 3)
    objective = yaml.safe_load((root / "configs" / "config_3" / "report.yaml").read_text())[
        "objective_to_minimize"
    ]
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


def test_a_result_whose_whole_journal_line_was_lost_is_kept_not_evaluated_again(
    tmp_path: Path,
) -> None:
    """The files survived a crash without fsync, the journal's last line did not at all: the
    trial is not re-queued (to be evaluated again, its report.yaml overwritten)."""
    root = tmp_path / "run"
    _run(root, 3)
    report = root / "configs" / "config_3" / "report.yaml"
    kept = report.read_text()
    last = _tear_last_line(root)
    data = _journal(root).read_bytes()
    _journal(root).write_bytes(data[: data.rfind(b"\n") + 1])  # no trace of the line left
    assert neps.status(root).counts["evaluating"] == 1

    done = _clean(root)  # another process: it finds trial 3's worker gone
    assert done.returncode == 0, done.stderr
    assert "Recovered the final version (success) of trial 3" in done.stderr
    assert "so it is kept, not marked crashed" in done.stderr
    assert "CRASHED" not in done.stdout
    assert neps.status(root).counts["success"] == 3
    assert report.read_text() == kept
    assert _journal(root).read_bytes().endswith(last)
