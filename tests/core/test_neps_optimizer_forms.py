"""NePS's other ways to name an optimizer: ``functools.partial`` of an algorithm, a callable
of the space (``lambda space: ...``), preset names (``hyperband_prior``) and names of
optimizers neps_core does not have."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

import neps_core as neps


class PriorSpace(neps.PipelineSpace):
    x = neps.Float(0.0, 1.0, prior=0.25, prior_confidence="high")
    epochs = neps.IntegerFidelity(1, 9)


def objective(x: float, epochs: int) -> dict[str, float]:
    return {"objective_to_minimize": x, "cost": float(epochs)}


def test_a_partial_of_an_algorithm_runs_as_in_nepss_warmstarting_example(root: Path) -> None:
    optimizer = functools.partial(
        neps.algorithms.neps_random_search, use_priors=True, ignore_fidelity="highest fidelity"
    )
    neps.run(
        objective, PriorSpace(), root_directory=root, evaluations_to_spend=2, optimizer=optimizer
    )
    info = neps.load_optimizer_info(root)
    assert info["name"] == "random_search"
    assert info["info"]["use_priors"] is True


def test_a_partial_holding_its_space_is_called_without_it(root: Path) -> None:
    # It was called with the space again: "got multiple values for argument 'pipeline_space'".
    optimizer = functools.partial(neps.algorithms.asha, pipeline_space=PriorSpace(), eta=2)
    summary = neps.run(objective, root_directory=root, evaluations_to_spend=2, optimizer=optimizer)
    assert summary.counts["success"] == 2
    info = neps.load_optimizer_info(root)
    assert (info["name"], info["info"]["eta"]) == ("asha", 2)
    positional = functools.partial(neps.algorithms.asha, PriorSpace(), eta=2)
    other = root.parent / "positional"
    neps.run(
        objective, PriorSpace(), root_directory=other, evaluations_to_spend=1, optimizer=positional
    )
    assert neps.load_optimizer_info(other)["name"] == "asha"


def test_a_callable_of_the_space_is_called_with_it_as_in_nepss_scaling_study(root: Path) -> None:
    spaces: list[Any] = []

    def optimizer(space: Any) -> Any:
        spaces.append(space)
        return neps.algorithms.hyperband(space, eta=2)

    space = PriorSpace()
    neps.run(objective, space, root_directory=root, evaluations_to_spend=3, optimizer=optimizer)
    assert spaces == [space]
    info = neps.load_optimizer_info(root)
    assert (info["name"], info["info"]["eta"]) == ("hyperband", 2)
    # What optimizer= takes otherwise is fine as the callable's answer too.
    neps.run(
        objective,
        space,
        root_directory=root.parent / "pair",
        evaluations_to_spend=1,
        optimizer=lambda space: ("asha", {"eta": 2}),
    )
    assert neps.load_optimizer_info(root.parent / "pair")["name"] == "asha"


def test_a_callable_whose_result_cannot_be_used_is_refused_naming_both(root: Path) -> None:
    class NepsAskFunction:  # what NePS's own optimizer functions return
        def __call__(self, trials: object, budget_info: object, n: int | None = None) -> None:
            return None

    with pytest.raises(
        neps.SettingsError,
        match=r"optimizer: function '.*<lambda>' returned an object of type NepsAskFunction "
        r"for the space; "
        r"neps_core cannot use it: it must return neps.algorithms.<name>\(space",
    ):
        neps.run(
            objective, PriorSpace(), root_directory=root, optimizer=lambda s: NepsAskFunction()
        )
    with pytest.raises(neps.SettingsError, match=r"could not be called with the space alone"):
        neps.run(objective, PriorSpace(), root_directory=root, optimizer=lambda: "asha")
    with pytest.raises(neps.SettingsError, match=r"called with the space.*pass pipeline_space="):
        neps.run(objective, root_directory=root, optimizer=functools.partial(neps.algorithms.asha))
    assert not root.exists()


@pytest.mark.parametrize(
    ("neps_name", "name", "options"),
    [
        ("hyperband_prior", "hyperband", {"sampler": "prior"}),
        ("asha_prior", "asha", {"sampler": "prior"}),
        ("async_hb_prior", "async_hb", {"sampler": "prior"}),
        ("successive_halving_prior", "successive_halving", {"sampler": "prior"}),
        ("priorband_asha", "priorband", {"base": "asha"}),
        ("priorband_sh", "priorband", {"base": "successive_halving"}),
        ("priorband_async", "priorband", {"base": "async_hb"}),
    ],
)
def test_nepss_preset_names_are_the_optimizer_with_those_options(
    root: Path, neps_name: str, name: str, options: dict[str, str]
) -> None:
    neps.run(
        objective, PriorSpace(), root_directory=root, evaluations_to_spend=2, optimizer=neps_name
    )
    info = neps.load_optimizer_info(root)
    assert info["name"] == name
    assert {key: info["info"][key] for key in options} == options
    # As neps.algorithms.<name> too, called or paired with options that come on top.
    configured = getattr(neps.algorithms, neps_name)(PriorSpace(), eta=2)
    assert configured.optimizer.name == name
    assert dict(configured.options) == {**options, "eta": 2}


def test_the_cost_aware_and_prior_bo_presets(root: Path) -> None:
    pytest.importorskip("scipy")
    space = {"x": neps.Float(0.0, 1.0, prior=0.5)}
    for neps_name, name, options in [
        ("bayesian_optimization_cost_aware", "bayesian_optimization", {"cost_aware": True}),
        ("cost_cooling", "bayesian_optimization", {"cost_aware": True}),  # NePS 0.x's names
        ("cost_cooling_bayesian_optimization", "bayesian_optimization", {"cost_aware": True}),
        ("bayesian_optimization_prior", "pibo", {}),
    ]:
        where = root / neps_name
        neps.run(
            lambda x: x, space, root_directory=where, evaluations_to_spend=1, optimizer=neps_name
        )
        info = neps.load_optimizer_info(where)
        assert info["name"] == name
        assert {key: info["info"][key] for key in options} == options


def test_plain_bo_under_a_cost_budget_is_not_cost_aware_as_in_neps(root: Path) -> None:
    # It was cost-aware by default, so NePS's plain bayesian_optimization with cost_to_spend
    # silently ran NePS's bayesian_optimization_cost_aware (NePS's default is False).
    pytest.importorskip("scipy")
    space = {"x": neps.Float(0.0, 1.0, prior=0.5)}
    for optimizer, aware in [
        ("bayesian_optimization", False),
        ("pibo", False),
        ("bayesian_optimization_cost_aware", True),
    ]:
        where = root / optimizer
        neps.run(
            lambda x: {"objective_to_minimize": x, "cost": 1.0},
            space,
            root_directory=where,
            cost_to_spend=2,
            optimizer=optimizer,
        )
        assert neps.load_optimizer_info(where)["info"]["cost_aware"] is aware


def test_a_preset_name_in_a_run_config_and_with_options(root: Path, tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "root_directory": str(root),
                "evaluations_to_spend": 2,
                "optimizer": {"name": "hyperband_prior", "eta": 2},
            }
        )
    )
    neps.run(objective, PriorSpace(), run_config=config)
    info = neps.load_optimizer_info(root)
    assert (info["name"], info["info"]["sampler"], info["info"]["eta"]) == ("hyperband", "prior", 2)


@pytest.mark.parametrize("name", ["hyperband", "asha", "successive_halving", "async_hb"])
def test_nepss_use_priors_of_a_bracket_optimizer_is_called_sampler_prior(
    root: Path, tmp_path: Path, name: str
) -> None:
    """The hint was "did you mean 'sample_prior_first'", which means something else."""
    said = r"use_priors=\w+ is not supported: new configurations are drawn around the prior wit"
    with pytest.raises(neps.SettingsError, match=said) as error:
        neps.run(objective, PriorSpace(), root_directory=root, optimizer=(name, {"use_priors": 1}))
    assert "sample_prior_first' instead" not in str(error.value)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"optimizer": {"name": name, "use_priors": True}}))
    with pytest.raises(neps.SettingsError, match=rf"optimizer.use_priors: .*{said}") as error:
        neps.run(objective, PriorSpace(), root_directory=root, run_config=config)
    assert "Did you mean" not in str(error.value)
    assert not root.exists()


@pytest.mark.parametrize("name", ["hyperband", "asha", "successive_halving", "async_hb"])
def test_nepss_default_use_priors_false_of_a_bracket_optimizer_runs(
    root: Path, tmp_path: Path, name: str
) -> None:
    """NePS's default changes nothing, yet it was refused with advice about ``True``."""
    optimizer = (name, {"use_priors": False})
    summary = neps.run(
        objective, PriorSpace(), root_directory=root, optimizer=optimizer, evaluations_to_spend=1
    )
    assert summary.counts["success"] == 1
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"optimizer": {"name": name, "use_priors": False}}))
    summary = neps.run(
        objective, PriorSpace(), root_directory=root, run_config=config, evaluations_to_spend=2
    )
    assert summary.counts["success"] == 2
    assert neps.load_optimizer_info(root)["info"]["sampler"] == "uniform"


@pytest.mark.parametrize(
    ("neps_name", "advice"),
    [
        ("neps_local_and_incumbent", r"make it the space's prior"),
        ("mfbo", r"'asha' or 'priorband'"),
        ("mopriorband", r"'mo_hyperband', \{'sampler': 'prior'\}"),
        ("priormoasha", r"'mo_asha', \{'sampler': 'prior'\}"),
    ],
)
def test_nepss_optimizers_not_here_say_what_to_use_instead(
    root: Path, neps_name: str, advice: str
) -> None:
    with pytest.raises(
        neps.UnknownPluginError, match=rf"NePS's '{neps_name}' is not in neps_core.*{advice}"
    ):
        neps.run(objective, PriorSpace(), root_directory=root, optimizer=neps_name)
    with pytest.raises(AttributeError, match=rf"'{neps_name}': not in neps_core.*{advice}"):
        getattr(neps.algorithms, neps_name)
