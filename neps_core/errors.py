"""The exception family of neps_core.

Every error the framework raises on purpose derives from ``NepsCoreError``, so a user can
catch them all at once. Where an error is also a classic Python error (a bad value, a missing
file), it derives from that builtin too, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neps_core.models import Trial


class NepsCoreError(Exception):
    """Base class of every error neps_core raises on purpose."""


class PluginLoadError(NepsCoreError, ImportError):
    """An entry point of the ``neps_core`` group could not be imported."""

    def __init__(self, entry_point: str, module: str, distribution: str, cause: BaseException):
        self.entry_point = entry_point
        self.module = module
        self.distribution = distribution
        self.cause = cause
        super().__init__(
            f"Plugin entry point {entry_point!r} (module {module!r}, distribution "
            f"{distribution!r}) failed to load: {type(cause).__name__}: {cause}"
        )


class DuplicatePluginError(NepsCoreError):
    """Two plugins claim the same name in one registry."""


class UnknownPluginError(NepsCoreError, KeyError):
    """A name was asked for that no plugin registers; the message lists what exists."""

    def __init__(
        self,
        kind: str,
        name: str,
        available: Iterable[str],
        suggestions: list[str],
        advice: str | None = None,
    ):
        self.kind = kind
        self.name = name
        self.available = sorted(available)
        hint = f" Did you mean {' or '.join(map(repr, suggestions))}?" if suggestions else ""
        hint = f" {advice}" if advice else hint
        listing = ", ".join(map(repr, self.available)) or "none"
        self.message = f"Unknown {kind} {name!r}.{hint} Available {kind}s: {listing}."
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return self.message


class SettingsError(NepsCoreError, ValueError):
    """Run settings (keyword arguments or YAML) are invalid; the message names the setting."""


class ArgumentsError(SettingsError, TypeError):
    """A call Python itself refuses with a ``TypeError`` (an argument given twice, a
    positional one too many), refused naming what was meant; a ``TypeError`` too, so that
    ``except TypeError`` still catches it."""


class StorageInUseError(SettingsError):
    """A new root was given a storage (a database URL) that holds another root's run."""


class SpaceMismatchError(NepsCoreError, ValueError):
    """A run is continued with a search space that differs from the one it was started with."""


class ConfigIdMissingError(NepsCoreError, ValueError):
    """``load_config`` was given a run's root without saying which trial's configuration
    (a ``ValueError``, as NePS raises)."""


class TrialNotFoundError(NepsCoreError, KeyError):
    """A trial id that storage does not know."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "trial not found"


class TrialAlreadyReportedError(NepsCoreError):
    """A second result for a trial that already has one."""


class LiveWorkersError(NepsCoreError):
    """The run still has live workers; what was asked would take their trials away."""


class InvalidParameterError(NepsCoreError, ValueError):
    """A parameter definition that cannot describe a search dimension."""


class UnknownParameterError(NepsCoreError, ValueError, KeyError):
    """A parameter name the space does not have: a ``ValueError`` as NePS raises it, and a
    ``KeyError`` as for a missing key of ``space.parameters``."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else "unknown parameter"


class NoAllowedConfigurationError(NepsCoreError, ValueError):
    """Draws found no configuration that the space's forbidden clauses allow."""


class NoAllowedMutationError(NoAllowedConfigurationError):
    """No neighbour of a configuration that the forbidden clauses allow was found (maybe none
    exists); an optimizer draws a fresh configuration instead."""


class MigrationError(NepsCoreError):
    """A run cannot be migrated; the message says which root and why."""


class StorageError(NepsCoreError, OSError):
    """Storage could not read or write its state; the message names the file."""


class MissingCostError(NepsCoreError, ValueError):
    """A cost budget is set but an evaluation returned no ``cost``."""


class ObjectiveCountError(NepsCoreError, ValueError):
    """A result with another number of objectives than the run's earlier results.

    The trial is stored as FAILED with the same message; ``trial`` is that stored trial.
    """

    def __init__(self, message: str, trial: Trial | None = None) -> None:
        super().__init__(message)
        self.trial = trial


class EvaluationLostError(NepsCoreError, RuntimeError):
    """The process, task or job evaluating a trial vanished without a result.

    Evaluators report it when a scheduler lost a job (a node failure, a cancelled or
    vanished job). The worker handles the trial as it handles a dead worker's: it is
    re-queued, or CRASHED once it was tried ``max_trial_attempts`` times.
    """


class ProcessEndedError(Exception):
    """The process evaluating a trial ended without a result (killed from outside, by the
    out-of-memory killer, ``os._exit``, a crash): ``evaluate_pipeline`` raised nothing."""


class EvaluationTimeoutError(NepsCoreError, TimeoutError):
    """An evaluation overran its per-trial ``timeout`` and was killed.

    Evaluators report it as the outcome's error; the trial is FAILED with a ``timeout``
    reason, and (unlike an exception of ``evaluate_pipeline``) the run goes on even without
    ``ignore_errors``: the limit is the user's choice, not a bug in their code.
    """

    def __init__(self, seconds: float, what: str) -> None:
        super().__init__(f"timeout: the evaluation ran longer than {seconds:g} s; {what}")
        self.seconds = seconds

    @classmethod
    def came_late(
        cls, seconds: float, duration: float, raised: str | None = None
    ) -> EvaluationTimeoutError:
        """An evaluation that ended after its timeout, though nobody stopped it; ``raised``:
        the ``"Type: message"`` of the exception it ended with, if any."""
        how = f", raising {raised}" if raised is not None else ""
        return cls(seconds, f"it ended after {duration:.2f} s of its {seconds:g} s timeout{how}")


def object_of_type(value: object) -> str:
    """``an object of type int``: one wording that reads right for any type (a fixed ``a``
    gave 'a int' and 'a object object')."""
    return f"an object of type {type(value).__name__}"


def add_note(error: BaseException, note: str) -> None:
    """Attach ``note`` to ``error`` (PEP 678), also on Python 3.10 where it shows in args."""
    if hasattr(error, "add_note"):
        error.add_note(note)
    else:  # pragma: no cover - Python 3.10
        error.__notes__ = [*getattr(error, "__notes__", []), note]  # type: ignore[attr-defined]


def built_without_init(
    kind: type[BaseException], args: tuple[Any, ...], state: dict[str, Any] | None = None
) -> BaseException:
    """An exception of ``kind`` with ``args`` (and attributes ``state``), its ``__init__``
    not called: ``MyError(code, detail)`` giving ``Exception`` one message cannot be rebuilt
    as ``MyError(*error.args)`` in the process that receives it, and arrived there as another
    error where the function's own process raised ``MyError``."""
    error = kind.__new__(kind, *args)
    error.args = args
    error.__dict__.update(state or {})
    return error
