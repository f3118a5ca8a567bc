"""The shared bracket machinery: rung math, promotion decisions from histories, budgets."""

from __future__ import annotations

import logging
import re
from collections import Counter
from typing import Any

import pytest

import neps_core as neps
from neps_core.components import build_optimizer
from neps_core.errors import SettingsError
from neps_core.history import TrialHistory
from neps_core.models import BudgetInfo, Proposal, TrialState
from neps_core.space import Equals
from neps_core.testing import history_of, make_trial, simulate
from neps_core_plugins.asha import ASHA
from neps_core_plugins.async_hb import AsyncHB
from neps_core_plugins.brackets import (
    BracketOptimizer,
    HalvingSettings,
    Rungs,
    Schedule,
    halving_shape,
    hyperband_shape,
)
from neps_core_plugins.hyperband import Hyperband
from neps_core_plugins.priorband import PriorBand
from neps_core_plugins.successive_halving import SuccessiveHalving


def _space(lower: Any = 1, upper: Any = 9, **fidelity: Any) -> neps.PipelineSpace:
    kind = neps.FloatFidelity if isinstance(lower, float) else neps.IntegerFidelity
    return neps.PipelineSpace({"x": neps.Float(0.0, 1.0), "epochs": kind(lower, upper, **fidelity)})


SPACE = _space()  # rungs 1, 3, 9 with eta = 3


def _trial(
    trial_id: int, x: float, epochs: int, state: str = "success", previous: int | None = None
) -> Any:
    """A trial at ``epochs`` whose objective is ``x`` (lower x is better)."""
    return make_trial(
        trial_id,
        {"x": x, "epochs": epochs},
        state,
        objective=x if state == "success" else None,
        cost=float(epochs) if state in ("success", "failed") else None,
        fidelity=epochs,
        previous_trial_id=None if previous is None else str(previous),
    )


def _base_rung(count: int, states: dict[int, str] | None = None) -> list[Any]:
    """``count`` trials at epochs 1 with x = 0.1 * id; ``states`` overrides some states."""
    states = states or {}
    return [_trial(i, round(0.1 * i, 3), 1, states.get(i, "success")) for i in range(1, count + 1)]


def _ask(optimizer: BracketOptimizer, history: TrialHistory, n: int = 1, **budget: Any) -> Any:
    return list(optimizer.ask(history, history.budget(**budget), n))


def _promotions(proposals: list[Proposal]) -> list[str | None]:
    return [p.previous_trial_id for p in proposals]


# -- rung math ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("lower", "upper", "eta", "expected"),
    [
        (1, 27, 3, (1, 3, 9, 27)),
        (1, 10, 3, (1, 3, 10)),
        (1, 16, 2, (1, 2, 4, 8, 16)),
        (2, 5, 3, (5,)),  # fewer than eta times the lower bound: one rung
        (0.1, 1.0, 3, (1 / 9, 1 / 3, 1.0)),
    ],
)
def test_rungs_are_geometric_down_from_the_upper_bound(
    lower: Any, upper: Any, eta: int, expected: tuple[float, ...]
) -> None:
    rungs = Rungs.from_space(_space(lower, upper), eta)
    assert rungs.fidelities == pytest.approx(expected)
    assert rungs.top == len(expected) - 1
    assert rungs.rung_of(upper) == rungs.top
    assert rungs.rung_of(expected[0]) == 0
    assert rungs.rung_of(upper * 0.999) is None


def test_integer_rungs_are_integers_and_distinct() -> None:
    rungs = Rungs.from_space(_space(1, 100), 3)
    assert rungs.fidelities == (1, 4, 11, 33, 100)
    assert all(isinstance(f, int) for f in rungs.fidelities)


def test_a_fidelity_starting_at_zero_is_refused() -> None:
    with pytest.raises(SettingsError, match="lower bound must be positive"):
        Rungs.from_space(_space(0, 9), 3)


