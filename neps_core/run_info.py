"""The space and optimizer a run was started with: recorded in its storage, read back, and
compared with what a continued run is given."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cattrs

from neps_core.errors import SpaceMismatchError
from neps_core.interfaces import Optimizer, Storage
from neps_core.models import RunInfo
from neps_core.run_storage import create_run
from neps_core.serialization import to_plain
from neps_core.space import PipelineSpace, describe_space, space_from_description
from neps_core.space.choices import prior_indices_meant
from neps_core.space.description import saved_description
from neps_core.space.nodes import same_description


def stored_space(storage: Storage) -> PipelineSpace | None:
    """The space a run in ``storage`` was started with, ``None`` for a new run."""
    info = storage.load_info()
    if info is None:
        return None
    with prior_indices_meant(), saved_description():  # a saved categorical prior is an index
        return space_from_description(info.space)


def rebuildable_space(storage: Storage) -> PipelineSpace | None:
    """``stored_space``, or ``None`` when its operations cannot be imported (lambdas).

    For what only reads a run (status, summaries), which must work without the space.
    """
    try:
        return stored_space(storage)
    except ValueError:
        return None


def initialize_run(
    storage: Storage,
    space: PipelineSpace,
    optimizer: Optimizer,
    seed: int | None,
    converter: cattrs.Converter,
) -> RunInfo:
    """Record a new run, or check a continued one against the space it was started with.

    Returns what the run was started with.
    """
    described = describe_space(space)
    info = RunInfo(
        space=described,
        optimizer=optimizer.name,
        optimizer_settings=recorded_settings(optimizer, converter),
        seed=seed,
        created_at=time.time(),
        root_directory=str(Path(storage.root_directory).resolve()),
    )
    stored = create_run(storage, info)
    if not same_description(dict(stored.space), described):
        raise_space_mismatch(stored.space, described, storage.root_directory, storage.url)
    return stored


def recorded_settings(optimizer: Optimizer, converter: cattrs.Converter) -> dict[str, Any]:
    """``optimizer``'s settings as the run records them: unstructured with the plugins'
    converter hooks, so that a plugin's own option types read back (a ``repr`` did not)."""
    plain: dict[str, Any] = to_plain(converter.unstructure(optimizer.settings))
    return plain


def raise_space_mismatch(
    stored: Mapping[str, Any], given: Mapping[str, Any], root: Path, url: str | None = None
) -> None:
    """Explain, parameter by parameter, how a continued run's space differs from the saved one.

    With a storage ``url`` the run lives outside ``root``: overwriting the root cannot help.
    """
    differences = [
        f"{name!r}: saved {stored.get(name)!r}, given {given.get(name)!r}"
        for name in dict.fromkeys([*stored, *given])
        if stored.get(name) != given.get(name)
    ]
    raise SpaceMismatchError(
        f"The run in {root} was started with a different pipeline_space. Differences: "
        + "; ".join(differences)
        + (
            f". The storage at {url} holds that run: point storage= at another database, "
            "or use the original space."
            if url
            else ". Use a new root_directory, overwrite_root_directory=True, or the original space."
        )
    )
