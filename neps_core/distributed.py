"""``run()`` under ``torchrun`` (DDP, FSDP): the ranks of one launch are one worker.

``torchrun`` starts the same script on every rank (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` in
the environment). Only rank 0 runs the worker loop: it samples, evaluates and reports. Before
each evaluation it sends the call's arguments (the configuration and ``pipeline_directory``
etc.) to the other ranks, which call ``evaluate_pipeline`` with exactly the same arguments,
so the training inside can synchronize across ranks; their return values are ignored. When
rank 0's run ends, the other ranks' ``run()`` returns the run's summary too.

The arguments travel through ``torch.distributed.broadcast_object_list`` when a process
group is initialized when ``run()`` starts, else through JSON files under
``<root_directory>/.neps_core_ranks/<launch id>/``. The launch id is the rendezvous id
(``torchrun --rdzv-id``) or, on one node, the torchrun agent's process id; set
``NEPS_CORE_LAUNCH_ID`` to choose it (several nodes without a process group need it).

``import neps_core`` never imports torch; this module uses it only if the script already did.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from neps_core.errors import SettingsError
from neps_core.evaluation import trial_context
from neps_core.evaluation.child_runner import call_evaluate_pipeline, decode, encode
from neps_core.evaluation.trial_context import TrialContext

if TYPE_CHECKING:
    from neps_core.config import RunSettings
    from neps_core.models import Summary

logger = logging.getLogger(__name__)

LAUNCH_ID_ENV = "NEPS_CORE_LAUNCH_ID"
CHANNEL_DIRECTORY = ".neps_core_ranks"
POLL_STEP = 0.01
#: Evaluators that call ``evaluate_pipeline`` in the worker's own process.
IN_PROCESS_EVALUATORS = ("sync", "async")
_PATH_ARGUMENTS = ("pipeline_directory", "previous_pipeline_directory", "root_directory")
_RUN_CALLS = itertools.count()  # run() calls in this process, the same count on every rank


@attrs.frozen
class Launch:
    """This process's place in a multi-rank launch."""

    rank: int
    world_size: int
    launch_id: str


def detect_launch(environ: Mapping[str, str] | None = None) -> Launch | None:
    """The launch this process belongs to, ``None`` unless it is one of several ranks."""
    environ = os.environ if environ is None else environ
    world_size = int(environ.get("WORLD_SIZE", "1") or 1)
    if world_size <= 1:
        return None
    run_id = environ.get(LAUNCH_ID_ENV) or environ.get("TORCHELASTIC_RUN_ID", "none")
    if run_id in ("", "none"):
        master = f"{environ.get('MASTER_ADDR', 'local')}-{environ.get('MASTER_PORT', '')}"
        run_id = f"{master}-agent{os.getppid()}"
    restart = environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    return Launch(int(environ.get("RANK", "0")), world_size, f"{run_id}-r{restart}")


# -- channels -----------------------------------------------------------------------------------
class Channel(Protocol):
    """Rank 0 sends messages; every other rank receives them in the same order."""

    def send(self, message: dict[str, Any]) -> None:
        """Rank 0: deliver ``message`` to the other ranks."""

    def receive(self) -> dict[str, Any]:
        """Other ranks: the next message (blocking)."""

    def finish(self) -> None:
        """Every rank, after the stop message: leave ``run()`` together."""


class TorchChannel:
    """Messages through the initialized ``torch.distributed`` process group."""

    def __init__(self, torch_distributed: Any) -> None:
        self._dist = torch_distributed

    def send(self, message: dict[str, Any]) -> None:
        """Broadcast ``message`` from rank 0."""
        self._dist.broadcast_object_list([message], src=0)

    def receive(self) -> dict[str, Any]:
        """Receive rank 0's broadcast."""
        box: list[Any] = [None]
        self._dist.broadcast_object_list(box, src=0)
        return dict(box[0])

    def finish(self) -> None:
        """A barrier: no rank returns from ``run()`` (and maybe tears the group down) while
        another still reads the run's summary, so no rank sees its peer's connection reset."""
        self._dist.barrier()


class FileChannel:
    """Numbered JSON files in a directory that all ranks see (the run's root)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._next = 0

    def send(self, message: dict[str, Any]) -> None:
        """Write the next message file atomically."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{self._next:06d}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(message), encoding="utf-8")
        os.replace(temporary, path)
        self._next += 1

    def receive(self) -> dict[str, Any]:
        """Wait for the next message file and read it."""
        path = self.directory / f"{self._next:06d}.json"
        while not path.exists():
            time.sleep(POLL_STEP)
        self._next += 1
        return dict(json.loads(path.read_text(encoding="utf-8")))

    def finish(self) -> None:
        """Nothing to synchronize: files outlive every rank."""


