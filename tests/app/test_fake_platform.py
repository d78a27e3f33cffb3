"""The fake must be trustworthy, or every test above proves nothing."""

from __future__ import annotations

import pytest
from zariz.platform import RawEvent
from zariz.platform.fake import FakePlatform, VirtualClock


def test_clock_fires_due_timers_in_order_including_nested() -> None:
    clock = VirtualClock()
    fired: list[tuple[str, float]] = []
    clock.schedule(3, lambda: fired.append(("c", clock.now)))
    clock.schedule(1, lambda: (fired.append(("a", clock.now)),
                               clock.schedule(1, lambda: fired.append(("b", clock.now)))))
    undo = clock.schedule(2.5, lambda: fired.append(("x", clock.now)))
    undo()
    undo()
    clock.schedule(10, lambda: fired.append(("late", clock.now)))
    clock.advance(5)
    assert fired == [("a", 1), ("b", 2), ("c", 3)] and clock.now == 5
    assert clock.pending == 1
    with pytest.raises(ValueError):
        clock.schedule(-1, lambda: None)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[object] = []

    def on_open(self) -> None:
        self.calls.append("open")

    def on_event(self, event: RawEvent) -> None:
        self.calls.append(event)

    def on_error(self, closed: bool) -> None:
        self.calls.append(("error", closed))


def test_fake_source_mimics_native_listeners_and_closing() -> None:
    p = FakePlatform()
    rec = Recorder()
    close = p.open_event_source("/s?ticket=t", rec, ("ping",))
    src = p.source
    src.open()
    assert src.emit("message", {"a": 1}, 4)
    assert src.emit("ping", "{}")
    assert not src.emit("other", "{}")  # not registered: the browser drops it
    src.error()
    assert rec.calls == ["open", RawEvent("message", '{"a": 1}', "4"),
                         RawEvent("ping", "{}", "4"), ("error", False)]
    assert p.live_proxies() == 4 and p.open_sources == 1
    close()
    close()
    assert src.closed and p.live_proxies() == 0 and not src.emit("message", "x")
    assert p.max_open_sources == 1
