"""NePS's optimizer objects and ask-and-tell calls: ``neps.algorithms.X(space, ...)``,
``AskAndTell(optimizer)``, ``ask(n=...)``, ``tell_custom`` and the ``neps_*`` names."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

import neps_core as neps
from neps_core.optimizer_choice import ConfiguredOptimizer


class FidelitySpace(neps.PipelineSpace):
    a = neps.IntegerFidelity(1, 13)
    b = neps.Float(1.0, 5.0)


def objective(a: int, b: float) -> float:
    return (b - 2.0) ** 2 + 1.0 / a


@pytest.fixture
def temporary_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where AskAndTell(optimizer) makes its temporary root: a folder of this test."""
    folder = tmp_path / "temporary"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_calling_an_algorithm_gives_the_optimizer_its_space_and_options() -> None:
    from neps_core_plugins.hyperband import Hyperband

    space = FidelitySpace()
    configured = neps.algorithms.hyperband(space, eta=3)
    assert configured == ConfiguredOptimizer(Hyperband, {"eta": 3}, space)
    assert neps.algorithms.hyperband.optimizer is Hyperband
    assert neps.algorithms.hyperband.name == "hyperband"


def test_run_takes_a_called_algorithm_and_its_space(root: Path) -> None:
    neps.run(
        objective,
        root_directory=root,
        fidelities_to_spend=30,
        optimizer=neps.algorithms.hyperband(FidelitySpace(), eta=3),
    )
    assert neps.load_optimizer_info(root)["name"] == "hyperband"
    assert neps.load_optimizer_info(root)["info"]["eta"] == 3
    assert set(neps.load_pipeline_space(root).parameters) == {"a", "b"}
    with pytest.raises(neps.SettingsError, match=r"unknown option\(s\) \['etaa'\].*'eta'"):
        neps.run(
            objective,
            root_directory=root.parent / "typo",
            fidelities_to_spend=30,
            optimizer=neps.algorithms.hyperband(FidelitySpace(), etaa=3),
        )
    assert not (root.parent / "typo").exists()


def test_a_called_algorithm_and_pipeline_space_must_be_the_same_space(root: Path) -> None:
    # The algorithm's space was dropped without a word when pipeline_space was given too.
    other = {"a": neps.Integer(1, 5), "c": neps.Float(0.0, 1.0), "e": neps.IntegerFidelity(1, 27)}
    with pytest.raises(neps.SettingsError, match=r"differs from the space given to .*hyperband"):
        neps.run(
            objective,
            FidelitySpace(),
            root_directory=root,
            fidelities_to_spend=30,
            optimizer=neps.algorithms.hyperband(other),
        )
    assert not root.exists()
    for same in (FidelitySpace, FidelitySpace()):  # the same space in another form is fine
        summary = neps.run(
            objective,
            same,
            root_directory=root,
            fidelities_to_spend=30,
            optimizer=neps.algorithms.hyperband(FidelitySpace(), eta=3),
        )
        assert summary.budget.used_fidelities <= 30


@pytest.mark.parametrize(
    ("neps_name", "name"),
    [
        ("neps_hyperband", "hyperband"),
        ("neps_priorband", "priorband"),
        ("neps_random_search", "random_search"),
        ("neps_regularized_evolution", "regularized_evolution"),
        ("neps_grid_search", "grid_search"),
    ],
)
def test_nepss_names_for_its_pipeline_spaces_are_the_optimizers_here(
    root: Path, neps_name: str, name: str
) -> None:
    assert getattr(neps.algorithms, neps_name).name == name
    neps.run(
        objective, FidelitySpace(), root_directory=root, evaluations_to_spend=3, optimizer=neps_name
    )
    assert neps.load_optimizer_info(root)["name"] == name
    assert neps.status(root).counts["success"] == 3


