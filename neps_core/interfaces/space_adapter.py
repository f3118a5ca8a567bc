"""The interface of space adapters: turning user-facing space objects into a native space."""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from neps_core.space import PipelineSpace


class SpaceAdapter(abc.ABC):
    """Converts one kind of space object (a dict, a ConfigSpace, a YAML file...) to native."""

    name: ClassVar[str]

    @classmethod
    @abc.abstractmethod
    def can_adapt(cls, space: Any) -> bool:
        """Whether ``space`` is the kind of object this adapter converts."""

    @classmethod
    @abc.abstractmethod
    def adapt(cls, space: Any) -> PipelineSpace:
        """The native space equivalent to ``space``."""
