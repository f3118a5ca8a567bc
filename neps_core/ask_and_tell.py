"""Ask-and-tell: neps_core's optimizers and storage with a loop of your own.

``run()`` owns the loop (sample, evaluate, report). ``AskAndTell`` hands it over: ``ask``
claims the next trial exactly as a worker does (the same ``TrialSampler``, in one storage
transaction, within the run's global budget) and ``tell`` records its result with the same
contract and error settings as ``evaluate_pipeline``'s return value. Several clients - threads,
processes, machines sharing the root - cooperate like workers, and one client may be shared by
threads. While a client holds asked trials it heartbeats them from a background thread, so
another client treats them as taken; trials of a client that dies are re-queued after
``stale_after`` seconds, like those of a crashed worker.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, overload

from neps_core.asked_trial import (
    AskedTrial,
    as_told,
    check_same_run,
    closed_client_error,
    handed_out,
    told_duration,
    told_trial_id,
)
from neps_core.budget import CallBudget
from neps_core.client_settings import client_settings
from neps_core.client_state import HeldTrials, check_dropped, release, release_when_dropped
from neps_core.connection import connect, overwrite_if_asked
from neps_core.custom_record import CustomRecord
from neps_core.errors import ObjectiveCountError
from neps_core.giving_back import give_back_running
from neps_core.importing import import_into
from neps_core.models import Summary, Trial
from neps_core.neps_trials import TrialsRead, neps_copy
from neps_core.plugin_manager import load_plugins
from neps_core.presence import present_in
from neps_core.reporting import judge_outcome, record_result, reportable_trial, told_outcome
from neps_core.sampler import TrialSampler
from neps_core.stop_reasons import COST_DECIDES, waiting_for
from neps_core.summary import summary_of
from neps_core.summary_files import refresh_shared_summary_files
from neps_core.termination import signals_stop_the_worker


class AskAndTell:
    """A client of one run that asks for trials and tells their results.

    Args:
        pipeline_space: The space; may be left out when continuing an existing run. NePS's
            ``AskAndTell(neps.algorithms.hyperband(space, eta=3))`` gives the optimizer with
            its space here; such a client works in a new temporary root unless
            ``root_directory`` is given (NePS keeps those trials in memory).
        root_directory: The run's root directory (shared by all clients); ``neps_results``
            by default.
        optimizer: As in ``run()``: a name, ``{"name": ..., **options}`` or ``"auto"``.
        storage: As in ``run()``; ``None`` means the run's storage (``disk`` for a new run).
        evaluations_to_spend: Global budgets of the root, as in ``run()``; ``ask`` returns
            ``None`` once one is used up.
        cost_to_spend: See ``evaluations_to_spend``.
        fidelities_to_spend: See ``evaluations_to_spend``.
        max_evaluations_per_run: At most this many trials for this client.
        plugins: Extra plugin objects (observers see ``ask``/``tell`` as a worker's run).
        **settings: Any other ``run()`` setting: ``max_cost_per_run`` and
            ``max_fidelities_per_run`` (this client's trials), ``seed``, ``worker_id``,
            ``overwrite_root_directory``, ``stale_after``, ``objective_value_on_error``, ...
            Those only ``run()``'s loop uses (``evaluate_pipeline``, ``evaluator``, ...) are
            a ``SettingsError``.
    """

    def __init__(
        self,
        pipeline_space: Any = None,
        root_directory: str | Path | None = None,
        optimizer: Any = "auto",
        storage: Any = None,
        *,
        evaluations_to_spend: int | None = None,
        cost_to_spend: float | None = None,
        fidelities_to_spend: float | None = None,
        max_evaluations_per_run: int | None = None,
        plugins: object | Iterable[object] = (),
        **settings: Any,
    ) -> None:
        self.settings = client_settings(
            pipeline_space,
            root_directory,
            optimizer,
            storage=storage,
            evaluations_to_spend=evaluations_to_spend,
            cost_to_spend=cost_to_spend,
            fidelities_to_spend=fidelities_to_spend,
            max_evaluations_per_run=max_evaluations_per_run,
            plugins=plugins,
            **settings,
        )
        loaded = load_plugins(self.settings.plugins)
        overwrite, checked = overwrite_if_asked(self.settings, loaded)  # refused if others are in
        with contextlib.ExitStack() as presence:  # until close() or collection; or an error
            presence.enter_context(present_in(self.settings.root_directory, overwrite=overwrite))
            self._context = connect(self.settings, loaded, checked)
            self._presence = presence.pop_all()
        self.settings = self._context.settings  # with the run's seed when continuing
        self._held = HeldTrials()  # shared with the heartbeat thread, which must not hold self
        self._dropped = release_when_dropped(self, self._held, self._context, self._presence)
        self._sampler = TrialSampler(
            self.settings,
            self._context.space,
            self._context.optimizer,
            self._context.plugins,
            held=self._held.running,  # not self's: no cycle, so a dropped client goes at once
        )
        self._in_this_process()
        self._closed = False
        self._signals = contextlib.ExitStack()  # while in a ``with`` block
        self._final_summary: Summary | None = None
        self._context.plugins.notify("neps_run_started", run=self._context)

    def _in_this_process(self) -> None:
        """This process's trials and limits; a forked child starts over as a client of its own:
        the parent's trials stay the parent's, its lock and heartbeat thread are not copied."""
        if getattr(self, "_pid", None) == os.getpid():
            return
        self._pid = os.getpid()
        self._held.start_over()
        self._asking = threading.Lock()  # limits and claims checked and counted together
        self._handed_out: dict[str, AskedTrial] = {}  # what ask() returned, until told here
        self._claiming: set[str] = set()  # stored as this client's, not yet outstanding
        self._asked = 0
        self._local_stop: str | None = None
        self._spent = CallBudget(
            self.settings.max_cost_per_run, self.settings.max_fidelities_per_run
        )
        self._waiting_for_cost: list[str] = []  # own untold trials whose cost decides the next

    # -- the public interface ---------------------------------------------------------------
    @property
    def root_directory(self) -> Path:
        """The run's root directory."""
        return self.settings.root_directory

    @property
    def worker_id(self) -> str:
        """This client's worker id (what other clients and ``status`` see)."""
        return self.settings.worker_id

    @property
    def trials(self) -> Mapping[str, Trial]:
        """NePS's ``trials``: every trial of the run by id (any client's or worker's), as
        stored now; each lookup is a copy of the trial, read as NePS's (``neps_trials``)."""
        self._check_open()
        return TrialsRead(self._context.storage.sync().snapshot(), self._context.storage)

    @property
    def stop_reason(self) -> str | None:
        """Why the last ``ask`` returned ``None`` (``None`` while trials are still given)."""
        if self._local_stop or self._sampler.stop_reason:
            return self._local_stop or self._sampler.stop_reason
        if self._waiting_for_cost:
            return waiting_for(self._waiting_for_cost, COST_DECIDES)
        return waiting_for(self._sampler.waiting_for, self._sampler.waiting_because)

    @overload
    def ask(self, n: None = None, *, budget_info: None = None) -> AskedTrial | None: ...

    @overload
    def ask(self, n: int, *, budget_info: None = None) -> list[AskedTrial]: ...

    def ask(
        self, n: int | None = None, *, budget_info: None = None
    ) -> AskedTrial | list[AskedTrial] | None:
        """Claim the next trial, or ``None`` when a budget is used up or the optimizer is done.

        Under ``cost_to_spend``, before any trial reported a cost, it also returns ``None``
        while a trial (of any client) runs: its cost decides how many more fit. It never
        blocks; ``stop_reason`` names the trial to wait for, then ask again.

        With ``n`` (NePS's ``ask(n=...)``) it claims up to ``n`` trials and returns them as a
        list, shorter (or empty) where ``ask()`` would have returned ``None``. NePS's
        ``budget_info`` is accepted as ``None``: the client counts the run's budgets itself.
        """
        self._check_open()
        if budget_info is not None:
            raise TypeError(
                "ask(budget_info=...): the client counts the run's budget itself; give "
                "evaluations_to_spend, cost_to_spend or fidelities_to_spend to AskAndTell"
            )
        if n is None:
            return self._ask_one()
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"ask(n={n!r}): n is the number of trials wanted, at least 1")
        asked: list[AskedTrial] = []
        while len(asked) < n and (trial := self._ask_one()) is not None:
            asked.append(trial)
        return asked

    def _ask_one(self) -> AskedTrial | None:
        with self._asking:  # threads ask one at a time (each sample is one transaction anyway)
            limit = self.settings.max_evaluations_per_run
            if limit is not None and self._asked >= limit:
                self._local_stop = "max_evaluations_per_run reached"
                return None
            self._settle_told_elsewhere()
            with self._held.lock:
                reached, running = self._spent.reached(), list(self._held.asked_at)
                room = self._spent.room(running, self._context.storage.sync)
                self._waiting_for_cost = [] if room != 0 else running
            if reached is not None:
                self._local_stop = f"{reached} reached"
                return None
            if self._waiting_for_cost:
                return None
            claimed = self._sampler.sample(self._context.storage, 1, self._claiming)
            if not claimed:
                return None
            trial = claimed[0]
            # Under the run's seed, not this client's: load_config rebuilds the same objects.
            asked = handed_out(
                trial, self._context.storage, self._context.space, self._context.run_seed
            )
            self._asked += 1
            with self._held.lock:
                self._held.asked_at[trial.id] = time.monotonic()
                self._handed_out[trial.id] = asked
                self._spent.started(trial)
            self._claiming.clear()
            self._held.start_heartbeat(self._context)
        self._context.plugins.notify("neps_trial_sampled", run=self._context, trial=trial)
        return asked

    def tell(
        self,
        trial: AskedTrial | Trial | str | int,
        result: Any,
        *,
        evaluation_duration: float | None = None,
        traceback_str: str | None = None,
        time_end: float | None = None,
    ) -> Trial:
        """Record ``result`` for ``trial`` (an asked trial, or its id from any client).

        ``result`` follows the ``evaluate_pipeline`` contract: a number, a tuple, a dict with
        ``objective_to_minimize`` (and ``cost``, ``learning_curve``, ...), an ``"F..."``
        failure string - or the exception the evaluation raised, stored as FAILED with its
        traceback. A result breaking the contract is stored as FAILED and raised, as in
        ``run()``: a ``TypeError`` for a wrong kind of value (no objective, a ``bool``), a
        ``ValueError`` for a wrong number (a ``MissingCostError`` under ``cost_to_spend``, a
        negative cost). Returns the stored trial (a copy: changing it changes nothing
        stored); the object ``ask()`` returned for it here, or the one given, now holds that
        copy as its ``trial`` (its ``metadata.state`` and ``report`` read as told, as NePS's).

        NePS's keywords: ``evaluation_duration`` replaces the time since ``ask()``;
        ``traceback_str`` is stored as the traceback of an exception result (with any other
        result, in the trial's metadata, as ``time_end`` is).

        Raises:
            TrialNotFoundError: No trial with that id in the run.
            TrialAlreadyReportedError: The trial already has a result.
        """
        self._check_open(trial)
        trial_id = told_trial_id(trial, self.stop_reason)
        if result is None:
            raise TypeError(f"tell({trial_id!r}, None): a result is needed; None is not one")
        history = self._context.storage.sync()
        check_same_run(trial, history, self.root_directory)
        # Refused before judging the result, which logs a failure; record_result checks again.
        claimed = reportable_trial(history, trial_id, self.root_directory)
        with self._held.lock:
            asked_at = self._held.asked_at.get(trial_id)
        duration = told_duration(claimed, asked_at, evaluation_duration)
        outcome = told_outcome(trial_id, result, duration, traceback_str, time_end)
        parsed, raise_after = judge_outcome(outcome, self.settings, "the result given to tell()")
        evaluated = as_told(claimed, self.worker_id, asked_at)
        try:
            stored = record_result(self._context.storage, trial_id, parsed, evaluated)
        except ObjectiveCountError as mismatch:  # stored as FAILED; observers hear of it first
            assert mismatch.trial is not None
            stored, raise_after = mismatch.trial, mismatch
        assert stored.report is not None
        told = neps_copy(stored, self._context.storage)  # the caller's (and the error's)
        if isinstance(raise_after, ObjectiveCountError):
            raise_after.trial = told
        with self._held.lock:
            if self._held.asked_at.pop(trial_id, None) is not None:  # asked here: this client's
                self._spent.ended(stored.report.cost)
            asked_here = self._handed_out.pop(trial_id, None)
        check_dropped(self.root_directory, trial_id)  # a dropped client it was left to leaves
        for asked in (asked_here, trial):  # read as told, as NePS's asked trial does
            if isinstance(asked, AskedTrial):
                asked.trial = told
        self._context.plugins.notify(
            "neps_trial_finished", run=self._context, trial=stored, report=stored.report
        )
        if raise_after is not None and raise_after is not outcome.error:
            raise raise_after
        return told

    def tell_custom(
        self, *, config: Mapping[str, Any], result: Any, config_id: str | None = None, **told: Any
    ) -> Trial:
        """Record a configuration evaluated elsewhere (NePS's warm start), as ``import_trials``.

        The trial gets the run's next id; NePS's ``config_id`` is kept in its metadata (one
        told twice is a ``ValueError``), and so are NePS's other keywords: ``time_sampled``,
        ``time_started``, ``time_end``, ``evaluation_duration``, ``traceback_str``,
        ``worker_id`` and ``previous_trial_id`` (a ``config_id`` told before, or a trial id:
        the trial this one continues).
        """
        self._check_open()
        record = CustomRecord.of({"config_id": config_id, **told})
        space, storage = self._context.space, self._context.storage
        raised = isinstance(result, BaseException)
        adjust = functools.partial(
            record.apply, fidelity_name=space.fidelity_name, settings=self.settings, raised=raised
        )
        recorded = import_into(storage, space, (config, result), "tell_custom()", adjust)
        return neps_copy(recorded, storage)

    def close(self) -> Summary:
        """Stop heartbeating, tell observers the client is done, and return the run's summary.

        A client dropped without ``close()`` releases its files at once when collected, and
        its heartbeat thread and presence in the root too unless it has asked, untold trials:
        those it keeps beating until they are told, by id from any client (``client_state``).
        It writes no summary.

        Trials asked but not told stay EVALUATING (their results may still be told, by any
        client); once their heartbeat is ``stale_after`` seconds old, the next client
        re-queues them. Leaving a ``with`` block on an error gives them back at once.
        """
        if self._final_summary is not None:
            return self._final_summary
        self._in_this_process()
        self._closed = True
        self._dropped.detach()  # released here
        if self._held.heartbeat is not None:
            self._held.heartbeat.__exit__(None, None, None)
        try:
            if self.settings.post_run_summary:
                refresh_shared_summary_files(self._context.storage, self._context.space)
            summary = summary_of(self._context.storage, self.settings, self._context.space)
            self._final_summary = summary
            self._context.plugins.notify("neps_run_finished", run=self._context, summary=summary)
        finally:
            release(self._context, self._presence)
        return summary

    def __enter__(self) -> AskAndTell:
        """In the main thread, SIGTERM and SIGHUP raise ``SystemExit`` in the block, as under
        ``run()``, so leaving it gives the asked trials back (they stayed evaluating)."""
        self._signals.enter_context(signals_stop_the_worker())
        return self

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        """Close; leaving on an error gives the asked, untold trials back at once (as run())."""
        self._in_this_process()
        with self._signals:  # the handlers of before, once the trials are back and closed
            if error is not None and not self._closed:
                give_back_running(
                    self._context.storage,
                    self._held.running() | self._claiming,  # Ctrl-C in ask() may leave one claimed
                    self.worker_id,
                    f"ask-and-tell client {self.worker_id} stopped by {error!r}",
                )
            self.close()

    # -- helpers ----------------------------------------------------------------------------
    def _check_open(self, told: AskedTrial | Trial | str | int | None = None) -> None:
        if self._closed:
            raise closed_client_error(told)
        self._in_this_process()

    def _settle_told_elsewhere(self) -> None:
        """Trials asked here whose results another client told: this client's, cost included."""
        if not self._held.running():
            return
        history = self._context.storage.sync()
        with self._held.lock:
            for trial_id in list(self._held.asked_at):
                stored = history.get(trial_id)
                if stored is not None and stored.state.is_final:
                    del self._held.asked_at[trial_id]
                    self._handed_out.pop(trial_id, None)
                    self._spent.ended(stored.cost)
