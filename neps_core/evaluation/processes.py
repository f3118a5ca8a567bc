"""Evaluating a trial in a child process: commands, fresh interpreters, results and kills.

The child learns its configuration from a JSON file in the trial's ``pipeline_directory``
(``NEPS_CORE_CONFIG_FILE``) and from environment variables (``NEPS_CORE_PIPELINE_DIRECTORY``,
``NEPS_CORE_PIPELINE_ID``, ``NEPS_CORE_ROOT_DIRECTORY``, ...). It reports by writing JSON to
``NEPS_CORE_RESULT_FILE`` or by printing a line ``NEPS_CORE_RESULT {json}``. Every child runs
in its own process group, so a timeout or ``close()`` kills everything it started.
"""

from __future__ import annotations

import inspect
import numbers
import os
import re
import shlex
import string
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from neps_core.evaluation import child_runner, trial_context
from neps_core.evaluation.child_runner import (
    CONFIG_FILE_ENV,
    PIPELINE_DIRECTORY_ENV,
    PIPELINE_ID_ENV,
    PREVIOUS_PIPELINE_DIRECTORY_ENV,
    RESULT_FILE_ENV,
    ROOT_DIRECTORY_ENV,
    TRIAL_SEED_ENV,
    RemoteEvaluationError,
)
from neps_core.evaluation.children import (
    INJECTABLE,
    RESULT_MARKER,
    ChildLaunch,
    ChildProcess,
    CommandFailedError,
    read_marked_result,
    signal_group,
    stop_children,
)
from neps_core.evaluation.main_script import (
    guard_only_globals,
    only_in_main,
    unimportable_script,
)
from neps_core.evaluation.trial_context import TrialContext
from neps_core.user_paths import user_path

__all__ = [
    "CONFIG_FILE_ENV",
    "PIPELINE_DIRECTORY_ENV",
    "PIPELINE_ID_ENV",
    "PREVIOUS_PIPELINE_DIRECTORY_ENV",
    "RESULT_FILE_ENV",
    "RESULT_MARKER",
    "ROOT_DIRECTORY_ENV",
    "ChildLaunch",
    "ChildProcess",
    "Command",
    "CommandFailedError",
    "RemoteEvaluationError",
    "launch_for",
    "read_marked_result",
    "refuse_objects",
    "signal_group",
    "stop_children",
]


