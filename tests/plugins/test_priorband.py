"""The ``priorband`` plugin: the contract, the sampling mixture, and real runs."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

import neps_core as neps
from neps_core.history import TrialHistory
from neps_core.models import Proposal
from neps_core.space import NotEquals
from neps_core.space.resolution import Resolver
from neps_core.testing import OptimizerContract, add_proposals, history_of, make_trial
from neps_core_plugins import priorband
from neps_core_plugins.brackets import Member
from neps_core_plugins.priorband import (
    PriorBand,
    PriorBandSettings,
    local_log_density,
    prior_log_density,
)

pytest_plugins = ["neps_core.testing.fixtures"]

SPACE = neps.PipelineSpace(
    {
        "x": neps.Float(0.0, 1.0, prior=0.8, prior_confidence="high"),
        "kind": neps.Categorical(choices=("a", "b", "c"), prior=0, prior_confidence="medium"),
        "epochs": neps.IntegerFidelity(1, 9),
    }
)


class TestPriorBandContract(OptimizerContract):
    optimizer_class = PriorBand


class TestPriorBandOnASHAContract(OptimizerContract):
    optimizer_class = PriorBand
    optimizer_options: ClassVar[dict[str, Any]] = {"base": "asha", "sample_prior_first": True}


def _top_rung_history(xs: list[float]) -> TrialHistory:
    """Successful trials at the highest fidelity; the objective is |x - 0.2|."""
    return history_of(
        make_trial(i + 1, {"x": x, "kind": "a", "epochs": 9}, objective=abs(x - 0.2), fidelity=9)
        for i, x in enumerate(xs)
    )


def test_without_an_incumbent_uniform_draws_fade_with_the_rung() -> None:
    optimizer = PriorBand(SPACE, seed=0)
    plan = optimizer.schedule.plan(TrialHistory(), optimizer.rungs)
    for rung, uniform in ((0, 0.5), (1, 0.25), (2, 0.1)):
        weights, incumbent = optimizer.mixture(rung, plan)
        assert incumbent is None
        assert weights == pytest.approx([uniform, 1 - uniform, 0.0])


def test_evidence_against_the_prior_shifts_weight_to_the_incumbent() -> None:
    optimizer = PriorBand(SPACE, seed=0)
    misleading = _top_rung_history([0.2, 0.25, 0.3, 0.5, 0.9, 0.95])  # best far from 0.8
    weights, incumbent = optimizer.mixture(0, optimizer.schedule.plan(misleading, optimizer.rungs))
    assert incumbent is not None
    assert incumbent.config["x"] == 0.2
    assert weights[0] == pytest.approx(0.5)
    assert weights[2] > 0.45 > weights[1]

    confirming = _top_rung_history([0.8, 0.2, 0.5, 0.9, 0.95, 0.3])
    [first] = list(confirming.values())[:1]
    confirming.put(make_trial(1, first.config, objective=0.0, fidelity=9))  # 0.8 is the best
    weights, _ = optimizer.mixture(0, optimizer.schedule.plan(confirming, optimizer.rungs))
    assert weights[1] > 2 * weights[2]  # most of the non-uniform half goes to the prior


@pytest.mark.parametrize("inc_ratio", [0.0, 0.9, 1.0])
def test_inc_ratio_fixes_the_incumbents_share_whatever_the_evidence(inc_ratio: float) -> None:
    """NePS's ``neps_priorband(inc_ratio=...)``: the non-uniform half at rung 0 is split by it,
    for a misleading prior and a confirmed one alike."""
    optimizer = PriorBand(SPACE, PriorBandSettings(inc_ratio=inc_ratio), seed=0)
    for xs in ([0.2, 0.25, 0.3, 0.5, 0.9, 0.95], [0.8, 0.79, 0.81, 0.5, 0.9, 0.95]):
        plan = optimizer.schedule.plan(_top_rung_history(xs), optimizer.rungs)
        weights, incumbent = optimizer.mixture(0, plan)
        assert incumbent is not None
        assert weights == pytest.approx([0.5, 0.5 * (1 - inc_ratio), 0.5 * inc_ratio])
    with pytest.raises(ValueError, match="inc_ratio"):
        PriorBandSettings(inc_ratio=1.5)


def test_local_search_waits_for_one_bracket_of_fidelity_counted_as_promotions_continue() -> None:
    """Fidelity 1..9: one bracket is 9 x 1 + 3 x (3 - 1) + 1 x (9 - 3) = 21. Counting each
    promoted trial at its rung's full fidelity, and the prior run outside the brackets, made
    it due once the first promotion finished (9 + 9 + 3), not when the bracket was done."""
    optimizer = PriorBand(SPACE, seed=0)
    prior = optimizer.space.prior_config(fidelity=9)
    history = TrialHistory()
    due: list[str] = []
    while not due:
        [trial] = add_proposals(history, SPACE, optimizer.ask(history, history.budget(), 1))
        plan = optimizer.schedule.plan(history, optimizer.rungs, loose_config=prior)
        if optimizer.mixture(0, plan)[1] is not None:
            due.append(trial.id)
    brackets_top = [m.trial_id for b in plan.brackets for m in b.members(2)]
    assert due == brackets_top == ["14"]  # the prior, 9 + 3 on rungs 0 and 1, then the top


def _evidence(optimizer: PriorBand, history: TrialHistory) -> tuple[list[float], Any]:
    plan = optimizer.schedule.plan(history, optimizer.rungs)
    weights, incumbent = optimizer.mixture(0, plan)
    return list(weights), incumbent and incumbent.trial_id


def test_densities_are_computed_once_per_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """The evidence rung's best were all computed again on every ask (0.35 ms each: 18 ms
    per ask at 5,400 trials); counted through the real functions."""
    computed: list[str] = []
    for name in ("prior_log_density", "local_log_density"):
        real = getattr(priorband, name)
        monkeypatch.setattr(
            priorband, name, lambda *a, _r=real, _n=name: computed.append(_n) or _r(*a)
        )
    history = _top_rung_history([0.2, 0.25, 0.3, 0.5, 0.9, 0.95])
    optimizer = PriorBand(SPACE, seed=0)
    _evidence(optimizer, history)
    assert len(computed) == 6  # the best 3 (eta), under the prior and around the incumbent
    history.put(make_trial(7, {"x": 0.6, "kind": "b", "epochs": 9}, objective=0.01, fidelity=9))
    _evidence(optimizer, history)
    assert len(computed) == 8  # the new one among the best 3 only


def test_the_mixture_reads_the_successes_kept_not_every_member(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every ask read every member of every rung (twice) to find the successes: a third of
    an ask at 5,000 trials. Counted through the real ``Member.success``."""
    history = _top_rung_history([0.2, 0.25, 0.3, 0.5, 0.9, 0.95])
    for i in range(7, 100):
        history.put(make_trial(i, {"x": i / 100, "kind": "b", "epochs": 1}, "failed", fidelity=1))
    optimizer = PriorBand(SPACE, seed=0)
    plan = optimizer.schedule.plan(history, optimizer.rungs)
    reads: list[Member] = []
    real = Member.success
    monkeypatch.setattr(Member, "success", property(lambda m: reads.append(m) or real.fget(m)))
    _, incumbent = optimizer.mixture(0, plan)
    assert incumbent is not None and reads == []
    found = {r: {m.trial_id for m in ms} for r, ms in plan.successes_by_rung().items()}
    expected: dict[int, set[str | None]] = {}
    for bracket in [*plan.brackets, plan.loose]:
        for rung, members in bracket.rungs.items():
            expected.setdefault(rung, set()).update(m.trial_id for m in members if real.fget(m))
    assert found == expected and len(expected[2]) == 6


