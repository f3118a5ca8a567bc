"""Basic usage: optimize a small training pipeline with neps_core, written as a NePS script.

The "training" is a cheap analytic stand-in (a noisy bowl over the hyperparameters) so that
the example runs in a second; replace ``evaluate_pipeline``'s body with real training.

    python examples/basic_usage.py

Results land in ``results/basic_usage``: one folder per trial under ``configs/``, plus
``summary.yaml``, ``best_config.yaml`` and ``trajectory.csv``. Running the script again
continues the same run (the budget is already spent, so it evaluates nothing more).
"""

import logging
import math

import neps_core as neps


class TrainingSpace(neps.PipelineSpace):
    """The hyperparameters of the pipeline, as in NePS."""

    learning_rate = neps.Float(lower=1e-5, upper=1e-1, log=True, prior=1e-3)
    num_layers = neps.Integer(lower=1, upper=8)
    optimizer = neps.Categorical(choices=("adam", "sgd", "rmsprop"))
    dropout = neps.Float(lower=0.0, upper=0.5)


def evaluate_pipeline(
    learning_rate: float, num_layers: int, optimizer: str, dropout: float
) -> dict[str, float]:
    """'Train' one configuration and report its validation error and what it cost."""
    distance = (math.log10(learning_rate) + 3.0) ** 2 + 0.1 * (num_layers - 4) ** 2
    penalty = {"adam": 0.0, "rmsprop": 0.05, "sgd": 0.2}[optimizer]
    validation_error = distance + penalty + 0.3 * abs(dropout - 0.2)
    epochs_run = num_layers * 2  # a stand-in for the time training took
    return {
        "objective_to_minimize": validation_error,
        "cost": float(epochs_run),
        "train_error": 0.9 * validation_error,  # extra keys are kept in report.yaml
    }


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    summary = neps.run(
        evaluate_pipeline=evaluate_pipeline,
        pipeline_space=TrainingSpace(),
        root_directory="results/basic_usage",
        evaluations_to_spend=25,
        optimizer="random_search",
    )
    print(f"trials by state: {dict(summary.counts)}")
    print(f"best objective:  {summary.best_objective:.4f}")
    print(f"best config:     {dict(summary.best_config or {})}")
