"""Refusing what would harm live workers: an overwrite, a migration or a clean of their run.

A worker is alive as ``liveness.live_trials`` judges it; waiting helps only for workers known
by their heartbeat, so the advice names the ``stale_after`` their trials are judged by.
"""

from __future__ import annotations

import math
import time

from neps_core.errors import LiveWorkersError
from neps_core.history import TrialHistory
from neps_core.liveness import (
    last_sign_of_life,
    live_trials,
    runs_on,
    stale_after_of,
    this_machine_if_known,
)
from neps_core.models import Trial


def refuse_if_alive(
    history: TrialHistory,
    stale_after: float,
    action: str,
    wait_hint: str,
    present: list[str] | None = None,
) -> None:
    """Raise ``LiveWorkersError`` if workers still evaluate trials: ``action`` would harm them.

    ``wait_hint`` names the looker's setting the heartbeat age is compared with where the
    holder recorded none (``stale_after_of``); ``present`` is as for ``live_trials``.
    """
    now = time.time()
    alive = live_trials(history, now, stale_after, present)
    if alive:
        described = ", ".join(
            f"trial {t.id} (worker {t.worker_id}, heartbeat {now - last_sign_of_life(t):.1f} s ago)"
            for t in alive
        )
        machine = this_machine_if_known(present)
        elsewhere = [t for t in alive if not runs_on(t, machine)]
        wait = (  # waiting helps only for workers known by their heartbeat
            _wait_advice(elsewhere, stale_after, wait_hint)
            if elsewhere
            else " (their processes still run on this machine)"
        )
        raise LiveWorkersError(
            f"Refusing to {action}: live workers are evaluating {described}. Stop them first{wait}."
        )


def _wait_advice(trials: list[Trial], stale_after: float, wait_hint: str) -> str:
    """How long to wait for ``trials`` to be stale: their holders' own ``stale_after`` where
    recorded (the looker's ``wait_hint`` would not shorten it), else the looker's."""
    own = [stale_after_of(trial, math.nan) for trial in trials]  # NaN: none recorded
    longest = max([stale_after, *own]) if any(map(math.isnan, own)) else max(own)
    # Named after whose setting is the longest wait: a looker's shorter one helps there.
    setting = "their workers' stale_after" if longest in own else wait_hint
    return f", or wait until their heartbeat is older than {setting} ({longest:g} s)"


def refuse_if_working(
    history: TrialHistory,
    stale_after: float,
    action: str,
    wait_hint: str,
    present: list[str] | None,
) -> None:
    """``refuse_if_alive``, and refuse too while processes of this machine are ``present`` in
    the run, evaluating nothing: between two trials, or waiting for results, the PENDING
    trials are theirs, and what they report next is yet to come."""
    if not math.isfinite(stale_after) or stale_after <= 0:
        raise ValueError(f"stale_after must be a number of seconds > 0, got {stale_after!r}")
    refuse_if_alive(history, stale_after, action, wait_hint, present)
    if present:
        raise LiveWorkersError(
            f"Refusing to {action}: process(es) {', '.join(present)} of this machine are "
            "running in it (run() workers or ask-and-tell sessions). Stop them first."
        )