def test_kept_densities_follow_changed_trials_as_fresh_ones_do() -> None:
    """Results, configurations and the incumbent change; the mixture of a kept optimizer is
    that of a fresh one, and so are its proposals."""
    kept = PriorBand(SPACE, seed=0)
    history = _top_rung_history([0.2, 0.25, 0.3, 0.5, 0.9, 0.95])
    at = {"kind": "a", "epochs": 9}
    changes = [
        make_trial(3, {"x": 0.3, **at}, objective=-1.0, fidelity=9),  # a new incumbent
        make_trial(3, {"x": 0.3, **at}, "failed", fidelity=9),  # its result withdrawn
        make_trial(2, {"x": 0.7, **at}, objective=-0.5, fidelity=9),  # a new configuration
        make_trial(1, {"x": 0.2, "kind": "c", "epochs": 9}, objective=-2.0, fidelity=9),
        make_trial(7, {"x": 0.8, **at}, objective=0.02, fidelity=9),
    ]
    seen = {_evidence(kept, history)[1]}
    for trial in changes:
        history.put(trial)
        found = _evidence(kept, history)
        assert found == _evidence(PriorBand(SPACE, seed=0), history), trial
        seen.add(found[1])
        asked = kept.ask(history, history.budget(), 2)
        assert asked == PriorBand(SPACE, seed=0).ask(history, history.budget(), 2)
    assert len(seen) >= 3  # the incumbent changed


