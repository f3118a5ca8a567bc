"""The trial history's change feed: what an optimizer that keeps state between asks reads,
and ``CountingHistory``, which counts it."""

from __future__ import annotations

import tracemalloc

from neps_core.history import ChangeFeed, TrialHistory
from neps_core.models import TrialState
from neps_core.testing import CountingHistory, make_trial


def test_changes_since_a_mark_name_each_trial_once_in_the_order_trials_came() -> None:
    history = TrialHistory()
    for trial_id in (1, 2, 3):
        history.put(make_trial(trial_id, {"x": 0.1}, "evaluating"))
    mark = history.mark
    history.put(make_trial(3, {"x": 0.1}, "success"))
    history.put(make_trial(4, {"x": 0.1}, "pending"))
    history.put(make_trial(1, {"x": 0.1}, "success"))
    history.put(make_trial(3, {"x": 0.1}, "success"))  # a later version of the same trial
    assert history.changed_since(mark) == ["1", "3", "4"]
    assert history.changed_since(history.mark) == []
    assert history.changed_since(0) == ["1", "2", "3", "4"]


def test_a_feed_reads_the_whole_history_first_then_only_what_changed() -> None:
    history, feed = TrialHistory(), ChangeFeed()
    history.put(make_trial(1, {"x": 0.1}, "evaluating"))
    assert feed.since_last(history) is None
    history.put(make_trial(2, {"x": 0.2}, "pending"))
    history.put(make_trial(1, {"x": 0.1}, "success"))
    assert feed.since_last(history) == ["1", "2"]
    assert feed.since_last(history) == []
    assert feed.since_last(TrialHistory()) is None  # another history: read it whole


def test_heartbeats_of_long_trials_do_not_grow_the_history() -> None:
    """Every heartbeat is a new version of its trial: a week of them with 100 trials in
    flight kept hundreds of megabytes in every process that read the run."""
    history = TrialHistory()
    beats = [make_trial(n % 4, {"x": 0.1}, "evaluating") for n in range(50_000)]
    for trial in beats[:8]:
        history.put(trial)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for trial in beats[8:]:
            history.put(trial)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 20_000, f"{grown} bytes kept for 50,000 versions of 4 trials"


def test_a_counting_history_counts_every_trial_read_however_it_is_read() -> None:
    # It counted lookups by id alone: an optimizer reading the whole run through snapshot()
    # or unfinished() passed a test that it read only what changed.
    history = CountingHistory()
    for trial_id, state in ((1, "success"), (2, "pending"), (3, "evaluating")):
        history.put(make_trial(trial_id, {"x": 0.1}, state))
    reads = {
        "by id": lambda: history["1"],
        "get": lambda: history.get("2"),
        "values": lambda: list(history.values()),
        "items": lambda: list(history.items()),
        "snapshot": history.snapshot,
        "unfinished": lambda: list(history.unfinished()),
        "ids": lambda: (list(history), history.ids_in(TrialState.SUCCESS)),
        "aggregates": lambda: (history.count(TrialState.SUCCESS), history.budget()),
    }
    counted = {}
    for name, read in reads.items():
        history.reads = 0
        read()
        counted[name] = history.reads
    assert counted == {
        "by id": 1,
        "get": 1,
        "values": 3,
        "items": 3,
        "snapshot": 3,
        "unfinished": 2,
        "ids": 0,
        "aggregates": 0,
    }
