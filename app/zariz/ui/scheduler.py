"""Render coalescing (pure): at most one render per key per animation frame.

Event handlers stay fast, however many subscribers an event has: they update a store and
call :meth:`FrameScheduler.invalidate`; the actual DOM work runs once in the next frame,
however many events arrived. The frame source is injected (``requestAnimationFrame`` in the
browser, a list in tests).

>>> frames = []
>>> s = FrameScheduler(lambda fn: frames.append(fn) or (lambda: None))
>>> calls = []
>>> for _ in range(500):
...     _ = s.invalidate("table", lambda: calls.append(1))
>>> frames[0](); len(frames), len(calls)
(1, 1)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable

log = logging.getLogger("zariz.ui")

RequestFrame = Callable[[Callable[[], None]], Callable[[], None]]


class FrameScheduler:
    def __init__(self, request_frame: RequestFrame) -> None:
        self._request_frame = request_frame
        self._pending: dict[Hashable, Callable[[], None]] = {}
        self._cancel_frame: Callable[[], None] | None = None
        self._closed = False
        self.frames = 0  # frames that ran (tests and stats)
        self.renders = 0

    def invalidate(self, key: Hashable, fn: Callable[[], None]) -> Callable[[], None]:
        """Run ``fn`` in the next frame; a later call with the same key replaces it.
        Returns an undo that drops it if it has not run yet."""
        if self._closed:
            return lambda: None
        self._pending[key] = fn
        if self._cancel_frame is None:
            self._cancel_frame = self._request_frame(self._run)

        def cancel() -> None:
            if self._pending.get(key) is fn:
                del self._pending[key]

        return cancel

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _run(self) -> None:
        self._cancel_frame = None
        pending, self._pending = self._pending, {}
        self.frames += 1
        for key, fn in pending.items():
            try:
                fn()
                self.renders += 1
            except Exception:  # one broken view must not stop the others from rendering
                log.exception("[UI] render %r failed", key)

    def flush(self) -> None:
        """Run what is pending now (used before measuring, and by tests)."""
        if self._cancel_frame is not None:
            cancel, self._cancel_frame = self._cancel_frame, None
            cancel()
        if self._pending:
            self._run()

    def close(self) -> None:
        """Drop pending work and the requested frame; later invalidations are ignored."""
        self._closed = True
        self._pending.clear()
        if self._cancel_frame is not None:
            cancel, self._cancel_frame = self._cancel_frame, None
            cancel()


__all__ = ["FrameScheduler", "RequestFrame"]