def test_draws_follow_the_mixture() -> None:
    history = _top_rung_history([0.2, 0.25, 0.3, 0.5, 0.9, 0.95])
    optimizer = PriorBand(SPACE, seed=1)
    plan = optimizer.schedule.plan(history, optimizer.rungs)
    rng = np.random.default_rng(0)
    xs = [optimizer.sample_config(2, rng, plan)["x"] for _ in range(400)]
    near_incumbent = sum(abs(x - 0.2) < 0.15 for x in xs) / 400
    near_prior = sum(abs(x - 0.8) < 0.15 for x in xs) / 400
    assert near_incumbent > 0.5  # rung 2: 10% uniform, the rest mostly around the incumbent
    assert near_prior < 0.25


def test_a_two_choice_categorical_prior_at_low_confidence_counts() -> None:
    """Its mass (0.5) gave both choices the same prior density: no weight for the prior."""
    space = neps.PipelineSpace({"act": neps.Categorical(choices=("relu", "tanh"), prior=0)})
    odds = prior_log_density(space, {"act": "relu"}) - prior_log_density(space, {"act": "tanh"})
    assert odds == pytest.approx(np.log(2.0))


def test_densities_prefer_what_they_are_centred_on() -> None:
    close, far = {"x": 0.8, "kind": "a", "epochs": 9}, {"x": 0.1, "kind": "c", "epochs": 9}
    assert prior_log_density(SPACE, close) > prior_log_density(SPACE, far)
    centre = {"x": 0.1, "kind": "c", "epochs": 9}
    assert local_log_density(SPACE, far, centre, 0.5, 0.25) > local_log_density(
        SPACE, close, centre, 0.5, 0.25
    )


def _layer(width: int, activation: str) -> tuple[int, str]:
    return width, activation


NESTED = neps.PipelineSpace(
    {
        "layer": neps.Operation(
            _layer,
            kwargs={
                "width": neps.Integer(8, 256, prior=200, prior_confidence="high"),
                "activation": neps.Categorical(("relu", "tanh"), prior=0, prior_confidence="high"),
            },
        ),
        "epochs": neps.IntegerFidelity(1, 9),
    }
)


def test_priors_inside_operations_weigh_the_prior_against_the_incumbent() -> None:
    # They were sampled from but ignored when weighing: evidence for them counted for nothing.
    def layer(width: int, activation: str) -> dict[str, Any]:
        return {"layer.kwargs.width": width, "layer.kwargs.activation": activation, "epochs": 9}

    close, far = layer(200, "relu"), layer(20, "tanh")
    assert prior_log_density(NESTED, close) > prior_log_density(NESTED, far) + 5
    assert local_log_density(NESTED, far, far, 0.5, 0.1) > local_log_density(
        NESTED, close, far, 0.5, 0.1
    )


@pytest.mark.parametrize("base", ["hyperband", "asha", "successive_halving", "async_hb"])
def test_the_prior_goes_first_at_the_highest_fidelity_outside_the_brackets(base: str) -> None:
    optimizer = PriorBand(SPACE, PriorBandSettings(base=base), seed=0)
    first, second = optimizer.ask(TrialHistory(), TrialHistory().budget(), 2)
    assert first == Proposal({"x": 0.8, "kind": "a", "epochs": 9})
    assert second.config["epochs"] == 1
    history = history_of([make_trial(1, first.config, objective=0.5, fidelity=9)])
    plan = optimizer.schedule.plan(history, optimizer.rungs, loose_config=first.config)
    assert [m.trial_id for m in plan.loose.members(2)] == ["1"]
    assert all(not b.members(2) for b in plan.brackets)
    assert plan.successes_by_rung() == {2: list(plan.loose.members(2))}
    [after] = optimizer.ask(history, history.budget(), 1)
    assert after.config["epochs"] == 1 and after.config != first.config


