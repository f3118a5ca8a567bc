"""Plans kept between asks: every answer equals that of a plan rebuilt from the history.

The bracket optimizers keep their plan (brackets, rankings, counts) from one ask to the next
and read only the trials that changed. These tests drive long asynchronous histories (trials
of other workers pending, results arriving out of order, failures and crashes, several
proposals per ask, answers dropped) and compare each answer with a fresh optimizer's, which
builds its plan from the whole history.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pytest

import neps_core as neps
from neps_core.components import build_optimizer
from neps_core.history import TrialHistory
from neps_core.models import Proposal, Trial, TrialState
from neps_core.plugin_manager import load_plugins
from neps_core.testing import make_trial
from neps_core_plugins.brackets.members import Bracket, Member
from neps_core_plugins.brackets.rungs import BracketShape
from neps_core_plugins.brackets.standings import Standings

SPACE = neps.PipelineSpace(
    {
        "x": neps.Float(0.0, 1.0, prior=0.3),
        "kind": neps.Categorical(["a", "b", "c"], prior="b"),
        "epochs": neps.IntegerFidelity(1, 27),
    }
)
OPTIMIZERS = {
    "successive_halving": {},
    "hyperband": {},
    "asha": {},
    "async_hb": {},
    "priorband": {},
    "mo_asha": {},
    "mo_hyperband": {},
    "mo_asha_nsga2": {"mo_selector": "nsga2"},
    "hyperband_prior_at_top": {"sample_prior_first": "highest_fidelity", "sampler": "prior"},
}
#: The optimizer behind each variant's name.
KINDS = {"mo_asha_nsga2": "mo_asha", "hyperband_prior_at_top": "hyperband"}


@cache
def _optimizer_class(kind: str) -> Any:
    """Discovering the plugins reads every entry point's metadata: once per kind, not per ask."""
    return load_plugins().optimizers[kind]


def _optimizer(name: str) -> Any:
    """A fresh optimizer, which builds its plan from the whole history on its first ask."""
    kind = KINDS.get(name, name)
    return build_optimizer(_optimizer_class(kind), OPTIMIZERS[name], SPACE, seed=7)


def _objective(name: str, config: dict[str, Any], rng: np.random.Generator) -> Any:
    value = (config["x"] - 0.3) ** 2 + {"a": 0.2, "b": 0.0, "c": 0.1}[config["kind"]]
    value = round(value / config["epochs"] ** 0.5, 3)  # rounded: ties must keep trial order
    if name.startswith("mo_"):
        return (value, round(float(rng.uniform()), 3))
    return value


def _finish(history: TrialHistory, name: str, rng: np.random.Generator) -> None:
    """Finish some open trials in random order: most succeed, some fail or crash."""
    open_ids = history.ids_in(TrialState.PENDING) + history.ids_in(TrialState.EVALUATING)
    for trial_id in rng.permutation(open_ids)[: rng.integers(0, len(open_ids) + 1)]:
        trial = history[str(trial_id)]
        state = rng.choice(["success"] * 8 + ["failed", "crashed", "evaluating"])
        objective = _objective(name, dict(trial.config), rng) if state == "success" else None
        if state == "success" and rng.uniform() < 0.05:
            objective = float("nan") if not name.startswith("mo_") else (float("nan"), 0.5)
        history.put(_version(trial, str(state), objective))


def _version(trial: Trial, state: str, objective: Any) -> Trial:
    return make_trial(
        trial.id,
        trial.config,
        state,
        objective=objective,
        fidelity=trial.fidelity,
        previous_trial_id=trial.previous_trial_id,
    )


def _add(history: TrialHistory, proposals: list[Proposal]) -> None:
    for proposal in proposals:
        history.put(
            make_trial(
                history.next_id(),
                proposal.config,
                "pending",
                fidelity=proposal.config["epochs"],
                previous_trial_id=proposal.previous_trial_id,
            )
        )


def _answer(optimizer: Any, history: Any, n: int) -> list[tuple[Any, Any]]:
    proposals = optimizer.ask(history, history.budget(), n)
    return [(dict(p.config), p.previous_trial_id) for p in proposals]


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_a_kept_plan_answers_as_a_rebuilt_one_over_a_long_asynchronous_run(name: str) -> None:
    rng = np.random.default_rng(3)
    history = TrialHistory()
    kept = _optimizer(name)
    promotions = 0
    for _ in range(150):
        _finish(history, name, rng)
        n = int(rng.integers(1, 4))
        answer = _answer(kept, history, n)
        assert answer == _answer(_optimizer(name), history, n), f"after {len(history)} trials"
        promotions += sum(previous is not None for _, previous in answer)
        if rng.uniform() < 0.2:  # dropped (over the budget, the worker stopped): forgotten
            continue
        _add(history, [Proposal(config, previous_trial_id=p) for config, p in answer])
    assert promotions > 10  # the run climbed rungs: the comparison covered promotions


def test_a_trial_created_before_ones_already_planned_rebuilds_the_plan() -> None:
    """An imported trial whose id sorts first arrives after later ones (another history's
    order): the kept plan must place it as a rebuilt plan would, not append it."""
    history = TrialHistory()
    kept = _optimizer("successive_halving")
    for trial_id in range(2, 30):
        config = {"x": trial_id / 100, "kind": "a", "epochs": 1}
        history.put(make_trial(trial_id, config, objective=trial_id / 100, fidelity=1))
    _answer(kept, history, 1)
    history.put(make_trial(1, {"x": 0.0, "kind": "a", "epochs": 1}, objective=0.0, fidelity=1))
    answer = _answer(kept, history, 3)
    assert answer == _answer(_optimizer("successive_halving"), history, 3)
    assert [previous for _, previous in answer] == ["1", "2", "3"]  # the best third, with 1


