"""Optimizer benchmarks: median final regret and optimizer time per proposal over seeds.

    python benchmarks/optimizers.py                          # every row, 10 seeds
    python benchmarks/optimizers.py --seeds 3 --rows hyperband priorband

The benchmark is a table of rows, each a (problem, optimizer) pair: :data:`PROBLEMS` holds
the problems (space, evaluation, budget, regret), :data:`ROWS` the optimizers run on them. To
add a problem (Branin, Hartmann6 at 50 evaluations, a torch MLP, ...) define a
:class:`Problem`, put it in ``PROBLEMS`` and append its rows; nothing else changes.

Every run is a real :func:`neps_core.run` on disk storage. The optimizer time per proposal is
the time spent in ``Optimizer.ask`` divided by the proposals it returned (measured by a
subclass that times ``ask``). The table also shows the largest cost any seed used, so a
budget overshoot is visible.

Multi-fidelity Hartmann6 (``mf_hartmann6``): the 6-d Hartmann function on [0, 1]^6 (minimum
-3.32237) with an integer fidelity ``z`` in 1..27 and cost ``z``. With ``s = (z - 1) / 26``
an evaluation is Hartmann6 with its first weight ``alpha_1`` lowered by ``0.1 * (1 - s)``
(a systematic low-fidelity bias, as in BoTorch's augmented Hartmann) plus Gaussian noise of
standard deviation ``0.1 * (1 - s)``; at ``z = 27`` it is exact. The final regret of a run is
the true Hartmann6 value of the best configuration evaluated at ``z = 27``, minus the minimum.
Total cost 810 (30 full evaluations). Priors: "good" is the optimum rounded to one decimal
(medium confidence); "rough" is the optimum moved by 0.05 in every input (its own regret is
0.33, so a run below that improved on the prior); "misleading" is a far corner of the cube
(medium confidence).

Branin (2-d, minimum 0.397887) and Hartmann6 (6-d) without fidelity: 50 evaluations, regret of
the best evaluation; priors as above (Branin's "good" is (3.1, 2.3) near the optimum at
(pi, 2.275), "misleading" (7, 12)). ``mlp``: a small torch MLP, see ``tasks/mlp.py``; its
"regret" is the validation error of the best configuration trained for the full 20 epochs.

``branin_crashes``: Branin where every evaluation raises with probability 0.3 whatever its
configuration (a flaky node), 50 evaluations including the crashed ones; the regret is that of
the best successful one. It shows what crashes that say nothing about the configuration do
to a model-based optimizer.

Peer: with optuna installed (the ``bench`` extra), Branin (also with crashes) and Hartmann6
get an ``optuna_gp`` row, Optuna's GP sampler run through the same harness
(``tasks/optuna_peer.py``).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tasks import optuna_peer
from tasks.mlp import MAX_EPOCHS, dataset, mlp_evaluation, mlp_regret, mlp_space
from tasks.synthetic import (
    BRANIN_MINIMUM,
    HARTMANN6_MINIMUM,
    best_regret,
    branin,
    branin_space,
    crashing_branin,
    hartmann6,
    hartmann6_space,
    mf_hartmann6_evaluation,
    mf_hartmann6_regret,
    mf_hartmann6_space,
)

import neps_core as neps
from neps_core.interfaces import Optimizer
from neps_core.models import BudgetInfo, Proposal, Trial
from neps_core.plugin_manager import load_plugins
from neps_core.run_storage import open_storage


# -- problems -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """A benchmark problem: how to build its space and evaluation, its budget and its regret."""

    space: Callable[[str | None], neps.PipelineSpace]  # the prior ("good", ...) or None
    evaluation: Callable[[int], Callable[..., Any]]  # the seed -> evaluate_pipeline
    budget: Mapping[str, Any]  # run()'s budget (and error handling) arguments
    regret: Callable[[Mapping[str, Trial]], float]  # the final regret of a finished run


PROBLEMS: dict[str, Problem] = {
    "mf_hartmann6": Problem(
        mf_hartmann6_space, mf_hartmann6_evaluation, {"cost_to_spend": 810.0}, mf_hartmann6_regret
    ),
    "branin": Problem(
        branin_space,
        lambda seed: branin,
        {"evaluations_to_spend": 50},
        best_regret(BRANIN_MINIMUM),
    ),
    "branin_crashes": Problem(
        branin_space,
        crashing_branin,
        {"evaluations_to_spend": 50, "ignore_errors": True},
        best_regret(BRANIN_MINIMUM),
    ),
    "hartmann6": Problem(
        hartmann6_space,
        lambda seed: lambda **x: hartmann6([x[f"x{i}"] for i in range(6)]),
        {"evaluations_to_spend": 50},
        best_regret(HARTMANN6_MINIMUM),
    ),
    "mlp": Problem(mlp_space, mlp_evaluation, {"cost_to_spend": 20.0 * MAX_EPOCHS}, mlp_regret),
}


# -- rows -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One line of the table: an optimizer (with options and a prior) on a problem."""

    problem: str
    optimizer: str
    options: Mapping[str, Any] = field(default_factory=dict)
    prior: str | None = None

    @property
    def label(self) -> str:
        """The optimizer column: its name and the prior it got."""
        options = ", ".join(f"{k}={v}" for k, v in self.options.items())
        details = ", ".join(d for d in (f"{self.prior} prior" if self.prior else "", options) if d)
        return self.optimizer + (f" ({details})" if details else "")


