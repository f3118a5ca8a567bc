"""The space and optimizer a run was started with: recorded in its storage, read back, and
compared with what a continued run is given."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cattrs

from neps_core.errors import SettingsError, SpaceMismatchError
from neps_core.interfaces import Optimizer, Storage
from neps_core.models import RunInfo
from neps_core.run_storage import create_run
from neps_core.serialization import to_plain
from neps_core.space import PipelineSpace, describe_space, space_from_description
from neps_core.space.choices import prior_indices_meant
from neps_core.space.conditions import in_clause_order
from neps_core.space.description import FORBIDDEN_KEY, saved_description
from neps_core.space.nodes import same_description
from neps_core.storage_pointer import STORAGE_POINTER_FILE


def stored_space(storage: Storage) -> PipelineSpace | None:
    """The space a run in ``storage`` was started with, ``None`` for a new run."""
    info = storage.load_info()
    if info is None:
        return None
    with prior_indices_meant(), saved_description():  # a saved categorical prior is an index
        return space_from_description(info.space)


def space_to_continue(storage: Storage, no_new_run: str) -> PipelineSpace:
    """``stored_space`` of a run continued without a space; ``no_new_run`` says why one is
    needed. ``open_storage`` refuses a root without ``storage.yaml``, but one with only that
    file (a start of the run stopped before it stored the run) holds no space either."""
    space = stored_space(storage)
    if space is None:
        raise SettingsError(
            f"{no_new_run}: it holds a {STORAGE_POINTER_FILE} but no run (a run() or "
            "import_trials() starting one there was stopped before storing it)"
        )
    return space


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
    if not same_description(_in_clause_order(stored.space), _in_clause_order(described)):
        raise_space_mismatch(stored.space, described, storage.root_directory, storage.url)
    return stored


def recorded_settings(optimizer: Optimizer, converter: cattrs.Converter) -> dict[str, Any]:
    """``optimizer``'s settings as the run records them: unstructured with the plugins'
    converter hooks, so that a plugin's own option types read back (a ``repr`` did not)."""
    plain: dict[str, Any] = to_plain(converter.unstructure(optimizer.settings))
    return plain


def _in_clause_order(described: Mapping[str, Any]) -> dict[str, Any]:
    """A space description whose forbidden clauses are in ``in_clause_order``: a YAML file or
    script that lists them in another order continues the run."""
    clauses = described.get(FORBIDDEN_KEY)
    return {**described, FORBIDDEN_KEY: in_clause_order(clauses)} if clauses else dict(described)


def raise_space_mismatch(
    stored: Mapping[str, Any], given: Mapping[str, Any], root: Path, url: str | None = None
) -> None:
    """Explain, parameter by parameter, how a continued run's space differs from the saved one.

    With a storage ``url`` the run lives outside ``root``: overwriting the root cannot help.
    """
    names = [
        name for name in dict.fromkeys([*stored, *given]) if stored.get(name) != given.get(name)
    ]
    differences = [
        f"{name!r}: saved {stored.get(name)!r}, given {given.get(name)!r}" for name in names
    ]
    raise SpaceMismatchError(
        f"The run in {root} was started with a different pipeline_space. Differences: "
        + "; ".join(differences)
        + "".join(f". {hint}" for hint in _changed_meanings(stored, given, names))
        + (
            f". The storage at {url} holds that run: point storage= at another database, "
            "or use the original space."
            if url
            else ". Use a new root_directory, overwrite_root_directory=True, or the original space."
        )
    )


#: What a class attribute ``x = None`` was saved as before it stopped being an entry.
_SAVED_NONE = {"type": "constant", "value": None}
_ADDED_NAME = re.compile(r"param_\d+")


def _changed_meanings(
    stored: Mapping[str, Any], given: Mapping[str, Any], names: list[str]
) -> list[str]:
    """The causes of a mismatch that are changes of neps_core, not of the user's space, and
    how to keep continuing the run: a class attribute ``checkpoint = None`` (saved as the
    constant ``None``, now no entry, as in NePS) and ``add()`` without a name (``param_<n>``
    before, ``param_<n + 1>`` now, as in NePS)."""
    hints = [
        f"{name!r} was saved as the constant None, as a class attribute {name} = None was "
        f"before; such an attribute is no entry now (as in NePS): declare {name} = "
        "neps.Constant(None) to continue this run"
        for name in names
        if stored.get(name) == _SAVED_NONE and name not in given
    ]
    saved = [name for name in stored if name in names]
    renamed = [name for name in given if name in names]
    if (
        names
        and all(_ADDED_NAME.fullmatch(name) for name in names)
        and [stored[n] for n in saved] == [given[n] for n in renamed]
    ):
        fixes = ", ".join(
            f'add(..., name="{old}") for {new!r}' for old, new in zip(saved, renamed, strict=True)
        )
        hints.append(
            "add() without a name names a space's n+1st entry param_<n + 1> now, as NePS "
            f"(param_<n> before): name it as the run saved it, {fixes}"
        )
    return hints
