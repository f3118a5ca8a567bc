"""Axes for values near a float's largest, which matplotlib cannot lay ticks out for."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable

#: Beyond this, a span with matplotlib's margins overflows to infinity.
LARGEST_UNSCALED = sys.float_info.max / 100


def axis_scale(values: Iterable[float]) -> tuple[float, str]:
    """The divisor that brings ``values`` to a range matplotlib can draw, and the note for the
    axis label (``1.0`` and ``""`` for ordinary values).

    Objectives near ±1.8e308 made a plot raise "arange: cannot compute length" (or "Invalid
    affine transformation matrix") from inside matplotlib.
    """
    largest = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    if largest <= LARGEST_UNSCALED:
        return 1.0, ""
    exponent = math.floor(math.log10(largest))
    return 10.0**exponent, f" (units of 1e{exponent})"
