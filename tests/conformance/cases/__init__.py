"""The conformance registry: every layer with an input shape, run through shared checks.

Each family keeps its cases in its own file (``cases_<family>.py``) as a list ``CASES``.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class Case:
    """One registry entry.

    Attributes:
      name: the fnn constructor name this case covers (e.g. ``"Linear"``).
      make: builds the module.
      shape: a concrete input shape (leading dim = batch when ``batched``), or a table.
      dtype: the input dtype (tree for tables).
      batched: whether vmap over the leading dim must equal the batched call.
      grads: whether to run float64 finite differences.
      train_rng: whether train mode needs a key.
      x: optional callable returning a specific input (e.g. valid indices).
      id: test id suffix.
    """

    name: str
    make: Callable[[], Any]
    shape: Any
    dtype: Any = jnp.float64
    batched: bool = True
    grads: bool = True
    train_rng: bool = False
    x: Callable[[], Any] | None = None
    id: str = ""

    @property
    def test_id(self) -> str:
        return self.name + (f"-{self.id}" if self.id else "")


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("cases_"):
            cases.extend(importlib.import_module(f"{__name__}.{info.name}").CASES)
    return cases