def test_bracket_shapes() -> None:
    assert halving_shape(3, 3, 0).sizes == (27, 9, 3, 1)
    assert halving_shape(3, 3, 2).sizes == (3, 1)
    assert [hyperband_shape(3, 3, b).sizes for b in range(4)] == [
        (27, 9, 3, 1),
        (12, 4, 1),
        (6, 2),
        (4,),
    ]
    assert [hyperband_shape(4, 2, b).sizes[0] for b in range(5)] == [16, 10, 7, 5, 5]


def test_early_stopping_rate_beyond_the_top_rung_is_an_error() -> None:
    rungs = Rungs.from_space(SPACE, 3)
    with pytest.raises(SettingsError, match=r"early_stopping_rate=3 leaves no rung.*\[1, 3, 9\]"):
        Schedule.named("successive_halving", rungs, 3, 3)
    with pytest.raises(SettingsError):
        SuccessiveHalving(SPACE, HalvingSettings(early_stopping_rate=5))
    with pytest.raises(SettingsError, match=r"^optimizer 'successive_halving': early_stopping"):
        build_optimizer(SuccessiveHalving, {"early_stopping_rate": 5}, SPACE, seed=0)


def test_settings_validate_eta_and_sampler() -> None:
    with pytest.raises(ValueError, match="eta must be at least 2"):
        HalvingSettings(eta=1)
    with pytest.raises(ValueError, match="sampler"):
        HalvingSettings(sampler="bogus")
    with pytest.raises(SettingsError, match=r"eta must be at least 2, got 1$"):  # not "@ $"
        build_optimizer(SuccessiveHalving, {"eta": 1}, SPACE, seed=0)


# -- synchronous promotions ---------------------------------------------------------------------
def test_sync_waits_for_the_whole_rung_then_promotes_the_best_third() -> None:
    optimizer = SuccessiveHalving(SPACE, seed=0)  # bracket: 9 at epochs 1, 3 at 3, 1 at 9
    running = history_of(_base_rung(9, {5: "evaluating"}))
    [proposal] = _ask(optimizer, running)
    assert proposal.previous_trial_id is None  # a new bracket starts instead of waiting
    assert proposal.config["epochs"] == 1

    done = history_of(_base_rung(9, {2: "failed"}))
    proposals = _ask(optimizer, done, n=5)
    assert _promotions(proposals)[:3] == ["1", "3", "4"]  # the best three that succeeded
    assert [p.config for p in proposals[:3]] == [
        {"x": done[i].config["x"], "epochs": 3} for i in ("1", "3", "4")
    ]
    assert _promotions(proposals)[3:] == [None, None]


def test_another_workers_pending_promotion_is_never_repeated() -> None:
    optimizer = SuccessiveHalving(SPACE, seed=0)
    trials = _base_rung(9)
    trials.append(_trial(10, 0.1, 3, "pending", previous=1))  # another worker promoted trial 1
    trials.append(_trial(11, 0.2, 3, "evaluating", previous=2))
    proposals = _ask(optimizer, history_of(trials), n=3)
    assert _promotions(proposals) == ["3", None, None]


def test_the_next_rung_waits_for_all_its_trials_then_promotes_again() -> None:
    optimizer = SuccessiveHalving(SPACE, seed=0)
    trials = _base_rung(9)
    trials += [_trial(10, 0.3, 3, previous=3), _trial(11, 0.1, 3, previous=1)]
    trials.append(_trial(12, 0.2, 3, "evaluating", previous=2))
    assert _promotions(_ask(optimizer, history_of(trials))) == [None]
    trials[-1] = _trial(12, 0.2, 3, previous=2)
    assert _promotions(_ask(optimizer, history_of(trials), n=2)) == ["11", None]