def test_nepss_ask_and_tell_loop_runs_in_a_temporary_root(temporary_roots: Path) -> None:
    client = neps.AskAndTell(neps.algorithms.neps_hyperband(FidelitySpace(), eta=3))
    first_rung = client.ask(n=9)
    assert [trial.config["a"] for trial in first_rung] == [1] * 9
    for trial in first_rung:
        client.tell(trial, {"objective_to_minimize": objective(**trial.config)})
    promoted = client.ask()
    assert promoted is not None and promoted.config["a"] == 4  # eta 3 promotes the best third
    summary = client.close()
    assert client.root_directory.parent == temporary_roots
    assert summary.counts["success"] == 9
    assert neps.load_optimizer_info(client.root_directory)["info"]["eta"] == 3
    # A second client is a new run, as NePS's in-memory one would be.
    with neps.AskAndTell(neps.algorithms.hyperband(FidelitySpace(), eta=3)) as second:
        assert second.root_directory != client.root_directory
        assert second.ask() is not None


def test_nepss_ask_and_tell_form_takes_a_root_directory(root: Path) -> None:
    configured = neps.algorithms.random_search(FidelitySpace())
    with neps.AskAndTell(configured, root_directory=root) as client:
        client.tell(client.ask(), 1.0)
    assert neps.status(root).counts["success"] == 1


def test_ask_and_tell_refuses_an_optimizer_without_its_space_or_given_twice(root: Path) -> None:
    with pytest.raises(neps.SettingsError, match=r"needs the space.*hyperband\(space, eta=3\)"):
        neps.AskAndTell(neps.algorithms.hyperband)  # type: ignore[arg-type]
    with pytest.raises(neps.SettingsError, match=r"two optimizers: 'hyperband'.*'asha'"):
        neps.AskAndTell(neps.algorithms.hyperband(FidelitySpace()), root, optimizer="asha")
    assert not root.exists()


def test_ask_n_gives_a_list_as_long_as_the_budget_allows(root: Path) -> None:
    space = {"x": neps.Float(0.0, 1.0)}
    with neps.AskAndTell(space, root, optimizer="random_search", evaluations_to_spend=5) as client:
        batch = client.ask(n=3)
        assert len({trial.id for trial in batch}) == 3
        assert [trial.id for trial in client.ask(n=3)] == ["4", "5"]
        assert client.ask(n=2) == []
        with pytest.raises(ValueError, match=r"ask\(n=0\)"):
            client.ask(n=0)


def test_tell_custom_records_a_warm_start_trial(root: Path) -> None:
    space = {"x": neps.Float(0.0, 1.0), "y": neps.Integer(1, 3)}
    with neps.AskAndTell(space, root, optimizer="random_search", evaluations_to_spend=3) as client:
        trial = client.tell_custom(
            config_id="warm_1", config={"x": 0.25, "y": 2}, result={"objective_to_minimize": 0.5}
        )
        assert trial.state is neps.TrialState.SUCCESS
        assert trial.metadata["config_id"] == "warm_1"
        # The errors named evaluated_trials[0], an argument of import_trials, not of this call.
        with pytest.raises(ValueError, match=r"^tell_custom\(\): invalid configuration: .*'y'"):
            client.tell_custom(config={"x": 0.5, "y": 7}, result=1.0)
        with pytest.raises(ValueError, match=r"^tell_custom\(\): invalid result: .*cost"):
            client.tell_custom(
                config={"x": 0.5, "y": 1}, result={"objective_to_minimize": 1, "cost": -1}
            )
        asked = client.ask(n=3)
        assert len(asked) == 2  # the told trial counts toward evaluations_to_spend
    status = neps.status(root)
    assert status.best_trial is not None and status.best_trial.id == trial.id
    assert status.best_trial.config == {"x": 0.25, "y": 2}


