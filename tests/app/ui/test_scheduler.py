"""Render coalescing: one render per key per frame, errors isolated."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from zariz.ui.scheduler import FrameScheduler


class Frames:
    def __init__(self) -> None:
        self.queue: list[Callable[[], None]] = []
        self.cancelled = 0

    def request(self, fn: Callable[[], None]) -> Callable[[], None]:
        self.queue.append(fn)

        def cancel() -> None:
            if fn in self.queue:
                self.queue.remove(fn)
                self.cancelled += 1

        return cancel

    def run(self) -> None:
        queue, self.queue = self.queue, []
        for fn in queue:
            fn()


def test_many_invalidations_make_one_frame_and_one_render_per_key() -> None:
    frames = Frames()
    s = FrameScheduler(frames.request)
    calls: list[str] = []
    for i in range(500):
        s.invalidate("table", lambda i=i: calls.append(f"table{i}"))
        s.invalidate("counts", lambda: calls.append("counts"))
    assert len(frames.queue) == 1
    frames.run()
    assert calls == ["table499", "counts"]  # the latest closure wins
    assert s.frames == 1 and s.renders == 2
    s.invalidate("table", lambda: calls.append("again"))
    frames.run()
    assert calls[-1] == "again"


def test_a_failing_render_does_not_stop_the_others(caplog: Any) -> None:
    frames = Frames()
    s = FrameScheduler(frames.request)
    ok: list[int] = []
    s.invalidate("a", lambda: 1 / 0)
    s.invalidate("b", lambda: ok.append(1))
    with caplog.at_level(logging.ERROR, logger="zariz.ui"):
        frames.run()
    assert ok == [1] and "render 'a' failed" in caplog.text


def test_cancel_flush_and_close() -> None:
    frames = Frames()
    s = FrameScheduler(frames.request)
    ran: list[str] = []
    cancel = s.invalidate("a", lambda: ran.append("a"))
    cancel()
    assert s.pending == 0
    s.invalidate("b", lambda: ran.append("b"))
    s.flush()
    assert ran == ["b"] and frames.queue == [] and frames.cancelled == 1
    s.invalidate("c", lambda: ran.append("c"))
    s.close()
    assert frames.queue == [] and s.pending == 0
    s.invalidate("d", lambda: ran.append("d"))  # ignored after close
    assert frames.queue == [] and ran == ["b"]
