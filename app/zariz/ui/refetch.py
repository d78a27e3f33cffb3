"""When a page reloads its snapshot: the refetch rule as a small pure object.

A reset or a gap in the event ids makes a page's snapshot stale. Events arrive in bursts,
so the reload is throttled: at most one load at a time, and loads start at least
``min_interval`` seconds apart. A request made while a load runs is not lost: it runs as
soon as that load ends (the load may have been taken before what prompted the request).
One timer covers every request made during a throttle wait.

The owner starts loads through ``load()`` and reports their end with :meth:`finished`. A
load that failed and is still needed (``again``) is retried with exponential backoff (the
interval doubles up to ``max_interval``; a success resets it), so a server that is down is
not asked once a second.

>>> from zariz.platform.fake import VirtualClock
>>> clock = VirtualClock(); loads = []
>>> r = Refetcher(lambda: clock.now, clock.schedule, lambda: loads.append(clock.now))
>>> r.start(); r.finished(); r.request()        # too soon after the first load: waits
>>> clock.advance(1.0); loads
[0.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable

from zariz.types import Undo


class Refetcher:
    def __init__(
        self,
        now: Callable[[], float],
        schedule: Callable[[float, Callable[[], None]], Undo],
        load: Callable[[], object],
        *,
        min_interval: float = 1.0,
        max_interval: float = 30.0,
    ) -> None:
        if min_interval < 0 or max_interval < min_interval:
            raise ValueError("need 0 <= min_interval <= max_interval")
        self._now = now
        self._schedule = schedule
        self._load = load
        self.min_interval = float(min_interval)
        self.max_interval = float(max_interval)
        self._interval = self.min_interval
        self.loading = False
        self.loads = 0
        self._again = False
        self._last_start = float("-inf")
        self._cancel_timer: Undo | None = None
        self._disposed = False

    def start(self) -> None:
        """Load now (the first load, or a user's explicit retry): not throttled, but
        never two at once."""
        if self._disposed:
            return
        if self.loading:
            self._again = True
            return
        self._cancel_wait()
        self._begin()

    def request(self) -> None:
        """Ask for a reload; it happens as soon as the rule allows."""
        if self._disposed:
            return
        if self.loading:
            self._again = True
            return
        wait = self._interval - (self._now() - self._last_start)
        if wait > 0:
            if self._cancel_timer is None:
                self._cancel_timer = self._schedule(wait, self._due)
            return
        self._begin()

    def finished(self, again: bool = False, *, failed: bool = False) -> None:
        """The load ended. ``again``: the data is still stale (a gap seen meanwhile, or a
        needed reload that ``failed``); ``failed`` also doubles the wait before the next."""
        self.loading = False
        self._interval = (
            min(self.max_interval, self._interval * 2) if failed else self.min_interval
        )
        if self._again or again:
            self._again = False
            self.request()

    def dispose(self) -> None:
        self._disposed = True
        self._cancel_wait()

    def _due(self) -> None:
        self._cancel_timer = None
        self.request()

    def _cancel_wait(self) -> None:
        cancel, self._cancel_timer = self._cancel_timer, None
        if cancel is not None:
            cancel()

    def _begin(self) -> None:
        self.loading = True
        self.loads += 1
        self._last_start = self._now()
        self._load()


__all__ = ["Refetcher"]