def test_nepss_ask_and_tell_spellings(root: Path) -> None:
    """As NePS's AskAndTell docstring reads a trial and warm-starts: these raised
    AttributeError and TypeError, and a config_id told twice was stored twice."""
    space = {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)}
    client = neps.AskAndTell(neps.algorithms.hyperband(space), root_directory=root, seed=0)
    warm = client.tell_custom(
        config_id="warm_1",
        config={"x": 0.5, "epochs": 1},
        result=0.5,
        time_sampled=100.0,
        time_started=110.0,
        time_end=float("nan"),  # NePS's "not given"
        evaluation_duration=9.5,
        worker_id="laptop",
        traceback_str=None,
    )
    assert (warm.created_at, warm.started_at, warm.worker_id) == (100.0, 110.0, "laptop")
    assert warm.report is not None and warm.report.evaluation_duration == 9.5
    promoted = client.tell_custom(
        config_id="warm_2", config={"x": 0.5, "epochs": 3}, result=0.4, previous_trial_id="warm_1"
    )
    assert promoted.previous_trial_id == warm.id
    with pytest.raises(ValueError, match="config_id 'warm_1' was told before"):
        client.tell_custom(config_id="warm_1", config={"x": 0.1, "epochs": 1}, result=0.1)
    with pytest.raises(ValueError, match="previous_trial_id 'nope' is no trial of the run"):
        client.tell_custom(config={"x": 0.2, "epochs": 3}, result=0.1, previous_trial_id="nope")
    for config in ({"x": 0.9, "epochs": 3}, {"x": 0.5, "epochs": 1}):  # another config, or
        with pytest.raises(ValueError, match="not its configuration at a higher fidelity"):
            client.tell_custom(config=config, result=0.1, previous_trial_id=warm.id)  # no higher
    with pytest.raises(TypeError, match="time_end must be a finite number of seconds"):
        client.tell_custom(config={"x": 0.2, "epochs": 1}, result=0.1, time_end=float("inf"))
    with pytest.raises(ValueError, match=r"time_end=1.5 is before time_started=2.0"):
        client.tell_custom(
            config={"x": 0.2, "epochs": 1}, result=0.1, time_started=2.0, time_end=1.5
        )
    with pytest.raises(TypeError, match=r"unknown keyword\(s\) \['tiem_end'\]"):
        client.tell_custom(config={"x": 0.2, "epochs": 1}, result=0.1, tiem_end=1.0)
    trials = client.ask(n=3, budget_info=None)
    for trial in trials:
        assert trial.config_id == trial.id and trial.config == dict(trial.config)
        assert trial.metadata.previous_trial_id == trial.trial.previous_trial_id
        previous = trial.previous_pipeline_directory
        assert trial.metadata.previous_trial_location == ("" if previous is None else str(previous))
        assert trial.metadata.location == str(trial.pipeline_directory)
        assert trial.metadata.state == neps.TrialState.EVALUATING
        client.tell(trial.config_id, 0.3)
    with pytest.raises(TypeError, match="counts the run's budget itself"):
        client.ask(budget_info=object())  # type: ignore[call-overload]
    client.close()


def test_a_nepss_custom_optimizer_class_is_refused_saying_what_to_write(root: Path) -> None:
    class AskFunction:  # NePS's protocol for custom optimizers
        def __init__(self, space: object) -> None:
            self.space = space

        def __call__(self, trials: object, budget_info: object, n: int | None = None) -> None:
            return None

    with pytest.raises(neps.SettingsError, match=r"not an Optimizer subclass.*ask\(trials"):
        neps.run(objective, FidelitySpace(), root_directory=root, optimizer=AskFunction)
    assert not root.exists()


def test_tell_takes_nepss_timing_and_traceback_keywords(root: Path) -> None:
    space = {"x": neps.Float(0.0, 1.0)}
    with neps.AskAndTell(space, root, optimizer="random_search") as client:
        told = client.tell(client.ask(), 0.5, evaluation_duration=12.5, time_end=1_700_000_000.0)
        assert told.report is not None and told.report.evaluation_duration == 12.5
        assert told.metadata["time_end"] == 1_700_000_000.0
        failed = client.tell(client.ask(), RuntimeError("job died"), traceback_str="node 7 log")
        assert failed.report is not None and failed.report.traceback == "node 7 log"
        assert failed.state is neps.TrialState.FAILED
        kept = client.tell(client.ask(), 0.1, traceback_str="a warning trace")
        assert kept.metadata["traceback"] == "a warning trace"


class PriorSpace(neps.PipelineSpace):
    a = neps.IntegerFidelity(1, 9)
    b = neps.Float(1.0, 5.0, prior=2.0)