def _split_arguments(arguments: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    config = {k: v for k, v in arguments.items() if k not in INJECTABLE}
    injected = {k: v for k, v in arguments.items() if k in INJECTABLE}
    return config, injected


def refuse_objects(arguments: Mapping[str, Any]) -> None:
    """A built object (an Operation's module) would reach the child as an empty stand-in."""
    for name, value in _split_arguments(arguments)[0].items():
        if _holds_a_stand_in(child_runner.encode(value)):
            raise TypeError(
                f"argument {name!r} ({type(value).__name__}) cannot be sent to a child "
                "interpreter, which receives its arguments as JSON: evaluate spaces that build "
                "objects (neps.Operation) with evaluator='sync' or 'process_pool'"
            )


def _holds_a_stand_in(data: Any) -> bool:
    if isinstance(data, dict):
        return "__object__" in data or any(map(_holds_a_stand_in, data.values()))
    return isinstance(data, list) and any(map(_holds_a_stand_in, data))


def _known(trial: TrialContext | None) -> dict[str, Any]:
    if trial is None:
        return {}
    return {
        "root_directory": trial.root_directory,
        "previous_pipeline_directory": trial.previous_pipeline_directory,
        "seed": trial.seed,  # the child seeds with it; a command may read it
    }


def _context(injected: Mapping[str, Any], directory: Path, trial_id: str) -> dict[str, str]:
    context = {PIPELINE_DIRECTORY_ENV: str(directory), PIPELINE_ID_ENV: trial_id}
    for name, variable in (
        ("root_directory", ROOT_DIRECTORY_ENV),
        ("previous_pipeline_directory", PREVIOUS_PIPELINE_DIRECTORY_ENV),
        ("seed", TRIAL_SEED_ENV),
    ):
        if injected.get(name) is not None:
            context[variable] = str(injected[name])
    return context


def function_target(function: Callable[..., Any]) -> str:
    """``module:qualname`` (or ``file.py:qualname``) under which a fresh interpreter finds it."""
    qualname = getattr(function, "__qualname__", None)
    module = getattr(function, "__module__", None)
    if not qualname or not module or "<" in qualname or inspect.ismethod(function):
        raise TypeError(
            f"{function!r} cannot run in a fresh interpreter: use a module-level function "
            "(not a lambda, closure or bound method) or a neps_core.Command"
        )
    if module == "__main__" and only_in_main(function):
        raise TypeError(_out_of_an_imports_reach(function))
    if module == "__main__" and (missing := guard_only_globals(function)):
        raise TypeError(
            f"{function!r} uses {', '.join(missing)}, which only the script's "
            '`if __name__ == "__main__":` block sets: a fresh interpreter importing the script '
            "would not have them; set them at module level, or pass them as a Constant"
        )
    if module != "__main__":
        return f"{module}:{qualname}"
    main = sys.modules["__main__"]
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        return f"{spec.name}:{qualname}"
    path = getattr(main, "__file__", None)
    if path is None:
        raise TypeError(f"{function!r} lives in an interactive session; put it in a file")
    return f"{Path(path).resolve()}:{qualname}"


def _out_of_an_imports_reach(function: Callable[..., Any]) -> str:
    """Where ``function`` of ``__main__`` is defined that an import does not reach, and the
    way out: a notebook's code is already at module level, so only a module of its own helps."""
    move = "put it in a .py module and import it from there"
    if getattr(sys.modules["__main__"], "__file__", None) is None or unimportable_script():
        return (
            f"{function!r} is defined in an interactive session (a notebook, `python -c`, a "
            f"script read from stdin), which a fresh interpreter cannot import: {move}"
        )
    return (
        f'{function!r} is defined under the script\'s `if __name__ == "__main__":` guard, '
        f"where a fresh interpreter cannot import it: define it at module level, or {move}"
    )


def launch_for(
    function: Callable[..., Any],
    arguments: Mapping[str, Any],
    directory: Path,
    trial_id: str,
    *,
    python: str | None = None,
    env: Mapping[str, str] | None = None,
    trial: TrialContext | None = None,
) -> ChildLaunch:
    """How to evaluate ``function(**arguments)`` in a child: a :class:`Command` or a fresh
    Python interpreter that imports the function and calls it.

    ``env`` (the evaluator's) reaches both; a :class:`Command`'s own ``env`` takes precedence.
    ``trial`` (the job's context): its root and earlier rung's folders reach the child's
    environment even where the function does not name them (for NePS's ``tblogger``).
    """
    config, injected = _split_arguments(arguments)
    context = _context({**_known(trial), **injected}, directory, trial_id)
    if isinstance(function, Command):
        launch = function.launch(config, {**injected, "pipeline_id": trial_id}, directory, context)
        return attrs.evolve(launch, env={**(env or {}), **launch.env})  # the command's wins
    refuse_objects(config)
    runner = Path(child_runner.__file__)
    target = function_target(function)
    argv = [python or sys.executable, str(runner), target, ",".join(injected)]
    described_as = f"the process calling {target} for trial {trial_id}"
    return ChildLaunch(
        argv,
        directory,
        config,
        context,
        env=dict(env or {}),
        plain_result=False,
        described_as=described_as,
    )


def _check_placeholders(text: str) -> None:
    """Refuse a template ``str.format`` cannot fill, when the command is made: found per
    trial, it failed every trial of the budget without naming the command."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as error:
        names, problem = [], str(error)
    else:
        unnamed = any(name == "" or name.isdigit() for name in names)
        problem = "a placeholder needs a name, such as {lr}" if unnamed else ""
    if problem:
        raise ValueError(
            f"Command {text!r}: {problem}; write {{{{ and }}}} for literal braces "
            "(a JSON literal, a Python dict)"
        )


def _environment(env: Mapping[str, Any] | None) -> dict[str, str]:
    """``env`` as text: a path as ``os.fspath``, a number as its text (``OMP_NUM_THREADS: 1``
    in a YAML config)."""
    if env is None:
        return {}
    if not isinstance(env, Mapping):
        raise TypeError(
            f"Command env must be a mapping of variable names to values, such as "
            f"{{'OMP_NUM_THREADS': '1'}}, got {type(env).__name__} {env!r}"
        )
    return {str(name): _variable(str(name), value) for name, value in env.items()}


def _variable(name: str, value: Any) -> str:
    if isinstance(value, str | os.PathLike):
        return os.fspath(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return str(value)
    raise TypeError(
        f"Command env {name!r} must be text, a path or a number, got "
        f"{type(value).__name__} {value!r}"
    )


def _folder(cwd: str | Path) -> Path:
    """``cwd`` as a path (``~`` the home directory); a file is refused now, a missing folder
    when a trial starts (the run may make it: its root directory, say)."""
    path = user_path(cwd, "Command cwd")
    if path.exists() and not path.is_dir():
        raise ValueError(f"Command cwd {str(path)!r} is not a directory")
    return path


def _field_names(template: str) -> Iterator[str]:
    """The field names of a format string, those of nested specs (``{x:{width}}``) too."""
    for _, name, spec, _ in string.Formatter().parse(template):
        if name is not None:
            yield name
        if spec:
            yield from _field_names(spec)


class Command:
    """A shell-free command line run per trial, with ``{name}`` placeholders from the config.

    ``run(evaluate_pipeline=neps.Command("python train.py --lr {lr}"), ...)`` runs the command
    once per trial (in a child process with any evaluator; concurrently with
    ``evaluator="subprocess"``). Placeholders may also name ``pipeline_directory``,
    ``pipeline_id``, ``root_directory`` and ``previous_pipeline_directory``. A string is split
    like a shell would (``shlex``) before filling in, so values never need quoting; pass
    ``shell=True`` for pipes and redirections (values are then quoted for the shell).
    """

    def __init__(
        self,
        command: str | Sequence[str],
        *,
        shell: bool = False,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        kill_grace: float = 5.0,
    ) -> None:
        if not isinstance(command, str) and not (
            isinstance(command, Sequence) and command and all(isinstance(a, str) for a in command)
        ):
            raise TypeError(f"Command needs a string or a list of strings, got {command!r}")
        program = command if isinstance(command, str) else command[0]
        if not program.strip():  # else every trial fails, with an IndexError or "no such file"
            raise ValueError(f"Command command names no program to run, got {command!r}")
        for part in [command] if isinstance(command, str) else command:
            _check_placeholders(part)
        if not isinstance(shell, bool):
            raise TypeError(f"Command shell must be true or false, got {shell!r}")
        number = isinstance(kill_grace, int | float) and not isinstance(kill_grace, bool)
        if not number or not kill_grace >= 0:
            raise TypeError(f"Command kill_grace must be seconds >= 0, got {kill_grace!r}")
        self.command = command
        self.shell = shell
        self.env = _environment(env)
        self.cwd = None if cwd is None else _folder(cwd)
        self.kill_grace = float(kill_grace)

    def __repr__(self) -> str:
        return f"Command({self.command!r})"

    def placeholders(self) -> set[str]:
        """The names the placeholders look up (``{x}``, ``{x.attr}`` and ``{x[0]}`` all
        ``x``), so that a run can refuse one that names nothing before its first trial."""
        parts = [self.command] if isinstance(self.command, str) else self.command
        fields = (name for part in parts for name in _field_names(part))
        return {re.split(r"[.\[]", name, maxsplit=1)[0] for name in fields if name}

    def render(self, values: Mapping[str, Any]) -> list[str] | str:
        """The command line for one trial; an unknown placeholder is a ``KeyError`` naming it."""
        try:
            if self.shell:
                text = self.command if isinstance(self.command, str) else shlex.join(self.command)
                return text.format(**{k: shlex.quote(str(v)) for k, v in values.items()})
            parts = shlex.split(self.command) if isinstance(self.command, str) else self.command
            return [part.format(**values) for part in parts]
        except KeyError as error:
            raise KeyError(
                f"Command placeholder {{{error.args[0]}}} is not a parameter; available: "
                f"{sorted(values)} (write {{{{ and }}}} for literal braces)"
            ) from None

    def launch(
        self,
        config: Mapping[str, Any],
        injected: Mapping[str, Any],
        directory: Path,
        context: Mapping[str, str],
    ) -> ChildLaunch:
        """The child launch for one trial."""
        values: dict[str, Any] = {name: "" for name in INJECTABLE}
        values.update({k: "" if v is None else v for k, v in injected.items()})
        values.update(config, pipeline_directory=directory)
        return ChildLaunch(
            self.render(values), directory, config, context, self.shell, self.env, self.cwd
        )

    def __call__(
        self,
        pipeline_directory: Path | None = None,
        previous_pipeline_directory: Path | None = None,
        pipeline_id: str | None = None,
        root_directory: Path | None = None,
        **config: Any,
    ) -> Any:
        """Run the command for one configuration and wait; returns what it reported."""
        if pipeline_directory is None:
            pipeline_directory = Path(tempfile.mkdtemp(prefix="neps_core_command_"))
        injected = {
            "previous_pipeline_directory": previous_pipeline_directory,
            "root_directory": root_directory,
        }
        # Called in an evaluator's process (sync, process_pool, dask): the trial's seed and
        # folders reach the command's environment as under ``subprocess``.
        launch = launch_for(
            self,
            {**config, **injected},
            Path(pipeline_directory),
            str(pipeline_id or "0"),
            trial=trial_context.current(),
        )
        child = ChildProcess(launch, timeout=None, kill_grace=self.kill_grace)
        child.start()
        try:
            while not child.poll():
                time.sleep(0.005)
        finally:
            child.stop()
        result, error, _ = child.collect()
        if error is not None:
            raise error
        return result
