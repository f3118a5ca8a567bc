"""The ``neps-core`` command: run from YAML, inspect, plot, clean and migrate runs.

Every subcommand is a thin layer over the Python API. Errors print one clear line on stderr
and exit with status 1 (2 for wrong usage); ``--debug`` shows the traceback too.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Iterator, Sequence

from neps_core.cli import commands
from neps_core.cli.clean_rule import CLEAN_RULE
from neps_core.errors import NepsCoreError, SettingsError
from neps_core.plot_defaults import MAX_CURVES
from neps_core.termination import WorkerStopped
from neps_core.user_paths import user_path

EPILOG = "Run `neps-core COMMAND --help` for a command's options."

#: NePS's other flags of ``python -m neps.status``, and what shows the same here.
_BEST_LOSSES = "NePS's best losses: use --best-configs, which lists each improvement of the best"
NEPS_STATUS_FLAGS = {
    "--best_losses": _BEST_LOSSES,
    "--best_objective_to_minimizees": _BEST_LOSSES,
    "--all_configs": "NePS's all configs: every trial with its configuration and result is in "
    "ROOT/summary/full.csv after a run, and in the table full of full, short = neps.status(ROOT)",
}

#: How neps_core's notes on the user's exceptions begin.
NOTE_PREFIX = "neps_core: "


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``neps-core`` and its subcommands."""
    from neps_core import __version__

    parser = argparse.ArgumentParser(
        prog="neps-core",
        description="NePS-compatible hyperparameter optimization from the command line.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"neps-core {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show error tracebacks"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(sub, common)
    _add_status(sub, common)
    _add_plot(sub, common)
    listing = sub.add_parser(
        "plugins",
        parents=[common],
        help="list loaded plugins, what they register and where they come from",
        description="Every plugin of the neps_core entry-point group: its distribution, the "
        "classes it registers by kind and name, the hooks it implements; also plugins that "
        "failed to load (with the error) and plugins blocked by NEPS_CORE_DISABLE_PLUGINS.",
    )
    listing.add_argument("--json", action="store_true", help="print JSON instead of text")
    listing.set_defaults(handler=commands.plugins_command)
    _add_clean(sub, common)
    _add_migrate(sub, common)
    return parser


def _add_run(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    run = sub.add_parser(
        "run",
        parents=[common],
        help="run an optimization described by a YAML run config",
        description="Run the optimization described by a YAML run config (the keys are "
        "run()'s arguments; see docs/run_config.md). Overrides KEY.PATH=VALUE (values parsed "
        "as YAML) change the config before validation. The current directory is importable, "
        "so evaluate_pipeline may be 'my_module:my_function'.",
    )
    run.add_argument("config", help="the YAML run config", type=_user_file)
    run.add_argument(  # with a default, argparse no longer calls the overrides required
        "overrides",
        nargs="*",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="e.g. evaluations_to_spend=50",
    )
    run.set_defaults(handler=commands.run_command)


def _add_status(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    status = sub.add_parser(
        "status",
        parents=[common],
        help="counts by state, the best configuration and recent failures of a run",
        description="Show a run's trials by state, the budget used, the best configuration "
        "and the most recent failures with their error. Safe while workers are running.",
    )
    status.add_argument("root_directory", help="the run's root directory", type=_user_path)
    status.add_argument("--json", action="store_true", help="print JSON instead of text")
    status.add_argument(
        "--failures", type=_count, default=5, metavar="N", help="show the last N failures (5)"
    )
    status.add_argument(
        "--best-configs",
        "--best_configs",  # NePS's spelling
        dest="best_configs",
        action="store_true",
        help="also list each trial that improved the best objective, in the order trials "
        "finished (NePS's --best_configs; summary/best_config_trajectory.txt after a run)",
    )
    status.set_defaults(handler=commands.status_command)


def _add_plot(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    plot = sub.add_parser(
        "plot",
        parents=[common],
        help="save PNG plots of a run (needs the plot extra)",
        description="Save trajectory.png (single objective), pareto_front.png (multiple "
        "objectives) and learning_curves.png (fidelity spaces or reported learning curves). "
        "Needs matplotlib: pip install 'neps-core[plot]'.",
    )
    plot.add_argument("root_directory", help="the run's root directory", type=_user_path)
    plot.add_argument(
        "--output-dir",
        type=_user_path,
        help="where to write the PNG files (default: ROOT_DIRECTORY/plots)",
    )
    plot.add_argument(
        "--x-axis",
        choices=("evaluations", "cost"),
        default="evaluations",
        help="x axis of the trajectory (default: evaluations)",
    )
    plot.add_argument(
        "--max-curves",
        type=_positive_count,
        default=MAX_CURVES,
        metavar="N",
        help=f"draw the learning curves of at most N trials, the best ones (default: {MAX_CURVES})",
    )
    plot.set_defaults(handler=commands.plot_command)


def _user_path(text: str) -> str:
    """A path argument with a leading ``~`` as the home directory, also where the shell left
    it (quoted, or after ``=``); an unknown ``~name`` is an error naming the argument. An
    empty one (an unset ``"$ROOT"``) is refused, not taken as the current directory."""
    if text.strip() == "":
        raise argparse.ArgumentTypeError(f"got {text!r} (write '.' for the current directory)")
    try:
        return str(user_path(text, "path"))
    except SettingsError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _user_file(text: str) -> str:
    """``_user_path`` of a file: an empty one is refused without advising '.', a folder."""
    if text.strip() == "":
        raise argparse.ArgumentTypeError(f"got {text!r}, which names no file")
    return _user_path(text)


def _positive_seconds(text: str) -> float:
    """A duration > 0: 0, a negative or NaN one would take live workers for dead."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return seconds


def _count(text: str, least: int = 0) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if count < least:
        raise argparse.ArgumentTypeError(f"must be >= {least}, got {text!r}")
    return count


def _positive_count(text: str) -> int:
    return _count(text, least=1)


def _add_clean(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    clean = sub.add_parser(
        "clean",
        parents=[common],
        help="remove what stopped workers left behind (pending and dead trials)",
        description=CLEAN_RULE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    clean.add_argument("root_directory", help="the run's root directory", type=_user_path)
    clean.add_argument(
        "--stale-after",
        type=_positive_seconds,
        default=120.0,
        metavar="SECONDS",
        help="a worker silent this long counts as dead, where it recorded no stale_after of "
        "its own (default 120, the run default)",
    )
    clean.add_argument("--dry-run", action="store_true", help="only show what would be done")
    clean.set_defaults(handler=commands.clean_command)


def _add_migrate(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    migrate = sub.add_parser(
        "migrate",
        parents=[common],
        help="copy a run into a new root directory with another storage",
        description="Copy the run in SOURCE (any storage) into the new or empty directory "
        "DESTINATION using --storage; SOURCE is only read. Refused while a worker of SOURCE is "
        "alive: stop them first. Continue the run with run(root_directory=DESTINATION).",
    )
    migrate.add_argument("source", help="the root directory of the existing run", type=_user_path)
    migrate.add_argument("destination", help="a new (or empty) root directory", type=_user_path)
    migrate.add_argument(
        "--storage",
        default="sqlite",
        help="the destination's storage: a name (sqlite, disk) or URL (default: sqlite)",
    )
    migrate.add_argument(
        "--stale-after",
        type=_positive_seconds,
        default=120.0,
        metavar="SECONDS",
        help="a worker of another machine silent this long counts as gone, where it recorded "
        "no stale_after of its own (default 120)",
    )
    migrate.set_defaults(handler=commands.migrate_command)


def console_main() -> int:
    """The ``neps-core`` program: :func:`main`, with warnings as one line like errors."""
    warnings.showwarning = _show_warning
    return main()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``neps-core`` console script; returns the exit status."""
    parser = build_parser()
    arguments = _parse(parser, argv)
    _import_from_the_working_directory()
    try:
        _import_plugins_quietly()
        status: int = arguments.handler(arguments)
        if sys.stdout is not None:  # None when started with stdout closed (`>&-`)
            sys.stdout.flush()  # here, so that a closed pipe is caught below
    except BrokenPipeError:  # `neps-core status ROOT | head -1`: the reader has what it wants
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt:
        print("neps-core: interrupted", file=sys.stderr)
        return 130
    except WorkerStopped:  # a stopping signal: its exit status (128 + the signal)
        raise
    except (Exception, SystemExit) as error:  # a sys.exit(0) in evaluate_pipeline failed a trial
        if arguments.debug:
            traceback.print_exc()
        print(f"neps-core: error: {describe_error(error)}", file=sys.stderr)
        if not arguments.debug:
            print("(run with --debug to see the traceback)", file=sys.stderr)
        return 1
    return status


def _import_plugins_quietly() -> None:
    """Import the installed plugins once, sending what they print (a banner at import) to
    stderr: stdout is this command's output, parsed by scripts with ``--json``. Only here,
    where nothing else runs yet: swapping ``sys.stdout`` during a run would move a user's
    own prints (in any thread) too."""
    from neps_core.plugin_manager import load_plugins  # here: `--help` needs no plugins

    with (
        _descriptor_one_to_stderr(),
        contextlib.redirect_stdout(sys.stderr),
        warnings.catch_warnings(),
        contextlib.suppress(Exception),
    ):
        warnings.simplefilter("ignore")  # a broken plugin is told of where a command loads it
        load_plugins()


@contextlib.contextmanager
def _descriptor_one_to_stderr() -> Iterator[None]:
    """File descriptor 1 pointed at stderr for a while: what a C extension or a child process
    started at a plugin's import writes there bypasses ``sys.stdout``."""
    if sys.__stdout__ is not None:
        sys.__stdout__.flush()  # what was printed before stays on stdout
    try:
        saved = os.dup(1)
    except OSError:  # stdout closed (`>&-`): nothing to protect
        yield
        return
    try:
        with contextlib.suppress(OSError):  # stderr closed: descriptor 1 stays as it is
            os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``argv`` parsed, ``run``'s overrides allowed after an option too (``run run.yaml a=1
    --debug b=2``): argparse ends an ``nargs="*"`` positional at the first option."""
    arguments, extra = parser.parse_known_args(argv)
    options = [item for item in extra if item.startswith("-")]
    running = arguments.handler is commands.run_command
    if running and not options:
        arguments.overrides = [*arguments.overrides, *extra]  # in the order they were given
    elif extra:
        example = _as_override(extra) if running else None
        hint = f" (give settings as KEY.PATH=VALUE, e.g. {example})" if example else ""
        if arguments.handler is commands.status_command:
            hint = next(
                (f" ({NEPS_STATUS_FLAGS[o]})" for o in options if o in NEPS_STATUS_FLAGS), ""
            )
        parser.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    return arguments


def _as_override(extra: list[str]) -> str | None:
    """``--evaluations_to_spend 5`` (or ``--seed=3``) written as an override, if the first
    unknown argument looks like a setting given as an option."""
    key = extra[0].removeprefix("--")
    if key == extra[0] or not key[:1].isalpha():  # no "--name": "-x", "--", "--1"
        return None
    if "=" in key:
        return key
    following = extra[1:2]
    plain = following and not following[0].startswith("-") and "=" not in following[0]
    return f"{key}={following[0] if plain else 'VALUE'}"


def _import_from_the_working_directory() -> None:
    """Make the user's modules importable (a pipeline, a space's operations), after the
    standard library and the installed packages: a user's ``asyncio.py`` must not replace
    the one ``status`` imports."""
    try:
        here = os.getcwd()
    except FileNotFoundError:  # started in a directory deleted since
        return
    if here not in sys.path:
        sys.path.append(here)


def _show_warning(message: Warning | str, *_where: object, **_more: object) -> None:
    """A warning as one line, like errors: the source line it came from is ours, not the user's."""
    if sys.stderr is not None:
        print(f"neps-core: warning: {message}", file=sys.stderr)


def describe_error(error: BaseException) -> str:
    """One line for the user: our errors and OS errors speak for themselves, others get a type."""
    if isinstance(error, NepsCoreError | OSError | ImportError):
        text = str(error)
    else:
        from neps_core.serialization import exception_text

        text = exception_text(error)  # the user's own exception, whose message may raise
    parts = [text]
    for note in map(str, getattr(error, "__notes__", [])):
        ours = note.startswith(NOTE_PREFIX)  # written for a traceback, on a line of its own
        parts.append(f"; {note.removeprefix(NOTE_PREFIX)}" if ours else f" {note}")
    return "".join(parts)
