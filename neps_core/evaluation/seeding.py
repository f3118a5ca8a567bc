"""Seeding the global generators for one trial's evaluation (``run(seed=...)``).

``random`` at once, NumPy and PyTorch where they are loaded, and, if the function imports one
of them itself during the call, as soon as that import ends (never imported just to seed
them: a child interpreter that does not use torch would pay seconds for it).
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib.util
import random
import sys
from collections.abc import Callable, Iterator
from typing import Any

import attrs


def _seed_numpy(numpy: Any, seed: int) -> None:
    """Seed NumPy's legacy generator with four words of ``SeedSequence(seed)``, all 64 bits of
    ``seed`` mixed. Its 32-bit words themselves, the key ``random.seed(seed)`` builds, started
    both Mersenne Twisters alike (``random.random() == np.random.rand()`` in every trial)."""
    numpy.random.seed(numpy.random.SeedSequence(seed % 2**64).generate_state(4))


#: Libraries seeded beside Python's ``random``, never imported for it (a child would pay).
_SEEDERS: dict[str, Callable[[Any, int], Any]] = {
    "numpy": _seed_numpy,
    "torch": lambda torch, seed: torch.manual_seed(seed % 2**64),
}


def seed_global_generators(seed: int) -> None:
    """Seed Python's global generator, and NumPy's and PyTorch's if they are loaded.

    One another thread still imports is half made in ``sys.modules``: ``import_module`` waits
    for that import to end (and imports nothing new: the name is loaded)."""
    random.seed(seed)
    for name in _SEEDERS.keys() & sys.modules.keys():
        _SEEDERS[name](importlib.import_module(name), seed)


def _torch_states(torch: Any) -> tuple[Any, Any]:
    """PyTorch's CPU generator state, and its CUDA generators' where CUDA is initialized
    (``torch.manual_seed`` seeds those too); ``None`` for theirs otherwise."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    return torch.get_rng_state(), cuda


def _set_torch_states(torch: Any, states: tuple[Any, Any]) -> None:
    """Put back what ``_torch_states`` read."""
    cpu, cuda = states
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state_all(cuda)


#: How to read and put back the global generators of the libraries seeded beside ``random``.
_STATES: dict[str, tuple[Callable[[Any], Any], Callable[[Any, Any], Any]]] = {
    "numpy": (lambda numpy: numpy.random.get_state(), lambda numpy, s: numpy.random.set_state(s)),
    "torch": (_torch_states, _set_torch_states),
}


@contextlib.contextmanager
def generators_kept() -> Iterator[None]:
    """Inside, seeding is the block's own: Python's, NumPy's and PyTorch's (CPU, and CUDA's
    when initialized) global generators loaded now are put back as they were when it ends;
    NumPy or PyTorch first imported inside (seeded as its import ended) is seeded from fresh
    entropy, as if never seeded. For a caller whose generators are the user's (a script's
    ``load_config``), not a trial's."""
    python = random.getstate()
    loaded = {name: sys.modules[name] for name in _STATES.keys() & sys.modules.keys()}
    states = {name: _STATES[name][0](module) for name, module in loaded.items()}
    try:
        yield
    finally:
        random.setstate(python)
        for name, module in loaded.items():
            _STATES[name][1](module, states[name])
        for name in (_SEEDERS.keys() & sys.modules.keys()) - loaded.keys():
            _SEEDERS[name](importlib.import_module(name), random.SystemRandom().getrandbits(64))


@attrs.define
class _Waiting:
    """What one seeded call waits for: the libraries not yet imported, and its seed."""

    seed: int
    names: set[str]
    finding: bool = False  # in _SeedOnImport.find_spec, which asks the finders again


#: The seeded call of this thread (or task): another thread's imports are not its trial's.
_waiting: contextvars.ContextVar[_Waiting | None] = contextvars.ContextVar(
    "neps_core_seeding", default=None
)


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Inside, the global generators start from ``seed`` (``None``: left as they are): those
    loaded now at once, NumPy and PyTorch first imported inside as their import ends."""
    if seed is None:
        yield
        return
    seed_global_generators(seed)
    token = _waiting.set(_Waiting(seed, {name for name in _SEEDERS if name not in sys.modules}))
    try:
        yield
    finally:
        _waiting.reset(token)


class _SeedOnImport:
    """A meta path finder that finds nothing itself: a library the current seeded call waits
    for is found by the others, and its loader seeds the library's generator right after
    running it. Installed once for good: one added and removed per call shifted
    ``sys.meta_path`` under another thread's import, which then missed a finder (a spurious
    ``ModuleNotFoundError``).

    A library stays waited for until its module runs: ``importlib.util.find_spec("torch")``
    before ``import torch`` (transformers' ``is_torch_available``) finds it without loading.
    """

    def find_spec(self, name: str, *_: Any) -> Any:
        """The spec the other finders give for ``name``, its loader made to seed it."""
        waiting = _waiting.get()
        if waiting is None or name not in waiting.names or waiting.finding:
            return None
        waiting.finding = True
        try:
            spec = importlib.util.find_spec(name)
        finally:
            waiting.finding = False
        run_module = getattr(spec and spec.loader, "exec_module", None)
        if spec is None or run_module is None:
            return spec

        def exec_module(module: Any) -> None:
            delattr(spec.loader, "exec_module")  # the loader's own method again
            waiting.names.discard(name)
            run_module(module)
            _SEEDERS[name](module, waiting.seed)

        with contextlib.suppress(AttributeError):  # a loader that takes no attributes
            setattr(spec.loader, "exec_module", exec_module)  # noqa: B010 (shadows the method)
        return spec


sys.meta_path.insert(0, _SeedOnImport())  # an insertion makes an import see a finder twice