#: The peer row (Optuna's GP sampler through the same harness), when optuna is installed.
OPTUNA_PEER = "optuna_gp"
#: Optimizers of other libraries, by row name; every other row names a plugin.
PEERS: dict[str, type[Optimizer]] = {OPTUNA_PEER: optuna_peer.OptunaGP}
ROWS: list[Row] = [
    Row("mf_hartmann6", "random_search"),
    Row("mf_hartmann6", "hyperband"),
    Row("mf_hartmann6", "asha"),
    Row("mf_hartmann6", "priorband", prior="good"),
    Row("mf_hartmann6", "priorband", {"sample_prior_first": False}, prior="good"),
    Row("mf_hartmann6", "priorband", prior="rough"),
    Row("mf_hartmann6", "priorband", prior="misleading"),
    *(
        row
        for problem in ("branin", "hartmann6")
        for row in (
            Row(problem, "random_search"),
            Row(problem, "bayesian_optimization"),
            Row(problem, "pibo", prior="good"),
            Row(problem, "pibo", prior="misleading"),
            *([Row(problem, OPTUNA_PEER)] if optuna_peer.available() else []),
        )
    ),
    Row("branin_crashes", "random_search"),
    Row("branin_crashes", "bayesian_optimization"),
    *([Row("branin_crashes", OPTUNA_PEER)] if optuna_peer.available() else []),
    Row("mlp", "random_search"),
    Row("mlp", "bayesian_optimization"),
    Row("mlp", "pibo", prior="good"),
    Row("mlp", "hyperband"),
    Row("mlp", "asha"),
    Row("mlp", "priorband", prior="good"),
]


# -- running ------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """One seed of one row."""

    regret: float
    seconds_per_proposal: float
    budget: BudgetInfo


def timed(cls: type[Optimizer], clock: list[float]) -> type[Optimizer]:
    """``cls`` with ``ask`` timed: ``clock`` accumulates [seconds, proposals]."""

    class Timed(cls):  # type: ignore[valid-type, misc]
        def ask(
            self, trials: Mapping[str, Trial], budget: BudgetInfo, n: int
        ) -> Sequence[Proposal]:
            start = time.perf_counter()
            proposals = super().ask(trials, budget, n)
            clock[0] += time.perf_counter() - start
            clock[1] += len(proposals)
            return proposals

    return Timed


def run_once(row: Row, seed: int, root: Path) -> Outcome:
    """One seeded run of ``row``; its regret, time per proposal and budget used."""
    problem = PROBLEMS[row.problem]
    clock = [0.0, 0.0]
    optimizer = timed(PEERS.get(row.optimizer) or load_plugins().optimizers[row.optimizer], clock)
    summary = neps.run(
        problem.evaluation(seed),
        problem.space(row.prior),
        root_directory=root,
        optimizer=(optimizer, dict(row.options)),
        seed=seed,
        post_run_summary=False,
        **problem.budget,
    )
    with open_storage(root, None, load_plugins()) as storage:
        trials = dict(storage.sync())
    per_proposal = clock[0] / max(clock[1], 1.0)
    return Outcome(problem.regret(trials), per_proposal, summary.budget)


def run_row(row: Row, seeds: int) -> list[Outcome]:
    """Every seed of ``row``, each in a fresh root directory."""
    outcomes = []
    with tempfile.TemporaryDirectory() as directory:
        for seed in range(seeds):
            outcomes.append(run_once(row, seed, Path(directory) / f"seed_{seed}"))
    return outcomes


def table_line(row: Row, outcomes: list[Outcome]) -> str:
    """A line: median regret and its quartiles, median ms per proposal, the most cost used.

    The quartiles show what a median hides: on Hartmann6 every seed ends in one of two
    basins, so the median of 10 seeds jumps between them with a single seed.
    """
    regrets = [o.regret for o in outcomes]
    regret = statistics.median(regrets)
    lower, upper = np.quantile(regrets, [0.25, 0.75])
    ms = 1000 * statistics.median(o.seconds_per_proposal for o in outcomes)
    budget = PROBLEMS[row.problem].budget
    used = max(o.budget.used_cost for o in outcomes)
    spent = f"{used:g} / {budget['cost_to_spend']:g}" if "cost_to_spend" in budget else "-"
    quartiles = f"{lower:.4f} to {upper:.4f}"
    return f"| {row.problem} | {row.label} | {regret:.4f} | {quartiles} | {ms:.2f} | {spent} |"


def overshoots(row: Row, outcomes: list[Outcome]) -> bool:
    """Whether any seed used more cost than the problem's cost budget."""
    limit = PROBLEMS[row.problem].budget.get("cost_to_spend")
    return limit is not None and any(o.budget.used_cost > limit + 1e-9 for o in outcomes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--problems", nargs="*", default=None, help="problem names to run")
    parser.add_argument("--rows", nargs="*", default=None, help="optimizer names to run")
    arguments = parser.parse_args()
    # branin_crashes' deliberate crashes would each log a warning between the table's lines.
    logging.getLogger("neps_core.reporting").setLevel(logging.ERROR)
    rows = [
        row
        for row in ROWS
        if (arguments.problems is None or row.problem in arguments.problems)
        and (arguments.rows is None or row.optimizer in arguments.rows)
    ]
    print(f"median over {arguments.seeds} seeds")
    if any(row.problem == "mlp" for row in rows):
        print(f"mlp data: {dataset()[4]}")
    print(
        "| problem | optimizer | median final regret | quartiles of the regret"
        " | median ms / proposal | max cost used |"
    )
    print("|---|---|---|---|---|---|")
    results = []
    for row in rows:
        results.append((row, run_row(row, arguments.seeds)))
        print(table_line(*results[-1]), flush=True)
    over = [row.label for row, outcomes in results if overshoots(row, outcomes)]
    print("cost budget overshot by: " + (", ".join(over) if over else "none"))


if __name__ == "__main__":
    main()
