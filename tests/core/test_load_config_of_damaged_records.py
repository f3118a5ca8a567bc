"""``load_config`` of a ``corrupted`` trial: the configuration its damaged record kept, where
that survived; else its ``config.yaml``, written when it was sampled.

The stand-in of a damaged record holds the configuration ``{}`` where it is unreadable, and
``load_config`` returned that for the record's, blaming the intact ``config.yaml`` for a
missing parameter.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml

import neps_core as neps

SPACE = {"x": neps.Float(0.0, 1.0), "y": neps.Integer(1, 100)}


def _damaged_run(root: Path, storage: str) -> dict[str, object]:
    """A finished run whose trial 2's record no longer holds a readable configuration, as
    ``docs/storage/choosing.md`` says makes it ``corrupted``; returns its ``config.yaml``."""
    neps.run(
        lambda x, y: x + y, SPACE, root_directory=root, evaluations_to_spend=3, storage=storage
    )
    if storage == "sqlite":
        with sqlite3.connect(root / "run.db") as db:
            db.execute("UPDATE trials SET data = '{garbage' WHERE id = '2'")
        db.close()
    else:
        _set_in_the_journal(root, "config", "{garbage")  # valid JSON, not a configuration
    assert neps.status(root).counts["corrupted"] == 1
    view = yaml.safe_load((root / "configs" / "config_2" / "config.yaml").read_text())
    assert isinstance(view, dict)
    return view


def _set_in_the_journal(root: Path, key: str, value: str) -> None:
    """Set ``key`` of trial 2's last record in the disk storage's journal to ``value``."""
    journal = root / ".neps_core" / "journal.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    last = max(i for i, record in enumerate(records) if record["id"] == "2")
    records[last][key] = value
    journal.write_text("".join(json.dumps(record) + "\n" for record in records))


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_load_config_of_a_corrupted_trial_reads_its_config_yaml(root: Path, storage: str) -> None:
    view = _damaged_run(root, storage)
    assert set(view) == {"x", "y"}
    assert neps.load_config(root, config_id=2) == view
    assert neps.load_config(root / "configs" / "config_2") == view


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_load_config_of_a_corrupted_trial_without_a_valid_view_names_the_damaged_record(
    root: Path, storage: str
) -> None:
    _damaged_run(root, storage)
    record = "the row of trial 2 in" if storage == "sqlite" else "journal record of trial 2 in"
    damaged = rf"trial 2 has no configuration to load: its stored record is damaged \({record}"
    view = root / "configs" / "config_2" / "config.yaml"
    view.write_text("y: 11\n", encoding="utf-8")
    with pytest.raises(neps.NepsCoreError, match=rf"{damaged}.*Parameter 'x' is missing"):
        neps.load_config(root, config_id=2)
    view.unlink()
    with pytest.raises(neps.NepsCoreError, match=rf"{damaged}.*No configuration at {view}"):
        neps.load_config(root, config_id=2)


def _damage_only_the_state(root: Path, storage: str) -> None:
    """Trial 2's record keeps its configuration but names no valid state."""
    if storage == "sqlite":
        with sqlite3.connect(root / "run.db") as db:
            db.execute("UPDATE trials SET data = json_set(data, '$.state', 'bogus') WHERE id = '2'")
        db.close()
    else:
        _set_in_the_journal(root, "state", "bogus")


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_load_config_of_a_corrupted_trial_whose_record_kept_its_config_returns_that(
    root: Path, storage: str
) -> None:
    neps.run(
        lambda x, y: x + y, SPACE, root_directory=root, evaluations_to_spend=3, storage=storage
    )
    view = root / "configs" / "config_2" / "config.yaml"
    stored = yaml.safe_load(view.read_text())
    _damage_only_the_state(root, storage)
    assert neps.status(root).counts["corrupted"] == 1
    view.write_text("x: 0.5\ny: 7\n", encoding="utf-8")  # the view edited since: not the record
    assert neps.load_config(root, config_id=2) == stored
    view.unlink()
    assert neps.load_config(root, config_id=2) == stored


def _refuse(width: int) -> None:
    raise ValueError(f"width {width} refused by the operation")


class RefusingSpace(neps.PipelineSpace):
    x = neps.Float(0.0, 1.0)
    layer = neps.Operation(operator=_refuse, args=(3,))


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_an_operations_value_error_is_raised_as_its_own_not_as_damage(
    root: Path, storage: str
) -> None:
    """The build ran inside the check of the kept configuration: the operation's error was
    reported as "the configuration it kept is invalid too", then the view built again."""
    neps.run(
        lambda x, layer: x,
        RefusingSpace(),
        root_directory=root,
        evaluations_to_spend=2,
        ignore_errors=True,
        storage=storage,
    )
    _damage_only_the_state(root, storage)
    with pytest.raises(ValueError, match="width 3 refused by the operation"):
        neps.load_config(root, config_id=2, pipeline_space=RefusingSpace())
