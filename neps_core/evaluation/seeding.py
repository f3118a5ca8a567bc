"""Seeding the global generators for one trial's evaluation (``run(seed=...)``).

``random`` at once, NumPy and PyTorch where they are loaded, and, if the function imports one
of them itself during the call, as soon as that import ends (never imported just to seed
them: a child interpreter that does not use torch would pay seconds for it).
"""

from __future__ import annotations

import contextlib
import importlib.util
import random
import sys
from collections.abc import Callable, Iterator
from typing import Any

#: Libraries seeded beside Python's ``random``, never imported for it (a child would pay).
_SEEDERS: dict[str, Callable[[Any, int], Any]] = {
    "numpy": lambda numpy, seed: numpy.random.seed(seed % 2**32),
    "torch": lambda torch, seed: torch.manual_seed(seed),
}


def seed_global_generators(seed: int) -> None:
    """Seed Python's global generator, and NumPy's and PyTorch's if they are loaded."""
    random.seed(seed)
    for name in _SEEDERS.keys() & sys.modules.keys():
        _SEEDERS[name](sys.modules[name], seed)


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Inside, the global generators start from ``seed`` (``None``: left as they are): those
    loaded now at once, NumPy and PyTorch first imported inside as their import ends."""
    if seed is None:
        yield
        return
    seed_global_generators(seed)
    finder = _SeedOnImport(seed, [name for name in _SEEDERS if name not in sys.modules])
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


class _SeedOnImport:
    """A meta path finder that finds nothing itself: a library it waits for is found by the
    others, and its loader seeds the library's generator right after running it.

    A library stays waited for until its module runs: ``importlib.util.find_spec("torch")``
    before ``import torch`` (transformers' ``is_torch_available``) finds it without loading.
    """

    def __init__(self, seed: int, waiting: list[str]) -> None:
        self.seed, self.waiting = seed, set(waiting)
        self.finding = False  # in the find_spec below, which asks the finders again

    def find_spec(self, name: str, *_: Any) -> Any:
        """The spec the other finders give for ``name``, its loader made to seed it."""
        if name not in self.waiting or self.finding:
            return None
        self.finding = True
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self.finding = False
        run_module = getattr(spec and spec.loader, "exec_module", None)
        if spec is None or run_module is None:
            return spec

        def exec_module(module: Any) -> None:
            delattr(spec.loader, "exec_module")  # the loader's own method again
            self.waiting.discard(name)
            run_module(module)
            _SEEDERS[name](module, self.seed)

        with contextlib.suppress(AttributeError):  # a loader that takes no attributes
            setattr(spec.loader, "exec_module", exec_module)  # noqa: B010 (shadows the method)
        return spec
