"""The interface every storage plugin implements.

A storage holds one run: its ``RunInfo`` and all trial versions. It
exposes one writing primitive, ``Storage.transact``: an exclusive section (across
processes and machines sharing the root, and the instances of one process: a worker's heartbeat
thread opens its own) that sees the current history and persists the trial
versions it returns before anybody else can look. Sampling and reporting are both
transactions, which is what makes sampling atomic and budgets exact.

Reading is incremental: ``Storage.sync`` applies only what changed since the last call to
the in-memory ``TrialHistory``, so the cost per trial stays flat.
"""

from __future__ import annotations

import abc
import difflib
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

import cattrs

from neps_core.errors import SettingsError
from neps_core.history import TrialHistory
from neps_core.models import Report, RunInfo, Trial, TrialState
from neps_core.serialization import make_converter, structure_error_text
from neps_core.validators import is_finite_number

Change = Callable[[TrialHistory], Sequence[Trial]]

logger = logging.getLogger(__name__)
StorageT = TypeVar("StorageT", bound="Storage")

#: The options of a storage whose writers wait for a lock (``disk``, ``sqlite``), and their
#: defaults: ``fsync`` flushes every write to the device, ``lock_timeout`` is how many seconds
#: a writer waits. One mapping, so that those storages take the same options alike.
LOCKING_OPTIONS: Mapping[str, Any] = MappingProxyType({"fsync": False, "lock_timeout": 300.0})


