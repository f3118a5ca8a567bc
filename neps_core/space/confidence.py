"""How sure a prior is: NePS's ``ConfidenceLevel`` and the names parameters store.

NePS's parameters take ``prior_confidence=neps.ConfidenceLevel.HIGH`` as well as ``"high"``;
here both are the name, so a space reads, compares and saves the same either way.
"""

from __future__ import annotations

import enum
from typing import Any


class ConfidenceLevel(str, enum.Enum):
    """NePS's confidence levels of a prior; each is also its name (``HIGH == "high"``)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


def confidence_name(value: Any) -> Any:
    """A ``ConfidenceLevel`` as its name; any other value as given, for the parameter's
    check to accept or refuse."""
    return value.value if isinstance(value, ConfidenceLevel) else value
