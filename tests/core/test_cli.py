"""The ``neps-core`` console script, called as a user does: a real subprocess of the script."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from worker_processes import kill, start_worker

import neps_core as neps
from neps_core.cli import main
from neps_core.cli.status import format_status, status_data
from neps_core.liveness import awaits_result

SCRIPT = Path(sys.executable).parent / "neps-core"
SPACE = {"x": neps.Float(0.0, 1.0)}

TRAIN = """
def evaluate_pipeline(x, depth):
    return {"objective_to_minimize": x * depth, "cost": 1.0}


def broken(x, depth):
    raise ValueError("boom in the user's code")


def exits(x, depth):
    import sys
    sys.exit(0)
"""

CONFIG = {
    "evaluate_pipeline": "train.py:evaluate_pipeline",
    "pipeline_space": {"x": {"lower": 0.0, "upper": 1.0}, "depth": {"lower": 1, "upper": 3}},
    "root_directory": "results",
    "evaluations_to_spend": 4,
    "optimizer": "random_search",
}


def cli(
    *arguments: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``neps-core`` with ``arguments`` in ``cwd``; never raises on a non-zero exit."""
    return subprocess.run(
        [str(SCRIPT), *arguments],
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def usage_error(*arguments: str, capsys: pytest.CaptureFixture[str]) -> str:
    """What ``neps-core`` prints on stderr when its parser refuses ``arguments``, parsed in this
    process: a refusal of the parser ends the command before it does anything, and the
    script's own exit status 2 is checked through a real subprocess (``frobnicate``)."""
    capsys.readouterr()  # what came before is not this command's
    with pytest.raises(SystemExit) as exited:
        main(arguments)
    assert exited.value.code == 2
    return capsys.readouterr().err


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text(TRAIN, encoding="utf-8")
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    return tmp_path


def test_the_script_is_installed_and_has_help(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert SCRIPT.is_file(), "pip install -e . installs the neps-core script"
    result = cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("run", "status", "plot", "plugins", "clean", "migrate"):
        assert command in result.stdout
    wrong = cli("frobnicate", cwd=tmp_path)
    assert wrong.returncode == 2
    assert "invalid choice" in wrong.stderr
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"neps-core {neps.__version__}"
    bare = usage_error("run", capsys=capsys)  # the overrides were named as required too
    assert bare.strip().endswith("the following arguments are required: config")


# -- run ------------------------------------------------------------------------------------------
def test_run_from_yaml_names_the_root_as_status_does(project: Path) -> None:
    result = cli("run", "run.yaml", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "trials: 4 (4 success)" in result.stdout
    assert "best: trial" in result.stdout
    assert neps.status(project / "results").counts["success"] == 4
    # run printed "Run in /tmp/.../results", status (given "results") "Run in results".
    first = result.stdout.splitlines()[0]
    assert first.startswith("Run in results ("), result.stdout + result.stderr
    assert cli("status", "results", cwd=project).stdout.splitlines()[0] == first
    # From elsewhere, the way to it from there (the YAML's root is relative to the YAML).
    more = cli("run", f"{project.name}/run.yaml", "evaluations_to_spend=5", cwd=project.parent)
    assert more.stdout.startswith(f"Run in {Path(project.name, 'results')} ("), more.stderr


def test_run_loads_the_users_module_before_one_of_the_same_name_installed(
    project: Path,
) -> None:
    """With the working directory searched last, a user's code.py lost to the standard
    library's module of that name."""
    (project / "code.py").write_text(TRAIN, encoding="utf-8")
    for target in ("code:evaluate_pipeline", "code.py:evaluate_pipeline"):
        result = cli("run", "run.yaml", f"evaluate_pipeline={target}", cwd=project)
        assert result.returncode == 0, result.stderr


def test_run_takes_overrides_after_an_option_in_the_order_given(project: Path) -> None:
    # "unrecognized arguments": argparse ended the overrides at --debug.
    after = ("--debug", "evaluations_to_spend=2", "root_directory=other")
    module = "evaluate_pipeline=train:evaluate_pipeline"  # from the current directory
    result = cli("run", "run.yaml", module, "evaluations_to_spend=3", *after, cwd=project)
    assert result.returncode == 0, result.stderr
    assert neps.status(project / "other").counts["success"] == 2


def test_a_setting_given_as_an_option_gets_the_override_form(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for given in (["--evaluations_to_spend", "5"], ["--evaluations_to_spend=5"]):
        refused = usage_error("run", "run.yaml", *given, capsys=capsys)
        assert refused.rstrip().endswith(
            f"unrecognized arguments: {' '.join(given)} "
            "(give settings as KEY.PATH=VALUE, e.g. evaluations_to_spend=5)"
        )
    odd = usage_error("run", "run.yaml", "--debug", "--", "b=2", capsys=capsys)  # hinted '=b=2'
    assert odd.rstrip().endswith("unrecognized arguments: -- b=2")
    other = usage_error("status", "results", "--bogus", capsys=capsys)
    assert other.rstrip().endswith("unrecognized arguments: --bogus")


def test_config_errors_are_one_line_without_traceback(project: Path) -> None:
    result = cli("run", "run.yaml", "evaluations_to_spend=ten", cwd=project)
    assert result.returncode == 1
    error = (
        "neps-core: error: run.yaml: override 'evaluations_to_spend=ten': "
        "evaluations_to_spend: must be a positive integer, got 'ten'"
    )
    assert result.stderr.splitlines() == [error, "(run with --debug to see the traceback)"]
    debug = cli("run", "run.yaml", "evaluations_to_spend=ten", "--debug", cwd=project)
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.rstrip().endswith(error)
    missing = cli("run", "absent.yaml", cwd=project)
    assert missing.returncode == 1
    assert "neps-core: error: No run config at absent.yaml" in missing.stderr


def test_invalid_yaml_is_one_line_naming_the_file_and_line(project: Path) -> None:
    (project / "bad.yaml").write_text("evaluations_to_spend: [2\n", encoding="utf-8")
    for arguments in (["bad.yaml"], ["run.yaml", "evaluations_to_spend=[2"]):
        result = cli("run", *arguments, cwd=project)
        assert result.returncode == 1
        [error, hint] = result.stderr.splitlines()
        assert error.startswith(f"neps-core: error: {arguments[0]}: ")
        assert re.search(r"not valid YAML: line \d+, column \d+: .*expected", error), error
        assert hint.startswith("(run with --debug")


def test_warnings_are_one_line_not_a_line_of_neps_cores_source(project: Path) -> None:
    result = cli(
        "run", "run.yaml", "max_evaluations_total=2", cwd=project, env={"PYTHONWARNINGS": ""}
    )
    assert result.returncode == 0, result.stderr
    warning = "neps-core: warning: run.yaml: max_evaluations_total is deprecated"
    assert any(line.startswith(warning) for line in result.stderr.splitlines()), result.stderr
    assert ".py:" not in result.stderr


def test_a_closed_stdout_does_not_fail_a_finished_command(project: Path) -> None:
    def closed_stdout(command: str) -> subprocess.CompletedProcess[str]:
        shell = f"'{SCRIPT}' {command} >&-"
        return subprocess.run(
            ["sh", "-c", shell], cwd=project, capture_output=True, text=True, check=False
        )

    ran = closed_stdout("run run.yaml")
    assert ran.returncode == 0, ran.stderr
    status = closed_stdout("status results")
    assert status.returncode == 0 and status.stderr == ""


@pytest.mark.parametrize(
    ("text", "overrides"),
    [
        ("evaluations_to_spend: 2\n", []),
        ("evaluate_pipeline:\nevaluations_to_spend: 2\n", []),
        ("evaluate_pipeline: train.py:evaluate_pipeline\n", ["evaluate_pipeline=null"]),
    ],
    ids=["left-out", "left-empty", "overridden-to-null"],
)
def test_run_without_evaluate_pipeline_says_what_is_missing(
    project: Path, text: str, overrides: list[str]
) -> None:
    (project / "bare.yaml").write_text(text, encoding="utf-8")
    result = cli("run", "bare.yaml", *overrides, cwd=project)
    assert result.returncode == 1
    assert "bare.yaml: evaluate_pipeline: required" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_error_in_the_users_code_fails_the_command(project: Path) -> None:
    result = cli("run", "run.yaml", "evaluate_pipeline=train.py:broken", cwd=project)
    assert result.returncode == 1
    assert "neps-core: error: ValueError: boom in the user's code; raised by evaluate_pipeline " \
        "in trial 1, stored as failed" in result.stderr  # fmt: skip
    assert "Traceback" not in result.stderr
    assert neps.status(project / "results").counts["failed"] == 1


def test_a_sys_exit_0_in_the_users_code_fails_the_command(project: Path) -> None:
    # Its trial failed and the run stopped with the budget unspent, yet the exit status was 0.
    result = cli("run", "run.yaml", "evaluate_pipeline=train.py:exits", cwd=project)
    assert result.returncode == 1
    assert "neps-core: error: SystemExit: 0; raised by evaluate_pipeline in trial 1" in (
        result.stderr
    )
    assert neps.status(project / "results").counts["failed"] == 1


# -- status ---------------------------------------------------------------------------------------
def _run_with_failures(root: Path) -> None:
    def evaluate(x: float) -> float:
        if x > 0.5:
            raise ValueError(f"x={x:.3f} is too large")
        return x

    neps.run(
        evaluate,
        SPACE,
        root_directory=root,
        evaluations_to_spend=12,
        ignore_errors=True,
        optimizer="grid_search",
        seed=0,
    )


def test_overwriting_a_run_in_the_projects_own_folder_keeps_the_project(project: Path) -> None:
    # root_directory: "." beside run.yaml: the overwrite deleted run.yaml, train.py and data.
    (project / "data.csv").write_text("a,b\n", encoding="utf-8")
    (project / "run.yaml").write_text(yaml.safe_dump({**CONFIG, "root_directory": "."}))
    own = {p.name: p.read_text() for p in project.iterdir()}
    assert cli("run", "run.yaml", cwd=project).returncode == 0
    again = cli("run", "run.yaml", "overwrite_root_directory=true", cwd=project)
    assert again.returncode == 0, again.stderr
    assert {name: (project / name).read_text() for name in own} == own
    assert neps.status(project).counts["success"] == 4
    (project / "run.yaml").write_text(yaml.safe_dump({**CONFIG, "root_directory": ""}))
    empty = cli("run", "run.yaml", cwd=project)
    assert empty.returncode != 0
    assert "root_directory: expected a path, got ''" in empty.stderr
    assert "Traceback" not in empty.stderr


def test_status_text_and_json(tmp_path: Path) -> None:
    root = tmp_path / "run"
    _run_with_failures(root)
    summary = neps.status(root)
    data = json.loads(cli("status", str(root), "--json", "--failures", "3", cwd=tmp_path).stdout)
    assert data["counts"] == dict(summary.counts)
    assert data["budget"]["evaluations_to_spend"] == 12
    assert data["best"]["trial_id"] == summary.best_trial.id
    assert data["best"]["config"] == dict(summary.best_config)
    assert data["storage"] == "disk"
    assert data["optimizer"] == data["started_with"] == "grid_search"
    failures = data["recent_failures"]
    assert len(failures) == min(3, summary.counts["failed"]) > 0
    assert all(f["error"].startswith("ValueError: x=") for f in failures)
    finished = [f["finished_at"] for f in failures]
    assert finished == sorted(finished, reverse=True)  # newest first

    text = cli("status", str(root), cwd=tmp_path)
    assert text.returncode == 0
    assert f"best: trial {summary.best_trial.id}, objective_to_minimize" in text.stdout
    assert "10 of 12 evaluations" in text.stdout  # the grid had 10 points
    assert "recent failures:" in text.stdout
    assert "ValueError: x=" in text.stdout


def test_status_best_configs_lists_each_improvement_of_the_best(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # NePS's tutorial 3 runs `python -m neps.status ROOT --best_configs`: a usage error here.
    root = tmp_path / "run"
    summary = neps.run(
        lambda x: x, SPACE, root_directory=root, evaluations_to_spend=5, optimizer="random_search"
    )
    assert summary.best_trial is not None
    written = (root / "summary" / "best_config_trajectory.txt").read_text(encoding="utf-8")
    for flag in ("--best_configs", "--best-configs"):
        shown = cli("status", str(root), flag, cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert written.rstrip() in shown.stdout  # what the run wrote, read live
    data = json.loads(cli("status", str(root), "--json", "--best_configs", cwd=tmp_path).stdout)
    assert data["best_configs"][-1]["trial_id"] == summary.best_trial.id
    assert "best_configs" not in json.loads(cli("status", str(root), "--json", cwd=tmp_path).stdout)
    for other, pointing_at in (("--all_configs", "summary/full.csv"), ("--best_losses", "--best-")):
        assert pointing_at in usage_error("status", str(root), other, capsys=capsys)


def test_status_shows_choices_stored_as_indices_as_the_pipeline_received_them(
    tmp_path: Path,
) -> None:
    root = tmp_path / "run"
    layouts = ((32, 32), (64, 64, 64))
    summary = neps.run(
        lambda sizes: float(sum(sizes)),
        {"sizes": neps.Categorical(choices=layouts)},
        root_directory=root,
        evaluations_to_spend=2,
        optimizer="grid_search",
    )
    assert summary.best_config == {"sizes": 0}  # the index is what the run stores
    text = cli("status", str(root), cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "  sizes: (32, 32)" in text.stdout
    data = json.loads(cli("status", str(root), "--json", cwd=tmp_path).stdout)
    assert data["best"]["config"] == {"sizes": 0}
    assert data["best"]["pipeline"] == {"sizes": "(32, 32)"}


def test_status_shows_each_budgets_limit(tmp_path: Path) -> None:
    # Cost and fidelities showed only what was used ("fidelities 60", not "60 of 60").
    root = tmp_path / "run"
    space = {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 3)}
    neps.run(lambda x, epochs: {"objective_to_minimize": x, "cost": 2.0}, space,
             root_directory=root, optimizer="random_search", cost_to_spend=6,
             fidelities_to_spend=30)  # fmt: skip
    text = format_status(status_data(root, failures=0))
    assert "budget: 3 evaluations, cost 6 of 6, fidelities 9 of 30" in text


def test_status_shows_large_costs_in_plain_digits(tmp_path: Path) -> None:
    # "cost 1.48148e+06 of 1e+07": six digits with an exponent, hard to read at a glance.
    root = tmp_path / "run"
    neps.run(lambda x: {"objective_to_minimize": x, "cost": 123456.789}, {"x": neps.Float(0, 1)},
             root_directory=root, optimizer="random_search", evaluations_to_spend=12,
             cost_to_spend=10_000_000)  # fmt: skip
    text = format_status(status_data(root, failures=0))
    assert "budget: 12 of 12 evaluations, cost 1481481 of 10000000\n" in text


def test_status_of_a_run_whose_space_cannot_be_rebuilt(tmp_path: Path) -> None:
    """Operations made of lambdas cannot be imported back; status still reads the run."""
    root = tmp_path / "run"
    space = {
        "act": neps.Categorical(
            choices=(neps.Operation(lambda: "relu"), neps.Operation(lambda: "tanh"))
        )
    }
    neps.run(lambda act: 1.0, space, root_directory=root, evaluations_to_spend=2)
    text = cli("status", str(root), cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "2 of 2 evaluations" in text.stdout and "act: " in text.stdout


def test_status_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    # `neps-core status ROOT | head -1` printed "error: [Errno 32] Broken pipe", exit 1.
    root = tmp_path / "run"
    _run_with_failures(root)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    try:
        done = subprocess.run(
            [str(SCRIPT), "status", str(root), "--json"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 128 + signal.SIGPIPE
    assert done.stderr == ""


def test_status_of_a_directory_without_a_run(tmp_path: Path) -> None:
    result = cli("status", str(tmp_path / "nothing"), cwd=tmp_path)
    assert result.returncode == 1
    assert f"No neps_core run in {tmp_path / 'nothing'}" in result.stderr
    assert not (tmp_path / "nothing").exists()  # looking never creates a run


def test_a_tilde_in_a_root_directory_is_the_home_directory(project: Path) -> None:
    # `neps-core status '~/runs/x'` (quoted, or after `=`) looked for a folder named "~".
    home = {"HOME": str(project / "home")}
    ran = cli("run", "run.yaml", "root_directory=~/runs/x", cwd=project, env=home)
    assert ran.returncode == 0, ran.stderr
    assert (project / "home" / "runs" / "x" / "configs").is_dir()
    for command in (["status", "~/runs/x"], ["clean", "~/runs/x", "--dry-run"]):
        result = cli(*command, cwd=project, env=home)
        assert result.returncode == 0, result.stderr
    moved = cli("migrate", "~/runs/x", "~/runs/y", cwd=project, env=home)
    assert moved.returncode == 0, moved.stderr
    assert neps.status(project / "home" / "runs" / "y").counts["success"] == 4
    assert not (project / "~").exists()


def test_an_unknown_users_home_in_a_path_argument_is_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # '~nobody/x' was left as written and looked for as a folder named '~nobody'.
    refused = usage_error("status", "~neps_core_no_such_user/x", capsys=capsys)
    assert (
        "argument root_directory: path '~neps_core_no_such_user/x': no home directory is known "
        "for '~neps_core_no_such_user'" in refused
    )


@pytest.mark.parametrize(
    "arguments",
    [["status", ""], ["clean", "", "--dry-run"], ["migrate", "run", ""]],
)
def test_an_empty_path_argument_is_refused_not_the_current_directory(
    tmp_path: Path,
    arguments: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `neps-core migrate run "$DEST"` with DEST unset migrated into the current directory
    # (here refused only because it is not empty); status and clean read it, as Python's
    # status('') refuses to.
    (tmp_path / "run").mkdir()
    monkeypatch.chdir(tmp_path)
    refused = usage_error(*arguments, capsys=capsys)
    assert "got '' (write '.' for the current directory)" in refused, refused
    assert sorted(path.name for path in tmp_path.iterdir()) == ["run"]


def test_an_empty_run_config_argument_is_refused_without_advising_a_folder(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # It advised "write '.' for the current directory", which is refused as a folder.
    refused = usage_error("run", "", capsys=capsys)
    assert "argument config: got '', which names no file" in refused, refused
    assert "write '.'" not in refused


def test_python_status_of_an_empty_directory_leaves_it_untouched(tmp_path: Path) -> None:
    """Core bug (neps_core/loading.py, ``open_existing``): it calls ``open_storage`` on any
    existing directory, which writes ``storage.yaml`` (disk) before finding no run there.
    A later ``run(storage="sqlite")`` on that directory is then refused as a storage
    mismatch. Fix: check ``(root / STORAGE_POINTER_FILE).is_file()`` first, as
    ``neps_core.migration._open_source`` and ``neps_core.inspection.open_run`` do.
    """
    with pytest.raises(FileNotFoundError):
        neps.status(tmp_path)
    assert list(tmp_path.iterdir()) == []


# -- plot -----------------------------------------------------------------------------------------
def test_plot_writes_the_pngs_that_fit_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "run"

    def evaluate(x: float, epochs: int) -> dict[str, Any]:
        return {"objective_to_minimize": x, "learning_curve": [1.0, 0.5, x]}

    space = {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 3)}
    neps.run(
        evaluate, space, root_directory=root, evaluations_to_spend=4, optimizer="random_search"
    )
    result = cli("plot", str(root), "--output-dir", "pngs", "--max-curves", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in (tmp_path / "pngs").iterdir())
    assert written == ["learning_curves.png", "trajectory.png"]
    assert (tmp_path / "pngs" / "trajectory.png").read_bytes().startswith(b"\x89PNG")
    # --max-curves 0 was a runtime ValueError after parsing, not a usage error naming it.
    refused = usage_error("plot", str(root), "--max-curves", "0", capsys=capsys)
    assert "--max-curves: must be >= 1, got '0'" in refused


def test_plot_fails_on_stderr_only_when_no_trial_has_an_objective(tmp_path: Path) -> None:
    def diverge(x: float) -> float:
        raise ValueError("diverged")

    root = tmp_path / "run"
    nothing_yet = cli("plot", str(root), cwd=tmp_path)
    assert nothing_yet.returncode == 1 and "No neps_core run" in nothing_yet.stderr
    with neps.AskAndTell(SPACE, root) as client:  # a run in progress: not an error
        client.ask()
        in_progress = cli("plot", str(root), cwd=tmp_path)
        assert in_progress.returncode == 0, in_progress.stderr
        assert in_progress.stdout.startswith("Nothing to plot yet: no trial of")
        client.tell(client.ask(), ValueError("diverged"))
    neps.run(diverge, SPACE, root_directory=root, evaluations_to_spend=4, ignore_errors=True)
    all_failed = cli("plot", str(root), cwd=tmp_path)
    assert all_failed.returncode == 1 and all_failed.stdout == ""
    assert all_failed.stderr.startswith(
        "neps-core: error: NothingToPlotError: Nothing to plot: no trial of"
    )


CELLS = """
import neps_core as neps


class Cell:
    def __init__(self, width):
        self.width = width

    def __repr__(self):
        return f"Cell({self.width})"


SPACE = {"cell": neps.Operation(Cell, args=(neps.Integer(1, 4),))}
"""

RUN_CELLS = """
import sys
import neps_core as neps
from cells import SPACE

neps.run(lambda cell: float(cell.width), SPACE, root_directory=sys.argv[1], evaluations_to_spend=2)
"""


def test_status_shows_the_readable_pipeline_of_a_space_from_the_users_module(
    tmp_path: Path,
) -> None:
    """The console script did not put the working directory on the path, as python -m does:
    the space's module could not be imported and the best pipeline was silently left out."""
    (tmp_path / "cells.py").write_text(CELLS, encoding="utf-8")
    (tmp_path / "run_cells.py").write_text(RUN_CELLS, encoding="utf-8")
    subprocess.run([sys.executable, "run_cells.py", "run"], cwd=tmp_path, check=True, timeout=240)
    for name in ("asyncio", "sqlite3", "multiprocessing"):  # status imports these later:
        (tmp_path / f"{name}.py").write_text("raise SystemExit('shadowed')\n", encoding="utf-8")
    shown = cli("status", "run", cwd=tmp_path)  # the user's files must not replace them
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"\n  cell: Cell\(\d\)\n", shown.stdout), shown.stdout


def test_costs_whose_total_overflows_a_float_spend_the_budget_not_the_run(tmp_path: Path) -> None:
    """Two valid costs of 1e308: ask(), close() and status failed with an OverflowError ever
    after, and the JSON held Infinity, which strict parsers refuse."""
    root = tmp_path / "run"
    client = neps.AskAndTell(SPACE, root, evaluations_to_spend=5)
    for _ in range(2):
        client.tell(client.ask(), {"objective_to_minimize": 0.1, "cost": 1e308})
    assert client.ask() is not None
    client.close()
    assert neps.status(root).budget.used_cost == float("inf")
    shown = cli("status", str(root), "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout, parse_constant=lambda name: pytest.fail(f"JSON has {name}"))
    assert data["budget"]["cost_used"] == "inf"


# -- plugins --------------------------------------------------------------------------------------
def _broken_distribution(directory: Path) -> Path:
    """A real installed-distribution record whose entry point cannot be imported."""
    info = directory / "neps_core_cli_broken-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: neps-core-cli-broken\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[neps_core]\ncli_broken = neps_core_cli_broken_module_that_is_missing\n", encoding="utf-8"
    )
    return directory


def test_plugins_lists_what_each_plugin_registers(tmp_path: Path) -> None:
    site = _broken_distribution(tmp_path / "site")
    env = {"PYTHONPATH": str(site), "NEPS_CORE_DISABLE_PLUGINS": "grid_search"}
    data = json.loads(cli("plugins", "--json", cwd=tmp_path, env=env).stdout)
    by_name = {p["name"]: p for p in data["plugins"]}
    assert by_name["random_search"]["registers"] == {"optimizer": ["random_search"]}
    assert by_name["random_search"]["distribution"] == "neps-core"
    assert by_name["sqlite_storage"]["registers"] == {"storage": ["sqlite"]}
    assert by_name["mo_asha"]["aliases"] == {"mo_asha": ["moasha"]}  # NePS's spelling works too
    assert by_name["random_search"]["aliases"] == {"random_search": ["neps_random_search"]}
    assert by_name["asha"]["aliases"] == {}
    assert by_name["async_evaluator"]["aliases"] == {}  # sync's "serial" is not inherited
    assert "neps_trial_finished" in by_name["progress"]["hooks"]
    assert "grid_search" not in by_name
    assert data["disabled"] == ["grid_search"]
    (broken,) = data["broken"]
    assert broken["name"] == "cli_broken"
    assert broken["distribution"] == "neps-core-cli-broken"
    assert broken["error"].startswith("ModuleNotFoundError")

    text = cli("plugins", cwd=tmp_path, env=env)
    assert text.returncode == 0
    assert "random_search  (neps-core; neps_core_plugins.random_search)" in text.stdout
    assert "    optimizer: random_search" in text.stdout
    assert "    optimizer: mo_asha (alias moasha)" in text.stdout
    assert "broken (failed to load" in text.stdout
    assert "disabled by NEPS_CORE_DISABLE_PLUGINS: grid_search" in text.stdout


def test_a_plugin_printing_at_import_leaves_json_output_valid(tmp_path: Path) -> None:
    """Its banner came first on stdout: ``--json`` printed no valid JSON."""
    site = tmp_path / "site"
    info = site / "neps_core_cli_noisy-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: neps-core-cli-noisy\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text("[neps_core]\nnoisy = cli_noisy\n", encoding="utf-8")
    (site / "cli_noisy.py").write_text(  # a raw write too, as a C extension's or a child's
        'import os\nprint("noisy plugin v1 loaded")\nos.write(1, b"raw banner\\n")\n',
        encoding="utf-8",
    )
    neps.run(lambda x: x, SPACE, root_directory=tmp_path / "run", evaluations_to_spend=1)
    for command in (["plugins", "--json"], ["status", str(tmp_path / "run"), "--json"]):
        path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
        shown = cli(*command, cwd=tmp_path, env={"PYTHONPATH": path})
        assert shown.returncode == 0, shown.stderr
        json.loads(shown.stdout)
        assert "noisy plugin v1 loaded" in shown.stderr
        assert "raw banner" in shown.stderr


# -- clean ----------------------------------------------------------------------------------------
WORKER = """
import sys, time
import neps_core as neps

def evaluate(x, pipeline_directory):
    (pipeline_directory / "partial_checkpoint").write_text("half")
    time.sleep(600)

neps.run(evaluate, {"x": neps.Float(0.0, 1.0)}, root_directory=sys.argv[1],
         evaluations_to_spend=10, sample_batch_size=3)
"""


def test_clean_refuses_live_workers_and_crashes_the_debris_of_dead_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "run"
    neps.run(lambda x: x, SPACE, root_directory=root, evaluations_to_spend=2)
    worker = start_worker(WORKER, [str(root)], root, "configs/*/partial_checkpoint")
    try:
        status = cli("status", str(root), cwd=tmp_path).stdout
        assert "evaluating now:\n  trial 3 by " in status
        time.sleep(1.0)
        # Its heartbeat is older than that; it was cleaned, and its result later dropped.
        refused = cli("clean", str(root), "--stale-after", "0.5", cwd=tmp_path)
        assert refused.returncode == 1
        assert "Refusing to clean" in refused.stderr
        assert "trial 3 (worker" in refused.stderr
        # Waiting would not help: a process of this machine is alive until it is stopped.
        assert "their processes still run on this machine" in refused.stderr
        assert "wait until" not in refused.stderr
        for nonsense in ("-5", "0", "nan", "soon"):  # each took the live worker for dead
            refusal = usage_error("clean", str(root), "--stale-after", nonsense, capsys=capsys)
            assert "--stale-after" in refusal
    finally:
        kill(worker)  # one EVALUATING trial and two PENDING ones remain
    counts = neps.status(root).counts
    assert (counts["evaluating"], counts["pending"]) == (1, 2)
    status = cli("status", str(root), cwd=tmp_path).stdout  # it listed the dead worker as
    assert "evaluating now" not in status  # evaluating, its heartbeat still fresh
    assert "left by workers whose process is gone (the next run() re-queues them):" in status
    assert "  trial 3 by " in status
    stray = root / ".summary.yaml.abc123.tmp"
    stray.write_text("half-written", encoding="utf-8")
    (root / "summary").mkdir(exist_ok=True)
    stray_in_summary = root / "summary" / ".full.csv.abc123.tmp"  # NePS's summary files
    stray_in_summary.write_text("half-written", encoding="utf-8")
    users_file = root / "configs" / "config_3" / ".model.pt.abc123.tmp"
    users_file.write_text("user data", encoding="utf-8")
    for path in (stray, stray_in_summary, users_file):
        os.utime(path, (time.time() - 3600, time.time() - 3600))

    # Its heartbeat is fresh, but its process is gone from this machine: no need to wait.
    dry = cli("clean", str(root), "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "would mark 3 trial(s) CRASHED" in dry.stdout
    assert re.search(r"trial 3 \(was evaluating\): the process of worker \S+ is gone", dry.stdout)
    assert neps.status(root).counts["pending"] == 2  # nothing changed
    assert stray.exists()

    done = cli("clean", str(root), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "marked 3 trial(s) CRASHED" in done.stdout
    assert "trial 3 (was evaluating): the process of worker" in done.stdout
    assert "(was pending): pending, never evaluated" in done.stdout
    counts = neps.status(root).counts
    assert (counts["success"], counts["crashed"], counts["pending"], counts["evaluating"]) == (
        2,
        3,
        0,
        0,
    )
    assert not stray.exists() and not stray_in_summary.exists()
    assert users_file.exists()  # only neps-core's own temporary files are removed
    assert (root / "configs" / "config_3" / "partial_checkpoint").exists()
    again = cli("clean", str(root), cwd=tmp_path)
    assert again.stdout.strip() == f"Nothing to clean in {root}"


@pytest.mark.parametrize("storage", ["disk", "sqlite:///run.db"])
def test_a_dry_run_of_clean_lists_what_clean_then_marks(tmp_path: Path, storage: str) -> None:
    root = tmp_path / "run"
    on_storage = WORKER.replace("sample_batch_size=3)", "sample_batch_size=3, storage=sys.argv[2])")
    kill(start_worker(on_storage, [str(root), storage], root, "configs/*/partial_checkpoint"))
    dry = cli("clean", str(root), "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "would mark 3 trial(s) CRASHED" in dry.stdout
    done = cli("clean", str(root), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == dry.stdout.replace("would mark", "marked")
    assert neps.status(root).counts["crashed"] == 3


ASYNC_WORKER = """
import sys
import neps_core as neps

def evaluate(x, pipeline_directory):
    (pipeline_directory / "submitted").write_text("to a queue")  # its result comes later

neps.run(evaluate, {"x": neps.Float(0.0, 1.0)}, root_directory=sys.argv[1],
         evaluations_to_spend=3, sample_batch_size=3,
         evaluator={"name": "async", "max_in_flight": 1})
"""


def test_clean_refuses_a_live_worker_that_evaluates_nothing_itself(tmp_path: Path) -> None:
    # It waits for save_pipeline_results, its two other sampled trials PENDING: clean crashed
    # those, and the worker spent its budget on trials that never ran.
    root = tmp_path / "run"
    worker = start_worker(ASYNC_WORKER, [str(root)], root, "configs/*/submitted")
    try:
        deadline = time.monotonic() + 60
        while not any(awaits_result(t) for t in neps.status(root).trials):
            assert time.monotonic() < deadline, "trial 1 never came to wait for its result"
            time.sleep(0.05)
        refused = cli("clean", str(root), cwd=tmp_path)
        assert refused.returncode == 1
        assert f"process(es) {worker.pid} of this machine are running in it" in refused.stderr
        counts = neps.status(root).counts
        assert (counts["evaluating"], counts["pending"], counts["crashed"]) == (1, 2, 0)
    finally:
        kill(worker)
    # Its submitted trial waits for its result, not for the dead worker: not "left by" it.
    status = cli("status", str(root), cwd=tmp_path).stdout
    assert "waiting for save_pipeline_results:\n  trial 1 by " in status
    assert "process is gone" not in status


# -- migrate --------------------------------------------------------------------------------------
def test_migrate_to_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "disk_run"
    neps.run(lambda x: x, SPACE, root_directory=source, evaluations_to_spend=3)
    result = cli(
        "migrate", str(source), str(tmp_path / "sql_run"), "--storage", "sqlite", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "Copied 3 trial(s)" in result.stdout
    status = json.loads(cli("status", str(tmp_path / "sql_run"), "--json", cwd=tmp_path).stdout)
    assert status["storage"] == "sqlite"
    assert status["counts"]["success"] == 3
    again = cli("migrate", str(source), str(tmp_path / "sql_run"), cwd=tmp_path)
    assert again.returncode == 1
    assert "is not empty" in again.stderr
    nonsense = usage_error(
        "migrate", str(source), str(tmp_path / "x"), "--stale-after", "0", capsys=capsys
    )
    assert "must be a number of seconds > 0" in nonsense


@pytest.mark.parametrize("module", ["neps_core", "neps_core.cli"])
def test_python_dash_m_works_too(tmp_path: Path, module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, "status", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 1
    assert "No neps_core run in" in result.stderr
    assert len(result.stderr.splitlines()) == 2


def test_status_quotes_text_with_a_newline_and_cuts_long_values(tmp_path: Path) -> None:
    # A choice "a\nb" broke the listing onto a line of its own; a long one filled the screen.
    root = tmp_path / "run"
    long_text = "x" * 1000
    neps.run(lambda note, size: float(len(note) + len(size)),
             {"note": neps.Categorical(["a\nb"]), "size": neps.Categorical([long_text])},
             root_directory=root, evaluations_to_spend=1, optimizer="random_search")  # fmt: skip
    text = format_status(status_data(root, failures=0))
    assert "  note: 'a\\nb'\n" in text
    size_line = next(line for line in text.splitlines() if line.startswith("  size: "))
    assert size_line.endswith("...") and len(size_line) < 320
    assert status_data(root, failures=0)["best"]["config"]["size"] == long_text