class Storage(abc.ABC):
    """Base class of storage backends.

    ``schemes`` is a tuple of the URL schemes the backend accepts in ``storage="scheme:///..."``;
    ``known_options`` the keyword options it understands (``None``: it checks them itself),
    so a misspelt option fails at construction, naming the storage and the option;
    ``root_entries`` the names the backend writes into the root directory, which an overwrite
    deletes besides the core's own (``configs/``, ``storage.yaml``, ...) and nothing else, so
    the user's files beside a run (``root_directory="."``) stay; ``None``: not declared, an
    overwrite empties the root. ``option_defaults``: the value of each option left out, so a
    worker joining a run with an option spelled at its default (or leaving out one the run was
    started with at its default) has the run's settings and joins. ``flag_option`` and
    ``seconds_option`` read checked values.
    """

    name: ClassVar[str]
    schemes: ClassVar[tuple[str, ...]] = ()
    known_options: ClassVar[frozenset[str] | None] = None
    option_defaults: ClassVar[Mapping[str, Any]] = {}
    root_entries: ClassVar[frozenset[str] | None] = None

    def __init__(
        self,
        root_directory: Path,
        *,
        url: str | None = None,
        converter: cattrs.Converter | None = None,
        **options: Any,
    ):
        if self.known_options is not None:
            unknown = sorted(set(options) - self.known_options)
            if unknown:
                close = {u: difflib.get_close_matches(u, self.known_options, n=1) for u in unknown}
                hint = "".join(f" Did you mean {c[0]!r}?" for c in close.values() if c)
                raise SettingsError(
                    f"storage {self.name!r}: unknown option(s) {unknown}; "
                    f"known: {sorted(self.known_options)}.{hint}"
                )
        self.root_directory = Path(root_directory)
        self.url = url
        self.options = options
        #: (Un)structures records; the run's converter, extended by ``neps_configure_converter``.
        self.converter = converter or make_converter()

    def flag_option(self, name: str, default: bool | None = None) -> bool:
        """The option ``name``, which must be a real boolean (``"false"`` is truthy); left
        out, ``default`` or else the declared one."""
        value = self._option(name, default)
        if not isinstance(value, bool):
            raise SettingsError(
                f"storage {self.name!r}: {name} must be true or false, got {value!r}"
            )
        return value

    def seconds_option(self, name: str, default: float | None = None) -> float:
        """The option ``name``, a number of seconds > 0; left out, ``default`` or else the
        declared one."""
        value = self._option(name, default)
        if not is_finite_number(value) or value <= 0:
            raise SettingsError(
                f"storage {self.name!r}: {name} must be a number of seconds > 0, got {value!r}"
            )
        return float(value)

    def _option(self, name: str, default: Any) -> Any:
        """The option given, else ``default``, else the declared one; a plugin that reads
        an option with neither is told so (not a bare ``KeyError``)."""
        if name in self.options:
            return self.options[name]
        if default is not None:
            return default
        if name not in self.option_defaults:
            raise TypeError(
                f"storage {self.name!r}: option {name!r} has no default: pass one or declare "
                f"it in {type(self).__name__}.option_defaults"
            )
        return self.option_defaults[name]

    @classmethod
    def canonical_url(cls, url: str, base: Path | None = None) -> str:
        """``url`` as the run records it in ``storage.yaml``, meaning the same from anywhere.

        A backend whose URLs may hold a relative path makes it absolute here, taken from
        ``base`` (a run config's folder) or else the working directory, so that a worker or
        ``status`` started in another directory finds the same data.
        """
        return url

    @classmethod
    def database_file(cls, root_directory: Path, url: str) -> Path | None:
        """The local file a run in ``root_directory`` whose ``storage.yaml`` names ``url``
        keeps its data in, found as this backend finds it when opening the run.

        Two roots whose URLs lead to one file share one database, however the URLs are
        written (an older version's reading included). ``None``, the default: the data is
        not one local file, and URLs are compared once canonical (``canonical_url``).
        """
        return None

    @abc.abstractmethod
    def initialize(self, info: RunInfo) -> RunInfo:
        """Store ``info`` for a new run, or return the info stored by an earlier start."""

    @abc.abstractmethod
    def load_info(self) -> RunInfo | None:
        """The stored run info, ``None`` when the run was never started."""

    @abc.abstractmethod
    def sync(self) -> TrialHistory:
        """Bring the in-memory history up to date with what all workers wrote, and return it."""

    @abc.abstractmethod
    def transact(self, change: Change) -> list[Trial]:
        """Run ``change`` exclusively on the current history; persist and return its trials.

        Whatever ``change`` raises aborts the transaction without writing anything.
        """

    def exists(self) -> bool:
        """Whether a run was started in this storage."""
        return self.load_info() is not None

    def missing_file(self) -> Path | None:
        """The file this storage keeps its record in, if that file does not exist (moved
        away, on a disk not mounted now), for the error to name; else ``None``."""
        return None

    def trial_directory(self, trial_id: str) -> Path:
        """The per-trial folder handed to ``evaluate_pipeline`` as ``pipeline_directory``."""
        return self.root_directory / "configs" / f"config_{trial_id}"

    def close(self) -> None:  # noqa: B027 - most backends hold nothing open
        """Release open handles."""

    def __enter__(self: StorageT) -> StorageT:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """``with open_storage(...) as storage:`` closes it however the block ends."""
        self.close()

    def erase(self) -> None:  # noqa: B027 - most backends keep everything in the root
        """Delete what this run keeps outside its root directory (``overwrite_root_directory``).

        Called on the closed storage, once the core has moved the root's ``root_entries`` and
        its own files aside (it deletes them after; ``storage.yaml`` stays until then).
        """


def damaged_trial(trial_id: str, record: Any, where: str, error: Exception) -> Trial:
    """The CORRUPTED stand-in for a stored trial that no longer structures (edited by hand).

    ``where`` says which record ("the row of trial 3 in run.db"); the error names the
    offending fields (``state``: not a valid TrialState), not just "1 sub-exception".
    """
    message = f"{where} is damaged: {structure_error_text(error, 'trial')}"
    logger.error("%s; the trial is marked corrupted", message)
    config = record.get("config") if isinstance(record, dict) else None
    return Trial(
        id=trial_id,
        config=config if isinstance(config, dict) else {},
        state=TrialState.CORRUPTED,
        created_at=0.0,
        report=Report(objective_to_minimize=None, error=message),
    )
