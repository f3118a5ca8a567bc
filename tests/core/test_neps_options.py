"""NePS's optimizer options without a counterpart here (``neps_core.neps_options``): a
run_pipeline-era script's ``surrogate_model="gp", acquisition="EI"`` runs; a value that
would ask for another search is refused, naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import neps_core as neps
from neps_core.errors import SettingsError

SPACE = {"x": neps.Float(0.0, 1.0, prior=0.5)}


def run_pipeline(x: float) -> dict[str, float]:
    return {"loss": x}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # NePS's old names, on purpose
def test_a_run_pipeline_era_bo_script_with_its_model_options_runs(root: Path) -> None:
    # They were refused: "unknown option(s) ['acquisition', 'surrogate_model']".
    pytest.importorskip("scipy")
    with pytest.warns(DeprecationWarning, match="surrogate_model='gp' is NePS's option"):
        neps.run(
            run_pipeline=run_pipeline,
            pipeline_space=SPACE,
            root_directory=root,
            max_evaluations_total=3,
            searcher="bayesian_optimization",
            initial_design_size=2,
            surrogate_model="gp",
            acquisition="EI",
            acquisition_sampler="mutation",
            random_interleave_prob=0.0,
        )
    assert neps.status(root).counts["success"] == 3
    info = neps.load_optimizer_info(root)["info"]
    assert "surrogate_model" not in info
    assert info["initial_design_size"] == 2


@pytest.mark.parametrize(
    ("optimizer", "option", "value", "instead"),
    [
        ("bayesian_optimization", "acquisition", "UCB", "log expected improvement"),
        ("bayesian_optimization", "log_prior_weighted", True, "use 'pibo'"),
        ("bayesian_optimization", "random_interleave_prob", 0.3, "BO's"),
        ("pibo", "surrogate_model", "deep_gp", "Gaussian process"),
    ],
)
def test_a_value_asking_for_another_search_is_refused_naming_it(
    root: Path, optimizer: str, option: str, value: object, instead: str
) -> None:
    pytest.importorskip("scipy")
    with pytest.raises(SettingsError, match=f"{option}={value!r} is NePS's option.*{instead}"):
        neps.run(
            lambda x: x,
            SPACE,
            root_directory=root,
            evaluations_to_spend=1,
            optimizer=(optimizer, {option: value}),
        )
    assert not (root / "configs").exists()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # NePS's old names, on purpose
def test_pibo_takes_log_prior_weighted_and_a_run_config_the_options(
    root: Path, tmp_path: Path
) -> None:
    pytest.importorskip("scipy")
    config = tmp_path / "run.yaml"
    optimizer = {"name": "pibo", "log_prior_weighted": True, "surrogate_model": "gp"}
    config.write_text(
        yaml.safe_dump(
            {"root_directory": str(root), "evaluations_to_spend": 2, "optimizer": optimizer}
        )
    )
    with pytest.warns(DeprecationWarning, match="log_prior_weighted=True"):
        neps.run(lambda x: x, SPACE, run_config=config)
    assert neps.status(root).counts["success"] == 2
    assert neps.load_optimizer_info(root)["name"] == "pibo"


def test_the_warning_about_a_neps_option_points_at_the_callers_line(root: Path) -> None:
    # It pointed at a line of neps_core/components.py, not at the call that gave the option.
    pytest.importorskip("scipy")
    with pytest.warns(DeprecationWarning, match="surrogate_model='gp' is NePS's option") as seen:
        neps.run(
            lambda x: x,
            SPACE,
            root_directory=root,
            evaluations_to_spend=1,
            optimizer=("bayesian_optimization", {"surrogate_model": "gp"}),
        )
    assert {Path(warning.filename) for warning in seen} == {Path(__file__)}