# Every keyword of NePS's optimizer functions (neps.optimizers.algorithms), spelled out with a
# value a NePS script could pass: such a script must run here unchanged.
NEPS_KEYWORDS = [
    ("random_search", {"use_priors": True, "ignore_fidelity": "highest fidelity"}),
    ("grid_search", {"ignore_fidelity": True}),
    (
        "bayesian_optimization",
        {
            "initial_design_size": "ndim",
            "cost_aware": "log",
            "ignore_fidelity": True,
            "device": "cpu",
            "reference_point": None,
        },
    ),
    (
        "pibo",
        {
            "initial_design_size": 3,
            "cost_aware": False,
            "device": None,
            "sample_prior_first": True,
            "ignore_fidelity": True,
        },
    ),
    (
        "successive_halving",
        {"sampler": "prior", "eta": 3, "early_stopping_rate": 0, "sample_prior_first": True},
    ),
    ("hyperband", {"eta": 3, "sampler": "uniform", "sample_prior_first": "highest_fidelity"}),
    (
        "asha",
        {"eta": 3, "early_stopping_rate": 1, "sampler": "prior", "sample_prior_first": False},
    ),
    ("async_hb", {"eta": 3, "sampler": "prior", "sample_prior_first": False}),
    (
        "moasha",
        {
            "eta": 3,
            "early_stopping_rate": 0,
            "sampler": "uniform",
            "sample_prior_first": False,
            "mo_selector": "nsga2",
        },
    ),
    (
        "mo_hyperband",
        {"eta": 3, "sampler": "prior", "sample_prior_first": True, "mo_selector": "epsnet"},
    ),
    (
        "priorband",
        {
            "eta": 3,
            "sample_prior_first": False,
            "base": "asha",
            "bayesian_optimization_kick_in_point": None,
        },
    ),
    ("neps_priorband", {"inc_ratio": 0.9, "eta": 3, "sample_prior_first": True, "base": "asha"}),
    ("neps_random_search", {"use_priors": True, "ignore_fidelity": "highest fidelity"}),
    ("complex_random_search", {"ignore_fidelity": "highest fidelity"}),
    (
        "neps_regularized_evolution",  # tournament_size and use_priors: recorded by other names
        {
            "population_size": 5,
            "mutation_type": 0.5,
            "n_mutations": "random",
            "n_forgets": None,
            "ignore_fidelity": "highest_fidelity",
        },
    ),
]


@pytest.mark.parametrize(("name", "keywords"), NEPS_KEYWORDS, ids=[n for n, _ in NEPS_KEYWORDS])
def test_nepss_keywords_of_each_optimizer_are_accepted(
    root: Path, name: str, keywords: dict
) -> None:
    grid = name == "grid_search"  # NePS's grid search refuses priors
    space = FidelitySpace() if grid else PriorSpace()
    neps.run(
        objective, space, root_directory=root, evaluations_to_spend=4, optimizer=(name, keywords)
    )
    info = neps.load_optimizer_info(root)["info"]
    assert {key: info[key] for key in keywords} == keywords


@pytest.mark.parametrize(
    ("name", "keywords", "culprit"),
    [
        ("bayesian_optimization", {"reference_point": [1.0, 2.0]}, "reference_point"),
        ("priorband", {"bayesian_optimization_kick_in_point": 10}, "kick_in_point=10"),
        ("bayesian_optimization", {"ignore_fidelity": "yes"}, "ignore_fidelity"),
    ],
)
def test_nepss_keywords_for_features_not_here_stop_the_run_by_name(
    root: Path, name: str, keywords: dict, culprit: str
) -> None:
    with pytest.raises(neps.SettingsError, match=culprit):
        neps.run(
            objective,
            PriorSpace(),
            root_directory=root,
            evaluations_to_spend=2,
            optimizer=(name, keywords),
        )
    assert not root.exists()