@pytest.mark.parametrize(
    ("options", "epochs"),
    [
        ({"sample_prior_first": True}, 1),  # NePS: the first bracket's lowest rung
        ({"sample_prior_first": True, "sample_prior_at_target": True}, 9),  # older NePS's pair
        ({"sample_prior_first": "highest_fidelity"}, 9),
    ],
)
def test_sample_prior_first_places_the_prior_as_neps_does(options: dict, epochs: int) -> None:
    optimizer = PriorBand(SPACE, PriorBandSettings(**options), seed=0)
    [first] = optimizer.ask(TrialHistory(), TrialHistory().budget(), 1)
    assert first.config == {"x": 0.8, "kind": "a", "epochs": epochs}


def test_the_prior_goes_first_at_the_lowest_rung_when_the_budget_is_short() -> None:
    optimizer = PriorBand(SPACE, seed=0)
    [first] = optimizer.ask(TrialHistory(), TrialHistory().budget(fidelities_to_spend=5), 1)
    assert first.config == {"x": 0.8, "kind": "a", "epochs": 1}


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="mutation_rate"):
        PriorBandSettings(mutation_rate=0.0)
    with pytest.raises(ValueError, match="base"):
        PriorBandSettings(base="bayesian")


def _share_near_optimum(run: Any) -> float:
    started = [t for t in run.trials.values() if t.previous_trial_id is None]
    return sum(abs(t.config["x"] - 0.3) < 0.1 for t in started) / len(started)


def test_a_good_prior_focuses_the_search_at_equal_cost(multi_fidelity_run: Any) -> None:
    shares: dict[str, list[float]] = {"priorband": [], "hyperband": []}
    for seed in range(2):
        for name, found in shares.items():
            run = multi_fidelity_run(optimizer=name, prior="high", cost_to_spend=250, seed=seed)
            assert run.summary.budget.used_cost <= 250
            found.append(_share_near_optimum(run))
    # Half of the draws on the lowest rung (most of them) and more on higher rungs come from
    # the prior, most of which land near the optimum; of uniform draws about 0.2 do.
    assert min(shares["priorband"]) > 0.4
    assert max(shares["hyperband"]) < 0.35


def test_promotions_resume_checkpoints(multi_fidelity_run: Any) -> None:
    run = multi_fidelity_run(optimizer="priorband", cost_to_spend=200, seed=7)
    run.check_promotions_continue_checkpoints()
    assert run.summary.budget.used_cost <= 200


def test_mutations_of_the_incumbent_mostly_stay_in_its_basin() -> None:
    # NePS's step of 0.25 moved most draws of a 6-d incumbent out of a basin 0.15 wide, and
    # runs then ended where the prior put them (docs/optimizers/multi_fidelity.md).
    space = neps.PipelineSpace(
        {**{f"x{i}": neps.Float(0.0, 1.0) for i in range(6)}, "epochs": neps.IntegerFidelity(1, 9)}
    )
    settings = PriorBand(space, seed=0).settings
    incumbent = {**{f"x{i}": 0.5 for i in range(6)}, "epochs": 9}
    rng = np.random.default_rng(0)
    draws = [
        space.mutate(incumbent, rng, rate=settings.mutation_rate, step=settings.mutation_std)
        for _ in range(400)
    ]
    near = [max(abs(draw[f"x{i}"] - 0.5) for i in range(6)) < 0.15 for draw in draws]
    assert sum(near) / len(near) > 0.5


def test_a_pinned_categorical_does_not_stall_the_run(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutations of the incumbent that moved the pinned ``a`` paid 20,000 draws each, under
    the storage lock: 780,000 walks of the space and 20 s for a run of five trials."""
    space = neps.PipelineSpace(
        {
            "a": neps.Categorical(("x", "y", "z")),
            "b": neps.Categorical((1, 2, 3)),
            "epochs": neps.IntegerFidelity(1, 9),
        },
        forbidden=[NotEquals("a", "x")],  # three configurations
    )
    runs = [0]
    run = Resolver.run

    def counted(self: Resolver) -> Any:
        runs[0] += 1
        return run(self)

    monkeypatch.setattr(Resolver, "run", counted)
    summary = neps.run(
        lambda a, b, epochs: b + 1 / epochs,
        space,
        root_directory=tmp_path,
        evaluations_to_spend=30,
        optimizer="priorband",
        seed=0,
    )
    assert {(t.config["a"], t.config["b"]) for t in summary.trials} == {("x", b) for b in (1, 2, 3)}
    assert runs[0] < 20_000
