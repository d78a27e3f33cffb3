"""The fake must be trustworthy, or every test above proves nothing."""

from __future__ import annotations

from collections.abc import Callable

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
    assert p.live_proxies() == 3 and p.open_sources == 1  # batch, open, error: as the adapter
    close()
    close()
    assert src.closed and p.live_proxies() == 0 and not src.emit("message", "x")
    assert p.max_open_sources == 1


def test_fake_counts_a_timer_like_the_adapter_until_it_fired_or_was_cancelled() -> None:
    p = FakePlatform()
    calls: list[int] = []
    own: list[Callable[[], None]] = []

    def fire() -> None:
        calls.append(p.live_proxies())  # still live while it runs: released afterwards
        own[0]()  # the one rule: a cancel from inside the callback is a no-op

    own.append(p.schedule(1, fire))
    cancelled = p.schedule(1, lambda: calls.append(-1))
    assert p.live_proxies() == 2
    cancelled()
    cancelled()
    assert p.live_proxies() == 1
    p.clock.advance(2)
    assert calls == [1] and p.live_proxies() == 0
    own[0]()  # after it fired: still a no-op
    assert p.live_proxies() == 0


def test_fake_counts_a_raising_timer_released() -> None:
    p = FakePlatform()

    def boom() -> None:
        raise RuntimeError("boom")

    p.schedule(0, boom)
    with pytest.raises(RuntimeError):
        p.clock.advance(1)
    assert p.live_proxies() == 0


async def test_fake_counts_the_lock_callback_while_with_lock_runs() -> None:
    p = FakePlatform()
    inside: list[int] = []

    async def work() -> int:
        inside.append(p.live_proxies())
        return 7

    assert await p.with_lock("l", work) == 7
    assert inside == [1] and p.live_proxies() == 0


def test_fake_channel_counts_one_until_closed() -> None:
    p = FakePlatform()
    post, close = p.open_channel("c", lambda _m: None)
    assert p.live_proxies() == 1
    close()
    close()
    post({"ignored": True})
    assert p.live_proxies() == 0 and p.bus.members == []