def test_asked_with_another_mapping_the_plan_is_rebuilt() -> None:
    """Only a TrialHistory tells what changed; a plain dict is read whole every time."""
    history = TrialHistory()
    kept = _optimizer("asha")
    rng = np.random.default_rng(0)
    for _ in range(40):
        _finish(history, "asha", rng)
        plain = dict(history)
        answer = kept.ask(plain, history.budget(), 2)
        expected = _optimizer("asha").ask(plain, history.budget(), 2)
        assert answer == expected
        _add(history, list(answer))


def _nine_at_the_lowest_rung() -> TrialHistory:
    history = TrialHistory()
    for trial_id in range(1, 10):
        config = {"x": trial_id / 100, "kind": "a", "epochs": 1}
        history.put(make_trial(trial_id, config, objective=trial_id / 100, fidelity=1))
    return history


@pytest.mark.parametrize(
    "version",
    [
        Trial(id="1", config={}, state=TrialState.CORRUPTED, created_at=1.0),  # damaged record
        make_trial(9, {"x": 0.09, "kind": "a", "epochs": 3}, objective=0.09, fidelity=3),
        make_trial(1, {"x": 0.5, "kind": "b", "epochs": 1}, objective=0.01, fidelity=1),
    ],
    ids=["damaged-record", "another-fidelity", "config-edited"],
)
def test_a_version_that_moves_its_trial_is_planned_as_a_rebuild_would(version: Trial) -> None:
    """Only state and result were taken from a new version: the kept plan promoted a trial
    that had become a damaged record, or continued an edited configuration as it was."""
    history = _nine_at_the_lowest_rung()
    kept = _optimizer("asha")
    _answer(kept, history, 1)
    history.put(version)
    assert _answer(kept, history, 3) == _answer(_optimizer("asha"), history, 3)


def test_named_trials_are_promoted_once_and_the_plan_is_kept() -> None:
    """Trials with ids outside the run's numbering (a plugin storage's names) sorted after
    the run's own: each promotion of ``imp0`` was placed before it and dropped, so ``imp0`` was
    promoted again on every ask, and every ask rebuilt the plan."""
    history = TrialHistory()
    for index in range(9):
        config = {"x": index / 100, "kind": "a", "epochs": 1}
        history.put(make_trial(f"imp{index}", config, objective=index / 100, fidelity=1))
    kept = _optimizer("asha")
    plans = set()
    for _ in range(30):
        answer = _answer(kept, history, 1)
        assert answer == _answer(_optimizer("asha"), history, 1)
        plans.add(id(kept._tracker.plan_for(history)))
        [(config, previous)] = answer
        history.put(
            make_trial(
                history.next_id(),
                config,
                objective=config["x"],
                fidelity=config["epochs"],
                previous_trial_id=previous,
            )
        )
    sources = [t.previous_trial_id for t in history.values() if t.previous_trial_id]
    assert len(sources) == len(set(sources)) > 3
    assert len(plans) == 1


@pytest.mark.parametrize("name", ["hyperband", "asha"])
@pytest.mark.parametrize("imported_id", ["imp0", "1"])
def test_the_prior_goes_first_at_the_top_outside_the_brackets_after_imported_trials(
    name: str, imported_id: str
) -> None:
    """An imported trial (named, sorted first, or numbered as import_trials numbers them)
    counted as the run's first configuration: the prior was never proposed, and a prior at
    the top after it was put into a bracket's slot, or out of the plan (asha)."""
    optimizer = build_optimizer(
        _optimizer_class(name), {"sample_prior_first": "highest_fidelity"}, SPACE, 7
    )
    history = TrialHistory()
    imported = {"x": 0.9, "kind": "a", "epochs": 1}
    history.put(make_trial(imported_id, imported, objective=0.5, fidelity=1))
    prior = optimizer.space.prior_config(fidelity=27)
    [first] = optimizer.ask(history, history.budget(), 1)
    assert first == Proposal(prior)
    prior_id = history.next_id()
    history.put(make_trial(prior_id, prior, objective=0.1, fidelity=27))
    plan = optimizer.schedule.plan(history, optimizer.rungs, loose_config=prior)
    assert [m.trial_id for m in plan.loose.members(optimizer.rungs.top)] == [prior_id]
    assert prior_id not in {m.trial_id for b in plan.brackets for m in b.members(3)}
    [after] = optimizer.ask(history, history.budget(), 1)
    assert after.config["epochs"] == 1 and after.config != prior


def test_the_waiting_winners_of_a_rung_are_those_a_filter_of_its_best_finds() -> None:
    """ASHA filtered the best third of a rung for the unpromoted on every ask; the standings
    keep the unpromoted in order, through results, promotions and forgotten proposals."""
    rng = np.random.default_rng(0)
    standings, bracket = Standings(None), Bracket(BracketShape(0, (1,)))
    members = []
    for order in range(300):
        objective = float("nan") if order % 50 == 7 else round(float(rng.uniform()), 2)
        members.append(Member({}, 0, TrialState.SUCCESS, objective, str(order), order=order))
        standings.add((bracket, 0), members[-1])
        member = members[int(rng.integers(len(members)))]
        change = rng.choice(["promote", "forget", "result"])
        if change == "result":  # a new version: out, changed, in again
            standings.remove((bracket, 0), member)
            member.state = rng.choice([TrialState.SUCCESS, TrialState.FAILED])
            standings.add((bracket, 0), member)
        else:
            standings.promote((bracket, 0), member, promoted=change == "promote")
        limit = len(members) // 3
        best = standings.best(bracket, 0, limit)
        assert standings.waiting(bracket, 0, limit) == [m for m in best if not m.promoted]
