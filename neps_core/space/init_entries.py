"""Parameters a ``PipelineSpace`` subclass's ``__init__`` assigns on ``self`` (NePS's HNASSpace).

``super().__init__()`` builds the space at once, as it always did, so the ``__init__`` may use
the space afterwards (``len(self)``, ``self.parameters``); parameters assigned on ``self`` after
it, or in an ``__init__`` that never calls it, are added by building the space (again) when the
outermost ``__init__`` returns. Only parameters become entries this way: any other value set on
``self`` (a number, a dict, a logger) stays an ordinary attribute.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Iterator
from typing import Any

from neps_core.errors import InvalidParameterError
from neps_core.space.class_attributes import member_clash
from neps_core.space.parameters import Parameter

#: Where a space keeps an ``InitState`` while the ``__init__`` of its class runs.
INIT = "_PipelineSpace__init"
#: Marks the wrappers ``wrap_init`` made, so that no ``__init__`` is wrapped twice.
_WRAPPER = "_neps_core_builds_space"


@dataclasses.dataclass
class InitState:
    """What the base's ``__init__`` was given (kept for a rebuild) and whether parameters
    were assigned on ``self`` since it built the space."""

    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    built: bool = False
    changed: bool = False


def wrap_init(cls: type, base: type) -> None:
    """Make the ``__init__`` that ``cls`` resolves (its own, a parent's or a mixin's) build
    the space when it returns; ``base``'s own and one already wrapped are left as they are."""
    init = cls.__init__  # type: ignore[misc]
    if init is base.__init__ or getattr(init, _WRAPPER, False):  # type: ignore[misc]
        return
    build = base.__init__  # type: ignore[misc]

    @functools.wraps(init)
    def init_then_build(self: Any, *args: Any, **kwargs: Any) -> None:
        if INIT in vars(self):  # called by an outer __init__, which builds when it returns
            init(self, *args, **kwargs)
            return
        state = vars(self)[INIT] = InitState()
        try:
            init(self, *args, **kwargs)
        finally:
            del vars(self)[INIT]
        if state.changed or not state.built:
            build(self, **state.options)
        else:
            take_off_members(self, base)

    setattr(init_then_build, _WRAPPER, True)
    cls.__init__ = init_then_build  # type: ignore[misc]


@contextlib.contextmanager
def building(space: Any, base: type, options: dict[str, Any]) -> Iterator[None]:
    """Around ``base.__init__`` building ``space`` from ``options``. During a subclass's
    ``__init__`` the options are kept for the build when it returns, and a space not valid yet
    (a condition on a parameter assigned later) is left to that build; otherwise the entries
    named like members of ``base`` are taken off the instance (they would hide them)."""
    state: InitState | None = vars(space).get(INIT)
    if state is None:
        yield
        take_off_members(space, base)
        return
    state.options, state.built, state.changed = options, False, False
    with contextlib.suppress(InvalidParameterError):
        yield
        state.built = True


def set_in_init(space: Any, name: str, value: Any, base: type) -> bool:
    """Note a parameter assigned on ``space`` during its ``__init__`` (after the space was
    built: it is built again); one named like a member of ``base`` (``fidelity``, a property
    without setter) goes into the instance's dict. False when it is an ordinary assignment."""
    state: InitState | None = vars(space).get(INIT)
    if state is None or not isinstance(value, Parameter):
        return False
    state.changed |= state.built
    if member_clash(name, value, base):  # a parameter: it may take any member's name
        vars(space)[name] = value
        return True
    return False


def take_off_members(space: Any, base: type) -> None:
    """Remove the parameters named like members of ``base`` from the instance's dict."""
    for name, value in list(vars(space).items()):
        if isinstance(value, Parameter) and member_clash(name, value, base):
            del vars(space)[name]
