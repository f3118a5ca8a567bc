"""What a NePS ask-and-tell script reads of trials: ``client.trials``, ``trial.metadata.state``
(and NePS's other metadata attributes), and the asked trial completed by ``tell``."""

from __future__ import annotations

import threading
from pathlib import Path

import attrs
import pytest
import yaml

import neps_core as neps
from neps_core.errors import ObjectiveCountError

SPACE = {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)}


def test_a_nepss_script_reads_told_trials_as_in_neps(root: Path) -> None:
    """NePS's AskAndTell returns its Trial from tell and tell_custom, read as
    ``trial.metadata.state``: the metadata was a dict here and raised AttributeError."""
    client = neps.AskAndTell(neps.algorithms.hyperband(SPACE, eta=3), root_directory=root)
    asked = client.ask()
    failed = client.tell(asked, ValueError("diverged"), time_end=1_700_000_000.0)
    assert failed.metadata.state is neps.TrialState.FAILED
    assert failed.metadata.id == failed.id == asked.id
    assert failed.metadata.location == str(asked.pipeline_directory)
    assert failed.metadata.previous_trial_id is None
    assert failed.metadata.previous_trial_location == ""
    assert failed.metadata.time_end == 1_700_000_000.0  # as told
    assert failed.metadata.time_sampled == failed.created_at
    assert failed.metadata.time_started == failed.started_at
    assert failed.metadata.evaluating_worker_id == client.worker_id
    assert failed.report is not None
    assert failed.metadata.evaluation_duration == failed.report.evaluation_duration
    assert failed.report.err == "ValueError: diverged"
    # Still the trial's metadata dict, with what was recorded beside it, and the caller's own.
    assert failed.metadata == {"time_end": 1_700_000_000.0}
    failed.metadata["note"] = "mine"
    assert "note" not in client.trials[failed.id].metadata

    warm = client.tell_custom(config_id="warm", config={"x": 0.2, "epochs": 1}, result=0.2)
    assert warm.metadata.state is neps.TrialState.SUCCESS
    assert warm.metadata["config_id"] == "warm"
    assert warm.metadata.time_end == warm.finished_at
    client.close()


def test_a_told_trials_metadata_is_written_by_yaml_as_the_dict_it_is(root: Path) -> None:
    # A dict subclass since the NePS attributes came: yaml.safe_dump(told.metadata), which
    # worked on the plain dict before, raised RepresenterError "cannot represent an object".
    client = neps.AskAndTell({"x": neps.Float(0.0, 1.0)}, root, optimizer="random_search")
    told = client.tell(client.ask(), 0.5, time_end=1_700_000_000.0)
    for dump in (yaml.safe_dump, yaml.dump):
        assert yaml.safe_load(dump(told.metadata)) == {"time_end": 1_700_000_000.0}


def test_the_asked_trial_reads_as_told_once_told(root: Path) -> None:
    """NePS completes the very object ask() returned; here it still said EVALUATING after
    tell, and had no report. Told by the object or by its id, it now holds the told copy."""
    with neps.AskAndTell(SPACE, root, optimizer="random_search") as client:
        by_object, by_id = client.ask(), client.ask()
        assert by_object is not None and by_id is not None
        assert by_object.report is None
        assert by_object.metadata.state is neps.TrialState.EVALUATING

        told = client.tell(by_object, 0.5)
        assert told is by_object.trial
        assert by_object.metadata.state is neps.TrialState.SUCCESS
        assert by_object.report is not None and by_object.report.objective_to_minimize == 0.5

        client.tell(f"config_{by_id.id}", {"objective_to_minimize": 0.25, "cost": 2.0})
        assert by_id.metadata.state is neps.TrialState.SUCCESS
        assert by_id.report is not None and by_id.report.cost == 2.0

        # What tell gives back is the caller's copy, as before: the run keeps its record.
        by_id.trial.config.clear()  # type: ignore[attr-defined]
        assert client.trials[by_id.id].config == by_id.config
        with pytest.raises(attrs.exceptions.FrozenAttributeError):
            by_id.id = "7"  # type: ignore[misc]


def test_a_trial_told_by_another_thread_by_id_completes_the_asked_object(root: Path) -> None:
    with neps.AskAndTell(SPACE, root, optimizer="random_search") as client:
        asked = client.ask()
        assert asked is not None
        teller = threading.Thread(target=client.tell, args=(asked.id, 0.1))
        teller.start()
        teller.join()
        assert asked.metadata.state is neps.TrialState.SUCCESS


def test_an_objective_count_error_carries_the_told_copy_the_asked_trial_holds(
    root: Path,
) -> None:
    client = neps.AskAndTell(SPACE, root, optimizer="random_search")
    client.tell(client.ask(), [0.1, 0.2])
    one = client.ask()
    assert one is not None
    with pytest.raises(ObjectiveCountError) as refused:
        client.tell(one, 0.3)
    assert refused.value.trial is one.trial
    assert one.metadata.state is neps.TrialState.FAILED
    client.close()


def test_trials_are_the_runs_trials_read_when_asked_for(root: Path) -> None:
    """NePS's ``client.trials`` (a dict of the trials the client knows) did not exist."""
    submitter = neps.AskAndTell(SPACE, root, optimizer="random_search", worker_id="submitter")
    collector = neps.AskAndTell(root_directory=root, worker_id="collector")
    asked = submitter.ask()
    assert asked is not None
    warm = collector.tell_custom(config_id="warm", config={"x": 0.2, "epochs": 1}, result=0.2)
    before = submitter.trials
    assert list(before) == [asked.id, warm.id] and "warm" not in before  # by the run's ids
    assert before[asked.id].metadata.state is neps.TrialState.EVALUATING

    collector.tell(asked.id, 0.4)  # by another client
    assert before[asked.id].metadata.state is neps.TrialState.EVALUATING  # read back then
    now = submitter.trials
    assert now[asked.id].metadata.state is neps.TrialState.SUCCESS
    assert now[warm.id].metadata["config_id"] == "warm"
    assert now[asked.id] is not now[asked.id]  # each lookup the caller's own copy
    now[asked.id].config.clear()  # type: ignore[attr-defined]
    assert now[asked.id].config == asked.config
    collector.close()
    submitter.close()
    with pytest.raises(RuntimeError, match="closed"):
        submitter.trials  # noqa: B018 - a closed client reads nothing
