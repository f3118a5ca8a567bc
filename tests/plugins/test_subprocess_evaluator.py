"""The ``subprocess`` evaluator: commands and functions in fresh processes, real signals."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml
from worker_processes import raise_a_class_of_the_script, unguarded_script

import neps_core as neps
from neps_core.evaluation.child_runner import RemoteEvaluationError, rebuild_exception
from neps_core.evaluation.processes import Command, CommandFailedError, read_marked_result
from neps_core.testing import BackgroundEvaluatorContract
from neps_core.testing.evaluator_contract import collect, make_job
from neps_core_plugins.subprocess_evaluator import SubprocessEvaluator, SubprocessSettings

PYTHON = sys.executable
SPACE = {"x": neps.Float(0.0, 1.0), "n": neps.Integer(1, 5)}


class TestSubprocessContract(BackgroundEvaluatorContract):
    evaluator_class = SubprocessEvaluator
    evaluator_options = {"kill_grace": 1.0}
    timeout_seconds = 1.0


def report(root: Path, trial_id: str) -> dict:
    path = root / "configs" / f"config_{trial_id}" / "report.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def error_of_failing_trials(command: Command, root: Path) -> str:
    """The error of trial 1 of a run of two trials of ``command``, which both must fail."""
    summary = neps.run(
        command,
        SPACE,
        root_directory=root,
        evaluations_to_spend=2,
        evaluator="subprocess",
        ignore_errors=True,
    )
    assert summary.counts["failed"] == 2
    return str(report(root, "1")["error"])


def config(root: Path, trial_id: str) -> dict:
    path = root / "configs" / f"config_{trial_id}" / "config.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# -- commands -----------------------------------------------------------------------------------
def test_a_command_with_placeholders_reports_through_a_marked_stdout_line(root: Path) -> None:
    command = Command(
        [
            PYTHON,
            "-c",
            "import sys; print('noise'); print('NEPS_CORE_RESULT', "
            "float(sys.argv[1]) * int(sys.argv[2])); print('more noise')",
            "{x}",
            "{n}",
        ]
    )
    summary = neps.run(
        command, SPACE, root_directory=root, evaluations_to_spend=4, evaluator="subprocess"
    )
    assert summary.counts["success"] == 4
    for trial_id in "1234":
        values = config(root, trial_id)
        assert report(root, trial_id)["objective_to_minimize"] == pytest.approx(
            values["x"] * values["n"]
        )
        stdout = root / "configs" / f"config_{trial_id}" / "neps_stdout.txt"
        assert "noise" in stdout.read_text()


def test_a_string_command_reads_the_config_file_and_writes_the_result_file(
    root: Path, tmp_path: Path
) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, os, sys
            config = json.load(open(os.environ["NEPS_CORE_CONFIG_FILE"]))
            assert os.environ["NEPS_CORE_PIPELINE_ID"] == sys.argv[1]
            directory = os.environ["NEPS_CORE_PIPELINE_DIRECTORY"]
            result = {"objective_to_minimize": config["x"], "cost": config["n"],
                      "extra": {"root": os.environ["NEPS_CORE_ROOT_DIRECTORY"],
                                "directory": directory}}
            json.dump(result, open(os.environ["NEPS_CORE_RESULT_FILE"], "w"))
            """
        )
    )
    command = Command(f"{PYTHON} '{script}' {{pipeline_id}}")
    neps.run(
        command,
        SPACE,
        root_directory=root,
        evaluations_to_spend=2,
        cost_to_spend=100,
        evaluator={"name": "subprocess", "n_workers": 2},
    )
    for trial_id in "12":
        stored = report(root, trial_id)
        assert stored["objective_to_minimize"] == config(root, trial_id)["x"]
        assert stored["cost"] == config(root, trial_id)["n"]
        assert Path(stored["extra"]["root"]) == root
        assert Path(stored["extra"]["directory"]) == root / "configs" / f"config_{trial_id}"


def test_a_json_array_from_a_command_is_a_multi_objective_result(root: Path) -> None:
    command = Command([PYTHON, "-c", "print('NEPS_CORE_RESULT [1.0, 2.5]')"])
    summary = neps.run(
        command, SPACE, root_directory=root, evaluations_to_spend=1, evaluator="subprocess"
    )
    assert summary.pareto_front[0].objective == (1.0, 2.5)


@pytest.mark.parametrize(
    ("code", "named"),
    [
        ("print('NEPS_CORE_RESULT {{not json')", "the line 'NEPS_CORE_RESULT {not json'"),
        (
            "import os; open(os.environ['NEPS_CORE_RESULT_FILE'], 'w').write('not json')",
            "result.json",
        ),
    ],
)
def test_a_result_that_is_not_json_fails_its_trial_only(root: Path, code: str, named: str) -> None:
    # The JSONDecodeError stopped the run; its trial went back to pending, and the next run
    # stopped on it again.
    error = error_of_failing_trials(Command([PYTHON, "-c", code]), root)
    assert error.startswith("ValueError: the child's result is not JSON: ")
    assert named in error


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_what_a_successful_child_started_is_stopped_with_it(root: Path) -> None:
    # `sleep 300 &` outlived its trial and the run (kill_grace worked only after a timeout).
    command = Command(
        "sleep 300 & echo $! > {pipeline_directory}/leftover; echo NEPS_CORE_RESULT {x}",
        shell=True,
    )
    summary = neps.run(
        command,
        SPACE,
        root_directory=root,
        evaluations_to_spend=2,
        evaluator={"name": "subprocess", "kill_grace": 2},
    )
    assert summary.counts["success"] == 2
    leftovers = [int(p.read_text()) for p in root.glob("configs/*/leftover")]
    assert len(leftovers) == 2
    assert not any(_running(pid) for pid in leftovers)