@pytest.mark.parametrize("name", ["complex_random_search", "neps_regularized_evolution"])
def test_ignore_fidelity_false_runs_without_a_fidelity_and_stops_with_one(
    root: Path, name: str
) -> None:
    """NePS's default for these two: fine without a fidelity; with one, NePS raises too."""

    class Plain(neps.PipelineSpace):
        b = neps.Float(1.0, 5.0)

    optimizer = (name, {"ignore_fidelity": False})
    neps.run(lambda b: b, Plain(), root_directory=root, evaluations_to_spend=2, optimizer=optimizer)
    with pytest.raises(neps.SettingsError, match=r"ignore_fidelity=False.*fidelity 'a'"):
        neps.run(
            objective,
            FidelitySpace(),
            root_directory=root / "with_fidelity",
            evaluations_to_spend=2,
            optimizer=optimizer,
        )


def test_a_torch_device_is_recorded_by_its_name(root: Path) -> None:
    class Device:  # what str(torch.device("cuda", 0)) gives, without importing torch
        def __str__(self) -> str:
            return "cuda:0"

    neps.run(
        objective,
        PriorSpace(),
        root_directory=root,
        evaluations_to_spend=2,
        optimizer=("bayesian_optimization", {"device": Device()}),
    )
    assert neps.load_optimizer_info(root)["info"]["device"] == "cuda:0"


def test_nepss_option_names_are_other_names_of_the_same_options(root: Path) -> None:
    """NePS's keywords of these optimizers were unknown options, so its scripts stopped."""
    space = {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)}
    neps.run(
        lambda x, epochs: x,
        space,
        root_directory=root,
        evaluations_to_spend=4,
        optimizer=neps.algorithms.grid_search(space, size_per_numerical_dimension=3),
    )
    assert {t.config["x"] for t in neps.status(root).trials} <= {0.0, 0.5, 1.0}  # 3 a side
    assert neps.load_optimizer_info(root)["info"]["size"] == 3
    for name, options, recorded in (
        ("regularized_evolution", {"tournament_size": 3, "use_priors": True}, "sample_size"),
        ("complex_random_search", {"ignore_fidelity": "highest fidelity"}, "ignore_fidelity"),
    ):
        neps.run(
            lambda x, epochs: x,
            space,
            root_directory=root / name,
            evaluations_to_spend=2,
            optimizer=(name, options),
        )
        assert recorded in neps.load_optimizer_info(root / name)["info"]
    with pytest.raises(neps.SettingsError, match="'size_per_numerical_dimension' is another name"):
        neps.run(
            lambda x, epochs: x,
            space,
            root_directory=root / "both",
            evaluations_to_spend=1,
            optimizer=("grid_search", {"size": 3, "size_per_numerical_dimension": 4}),
        )


def test_a_nepss_optimizer_not_here_says_what_to_use_instead() -> None:
    """neps.algorithms.primo suggested 'pibo', while run(optimizer="primo") named mo_asha."""
    with pytest.raises(AttributeError, match=r"'primo': not in neps_core; .*'mo_asha'"):
        neps.algorithms.primo  # noqa: B018
    with pytest.raises(AttributeError, match=r"'neps_ifbo': not in neps_core; .*'asha'"):
        neps.algorithms.neps_ifbo  # noqa: B018


def test_tell_custom_treats_a_result_as_tell_does(root: Path) -> None:
    """A told failure lacked the client's error values; a traceback given with a value
    replaced the report's traceback instead of going to the metadata."""
    space = {"x": neps.Float(0.0, 1.0)}
    with neps.AskAndTell(
        space, root, objective_value_on_error=9.0, cost_value_on_error=2.0
    ) as client:
        failed = client.tell_custom(config={"x": 0.1}, result=float("nan"))
        worked = client.tell_custom(config={"x": 0.2}, result=0.5, traceback_str="(warnings)")
    assert failed.state is neps.TrialState.FAILED
    assert (failed.objective, failed.cost) == (9.0, 2.0)
    assert worked.metadata["traceback"] == "(warnings)"
    assert worked.report is not None and worked.report.traceback is None
    with neps.AskAndTell(space, root) as client:
        nan = client.tell_custom(config={"x": 0.3}, result=float("nan"), traceback_str="(tb)")
        with pytest.raises(ValueError, match="but the space has no fidelity"):
            client.tell_custom(config={"x": 0.3}, result=0.1, previous_trial_id=worked.id)
    assert nan.metadata["traceback"] == "(tb)"  # a returned failure: as tell() keeps it
