"""How sure a prior is: NePS's ``ConfidenceLevel`` and the names parameters store.

NePS's parameters take ``prior_confidence=neps.ConfidenceLevel.HIGH`` as well as ``"high"``,
in any case (``"High"``: it looks the name up upper-cased); here all of them are the
lower-case name, so a space reads, compares and saves the same either way.
"""

from __future__ import annotations

import enum
from typing import Any

PRIOR_CONFIDENCES: tuple[str, ...] = ("low", "medium", "high")


class ConfidenceLevel(str, enum.Enum):
    """NePS's confidence levels of a prior; each is also its name (``HIGH == "high"``)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


def confidence_name(value: Any) -> Any:
    """A ``ConfidenceLevel``, or a name in any case, as the lower-case name; any other value
    as given, for the parameter's check to refuse (naming what the user wrote)."""
    if isinstance(value, ConfidenceLevel):
        return value.value
    if isinstance(value, str) and value.lower() in PRIOR_CONFIDENCES:
        return value.lower()
    return value


def confidence_problems(confidence: Any) -> list[str]:
    """What is wrong with ``confidence`` (after ``confidence_name``) as a prior's confidence."""
    if confidence not in PRIOR_CONFIDENCES:
        return [f"prior_confidence must be one of {PRIOR_CONFIDENCES}, got {confidence!r}"]
    return []
