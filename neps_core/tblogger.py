"""NePS's ``neps.tblogger``: a TensorBoard writer for the trial being evaluated.

A NePS script logs its own curves from inside ``evaluate_pipeline``::

    writer = neps.tblogger.ConfigWriter(write_summary_incumbent=True)
    for epoch in range(epochs):
        writer.add_scalar("loss", loss, epoch)
    writer.close()

The writer (tensorboardX's ``SummaryWriter``, or torch's where tensorboardX is missing) writes
into ``tbevents`` in the trial's folder. A trial that continues an earlier rung (a fidelity
promotion) writes on into that rung's events, so a configuration's curve runs on across
rungs; a note ``tbevents_home.txt`` in its own folder says where. The writer is closed when
the evaluation ends, if the function did not close it.

``write_summary_incumbent=True`` (NePS's default) or ``WriteIncumbent()`` asks for the lowest
objective of the run's successful trials so far, at any fidelity (NePS's), in
``<root>/summary_tb`` (tag ``Summary/Incumbent_graph``, one step per successful trial): the
worker adds it once the trial succeeded (``neps_core_plugins.tblogger_incumbent``).

Which trial is known to the built-in evaluators (``neps_core.evaluation.trial_context``);
elsewhere (an ask-and-tell loop) pass ``pipeline_directory`` (and
``previous_pipeline_directory``) yourself.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from neps_core.evaluation import trial_context

#: The trial's own events, or (a promotion) the file naming the earlier rung's events.
EVENTS_DIRECTORY = "tbevents"
EVENTS_HOME_FILE = "tbevents_home.txt"
#: Left in a trial's folder to ask the worker for the incumbent's curve when it ends.
INCUMBENT_MARKER = ".neps_tblogger_incumbent"
INCUMBENT_DIRECTORY = "summary_tb"
#: The names of the event files a ``SummaryWriter`` writes (the incumbent's among them).
EVENT_FILES = "events.out.tfevents.*"
INCUMBENT_TAG = "Summary/Incumbent_graph"

#: NePS's older tblogger calls, which log through ``ConfigWriter`` here.
_OLDER_CALLS = ("log", "scalar_logging", "image_logging", "disable", "enable", "get_status")

_OUTSIDE = (
    "tblogger.{what}() does not know the trial: it was called outside a trial's evaluation by "
    "neps_core.run, in a process the evaluation started, in a thread it started while other "
    "trials are evaluated in this process, or under an evaluator that does not pass the job's "
    "context; pass pipeline_directory= (and previous_pipeline_directory= for a promotion) to "
    "ConfigWriter"
)


def summary_writer_class() -> Any:
    """torch's ``SummaryWriter``, as NePS's (it needs the ``tensorboard`` package), else
    tensorboardX's (neps-core's ``tensorboard`` extra), which lacks a few of its keywords."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        try:
            from tensorboardX import SummaryWriter  # type: ignore[no-redef]
        except ImportError as error:
            raise ImportError(
                "neps_core.tblogger needs torch with tensorboard (pip install tensorboard), "
                "or tensorboardX: pip install 'neps-core[tensorboard]'"
            ) from error
    return SummaryWriter


def new_writer(directory: Path) -> Any:
    """A writer of an event file of its own in ``directory``: tensorboardX names a file by the
    second and host only, so a second writer there (the next rung's, another worker's) within
    that second would have overwritten the first one's file."""
    return summary_writer_class()(str(directory), filename_suffix=f".{uuid.uuid4().hex[:12]}")


def ConfigWriter(
    *,
    write_summary_incumbent: bool = True,
    root_directory: str | Path | None = None,
    pipeline_directory: str | Path | None = None,
    previous_pipeline_directory: str | Path | None = None,
) -> Any:
    """A ``SummaryWriter`` into the events of the trial being evaluated (see the module).

    The directories default to the trial's; ``root_directory`` is accepted for NePS's
    signature (the worker knows the root).
    """
    del root_directory  # the worker that records the trial draws the incumbent's curve
    context = trial_context.current()
    if context is not None and not context.lead:  # a torchrun rank following rank 0's call,
        return _Discarding()  # whose writer logs the trial (into the same folder)
    if pipeline_directory is None:
        if context is None:
            raise RuntimeError(_OUTSIDE.format(what="ConfigWriter"))
        pipeline_directory = context.pipeline_directory
        previous_pipeline_directory = context.previous_pipeline_directory
    own = Path(pipeline_directory)
    events = _events_directory(own, previous_pipeline_directory)
    writer = new_writer(events)
    trial_context.at_end(writer.close)
    if write_summary_incumbent:
        (own / INCUMBENT_MARKER).touch()
    return writer


def WriteIncumbent() -> None:
    """Ask for the run's lowest objective so far in ``<root>/summary_tb`` if this trial succeeds."""
    context = trial_context.current()
    if context is None:
        raise RuntimeError(_OUTSIDE.format(what="WriteIncumbent"))
    if context.lead:
        (context.pipeline_directory / INCUMBENT_MARKER).touch()


def _events_directory(own: Path, previous: str | Path | None) -> Path:
    """The earlier rung's events where it logged any, noted in ``own``; else ``own``'s."""
    earlier = None if previous is None else events_of(Path(previous))
    if earlier is None:
        return own / EVENTS_DIRECTORY
    (own / EVENTS_HOME_FILE).write_text(os.path.relpath(earlier, own), encoding="utf-8")
    return earlier


def events_of(folder: Path) -> Path | None:
    """Where the trial of ``folder`` logged its events, if it did."""
    home = folder / EVENTS_HOME_FILE
    if home.is_file():
        return (folder / home.read_text(encoding="utf-8").strip()).resolve()
    own = folder / EVENTS_DIRECTORY
    return own if own.is_dir() else None


def __getattr__(name: str) -> Any:
    """NePS's older ``tblogger.log(...)`` family says what to use instead."""
    if name in _OLDER_CALLS:
        raise AttributeError(
            f"neps_core.tblogger has no {name!r} (NePS's older tblogger API): write with "
            "writer = tblogger.ConfigWriter() and its add_scalar/add_image/add_hparams, see "
            "docs/monitoring.md"
        )
    raise AttributeError(f"module 'neps_core.tblogger' has no attribute {name!r}")


class _Discarding:
    """A writer whose every call does nothing (a torchrun follower rank's)."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None
