"""The options of the ``dask`` evaluator, and the cluster objects ``address`` accepts."""

from __future__ import annotations

from typing import Any

import attrs

from neps_core.validators import at_least, positive


def scheduler_address(value: object) -> str | None:
    """The scheduler address of ``value``: a string as given, or the address of a
    ``distributed.Client`` or cluster (``LocalCluster``, a dask-jobqueue cluster).

    Passing the client one has open is natural; it reached dask as ``str(client)`` and failed
    with ``unknown address scheme "<Client: 'tcp"``.
    """
    if value is None or isinstance(value, str):
        return value
    address = getattr(value, "scheduler_address", None)  # a cluster
    if address is None:  # a Client: its connection to the scheduler
        address = getattr(getattr(value, "scheduler", None), "address", None)
    if isinstance(address, str):
        return address
    raise TypeError(
        f"address must be a scheduler address such as 'tcp://host:8786', a distributed Client "
        f"or a cluster object (LocalCluster), got {type(value).__name__}: {value!r}"
    )


@attrs.frozen
class DaskSettings:
    """Options of ``evaluator={"name": "dask", ...}``."""

    # A Client or a cluster stands for its scheduler's address (see scheduler_address);
    # typed Any so that the settings converter does not turn it into str(client) first.
    address: Any = attrs.field(default=None, converter=scheduler_address)
    n_workers: int | None = attrs.field(default=None, validator=at_least(1))
    threads_per_worker: int = attrs.field(default=1, validator=at_least(1))
    timeout: float | None = attrs.field(default=None, validator=positive)
    kill_on_timeout: bool = True
