"""``Listeners``: the one registry of callbacks (status listeners, token listeners, ...).

* ``add(fn)`` returns its own idempotent undo. Registering the same function twice gives
  two registrations and two undos, and undoing one leaves the other (removing by identity
  would remove both — a bug this class exists to prevent).
* ``emit(value)`` calls each listener over a snapshot: one added during an emit starts with
  the next, one removed during an emit is skipped at once. A listener that raises is
  logged with its traceback and counted (``errors``); the others still run.

>>> import logging
>>> seen = []
>>> reg = Listeners(logging.getLogger("demo"), "demo listener")
>>> off1, off2 = reg.add(seen.append), reg.add(seen.append)
>>> off1(); off1(); reg.emit("x"); seen, len(reg)
(['x'], 1)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from zariz.types import Undo

T = TypeVar("T")


class _Entry(Generic[T]):
    __slots__ = ("fn", "active")

    def __init__(self, fn: Callable[[T], object]) -> None:
        self.fn = fn
        self.active = True


class Listeners(Generic[T]):
    def __init__(self, logger: logging.Logger, what: str = "listener") -> None:
        self._log = logger
        self._what = what
        self._entries: list[_Entry[T]] = []
        self.errors = 0

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, fn: Callable[[T], object]) -> Undo:
        if not callable(fn):
            raise TypeError(f"a {self._what} must be callable, got {type(fn).__name__}")
        entry = _Entry(fn)
        self._entries.append(entry)

        def undo() -> None:
            if entry.active:
                entry.active = False
                self._entries.remove(entry)

        return undo

    def emit(self, value: T) -> None:
        for entry in tuple(self._entries):
            if not entry.active:
                continue
            try:
                entry.fn(value)
            except Exception:
                self.errors += 1
                # Never the value: a token listener's is the session's tokens.
                self._log.exception("%s failed (%r)", self._what, entry.fn)

    def clear(self) -> None:
        for entry in self._entries:
            entry.active = False
        self._entries.clear()


__all__ = ["Listeners"]