def open_channel(root_directory: Path, launch: Launch, call: int) -> Channel:
    """The channel of one ``run()`` call: the process group if there is one, else files."""
    torch = sys.modules.get("torch")
    dist = getattr(torch, "distributed", None) if torch is not None else None
    if dist is not None and dist.is_available() and dist.is_initialized():
        return TorchChannel(dist)
    return FileChannel(Path(root_directory) / CHANNEL_DIRECTORY / launch.launch_id / f"run{call}")


def _encode_arguments(arguments: Mapping[str, Any]) -> Any:
    return encode(dict(arguments))


def _decode_arguments(data: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = decode(data)
    for name in _PATH_ARGUMENTS:
        if arguments.get(name) is not None:
            arguments[name] = Path(arguments[name])
    return arguments


def _encode_context(context: TrialContext | None) -> dict[str, str | None] | None:
    """The trial rank 0 evaluates, for helpers the other ranks' calls make (``tblogger``)."""
    if context is None:
        return None
    paths = {key: value for key, value in vars(context).items() if key != "lead"}
    return {key: None if value is None else str(value) for key, value in paths.items()}


def _decode_context(data: dict[str, str | None] | None) -> TrialContext | None:
    if data is None:
        return None
    previous, root, seed = data["previous_pipeline_directory"], data["root_directory"], data["seed"]
    return TrialContext(
        trial_id=str(data["trial_id"]),
        pipeline_directory=Path(str(data["pipeline_directory"])),
        previous_pipeline_directory=None if previous is None else Path(previous),
        root_directory=None if root is None else Path(root),
        lead=False,  # rank 0 writes the trial's logs; a follower's writes would repeat them
        seed=None if seed is None else int(seed),  # every rank draws as rank 0 does
    )


# -- what run() calls ---------------------------------------------------------------------------
def maybe_run_as_nonzero_rank(settings: RunSettings) -> Summary | None:
    """On ranks other than 0: follow rank 0's evaluations, then return the run's summary.

    Returns ``None`` (and does nothing) on rank 0 and outside a multi-rank launch; then
    ``run()`` goes on under :func:`rank_zero`.
    """
    launch = detect_launch()
    if launch is None or launch.rank == 0:
        return None
    function = settings.evaluate_pipeline
    assert function is not None
    _refuse_other_processes(settings)  # as rank 0 does: every rank stops with the error
    channel = open_channel(settings.root_directory, launch, next(_RUN_CALLS))
    followed = 0
    while (message := channel.receive())["kind"] == "trial":
        followed += 1
        try:
            arguments = _decode_arguments(message["arguments"])
            call_evaluate_pipeline(function, arguments, _decode_context(message["context"]))
        except Exception:  # rank 0 reports the trial; its error is the one that counts
            logger.exception("Rank %d: evaluate_pipeline raised", launch.rank)
    logger.info("Rank %d followed %d evaluations of rank 0", launch.rank, followed)
    from neps_core.api import status

    summary = status(settings.root_directory)
    channel.finish()
    return summary


@contextlib.contextmanager
def rank_zero(settings: RunSettings) -> Iterator[RunSettings]:
    """On rank 0 of a multi-rank launch: settings whose ``evaluate_pipeline`` first sends its
    arguments to the other ranks; on exit the other ranks are released. Elsewhere a no-op."""
    launch = detect_launch()
    function = settings.evaluate_pipeline
    if launch is None or launch.rank != 0 or function is None:
        yield settings
        return
    _refuse_other_processes(settings)
    channel = open_channel(settings.root_directory, launch, next(_RUN_CALLS))
    try:
        yield attrs.evolve(settings, evaluate_pipeline=_leading(function, channel))
    finally:
        channel.send({"kind": "stop"})
        channel.finish()


def _refuse_other_processes(settings: RunSettings) -> None:
    """The ranks follow calls made in rank 0's own process: an evaluator that calls
    ``evaluate_pipeline`` in other processes would leave them idle or waiting forever."""
    label = settings.evaluator.label
    if label not in IN_PROCESS_EVALUATORS:
        raise SettingsError(
            f"evaluator {label!r} under torchrun: the other ranks follow evaluate_pipeline "
            f"only when rank 0 calls it in its own process ({', '.join(IN_PROCESS_EVALUATORS)})"
            "; torchrun already gives every trial all ranks, so leave the evaluator out"
        )


def _leading(function: Callable[..., Any], channel: Channel) -> Callable[..., Any]:
    """``function`` that first sends its arguments to the other ranks (same signature)."""

    @functools.wraps(function)
    def leading(**arguments: Any) -> Any:
        context = _encode_context(trial_context.current())
        channel.send(
            {"kind": "trial", "arguments": _encode_arguments(arguments), "context": context}
        )
        return function(**arguments)

    return leading
