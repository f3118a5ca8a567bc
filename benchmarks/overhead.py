"""Per-trial framework overhead of neps_core: an optimizer on an instant objective.

The overhead of a trial is the time between two consecutive calls of ``evaluate_pipeline``
(sampling, storage writes and reporting; the objective itself takes no time). Growth is the
median gap of the last 100 trials over that of the first 100: flat per-trial cost means ~1.0.
The baseline, timed inside the same run, is the file-system floor: making a trial's folder and
its files on the same disk (``tasks/per_trial.py``); "beyond floor" is the framework's share.

    python benchmarks/overhead.py            # 100, 500 and 2000 trials, disk storage
    python benchmarks/overhead.py --storage sqlite --sizes 100 1000
    python benchmarks/overhead.py --directory /dev/shm   # on tmpfs: no disk in the way
    python benchmarks/overhead.py --cost-budget          # budget checks that estimate cost
    python benchmarks/overhead.py --optimizer asha --sizes 500 5000   # with an epochs fidelity

Random search is the default; an optimizer that needs a fidelity gets ``epochs`` (1 to 27).
A second table gives the start-up time every ``neps-core`` call and worker process pays
(``import neps_core``, ``neps-core --help``, ``neps-core status`` of the first run), beyond a
bare interpreter's; ``--startup-repeats 0`` leaves it out.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from tasks.arguments import existing_directory
from tasks.per_trial import measure
from tasks.startup import FLOOR, startup_ms

import neps_core as neps
from neps_core.plugin_manager import load_plugins

SPACE = {
    "learning_rate": neps.Float(1e-5, 1e-1, log=True),
    "dropout": neps.Float(0.0, 0.9),
    "layers": neps.Integer(1, 8),
    "optimizer": neps.Categorical(["adam", "sgd", "rmsprop"]),
}
COLUMNS = (
    "trials",
    "mean ms/trial",
    "median ms",
    "file-system floor ms",
    "beyond floor ms",
    "growth, median last/first 100",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 2000])
    parser.add_argument("--storage", default="disk")
    parser.add_argument("--optimizer", default="random_search")
    parser.add_argument(
        "--directory", type=existing_directory, help="where the runs go (default: temp dir)"
    )
    parser.add_argument(
        "--cost-budget", action="store_true", help="also under a cost_to_spend (never reached)"
    )
    parser.add_argument(
        "--startup-repeats", type=int, default=10, help="fresh interpreters per start-up row"
    )
    arguments = parser.parse_args()
    space = dict(SPACE)
    if load_plugins().optimizers[arguments.optimizer].requires_fidelity:
        space["epochs"] = neps.IntegerFidelity(1, 27)
    print(
        f"optimizer: {arguments.optimizer}, storage: {arguments.storage}"
        + (", with a cost budget" if arguments.cost_budget else "")
    )
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "|".join("---:" for _ in COLUMNS) + "|")
    startup: dict[str, float] = {}
    for size in arguments.sizes:
        with tempfile.TemporaryDirectory(dir=arguments.directory) as directory:
            timing = measure(
                space,
                arguments.storage,
                size,
                Path(directory),
                cost_budget=arguments.cost_budget,
                optimizer=arguments.optimizer,
            )
            if not startup and arguments.startup_repeats > 0:
                startup = startup_ms(Path(directory) / "run", arguments.startup_repeats)
        cells = (
            f"{size}",
            f"{1000 * statistics.fmean(timing.gaps):.3f}",
            f"{timing.median_ms():.3f}",
            f"{timing.floor_ms():.3f}",
            f"{timing.median_ms() - timing.floor_ms():.3f}",
            f"{timing.growth():.2f}",
        )
        print("| " + " | ".join(cells) + " |")
    if startup:
        _print_startup(startup)


def _print_startup(startup: dict[str, float]) -> None:
    """The start-up table: median ms in a fresh interpreter, and beyond the bare one's."""
    print("\n| start-up | median ms | beyond bare python ms |\n|---|---:|---:|")
    for label, median in startup.items():
        print(f"| {label} | {median:.0f} | {median - startup[FLOOR]:.0f} |")


if __name__ == "__main__":
    main()
