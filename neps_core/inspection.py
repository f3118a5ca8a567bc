"""Reading a run from outside its workers: the history, failures, and who is still alive.

Used by the CLI (``status``, ``clean``, ``plot``) and the plotting functions. Opening a run
here never creates one: a directory without a run is a ``FileNotFoundError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import attrs

from neps_core.history import TrialHistory
from neps_core.loading import open_existing
from neps_core.models import RunInfo, Trial, TrialState
from neps_core.run_info import rebuildable_space
from neps_core.space import PipelineSpace
from neps_core.user_paths import user_path

FAILURE_STATES = (TrialState.FAILED, TrialState.CRASHED, TrialState.CORRUPTED)


@attrs.frozen
class RunSnapshot:
    """Everything stored about a run at one moment."""

    root_directory: Path
    info: RunInfo
    space: PipelineSpace | None
    history: TrialHistory
    storage_name: str

    @property
    def fidelity_name(self) -> str | None:
        """The space's fidelity parameter, read from the run's record: the space itself cannot
        always be rebuilt here (a lambda among its choices), and plots by fidelity went
        missing with it."""
        described = self.info.space.items()
        fidelities = (name for name, entry in described if _is_fidelity(entry))
        return next(fidelities, None)


def _is_fidelity(entry: object) -> bool:
    return isinstance(entry, Mapping) and entry.get("is_fidelity") is True


def read_run(root_directory: str | Path) -> RunSnapshot:
    """A snapshot of the run in ``root_directory``."""
    root = user_path(root_directory, "root_directory")
    with open_existing(root) as storage:
        info = storage.load_info()
        assert info is not None  # open_existing checked that the run exists
        return RunSnapshot(
            root_directory=root,
            info=info,
            space=rebuildable_space(storage),
            history=storage.sync(),
            storage_name=type(storage).name,
        )


def recent_failures(history: TrialHistory, limit: int) -> list[Trial]:
    """The last ``limit`` trials that failed, crashed or were found corrupted, newest first."""
    failed = [history[i] for state in FAILURE_STATES for i in history.ids_in(state)]
    failed.sort(key=lambda t: (t.finished_at or 0.0, _numeric(t.id)), reverse=True)
    return failed[:limit]


def _numeric(trial_id: str) -> int:
    return int(trial_id) if trial_id.isdigit() else 0