def test_a_rung_without_successes_ends_its_bracket() -> None:
    optimizer = SuccessiveHalving(SPACE, seed=0)
    failures = dict.fromkeys(range(1, 10), "failed")
    proposals = _ask(optimizer, history_of(_base_rung(9, failures)), n=4)
    assert _promotions(proposals) == [None] * 4
    assert {p.config["epochs"] for p in proposals} == {1}


def test_hyperband_runs_every_bracket_once_per_iteration() -> None:
    optimizer = Hyperband(_space(1, 27), seed=3)
    history = simulate(optimizer, rounds=69)  # one iteration: 40 + 17 + 8 + 4 trials
    started = Counter(t.fidelity for t in history.values() if t.previous_trial_id is None)
    promoted = Counter(t.fidelity for t in history.values() if t.previous_trial_id is not None)
    assert started == {1: 27, 3: 12, 9: 6, 27: 4}
    assert promoted == {3: 9, 9: 3 + 4, 27: 1 + 1 + 2}
    [next_one] = _ask(optimizer, history)
    assert next_one.previous_trial_id is None
    assert next_one.config["epochs"] == 1  # the second iteration starts


# -- asynchronous promotions --------------------------------------------------------------------
def test_asha_promotes_the_top_third_of_finished_trials_at_once() -> None:
    optimizer = ASHA(SPACE, seed=0)
    two_done = history_of(_base_rung(3, {3: "evaluating"}))
    assert _promotions(_ask(optimizer, two_done)) == [None]
    three_done = history_of(_base_rung(3))
    assert _promotions(_ask(optimizer, three_done, n=2)) == ["1", None]


def test_asha_prefers_the_highest_rung_and_skips_promoted_trials() -> None:
    optimizer = ASHA(SPACE, seed=0)
    trials = _base_rung(6)
    trials += [_trial(7, 0.1, 3, previous=1), _trial(8, 0.2, 3, previous=2)]
    trials += [_trial(9, 0.3, 3, "pending", previous=3)]  # another worker's promotion
    proposals = _ask(optimizer, history_of(trials), n=2)
    assert _promotions(proposals) == [None, None]  # 2 finished at rung 1: none in the top 1/3
    trials[-1] = _trial(9, 0.05, 3, previous=3)
    assert _promotions(_ask(optimizer, history_of(trials), n=2)) == ["9", None]


def test_async_hyperband_spreads_new_configurations_like_hyperband() -> None:
    optimizer = AsyncHB(_space(1, 27), seed=1)
    history = simulate(optimizer, rounds=300, states=["failed"])  # no promotions at all
    started = Counter(t.fidelity for t in history.values())
    shares = {f: count / 300 for f, count in started.items()}
    assert shares == pytest.approx({1: 27 / 49, 3: 12 / 49, 9: 6 / 49, 27: 4 / 49}, abs=0.01)


# -- history, determinism and objectives --------------------------------------------------------
def test_a_fresh_instance_makes_the_same_decision_on_the_same_history() -> None:
    history = simulate(Hyperband(_space(1, 27), seed=5), rounds=50, n=2)
    answers = [_ask(Hyperband(_space(1, 27), seed=5), history, n=4) for _ in range(2)]
    assert answers[0] == answers[1]
    first = [_ask(Hyperband(_space(1, 27), seed=seed), TrialHistory(), n=4) for seed in (5, 6)]
    assert first[0] != first[1]


def test_trials_off_the_rungs_are_ignored() -> None:
    imported = [_trial(1, 0.5, 5), _trial(2, 0.4, 7, previous=1), _trial(3, 0.2, 9)]
    optimizer = SuccessiveHalving(SPACE, seed=0)
    proposals = _ask(optimizer, history_of(imported), n=2)
    assert _promotions(proposals) == [None, None]
    assert [p.config["epochs"] for p in proposals] == [1, 1]


