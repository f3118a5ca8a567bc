"""Why a worker stops taking trials: the texts of ``stop_reason`` that code compares against.

The sampler sets them; the worker loop, ask-and-tell and the end-of-run warnings read them.
"""

from __future__ import annotations

#: The budget left is smaller than the next trial would spend.
BUDGET_DOES_NOT_FIT = "what is left of the budget does not fit the next trial"
#: The optimizer proposes nothing more (a small space used up, a finished schedule).
NOTHING_LEFT = "the optimizer has nothing left to propose"
#: Why ``ask`` waits under ``max_cost_per_run`` (as ``run()`` starts no trial beside them).
COST_DECIDES = "under max_cost_per_run, their cost decides whether another trial fits"


def waiting_for(trials: list[str], because: str) -> str | None:
    """An ask-and-tell client's stop reason while ``trials`` run (``None`` when none do)."""
    if not trials:
        return None
    return (
        f"waiting for the result of trial(s) {', '.join(trials)}: {because}; ask again once "
        "it is told (or, another worker's, has finished)"
    )


def budget_used_up(budget_name: str, running: int) -> str:
    """The stop reason once ``budget_name`` is spent, with ``running`` trials still running."""
    return f"budget {budget_name} used up" + (
        f" ({running} trial(s) still evaluating; one whose worker dies is re-queued "
        "after stale_after and handed out again)"
        if running
        else ""
    )