def test_the_evaluators_env_reaches_commands_and_the_commands_own_env_wins(root: Path) -> None:
    code = "import os; print('NEPS_CORE_RESULT', len(os.environ['SITE']) + len(os.environ['MINE']))"
    command = Command([PYTHON, "-c", code], env={"MINE": "ab"})
    summary = neps.run(
        command,
        SPACE,
        root_directory=root,
        evaluations_to_spend=1,
        evaluator={"name": "subprocess", "env": {"SITE": "cluster", "MINE": "overridden"}},
    )
    assert summary.best_objective == len("cluster") + len("ab")


def test_a_commands_env_takes_paths_and_numbers_as_their_text() -> None:
    import numpy as np

    command = Command("true", env={"DATA": Path("/data/set"), "THREADS": np.int64(4), "P": 0.5})
    assert command.env == {"DATA": "/data/set", "THREADS": "4", "P": "0.5"}
    with pytest.raises(TypeError, match="Command env 'FLAG' must be text, a path or a number"):
        Command("true", env={"FLAG": True})


def test_a_non_zero_exit_fails_the_trial_with_the_stderr_tail(root: Path) -> None:
    command = Command(
        [PYTHON, "-c", "import sys; sys.stderr.write('CUDA out of memory\\n'); sys.exit(3)"]
    )
    error = error_of_failing_trials(command, root)
    assert "exited with code 3" in error and "CUDA out of memory" in error


