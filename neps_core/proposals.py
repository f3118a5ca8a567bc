"""Checking an optimizer's proposals, and making them plain data before anything sees them.

A storage, an observer and ``evaluate_pipeline`` get a proposal's configuration and metadata
as plain Python values (NumPy scalars become ``int``, ``float`` and ``bool``): a storage that
writes JSON must not depend on which optimizer ran, and both pass their contracts alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from neps_core.errors import object_of_type
from neps_core.history import TrialHistory
from neps_core.models import Proposal
from neps_core.serialization import to_plain
from neps_core.space import PipelineSpace


def checked_proposal(
    proposal: Any, space: PipelineSpace, history: TrialHistory, culprit: str
) -> Proposal:
    """``proposal`` in plain values; what would break the run later is refused, naming
    ``culprit`` (the optimizer and its plugin)."""
    if not isinstance(proposal, Proposal):
        raise TypeError(
            f"{culprit} returned {object_of_type(proposal)} from ask(); it "
            "must return neps_core.Proposal objects, e.g. Proposal(config)"
        )
    for field, value in (("a configuration", proposal.config), ("metadata", proposal.metadata)):
        if not isinstance(value, Mapping):
            raise TypeError(
                f"{culprit} proposed {object_of_type(value)} as {field}; it must be a "
                "mapping of names to values"
            )
    plain = attrs.evolve(
        proposal, config=to_plain(proposal.config), metadata=to_plain(proposal.metadata)
    )
    try:
        space.validate_config(plain.config)
    except ValueError as error:
        raise ValueError(f"{culprit} proposed an invalid configuration: {error}") from error
    previous = proposal.previous_trial_id
    if previous is not None and previous not in history:
        raise ValueError(
            f"{culprit} proposed to continue trial {previous!r} (previous_trial_id), "
            "which this run does not have"
        )
    return plain
