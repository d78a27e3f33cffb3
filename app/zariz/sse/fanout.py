"""Fan-out: the subscriber and status-listener registry of the SSE client.

Handlers run in subscription order; one that raises is logged with its traceback and
counted, and neither the other handlers nor the connection notice. Handlers may
(un)subscribe during dispatch: dispatch walks a snapshot, removed handlers are skipped
at once, new ones start with the next event.

>>> import logging
>>> fan = Fanout(logging.getLogger("demo"), spawn=lambda coro: coro.close)
>>> off = fan.subscribe(print, events=["ping"])
>>> fan.subscribers, off(), off(), fan.subscribers
(1, None, None, 0)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterable
from types import CoroutineType
from typing import Any

from zariz.listeners import Listeners
from zariz.sse.normalize import SSEEvent
from zariz.types import Handler, Status, StatusListener, Undo


def event_names(value: object, what: str) -> tuple[str, ...]:
    """Validate an iterable of event names (a single ``str`` counts as one name)."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Iterable):
        raise TypeError(f"{what} must be an iterable of event names")
    names = tuple(value)
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{what} must hold non-empty strings, got {name!r}")
    return names


class _Subscription:
    __slots__ = ("handler", "events", "active")

    def __init__(self, handler: Handler, events: frozenset[str] | None) -> None:
        self.handler = handler
        self.events = events
        self.active = True


class Fanout:
    """Subscribers plus status listeners; ``spawn`` runs ``async`` handlers' coroutines."""

    def __init__(
        self,
        logger: logging.Logger,
        spawn: Callable[[Coroutine[Any, Any, Any]], Any],
    ) -> None:
        self._log = logger
        self._spawn = spawn
        self._subs: list[_Subscription] = []
        self._snapshot: tuple[_Subscription, ...] | None = None
        self._status = Listeners[Status](logger, "[SSE] status listener")
        self.handler_errors = 0

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    @property
    def status_listeners(self) -> int:
        return len(self._status)

    @property
    def status_errors(self) -> int:
        return self._status.errors

    def subscribe(self, handler: Handler, events: Iterable[str] | None = None) -> Undo:
        if not callable(handler):
            raise TypeError("subscribe() needs a callable handler")
        wanted = None if events is None else frozenset(event_names(events, "events"))
        sub = _Subscription(handler, wanted)
        self._subs.append(sub)
        self._snapshot = None

        def unsubscribe() -> None:
            if sub.active:
                sub.active = False
                self._subs.remove(sub)
                self._snapshot = None

        return unsubscribe

    def on_status(self, fn: StatusListener) -> Undo:
        return self._status.add(fn)

    def dispatch(self, ev: SSEEvent) -> None:
        # The snapshot is rebuilt only after a (un)subscribe, not per event: the same walk
        # over the subscribers as of the event's start, without a tuple per event.
        subs = self._snapshot
        if subs is None:
            subs = self._snapshot = tuple(self._subs)
        name = ev.event
        for sub in subs:
            if not sub.active or (sub.events is not None and name not in sub.events):
                continue
            try:
                result = sub.handler(ev)
                # an ``async def`` handler: run it, and still isolate its failures
                # (``inspect.iscoroutine`` is this test, at the cost of a Python call)
                if result is not None and type(result) is CoroutineType:
                    self._spawn(self._run_async(result, sub.handler, ev))
            except Exception:
                self.handler_errors += 1
                self._log.exception("[SSE] handler %r failed on %s", sub.handler, ev.event)

    async def _run_async(self, coro: Coroutine[Any, Any, Any], handler: Handler,
                         ev: SSEEvent) -> None:
        try:
            await coro
        except Exception:
            self.handler_errors += 1
            self._log.exception("[SSE] handler %r failed on %s", handler, ev.event)

    def notify_status(self, status: Status) -> None:
        self._status.emit(status)

    def clear(self) -> None:
        for sub in self._subs:
            sub.active = False
        self._subs.clear()
        self._snapshot = None
        self._status.clear()


__all__ = ["Fanout", "event_names"]