def test_a_trial_continued_off_the_rungs_is_not_promoted_again() -> None:
    """A run continued with ``eta=2`` (rungs 1, 2, 4, 9) after ``eta=3`` promoted trial 1 a
    second time, training its configuration along a second chain."""
    trials = [*_base_rung(3), _trial(4, 0.1, 3, previous=1)]  # eta=3's promotion: off-rung
    optimizer = build_optimizer(ASHA, {"eta": 2}, SPACE, seed=0)
    assert _promotions(_ask(optimizer, history_of(trials))) == [None]
    trials += [_trial(5, 0.4, 1), _trial(6, 0.5, 1)]
    assert _promotions(_ask(optimizer, history_of(trials))) == ["2"]  # the next best


def test_a_multi_objective_history_is_refused_with_a_way_out() -> None:
    trial = make_trial(1, {"x": 0.5, "epochs": 1}, objective=(1.0, 2.0), fidelity=1)
    with pytest.raises(SettingsError, match=r"'hyperband' minimizes a single.*mo_asha"):
        Hyperband(SPACE, seed=0).check_objectives(history_of([trial]))


def test_sample_prior_first_and_prior_sampler() -> None:
    space = neps.PipelineSpace(
        {
            "x": neps.Float(0.0, 1.0, prior=0.8, prior_confidence="high"),
            "epochs": neps.IntegerFidelity(1, 9),
        }
    )
    first = SuccessiveHalving(space, HalvingSettings(sample_prior_first=True), seed=0)
    proposals = _ask(first, TrialHistory(), n=3)
    assert proposals[0].config == {"x": 0.8, "epochs": 1}
    assert proposals[1].config != proposals[0].config
    around = SuccessiveHalving(space, HalvingSettings(sampler="prior"), seed=0)
    xs = [p.config["x"] for p in _ask(around, TrialHistory(), n=9)]
    assert all(abs(x - 0.8) < 0.25 for x in xs)


@pytest.mark.parametrize("cls", [Hyperband, ASHA, AsyncHB, SuccessiveHalving])
def test_sample_prior_first_at_the_highest_fidelity_as_neps_spells_it(cls: Any) -> None:
    space = neps.PipelineSpace(
        {"x": neps.Float(0.0, 1.0, prior=0.8), "epochs": neps.IntegerFidelity(1, 9)}
    )
    optimizer = build_optimizer(cls, {"sample_prior_first": "highest_fidelity"}, space, 0)
    first, second = _ask(optimizer, TrialHistory(), n=2)
    assert first.config == {"x": 0.8, "epochs": 9}
    assert second.config["epochs"] == 1
    with pytest.raises(SettingsError, match="sample_prior_first"):
        build_optimizer(cls, {"sample_prior_first": "lowest_fidelity"}, space, 0)


@pytest.mark.parametrize("cls", [Hyperband, ASHA, AsyncHB, SuccessiveHalving])
@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"sampler": "prior"}, "sampler='prior' needs a prior"),
        ({"sample_prior_first": True}, "sample_prior_first=True needs a prior"),
        ({"sample_prior_first": "highest_fidelity"}, "sample_prior_first='highest_fidelity'"),
    ],
)
def test_prior_options_without_priors_are_refused_as_in_neps(
    cls: Any, options: dict[str, Any], named: str
) -> None:
    """ "The prior configuration" was the space's centre, evaluated first without a word."""
    with pytest.raises(SettingsError, match=rf"{re.escape(named)}.*no parameter.*has one"):
        build_optimizer(cls, options, SPACE, 0)


def test_priorband_without_priors_warns_and_runs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        optimizer = build_optimizer(PriorBand, {}, SPACE, 0)
    assert "no parameter of the space has a prior" in caplog.text
    assert len(_ask(optimizer, TrialHistory(), n=2)) == 2


