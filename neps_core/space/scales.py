"""When a log scale over a range is, in effect, linear."""

from __future__ import annotations

#: Below this ``upper / lower - 1`` a log scale is mapped linearly (see ``scales_agree``).
SCALES_AGREE_BELOW = 1e-6


def scales_agree(lower: float, upper: float) -> bool:
    """Whether a log scale over ``[lower, upper]`` (``lower > 0``) is, in effect, linear.

    Then the range is mapped linearly: its logs are only a few floats apart
    (``Integer(2**53 + 1, 2**53 + 60, log=True)`` reached 3 of its 60 values by them), while
    log and linear steps differ by about ``(upper / lower - 1) ** 2 / 8`` of a value, under
    1e-12 here.
    """
    return upper / lower - 1 < SCALES_AGREE_BELOW
