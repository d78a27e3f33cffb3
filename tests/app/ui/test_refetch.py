"""The orders page's refetch rule (``Refetcher``) on a virtual clock."""

from __future__ import annotations

import pytest
from zariz.platform.fake import VirtualClock
from zariz.ui.refetch import Refetcher


def make(min_interval: float = 1.0) -> tuple[VirtualClock, Refetcher, list[float]]:
    clock = VirtualClock()
    loads: list[float] = []
    r = Refetcher(lambda: clock.now, clock.schedule, lambda: loads.append(clock.now),
                  min_interval=min_interval)
    return clock, r, loads


def test_first_load_runs_at_once_and_requests_are_throttled_to_one_timer() -> None:
    clock, r, loads = make()
    r.start()
    r.finished()
    for _ in range(50):
        r.request()  # a burst of gaps
    assert loads == [0.0] and clock.pending == 1
    clock.advance(1.0)
    assert loads == [0.0, 1.0]


def test_a_refetch_asked_for_during_a_load_runs_right_after_it() -> None:
    """Regression: a request made while a load ran was mistaken for an armed timer and
    never happened (the load had been taken before what prompted the request)."""
    clock, r, loads = make()
    r.start()
    clock.advance(5.0)
    r.request()  # during the load
    r.request()
    assert loads == [0.0] and r.loading
    r.finished()
    assert loads == [0.0, 5.0]  # 5 s after the first start: no throttle wait left
    r.finished()
    clock.advance(10.0)
    assert loads == [0.0, 5.0]  # asked once, loaded once


def test_a_request_during_a_quick_load_waits_for_the_interval() -> None:
    clock, r, loads = make()
    r.start()
    clock.advance(0.2)
    r.request()
    r.finished()
    assert loads == [0.0]
    clock.advance(0.8)
    assert loads == [0.0, 1.0]


def test_finished_with_again_reloads_and_start_bypasses_the_throttle() -> None:
    clock, r, loads = make()
    r.start()
    r.finished(again=True)  # the load itself saw a gap: throttled reload
    assert loads == [0.0]
    r.start()  # the user's Retry: now, and the pending timer is dropped
    assert loads == [0.0, 0.0]
    r.finished()
    clock.advance(5.0)
    assert loads == [0.0, 0.0]


def test_dispose_cancels_the_pending_timer_and_ignores_later_requests() -> None:
    clock, r, loads = make()
    r.start()
    r.finished()
    r.request()
    r.dispose()
    r.request()
    r.start()
    clock.advance(5.0)
    assert loads == [0.0]


def test_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError):
        make(min_interval=-1)


def test_a_needed_reload_that_fails_is_retried_with_growing_waits() -> None:
    clock, r, loads = make()
    r.start()
    for _ in range(6):
        r.finished(again=True, failed=True)  # the server is down; the data is stale
        n = len(loads)
        while len(loads) == n:
            clock.advance(0.5)
    waits = [b - a for a, b in zip(loads, loads[1:], strict=False)]
    assert waits == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    r.finished()  # it worked: back to the normal interval
    clock.advance(1.0)
    r.request()
    clock.advance(1.0)
    assert len(loads) == 8 and loads[-1] - loads[-2] <= 2.0