# -- budgets ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "optimizer", ["successive_halving", "hyperband", "asha", "async_hb", "priorband"]
)
def test_checkpointed_costs_do_not_overshoot_the_cost_budget(optimizer: str, tmp_path: Any) -> None:
    """A promotion costs the epochs it adds, a fresh trial all of its epochs."""

    def evaluate(pipeline_directory: Any, previous_pipeline_directory: Any, x: float, epochs: int):
        done = 0
        if previous_pipeline_directory is not None:
            done = int((previous_pipeline_directory / "epochs").read_text())
        (pipeline_directory / "epochs").write_text(str(epochs))
        return {"objective_to_minimize": (x - 0.3) ** 2 + 1 / epochs, "cost": epochs - done}

    space = {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(2, 50)}
    for budget in (100.0, 230.0):
        summary = neps.run(
            evaluate,
            space,
            root_directory=tmp_path / f"{budget}",
            optimizer=optimizer,
            cost_to_spend=budget,
            seed=0,
            post_run_summary=False,
        )
        assert 0.5 * budget < summary.budget.used_cost <= budget


def test_a_promotion_that_exceeds_the_fidelity_budget_gives_way_to_a_cheaper_trial() -> None:
    optimizer = SuccessiveHalving(SPACE, seed=0)
    history = history_of(_base_rung(9))
    assert _promotions(_ask(optimizer, history, fidelities_to_spend=12)) == ["1"]
    proposals = _ask(optimizer, history, n=3, fidelities_to_spend=9 + 4)
    assert _promotions(proposals) == ["1", None]  # 3 + 1 fit; a second promotion does not
    assert _ask(optimizer, history, fidelities_to_spend=9.5) == []


def test_the_cost_budget_is_never_overshot_when_costs_are_known() -> None:
    optimizer = SuccessiveHalving(SPACE, seed=0)
    history = history_of(_base_rung(9))  # cost 1 each
    budget = BudgetInfo(cost_to_spend=11.0, used_cost=9.0)
    proposals = list(optimizer.ask(history, budget, 3))
    assert [p.config["epochs"] for p in proposals] == [1, 1]  # a promotion would cost 3
    spent = BudgetInfo(cost_to_spend=9.5, used_cost=9.0)
    assert list(optimizer.ask(history, spent, 3)) == []


@pytest.mark.parametrize(("optimizer", "budget"), [("successive_halving", 138), ("asha", 75)])
def test_a_budget_too_small_for_a_new_trial_does_not_promote_from_short_rungs(
    optimizer: str, budget: float, tmp_path: Any
) -> None:
    """Fresh trials cost 10, promotions 1: when no fresh trial fitted, rungs promoted before
    they were full (successive halving from a rung of 4, ASHA the best of 2 at rung 3)."""

    def evaluate(previous_pipeline_directory: Any, x: float, epochs: int) -> dict[str, float]:
        return {
            "objective_to_minimize": x,
            "cost": 10.0 if previous_pipeline_directory is None else 1.0,
        }

    summary = neps.run(evaluate, SPACE, root_directory=tmp_path, optimizer=(optimizer, {"eta": 3}),
                       cost_to_spend=budget, seed=1, post_run_summary=False)  # fmt: skip
    by_fidelity = Counter(t.fidelity for t in summary.trials)
    assert by_fidelity[3] <= by_fidelity[1] // 3 and by_fidelity[9] <= by_fidelity[3] // 3
    assert summary.budget.used_cost <= budget


def test_failed_trials_are_final_but_never_promoted() -> None:
    trials = _base_rung(3, {1: "failed", 2: "crashed"})
    proposals = _ask(ASHA(SPACE, seed=0), history_of(trials), n=2)
    assert _promotions(proposals) == ["3", None]
    assert all(t.state.is_final for t in trials)
    assert trials[1].state is TrialState.CRASHED