def test_a_command_killed_by_a_signal_is_named_by_its_signal(root: Path) -> None:
    command = Command([PYTHON, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"])
    error = error_of_failing_trials(command, root)
    assert "was killed by signal 11 (SIGSEGV)" in error and "code -11" not in error


def test_a_function_whose_process_is_killed_names_its_trial_not_the_runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The error showed neps_core's runner command line and no trial id."""
    (tmp_path / "crashing_module.py").write_text(
        "import os, signal\n\ndef crash(x):\n    os.kill(os.getpid(), signal.SIGSEGV)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))  # the child gets the same sys.path
    import crashing_module  # type: ignore[import-not-found]

    evaluator = SubprocessEvaluator(SubprocessSettings(n_workers=1))
    try:
        evaluator.submit(make_job("7", crashing_module.crash, {"x": 1.0}, tmp_path / "7"))
        error = collect(evaluator, 1, 120)["7"].error
    finally:
        evaluator.close()
    assert isinstance(error, CommandFailedError)
    assert re.match(
        r"the process calling crashing_module:crash for trial 7 \(pid \d+\) was killed by "
        r"signal 11 \(SIGSEGV\)",
        str(error),
    ), str(error)
    assert "child_runner" not in str(error)


def test_a_failed_command_raises_the_error_without_ignore_errors(root: Path) -> None:
    command = Command([PYTHON, "-c", "raise SystemExit(2)"])
    with pytest.raises(CommandFailedError, match="exited with code 2"):
        neps.run(
            command, SPACE, root_directory=root, evaluations_to_spend=3, evaluator="subprocess"
        )
    assert neps.status(root).counts["failed"] == 1


@pytest.mark.parametrize(("printed", "deephyper"), [("done", False), ("DH-OUTPUT:0.9", True)])
def test_a_command_that_reports_nothing_is_an_error_saying_how_to_report(
    root: Path, printed: str, deephyper: bool
) -> None:
    command = Command([PYTHON, "-c", f"print({printed!r})"])
    neps.run(
        command,
        SPACE,
        root_directory=root,
        evaluations_to_spend=1,
        evaluator="subprocess",
        ignore_errors=True,
    )
    error = report(root, "1")["error"]
    assert "without a result" in error and "NEPS_CORE_RESULT" in error
    assert ("DeepHyper maximizes" in error) is deephyper  # its value would search the worst


def test_the_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    # The command starts a grandchild that would outlive a kill of the direct child alone.
    pid_file = tmp_path / "grandchild.pid"
    command = Command(f"sleep 300 & echo $! > '{pid_file}'; wait", shell=True)
    evaluator = SubprocessEvaluator(SubprocessSettings(timeout=1.0, kill_grace=1.0))
    evaluator.submit(make_job("1", command, {}, tmp_path / "trial"))
    outcome = collect(evaluator, 1, 60)["1"]
    assert isinstance(outcome.error, TimeoutError) and "timeout" in str(outcome.error)
    grandchild = int(pid_file.read_text())
    assert not Path(f"/proc/{grandchild}").exists() or _is_zombie(grandchild)


def test_a_run_records_timeouts_as_failed_and_goes_on(root: Path) -> None:
    # No ignore_errors: a timeout is the user's own limit, not a bug, so run() does not raise.
    code = (
        "import sys, time; x = int(sys.argv[1]); time.sleep(300 if x >= 2 else 0); "
        "print('NEPS_CORE_RESULT', x)"
    )
    summary = neps.run(
        Command([PYTHON, "-c", code, "{x}"]),
        {"x": neps.Integer(0, 3)},
        root_directory=root,
        evaluations_to_spend=4,
        optimizer="grid_search",
        evaluator={"name": "subprocess", "n_workers": 4, "timeout": 1.0, "kill_grace": 0.5},
    )
    assert (summary.counts["success"], summary.counts["failed"]) == (2, 2)
    for trial_id in "1234":
        stored = report(root, trial_id)
        if config(root, trial_id)["x"] >= 2:
            assert stored["error"].startswith("EvaluationTimeoutError: timeout:")
        else:
            assert stored["objective_to_minimize"] == config(root, trial_id)["x"]


def test_a_functions_timeout_counts_from_the_evaluation_not_the_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The child's interpreter start and a slow import (torch, say) counted: every trial of a
    # 1.5 s timeout failed although each evaluation took no time.
    (tmp_path / "slow_module.py").write_text(
        "import time\ntime.sleep(2.0)\n\n"
        "def quick(x):\n    return x\n\n"
        "def slow(x):\n    time.sleep(300)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))  # the child gets the same sys.path
    import slow_module  # type: ignore[import-not-found]

    evaluator = SubprocessEvaluator(SubprocessSettings(n_workers=2, timeout=1.5, kill_grace=0.5))
    try:
        evaluator.submit(make_job("1", slow_module.quick, {"x": 1.0}, tmp_path / "1"))
        evaluator.submit(make_job("2", slow_module.slow, {"x": 1.0}, tmp_path / "2"))
        outcomes = collect(evaluator, 2, 120)
    finally:
        evaluator.close()
    assert outcomes["1"].error is None and outcomes["1"].result == 1.0
    assert "timeout" in str(outcomes["2"].error)  # the evaluation itself is still limited
    assert not (tmp_path / "1" / "neps_began").exists()  # the mark is not left to the user


LATE_MODULE = textwrap.dedent(
    """
    import time

    def sleep_then_raise(x):
        time.sleep(1.5)
        raise ValueError("too late to matter")
    """
)


def test_a_function_that_ended_after_the_timeout_times_out_though_read_late(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A child that ended past its deadline before a poll saw it gave its own error (or result).
    module = _importable(tmp_path, monkeypatch, "late_module", LATE_MODULE)
    evaluator = SubprocessEvaluator(SubprocessSettings(timeout=1.0))
    try:
        evaluator.submit(make_job("1", module.sleep_then_raise, {"x": 1.0}, tmp_path / "1"))
        while not (tmp_path / "1" / "neps_result.json").exists():  # busy elsewhere meanwhile
            time.sleep(0.1)
        time.sleep(1.0)  # the child exits right after writing it
        outcome = collect(evaluator, 1, 120)["1"]
    finally:
        evaluator.close()
    assert isinstance(outcome.error, neps.EvaluationTimeoutError), outcome
    assert "of its 1 s timeout, raising ValueError: too late to matter" in str(outcome.error)


GUARD_GLOBAL = textwrap.dedent(
    """
    import sys
    import neps_core as neps


    def evaluate_pipeline(x):
        return x * scale


    if __name__ == "__main__":
        scale = 2.0  # only here: the child, importing the script, would not have it
        try:
            neps.run(
                evaluate_pipeline,
                {"x": neps.Float(0.0, 1.0)},
                optimizer="random_search",  # quick to load: the evaluator is what matters here
                root_directory=sys.argv[1],
                evaluations_to_spend=1,
                evaluator="subprocess",
            )
        except TypeError as error:
            print(error)
    """
)


def test_a_function_using_a_global_only_the_guard_sets_is_refused_naming_it(
    tmp_path: Path,
) -> None:
    # Every trial failed in the child with a NameError about `scale`.
    script = tmp_path / "script.py"
    script.write_text(GUARD_GLOBAL)
    done = subprocess.run(
        [PYTHON, str(script), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "uses scale, which only the script's" in done.stdout


def test_sigterm_is_followed_by_sigkill_after_the_grace(tmp_path: Path) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"
    command = Command([PYTHON, "-c", code])
    evaluator = SubprocessEvaluator(SubprocessSettings(timeout=1.0, kill_grace=0.5))
    evaluator.submit(make_job("1", command, {}, tmp_path / "trial"))
    outcome = collect(evaluator, 1, 60)["1"]
    assert "timeout" in str(outcome.error)


def test_a_timeout_also_kills_what_the_child_started(tmp_path: Path) -> None:
    # The child obeyed SIGTERM, its own child ignored it and ran on: the group's SIGKILL after
    # the grace was never sent once the child had exited.
    started = tmp_path / "grandchild.pid"
    grandchild = (
        "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"open({str(started)!r}, 'w').write(str(os.getpid())); time.sleep(300)"
    )
    code = (
        "import subprocess, sys, time; "
        f"subprocess.Popen([sys.executable, '-c', {grandchild!r}]); time.sleep(300)"
    )
    evaluator = SubprocessEvaluator(SubprocessSettings(timeout=2.0, kill_grace=0.5))
    evaluator.submit(make_job("1", Command([PYTHON, "-c", code]), {}, tmp_path / "trial"))
    outcome = collect(evaluator, 1, 60)["1"]
    assert "timeout" in str(outcome.error)
    pid = int(started.read_text())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and not _is_zombie(pid):
        assert time.monotonic() < deadline, "the grandchild survived the timeout"
        time.sleep(0.05)


def _is_zombie(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    return "State:\tZ" in status


def test_an_unknown_placeholder_fails_the_trial_naming_it(tmp_path: Path) -> None:
    evaluator = SubprocessEvaluator()
    command = Command([PYTHON, "-c", "pass", "{learning_rate}"])
    evaluator.submit(make_job("1", command, {"x": 0.5}, tmp_path / "trial"))
    outcome = collect(evaluator, 1, 60)["1"]
    assert isinstance(outcome.error, KeyError) and "learning_rate" in str(outcome.error)


def test_a_placeholder_naming_no_entry_is_refused_when_the_run_starts(tmp_path: Path) -> None:
    # Found per trial, it failed every trial of the budget (with ignore_errors, all of them).
    with pytest.raises(neps.SettingsError, match=r"\{y\} name no entry of the space \(x\)"):
        neps.run(
            Command("echo NEPS_CORE_RESULT {y}"),
            {"x": neps.Float(0.0, 1.0)},
            root_directory=tmp_path,
            evaluations_to_spend=3,
            ignore_errors=True,
        )
    assert not (tmp_path / "configs").exists()
    # Attribute and index lookups name their entry; injected arguments are known.
    command = Command("echo NEPS_CORE_RESULT {x.real} {x[0]} {pipeline_directory}")
    assert command.placeholders() == {"x", "pipeline_directory"}
    # A nested format spec's placeholder too (it failed every trial with a KeyError).
    assert Command("echo NEPS_CORE_RESULT {x:>{width}.{digits}f}").placeholders() == {
        "x",
        "width",
        "digits",
    }


def test_a_placeholder_naming_a_private_entry_is_refused_when_the_run_starts(
    tmp_path: Path,
) -> None:
    # A ``_``-prefixed entry is not passed on: {_k} failed every trial with a KeyError.
    with pytest.raises(neps.SettingsError, match=r"\{_k\} name no entry of the space \(x\)"):
        neps.run(
            Command("echo NEPS_CORE_RESULT {_k}"),
            {"x": neps.Float(0.0, 1.0), "_k": neps.Constant(3)},
            root_directory=tmp_path,
            evaluations_to_spend=2,
            ignore_errors=True,
        )
    assert not (tmp_path / "configs").exists()


def test_shell_commands_quote_values(tmp_path: Path) -> None:
    command = Command("echo NEPS_CORE_RESULT {value} | cat", shell=True)
    assert command.render({"value": "1; rm -rf x"}) == "echo NEPS_CORE_RESULT '1; rm -rf x' | cat"
    assert command(value=0.5, pipeline_directory=tmp_path) == 0.5


def test_calling_a_command_directly_runs_it_in_a_child(tmp_path: Path) -> None:
    command = Command([PYTHON, "-c", "import os; print('NEPS_CORE_RESULT', os.getpid())"])
    assert command(x=1.0) != os.getpid()
    failing = Command([PYTHON, "-c", "import sys; sys.exit('bad input')"])
    with pytest.raises(CommandFailedError, match="bad input"):
        failing(pipeline_directory=tmp_path)


def test_a_command_needs_a_string_or_a_list_of_strings() -> None:
    with pytest.raises(TypeError, match="string or a list"):
        Command([PYTHON, 3])  # type: ignore[list-item]


def test_an_empty_command_or_a_file_as_cwd_is_refused_when_made(tmp_path: Path) -> None:
    # Accepted, then every trial failed: an IndexError, or a FileNotFoundError not naming cwd.
    for empty in ("", "   ", ["", "x"]):
        with pytest.raises(ValueError, match="Command command names no program to run"):
            Command(empty)
    (tmp_path / "a_file").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match=r"Command cwd '.*a_file' is not a directory"):
        Command("true", cwd=tmp_path / "a_file")
    assert Command("true", cwd=tmp_path).cwd == tmp_path


def test_a_tilde_cwd_is_under_the_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The trial failed: "Command cwd '~/work' is no existing folder" (a run config's was expanded).
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Command("true", cwd="~/work").cwd == tmp_path / "work"


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("print({x", "expected '}' before end of string"),
        ("echo {}", "a placeholder needs a name"),
        ("echo {0}", "a placeholder needs a name"),
    ],
)
def test_a_template_str_format_cannot_fill_is_refused_when_made(
    template: str, problem: str
) -> None:
    # Found only when each trial ran: every trial of the budget failed, the command unnamed.
    with pytest.raises(ValueError, match=re.escape(problem)) as caught:
        Command(["echo", template])
    assert repr(template) in str(caught.value) and "{{ and }}" in str(caught.value)
    assert Command(["echo", "{{literal}}", "{x}"]).render({"x": 1}) == ["echo", "{literal}", "1"]


def test_marked_lines_the_last_one_wins() -> None:
    assert read_marked_result('NEPS_CORE_RESULT 1\nNEPS_CORE_RESULT {"a": 2}\n') == (
        True,
        {"a": 2},
    )
    assert read_marked_result("nothing here") == (False, None)


# -- python functions in a fresh interpreter ----------------------------------------------------
SCRIPT = textwrap.dedent(
    """
    import os, sys
    import neps_core as neps

    PARENT = os.getpid()

    def evaluate_pipeline(x, n, pipeline_directory, pipeline_id):
        (pipeline_directory / "pid").write_text(str(os.getpid()))
        if n == 5:
            raise ArithmeticError(f"n is five in trial {pipeline_id}")
        return x * n, float(n)

    if __name__ == "__main__":
        neps.run(
            evaluate_pipeline,
            {"x": neps.Float(0.0, 1.0), "n": neps.Integer(1, 5)},
            root_directory=sys.argv[1],
            evaluations_to_spend=int(sys.argv[2]),
            optimizer="grid_search",
            evaluator={"name": "subprocess", "n_workers": 2},
            ignore_errors=True,
        )
        print("PARENT", PARENT)
    """
)


def test_a_function_of_the_main_script_runs_in_a_fresh_interpreter(
    root: Path, tmp_path: Path
) -> None:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    completed = subprocess.run(
        [PYTHON, str(script), str(root), "6"],  # the grid's trial 5 has n=5, 6 has x > 0
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    parent = int(completed.stdout.split("PARENT")[1])
    summary = neps.status(root)
    assert (summary.counts["success"], summary.counts["failed"]) == (5, 1)
    for folder in (root / "configs").iterdir():
        assert int((folder / "pid").read_text()) != parent
        stored = yaml.safe_load((folder / "report.yaml").read_text())
        values = yaml.safe_load((folder / "config.yaml").read_text())
        if values["n"] == 5:
            assert stored["error"].startswith("ArithmeticError: n is five in trial")
        else:  # the tuple came back as a tuple: a multi-objective result
            assert stored["objective_to_minimize"] == [
                pytest.approx(values["x"] * values["n"]),
                values["n"],
            ]


PLAIN_MODULE = textwrap.dedent(
    """
    import sys

    def evaluate_pipeline(x):
        loaded = sorted(name for name in sys.modules if name.split(".")[0] == "neps_core")
        return {"objective_to_minimize": x, "extra": {"neps_core_modules": loaded}}
    """
)


def test_the_child_imports_no_neps_core_for_a_function_that_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Importing neps_core costs the child about 0.25 s per trial; it only runs the call."""
    (tmp_path / "plain_training.py").write_text(PLAIN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    from plain_training import evaluate_pipeline

    evaluator = SubprocessEvaluator()
    try:
        evaluator.submit(make_job("1", evaluate_pipeline, {"x": 0.5}, tmp_path / "trial"))
        (outcome,) = collect(evaluator, 1, patience=120.0).values()
    finally:
        evaluator.close()
    assert outcome.error is None, outcome.traceback
    assert outcome.result == {"objective_to_minimize": 0.5, "extra": {"neps_core_modules": []}}


UNPRINTABLE_ERROR_MODULE = textwrap.dedent(
    """
    class BadStr(Exception):
        def __str__(self):
            raise RuntimeError("str boom")

    def evaluate_pipeline(x):
        raise BadStr
    """
)


def _importable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str) -> Any:
    """``source`` as the module ``name``, which a fresh interpreter imports too (same path)."""
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module(name)


def _run_once(function: Any, root: Path, evaluator: str, **settings: Any) -> neps.Summary:
    settings.update(root_directory=root, evaluations_to_spend=1, evaluator=evaluator)
    return neps.run(function, {"x": neps.Float(0.0, 1.0)}, **settings)


def test_an_exception_whose_str_raises_is_stored_as_the_other_evaluators_store_it(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The child's str(error) raised, so the stored error named the runner's crash
    # (CommandFailedError ... RuntimeError: str boom), not the user's exception.
    module = _importable(tmp_path, monkeypatch, "unprintable_error", UNPRINTABLE_ERROR_MODULE)
    for evaluator in ("sync", "subprocess"):
        _run_once(module.evaluate_pipeline, root / evaluator, evaluator, ignore_errors=True)
        error = report(root / evaluator, "1")["error"]
        assert error == "BadStr (its message cannot be shown: RuntimeError)"


EXACT_REALS_MODULE = textwrap.dedent(
    """
    from decimal import Decimal
    from fractions import Fraction


    def evaluate_pipeline(x):
        return {
            "objective_to_minimize": [Decimal("0.25"), Fraction(1, 2)],
            "cost": Decimal("1.5"),
            "learning_curve": [Fraction(3, 4)],
            "accuracy": Decimal("0.75"),
        }


    def too_large(x):
        return {"objective_to_minimize": 0.5, "cost": Decimal("1e400")}


    def long_parts(x):  # parts too long for Python to write as text; the value is 1.0
        return {"objective_to_minimize": x, "cost": Fraction(10**5000 + 1, 10**5000)}
    """
)


def test_decimals_and_fractions_are_numbers_as_in_the_workers_own_process(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The child sent them as object stand-ins, which the result contract refused as
    # "must be a number, got Decimal"; an extra key kept its repr text.
    module = _importable(tmp_path, monkeypatch, "exact_reals", EXACT_REALS_MODULE)
    for evaluator in ("sync", "subprocess"):
        summary = _run_once(module.evaluate_pipeline, root / evaluator, evaluator)
        assert summary.counts["success"] == 1, evaluator
        stored = report(root / evaluator, "1")
        assert stored["objective_to_minimize"] == [0.25, 0.5]
        assert (stored["cost"], stored["learning_curve"]) == (1.5, [0.75])
        assert stored["extra"] == {"accuracy": 0.75}
        with pytest.raises(ValueError, match="'cost' is too large for a float"):
            _run_once(module.too_large, root / f"{evaluator}_too_large", evaluator)
        assert (
            _run_once(module.long_parts, root / f"{evaluator}_long", evaluator).counts["success"]
            == 1
        ), evaluator


TWO_ARGUMENT_ERROR_MODULE = """
class TwoArgumentError(Exception):
    def __init__(self, code, detail):
        super().__init__(f"code={code}: {detail}")


def evaluate_pipeline(x):
    raise TwoArgumentError(7, "custom")
"""


def test_an_exception_whose_init_takes_other_arguments_arrives_as_itself(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rebuilt as TwoArgumentError("code=7: custom"), a TypeError, it arrived as a
    # RemoteEvaluationError; sync raises the TwoArgumentError itself.
    module = _importable(tmp_path, monkeypatch, "two_argument_error", TWO_ARGUMENT_ERROR_MODULE)
    for evaluator in ("sync", "subprocess"):
        with pytest.raises(module.TwoArgumentError, match="code=7: custom"):
            _run_once(module.evaluate_pipeline, root / evaluator, evaluator)
        assert report(root / evaluator, "1")["error"] == "TwoArgumentError: code=7: custom"


def test_an_exception_whose_str_raises_and_whose_type_is_gone_is_named_by_its_type() -> None:
    described = {"module": "gone", "qualname": "BadStr", "args": []}
    rebuilt = rebuild_exception({**described, "message": None, "unshown_because": "RuntimeError"})
    assert isinstance(rebuilt, RemoteEvaluationError)
    assert str(rebuilt) == "gone.BadStr (its message cannot be shown: RuntimeError)"


def test_a_lambda_cannot_run_in_a_fresh_interpreter(tmp_path: Path) -> None:
    evaluator = SubprocessEvaluator()
    with pytest.raises(TypeError, match="module-level function"):
        evaluator.submit(make_job("1", lambda x: x, {"x": 1.0}, tmp_path / "trial"))


class Model:
    def evaluate(self, x: float) -> float:
        return x


def test_a_bound_method_is_refused_before_it_runs(tmp_path: Path) -> None:
    # Was "missing 1 required positional argument: 'self'" from the child.
    evaluator = SubprocessEvaluator()
    with pytest.raises(TypeError, match="bound method"):
        evaluator.submit(make_job("1", Model().evaluate, {"x": 1.0}, tmp_path / "trial"))


GUARDED_SCRIPT = """
import neps_core as neps

if __name__ == "__main__":
    def evaluate_pipeline(x: float) -> float:
        return x

    try:
        neps.run(evaluate_pipeline, {"x": neps.Float(0.0, 1.0)}, root_directory="run",
                 evaluations_to_spend=2, ignore_errors=True,
                 evaluator={"name": "subprocess", "n_workers": 2})
    except TypeError as error:
        print(error)
    print(neps.status("run").counts["pending"])
"""


def test_a_function_under_the_main_guard_is_refused_naming_the_guard(tmp_path: Path) -> None:
    # Was "module '__neps_core_main__' has no attribute 'evaluate_pipeline'" from the child.
    (tmp_path / "script.py").write_text(GUARDED_SCRIPT)
    done = subprocess.run(
        [PYTHON, "script.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '`if __name__ == "__main__":` guard' in done.stdout
    assert "define it at module level, or put it in a .py module" in done.stdout
    assert done.stdout.split()[-1] == "2"  # the run stopped at once, its trials given back


MODULE_LEVEL_SCRIPT = """
import neps_core as neps

def evaluate_pipeline(x: float) -> float:
    return x

try:
    neps.run(evaluate_pipeline, {"x": neps.Float(0.0, 1.0)}, root_directory="run",
             evaluations_to_spend=2, ignore_errors=True,
             evaluator={"name": "subprocess", "n_workers": 2})
except TypeError as error:
    print(error)
print(neps.status("run").counts["pending"])
"""


@pytest.mark.parametrize("how", ["stdin", "-c"])
def test_a_function_of_an_interactive_session_is_refused_saying_to_import_it(
    tmp_path: Path, how: str
) -> None:
    # Every trial failed advising to move the function out of the main guard (there was
    # none) to module level (where it was).
    source = MODULE_LEVEL_SCRIPT
    stdin = None
    if how == "stdin":
        (tmp_path / "script.py").write_text(source)
        stdin = (tmp_path / "script.py").open()
    command = [PYTHON, "-"] if how == "stdin" else [PYTHON, "-c", source]
    with stdin or contextlib.nullcontext():
        done = subprocess.run(
            command,
            stdin=stdin,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert "is defined in an interactive session" in done.stdout
    assert "put it in a .py module and import it from there" in done.stdout
    assert done.stdout.split()[-1] == "2"  # pending: no trial spent


def test_a_cwd_the_run_makes_is_used_and_a_missing_one_fails_its_trial_by_name(
    tmp_path: Path,
) -> None:
    # A cwd checked when the Command was made refused the run's own root on a first run.
    root = tmp_path / "run"
    report_cwd = [PYTHON, "-c", "import os; print('NEPS_CORE_RESULT', len(os.getcwd()))"]
    summary = neps.run(
        Command(report_cwd, cwd=root), SPACE, root_directory=root, evaluations_to_spend=1
    )
    assert summary.best_trial is not None
    assert summary.best_trial.objective == len(str(root))
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=r"Command cwd '.*nowhere' is no existing folder"):
        neps.run(Command(report_cwd, cwd=missing), SPACE, root_directory=tmp_path / "other")


def test_the_config_file_holds_the_configuration(tmp_path: Path) -> None:
    evaluator = SubprocessEvaluator()
    command = Command([PYTHON, "-c", "print('NEPS_CORE_RESULT 1')"])
    config = {"x": 0.5, "name": "a", "lr": Decimal("0.1"), "share": Fraction(1, 4)}
    evaluator.submit(make_job("1", command, config, tmp_path / "trial"))
    collect(evaluator, 1, 60)
    written = json.loads((tmp_path / "trial" / "neps_config.json").read_text())
    # Plain JSON for any program: a Decimal was written as {"__decimal__": "0.1"}.
    assert written == {"x": 0.5, "name": "a", "lr": 0.1, "share": 0.25}


def test_options_are_validated(root: Path) -> None:
    with pytest.raises(neps.SettingsError, match="n_workers"):
        neps.run(
            Command(["true"]),
            SPACE,
            root_directory=root,
            evaluator={"name": "subprocess", "n_workers": 0},
        )


def test_an_interpreter_that_cannot_run_is_refused_naming_the_option(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every trial failed, each error blaming evaluate_pipeline, until the budget was spent.
    not_executable = tmp_path / "python"
    not_executable.write_text("#!/bin/sh\n")
    for python in ("/nonexistent/python", str(not_executable), "no-such-python-on-path"):
        with pytest.raises(neps.SettingsError, match=r"python=.* neither an executable file"):
            neps.run(
                Command(["true"]),
                SPACE,
                root_directory=root,
                evaluator={"name": "subprocess", "python": python},
            )
    assert not root.exists()  # refused before anything ran
    interpreter = Path(sys.executable)
    monkeypatch.setenv("PATH", str(interpreter.parent))
    SubprocessSettings(python=interpreter.name)  # a name on PATH is fine


class Layer:
    """A built object, as an Operation makes (a torch module, say)."""

    def __init__(self, width: int) -> None:
        self.width = width


def test_a_built_object_is_refused_naming_the_argument(tmp_path: Path) -> None:
    # The child got an empty stand-in of the same class name instead of the object.
    evaluator = SubprocessEvaluator()
    arguments = {"layer": Layer(4), "lr": 0.1}
    with pytest.raises(TypeError, match=r"argument 'layer' \(Layer\).*'process_pool'"):
        evaluator.submit(make_job("1", evaluate_layer, arguments, tmp_path / "trial"))


class LayerSpace(neps.PipelineSpace):
    layer = neps.Operation(operator=Layer, kwargs={"width": neps.Integer(2, 8)})
    lr = neps.Float(0.01, 0.1)


def test_a_space_building_objects_stops_the_run_before_any_trial_is_spent(root: Path) -> None:
    # Every trial failed with the TypeError: 24 of 24 with ignore_errors=True, the budget burnt.
    with pytest.raises(TypeError, match=r"argument 'layer' \(Layer\)"):
        neps.run(
            evaluate_layer,
            LayerSpace(),
            root_directory=root,
            evaluations_to_spend=5,
            evaluator="subprocess",
            ignore_errors=True,
        )
    counts = neps.status(root).counts
    assert counts["pending"] == 1 and counts["failed"] == counts["success"] == 0


def evaluate_layer(layer: Layer, lr: float) -> float:
    return layer.width * lr


ARGV_SCRIPT = """
import argparse

import neps_core as neps

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=3)
args = parser.parse_args()  # at module level, as training scripts often have it


def evaluate_pipeline(x: float) -> float:
    return x * args.epochs


if __name__ == "__main__":
    neps.run(evaluate_pipeline, {"x": neps.Float(0.0, 1.0)}, root_directory="run",
             evaluations_to_spend=1, evaluator="subprocess")
"""


def test_the_child_imports_the_script_with_the_workers_arguments(tmp_path: Path) -> None:
    # The script's argparse parsed the child runner's arguments: "unrecognized arguments:
    # .../script.py:evaluate_pipeline", every trial failed (parse_known_args: the defaults).
    (tmp_path / "script.py").write_text(ARGV_SCRIPT)
    done = subprocess.run(
        [PYTHON, "script.py", "--epochs", "5"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (trial,) = neps.status(tmp_path / "run").trials
    assert trial.report.objective_to_minimize == pytest.approx(trial.config["x"] * 5)


UNGUARDED = unguarded_script('{"name": "subprocess", "n_workers": 2}')


def test_an_unguarded_script_is_told_to_guard_its_run(root: Path, tmp_path: Path) -> None:
    # The child imports the script to find the function, which ran the script's run() in it:
    # with cost_to_spend that nested run waited for the parent's trial, a silent hang.
    script = tmp_path / "script.py"
    script.write_text(UNGUARDED)
    done = subprocess.run(
        [PYTHON, str(script), str(root)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode != 0 and "DONE" not in done.stdout
    assert "RuntimeError: neps_core.run() was called while this process" in done.stderr
    assert 'Put the call under `if __name__ == "__main__":`' in done.stderr


def test_an_exception_class_of_the_script_comes_back_as_itself(root: Path, tmp_path: Path) -> None:
    # The child imports the script as __neps_core_main__, which the parent could not import:
    # RemoteEvaluationError('__neps_core_main__.MyError: boom'), stored under that name.
    printed = raise_a_class_of_the_script('"subprocess"', tmp_path, root)
    assert "RAISED MyError('boom')" in printed and "STORED MyError: boom" in printed


def test_a_functions_duration_is_its_own_not_its_interpreters_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # evaluation_duration counted the fresh interpreter and the imports (1.3 s for `return x`).
    module = _importable(tmp_path, monkeypatch, "late_module", LATE_MODULE)
    plain = _importable(tmp_path, monkeypatch, "plain_training", PLAIN_MODULE)
    evaluator = SubprocessEvaluator(SubprocessSettings(n_workers=2))
    try:
        evaluator.submit(make_job("1", plain.evaluate_pipeline, {"x": 0.5}, tmp_path / "1"))
        evaluator.submit(make_job("2", module.sleep_then_raise, {"x": 0.5}, tmp_path / "2"))
        outcomes = collect(evaluator, 2, patience=60.0)
    finally:
        evaluator.close()
    for trial_id in "12":
        record = json.loads((tmp_path / trial_id / "neps_result.json").read_text())
        assert outcomes[trial_id].duration == record["duration"]


OS_EXIT_MODULE = "import os\n\ndef leave(x):\n    os._exit(0)\n"


def test_a_function_ending_its_process_is_told_so_not_how_a_command_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The error was a Command's advice: "write JSON to $NEPS_CORE_RESULT_FILE or print ...".
    module = _importable(tmp_path, monkeypatch, "leaving_module", OS_EXIT_MODULE)
    evaluator = SubprocessEvaluator()
    try:
        evaluator.submit(make_job("4", module.leave, {"x": 1.0}, tmp_path / "4"))
        error = collect(evaluator, 1, 120)["4"].error
    finally:
        evaluator.close()
    assert re.fullmatch(
        r"the process calling leaving_module:leave for trial 4 \(pid \d+\) exited with code 0 "
        r"before evaluate_pipeline returned",
        str(error),
    ), str(error)


LINGERING_MODULE = textwrap.dedent(
    """
    import atexit, threading
    from pathlib import Path

    LOGS = []

    def leave_a_thread(x, pipeline_directory):
        threading.Thread(target=threading.Event().wait).start()  # non-daemon, never ends
        atexit.register((pipeline_directory / "at_exit").touch)
        print("printed before returning")
        LOGS.append(open(pipeline_directory / "train_log.txt", "w"))  # left open, unflushed
        LOGS[-1].write("epoch 1\\n")
        return x

    def hang_at_exit(x):
        atexit.register(threading.Event().wait)
        return x
    """
)


def test_a_result_counts_at_once_though_the_function_left_a_thread_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Python joins non-daemon threads before exiting: the child held its result while such a
    # thread ran (for ever here); with a timeout the trial even failed as timed out.
    module = _importable(tmp_path, monkeypatch, "lingering", LINGERING_MODULE)
    evaluator = SubprocessEvaluator(SubprocessSettings(n_workers=2, timeout=60.0))
    try:
        for trial_id, x in (("1", 0.5), ("2", 0.25)):
            arguments = {"x": x, "pipeline_directory": tmp_path / trial_id}
            evaluator.submit(
                make_job(trial_id, module.leave_a_thread, arguments, tmp_path / trial_id)
            )
        outcomes = collect(evaluator, 2, patience=30.0)
    finally:
        evaluator.close()
    assert (outcomes["1"].result, outcomes["2"].result) == (0.5, 0.25), outcomes
    assert outcomes["1"].error is None and outcomes["2"].error is None
    assert (tmp_path / "1" / "at_exit").exists()  # a normal exit's handlers still ran
    stdout = (tmp_path / "1" / "neps_stdout.txt").read_text()
    assert "printed before returning" in stdout  # and what it printed reached its file
    # A file the function left open lost what it had written: the exit skipped its flush.
    assert (tmp_path / "1" / "train_log.txt").read_text() == "epoch 1\n"


def test_a_result_written_in_time_counts_though_the_child_must_be_ended_at_its_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The child hangs after writing its record (an at-exit handler): the timeout ended it and
    # failed the trial, though its result had come in time.
    module = _importable(tmp_path, monkeypatch, "lingering", LINGERING_MODULE)
    evaluator = SubprocessEvaluator(SubprocessSettings(timeout=1.0, kill_grace=0.5))
    try:
        evaluator.submit(make_job("1", module.hang_at_exit, {"x": 0.5}, tmp_path / "1"))
        (outcome,) = collect(evaluator, 1, patience=60.0).values()
    finally:
        evaluator.close()
    assert outcome.error is None and outcome.result == 0.5, outcome
