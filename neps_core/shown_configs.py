"""Configurations as ``evaluate_pipeline`` received them, kept where the space cannot go.

A run's space shows its stored configurations readably (a choice of a categorical of tuples is
stored as its index, an operation is shown as text). A pickled ``Summary`` (returned from a
multiprocessing, Dask or submitit job) cannot take the space along, as its operations may be
lambdas or local classes, so it takes what the space showed of each configuration instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Protocol

import attrs


class ConfigReader(Protocol):
    """What shows stored configurations: a ``PipelineSpace``, or ``ShownConfigs``."""

    @property
    def reads_as_stored(self) -> bool:
        """Whether every configuration shows as it is stored."""

    def readable(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` as shown; a ``ValueError`` for one it cannot read."""


@attrs.frozen
class ShownConfigs:
    """What a space showed of some configurations, by their canonical text."""

    shown: Mapping[str, dict[str, Any]]
    reads_as_stored: ClassVar[bool] = False

    @classmethod
    def of(cls, space: ConfigReader, configs: Iterable[Mapping[str, Any]]) -> ShownConfigs:
        """What ``space`` shows of ``configs``, where it shows them differently from stored."""
        shown = {}
        for config in () if space.reads_as_stored else configs:
            try:
                shown[_key(config)] = space.readable(config)
            except ValueError:  # shown as stored
                continue
        return cls(shown)

    def readable(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` as the space showed it."""
        try:
            return dict(self.shown[_key(config)])
        except KeyError:
            raise ValueError("a configuration the space did not show") from None


def _key(config: Mapping[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=repr)