@pytest.mark.parametrize("seed", range(5))
def test_the_last_untried_configuration_of_a_finite_space_is_found(seed: int) -> None:
    """After 50 draws that all missed, asha said "nothing left to propose" with ``n = 100``
    never tried, and a continued run made the same draws."""
    space = neps.PipelineSpace({"n": neps.Integer(1, 100), "epochs": neps.IntegerFidelity(1, 9)})
    trials = [
        make_trial(n, {"n": n, "epochs": 1}, "success", objective=float(n), fidelity=1)
        for n in range(1, 100)
    ]
    trials += [  # the top ninth already promoted: nothing to do but start the last one
        make_trial(
            100 + n,
            {"n": n, "epochs": 9},
            "success",
            objective=0.0,
            fidelity=9,
            previous_trial_id=str(n),
        )
        for n in range(1, 12)
    ]
    optimizer = build_optimizer(ASHA, {"eta": 9}, space, seed=seed)
    (proposal,) = _ask(optimizer, history_of(trials))
    assert proposal.config == {"n": 100, "epochs": 1}
    assert proposal.previous_trial_id is None


@pytest.mark.parametrize("seed", range(3))
def test_the_last_untried_configuration_of_a_conditional_space_is_found(seed: int) -> None:
    """A space with conditions was not listed: asha said "nothing left to propose" with one of
    its 402 configurations never tried (drawn once in 800)."""
    space = neps.PipelineSpace(
        {
            "a": neps.Categorical(("lo", "hi")),
            "b": neps.Categorical(tuple(range(200))),
            "c": neps.Categorical(("p", "q")),
            "epochs": neps.IntegerFidelity(1, 9),
        },
        conditions={"b": Equals("a", "hi")},
    )
    configs = [{"a": "lo", "c": c} for c in "pq"]
    configs += [{"a": "hi", "b": b, "c": c} for b in range(200) for c in "pq"][:-1]
    trials = [
        make_trial(i, {**config, "epochs": 1}, "success", objective=float(i), fidelity=1)
        for i, config in enumerate(configs, start=1)
    ]
    trials += [  # the top ninth already promoted: nothing to do but start the last one
        make_trial(
            1000 + i,
            {**configs[i - 1], "epochs": 9},
            "success",
            objective=0.0,
            fidelity=9,
            previous_trial_id=str(i),
        )
        for i in range(1, len(configs) // 9 + 1)
    ]
    optimizer = build_optimizer(ASHA, {"eta": 9}, space, seed=seed)
    (proposal,) = _ask(optimizer, history_of(trials))
    assert proposal.config == {"a": "hi", "b": 199, "c": "q", "epochs": 1}
    assert proposal.previous_trial_id is None


@pytest.mark.parametrize("optimizer", ["successive_halving", "asha", "hyperband", "async_hb"])
def test_a_space_too_small_to_fill_a_rung_still_reaches_the_top(
    optimizer: str, tmp_path: Any
) -> None:
    # Two configurations, rungs 1, 3, 9 wanting nine at the bottom: the run stopped after the
    # two trials at fidelity 1 ("nothing left to propose").
    def evaluate(kind: str, epochs: int) -> float:
        return (0.0 if kind == "good" else 1.0) + 1.0 / epochs

    summary = neps.run(
        evaluate,
        {"kind": neps.Categorical(("bad", "good")), "epochs": neps.IntegerFidelity(1, 9)},
        root_directory=tmp_path,
        optimizer=optimizer,
        evaluations_to_spend=8,
    )
    assert summary.best_config is not None
    assert dict(summary.best_config) == {"kind": "good", "epochs": 9}


@pytest.mark.parametrize("optimizer", ["successive_halving", "asha"])
def test_a_fidelity_only_space_climbs_every_rung_once(optimizer: str, tmp_path: Any) -> None:
    summary = neps.run(
        lambda epochs: 1.0 / epochs,
        {"epochs": neps.IntegerFidelity(1, 9)},
        root_directory=tmp_path,
        optimizer=optimizer,
        evaluations_to_spend=20,
    )
    assert summary.budget.used_evaluations == 3  # 1, 3 and 9 epochs; then nothing is left
    assert summary.best_objective == pytest.approx(1.0 / 9)
