"""A script written for the older NePS API (``run_pipeline``, ``loss``, ``searcher``) still runs.

Every old name works and raises a ``DeprecationWarning`` that names its replacement:

=========================  ==========================
old                        new
=========================  ==========================
``run_pipeline=``          ``evaluate_pipeline=``
``searcher=``              ``optimizer=``
``max_evaluations_total=`` ``evaluations_to_spend=``
``max_cost_total=``        ``cost_to_spend=``
result key ``loss``        ``objective_to_minimize``
=========================  ==========================

(The result key ``info_dict`` is NePS's current name of ``extra``: stored there, no warning.)

    python examples/legacy_run_pipeline.py
"""

import logging
import warnings

import neps_core as neps

pipeline_space = {
    "element_1": neps.Float(lower=-10.0, upper=10.0),
    "element_2": neps.Integer(lower=0, upper=20),
    "element_3": neps.Categorical(choices=(1, 2, 3)),
}


def run_pipeline(**config):
    """The seed's run function: a dict with ``loss``, ``cost`` and an ``info_dict``."""
    loss = abs(config["element_1"] - config["element_2"] + config["element_3"])
    return {"loss": loss, "cost": 2, "info_dict": {"reverse_loss": -loss}}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    warnings.simplefilter("default", DeprecationWarning)  # show each deprecation once
    summary = neps.run(
        run_pipeline=run_pipeline,
        pipeline_space=pipeline_space,
        root_directory="results/legacy_run_pipeline",
        max_cost_total=20,  # each evaluation costs 2: ten evaluations
        searcher="random_search",
    )
    print(f"evaluations: {summary.budget.used_evaluations}, cost: {summary.budget.used_cost}")
    print(f"best loss:   {summary.best_objective:.4f} with {dict(summary.best_config or {})}")
