"""The event hub: fan-out of committed events to SSE streams, with replay from the log.

``EventHub`` is the contract; ``create_hub(url)`` picks the backend by URL:

- ``memory://`` (the default): :class:`MemoryHub`, in-process fan-out, replay from the
  database's event log. One process.
- ``redis://host:port/db?stream=zariz:events&maxlen=10000``:
  :class:`server.hub_redis.RedisHub`, Redis Streams shared by several processes (XADD id =
  event id, XREAD fan-out, XRANGE replay, MAXLEN trim, the database behind it). Imported
  only when chosen, so the default needs no Redis client.

Both keep their streams in :class:`LocalFanout`: bounded per-stream queues, the slow
consumer dropped, logout and shutdown closing streams.

Seam rule (no gap, no duplicate): a subscriber registers for live events *first*, then
replays the log, then drops live events whose id is <= the last replayed id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from server.db import Database, Event
from server.metrics import Metrics
from server.storage import run_db

log = logging.getLogger("zariz.events")


class StreamClosed(Exception):
    """The subscription was closed by the server; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Reset:
    """Tell the client to refetch: its id is unusable (``too_old`` or ``unknown_id``)."""

    reason: str
    last_id: int


@dataclass(frozen=True)
class Notice:
    """A message for one stream that is not part of the event log (dev mode's
    ``dev.reload``): sent as ``event: <event>`` with ``data`` and no id."""

    event: str
    data: str


@dataclass(frozen=True)
class ReplayResult:
    events: list[Event]
    reset: Reset | None = None


class Subscription:
    """A bounded per-stream buffer. ``offer`` never blocks: when full it returns False
    and the hub drops the subscriber (it resumes by id). ``notify`` adds a
    :class:`Notice`, which the bound does not count: a notice has no id to resume from,
    so it must never be the reason a stream is dropped.

    ``direct``, when the stream sets it (``server.sse``), writes an event without the
    stream's task: ``offer`` calls it only while nothing is queued and the reader is
    parked in :meth:`get`, so a direct write never overtakes a queued item; it returns
    False when it cannot write now (the event is then queued as usual)."""

    def __init__(self, maxsize: int, session_id: str | None) -> None:
        self.maxsize = maxsize
        self.session_id = session_id
        self.closed_reason: str | None = None
        self._items: deque[Event | Notice] = deque()
        self._notices = 0  # how many of _items are notices (outside the bound)
        # The reader's wake-up: one bare future while it waits, None otherwise (an
        # asyncio.Event costs a deque and a future per wait on top; this is per stream).
        self._waiter: asyncio.Future[None] | None = None
        # Per-registration entries (not the callbacks themselves), so one function
        # registered twice has two independent undos — the rule of the browser app's
        # zariz.listeners.Listeners, which the server (another runtime) cannot import.
        self._on_close: dict[object, Callable[[str], None]] = {}
        self.direct: Callable[[Event], bool] | None = None

    @property
    def queued(self) -> int:
        """Events and notices waiting to be read."""
        return len(self._items)

    def offer(self, event: Event) -> bool:
        if self.closed_reason is not None:
            return True
        direct = self.direct
        if direct is not None and not self._items:
            waiter = self._waiter
            # Parked with nothing queued: the reader has written everything before this
            # event, so writing it now keeps the order (once a waiter is resolved, or
            # anything is queued, events queue behind it until the reader drains them).
            if waiter is not None and not waiter.done():
                try:
                    if direct(event):
                        return True
                except Exception:
                    # Called from the hub's fan-out loop: this stream ends, the others
                    # still get the event.
                    log.exception("direct SSE write failed: closing the stream")
                    self.close("direct_write_failed")
                    return True
        if len(self._items) - self._notices >= self.maxsize:
            return False
        self._items.append(event)
        self._wake()
        return True

    def notify(self, notice: Notice) -> None:
        """Queue ``notice`` after the events queued so far; ignored once closed."""
        if self.closed_reason is not None:
            return
        self._items.append(notice)
        self._notices += 1
        self._wake()

    def notify_if_idle(self, notice: Notice) -> bool:
        """:meth:`notify`, but only when nothing is queued (a keep-alive ping: a stream
        with frames queued is about to write, or is stuck and a ping would not help)."""
        if self._items or self.closed_reason is not None:
            return False
        self.notify(notice)
        return True

    def on_close(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback(reason)`` once when the subscription closes; returns its undo."""
        token = object()  # identity, not equality: equal bound methods are two entries
        self._on_close[token] = callback

        def undo() -> None:
            self._on_close.pop(token, None)

        return undo

    def close(self, reason: str) -> None:
        if self.closed_reason is not None:
            return
        self.closed_reason = reason
        self.direct = None  # nothing is written for a closed stream (and no cycle is kept)
        self._items.clear()
        self._notices = 0
        self._wake()
        for callback in tuple(self._on_close.values()):
            try:
                callback(reason)
            except Exception:
                # close() runs inside hub.publish: one failing callback must not stop
                # the fan-out to every other stream.
                log.exception("on_close callback failed (%s)", reason)

    async def get(self, timeout: float | None) -> Event | Notice | None:
        """The next live event or notice, ``None`` after ``timeout`` s, or
        :class:`StreamClosed`."""
        while True:
            if self.closed_reason is not None:
                raise StreamClosed(self.closed_reason)
            if self._items:
                item = self._items.popleft()
                if isinstance(item, Notice):
                    self._notices -= 1
                return item
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                if timeout is None:
                    # The common case (the stream's end is a separate timer): no
                    # per-event Task or timer, which at 10k streams fed the cyclic GC's
                    # pauses.
                    await waiter
                    continue
                try:
                    await asyncio.wait_for(waiter, timeout)
                except TimeoutError:
                    return None
            finally:
                self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


@dataclass
class Feed:
    """What a stream reads: an optional reset, the replay, then deduplicated live events
    and notices, in the order they came."""

    subscription: Subscription
    pending: deque[Event | Reset | Notice] = field(default_factory=deque)
    last_id: int = 0
    # Where the stream starts in the log: the first frame tells the client, so even a
    # stream that has carried no event yet gives it an id to resume from.
    start_id: int = 0
    metrics: Metrics | None = None

    async def next(self, timeout: float | None) -> Event | Reset | Notice | None:
        if self.subscription.closed_reason is not None:
            raise StreamClosed(self.subscription.closed_reason)
        if self.pending:
            item = self.pending.popleft()
            if isinstance(item, Event) and self.metrics is not None:
                self.metrics.events_replayed.inc()
            return item
        while True:
            live = await self.subscription.get(timeout)
            if live is None or isinstance(live, Notice) or live.id > self.last_id:
                return live
            # Already delivered by the replay: the seam duplicate is dropped here.


class HubUnavailable(Exception):
    """The hub cannot deliver live events now (its broker is unreachable): a new stream
    is refused with 503 and the client retries with backoff; open streams were closed
    with ``hub_unavailable``."""


class EventHub(Protocol):
    """Backend contract. ``publish`` is called after commit, in commit order (RedisHub
    takes the order from the event log instead, see its docstring).
    ``start``/``aclose`` run in the app's lifespan (background readers, publishers);
    ``available`` is False while live events cannot be delivered."""

    @property
    def available(self) -> bool: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    def publish(self, event: Event) -> None: ...

    # ``replay(after_id)`` is each backend's own (synchronous over the local log in
    # MemoryHub, awaiting Redis and the database in RedisHub): ``subscribe`` runs it.

    def subscribe(
        self, after_id: int | None, *, session_id: str | None = None
    ) -> contextlib.AbstractAsyncContextManager[Feed]: ...

    def disconnect_session(self, session_id: str) -> int: ...

    def close_all(self, reason: str) -> int: ...


class LocalFanout:
    """The streams of this process, for every backend: a bounded :class:`Subscription`
    per stream, fan-out of one event to all of them (a full queue drops its stream, which
    resumes by id), logout and shutdown closing streams. A backend adds where events come
    from (``publish``, a broker's reader) and the replay."""

    def __init__(self, *, queue_size: int, metrics: Metrics) -> None:
        self.queue_size = queue_size
        self.metrics = metrics
        self._subscriptions: set[Subscription] = set()
        # Set by close_all("shutdown"): a stream that subscribes after it (it was between
        # its auth and its subscription at SIGTERM) is closed at once, not left to the
        # graceful-shutdown timeout.
        self._shut_down = False

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def _fan_out(self, event: Event) -> None:
        for subscription in list(self._subscriptions):
            if not subscription.offer(event):
                log.warning("dropping slow SSE consumer (queue of %d full)", self.queue_size)
                self._subscriptions.discard(subscription)
                self.metrics.slow_consumers_dropped.inc()
                subscription.close("slow_consumer")

    def _register(self, session_id: str | None) -> Subscription:
        subscription = Subscription(self.queue_size, session_id)
        self._subscriptions.add(subscription)
        if self._shut_down:
            subscription.close("shutdown")
        return subscription

    def _release(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        subscription.close("unsubscribed")

    @staticmethod
    def _replayed(feed: Feed, after_id: int, result: ReplayResult) -> Feed:
        """``feed`` positioned after the replay of ``after_id`` (the seam's last id)."""
        feed.pending.extend(result.events)
        if result.reset is not None:
            feed.pending.appendleft(result.reset)
            feed.last_id = result.reset.last_id
        elif result.events:
            feed.last_id = result.events[-1].id
        else:
            feed.last_id = after_id
        feed.start_id = result.reset.last_id if result.reset is not None else after_id
        return feed

    def disconnect_session(self, session_id: str) -> int:
        matching = [s for s in self._subscriptions if s.session_id == session_id]
        for subscription in matching:
            subscription.close("session_revoked")
        return len(matching)

    def close_all(self, reason: str) -> int:
        if reason == "shutdown":
            self._shut_down = True
        subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            subscription.close(reason)
        return len(subscriptions)


class MemoryHub(LocalFanout):
    """In-process fan-out; the database's event log is the replay source."""

    def __init__(self, db: Database, *, queue_size: int, metrics: Metrics) -> None:
        super().__init__(queue_size=queue_size, metrics=metrics)
        self.db = db

    @property
    def available(self) -> bool:
        return True  # in-process: as available as the process itself

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    def publish(self, event: Event) -> None:
        self.metrics.events_published.inc()
        self._fan_out(event)

    def replay(self, after_id: int) -> ReplayResult:
        return replay_from_log(after_id, *self.db.event_bounds(), self.db.events_after)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, after_id: int | None, *, session_id: str | None = None
    ) -> AsyncIterator[Feed]:
        # Register before replaying: anything committed meanwhile is buffered, not lost.
        subscription = self._register(session_id)
        try:
            feed = Feed(subscription, metrics=self.metrics)
            if after_id is None:
                # "From now": now is the newest id, read after registering, so an event
                # committed meanwhile is either at or below it (not replayed: the client
                # starts from here) or buffered above it (delivered).
                feed.last_id = feed.start_id = (await run_db(self.db, self.db.event_bounds))[1]
            else:
                # Off the loop when the database waits on the network (PostgreSQL): a
                # replay of thousands of rows must not stall every other stream.
                self._replayed(feed, after_id, await run_db(self.db, self.replay, after_id))
            yield feed
        finally:
            self._release(subscription)


def replay_from_log(
    after_id: int, oldest: int | None, newest: int,
    events_after: Callable[[int], list[Event]],
) -> ReplayResult:
    """The events after ``after_id`` from the database's log (``event_bounds()`` gave
    ``oldest`` and ``newest``), or the reset: ``unknown_id`` beyond the newest id,
    ``too_old`` when the log no longer holds ``after_id + 1``."""
    if after_id > newest:
        # The client knows ids we never issued (e.g. the database was reset).
        return ReplayResult([], Reset("unknown_id", newest))
    if after_id < newest and (oldest is None or after_id + 1 < oldest):
        return ReplayResult([], Reset("too_old", newest))
    events: list[Event] = []
    cursor = after_id
    while batch := events_after(cursor):
        if batch[0].id != cursor + 1:
            # Trimmed between the bounds and this read (another writer committed past
            # the retention meanwhile): a silent gap would break "snapshot at N, then
            # every event after N"; the client refetches instead.
            return ReplayResult([], Reset("too_old", max(newest, batch[-1].id)))
        events.extend(batch)
        cursor = batch[-1].id
    return ReplayResult(events)


def create_hub(url: str, db: Database, *, queue_size: int, metrics: Metrics) -> EventHub:
    """Pick the hub backend by URL scheme: ``memory://`` or ``redis://``/``rediss://``
    (``?stream=<key>&maxlen=<n>``, see :mod:`server.hub_redis`). A bad URL is a
    ``ValueError`` naming what is wrong."""
    scheme = url.split("://", 1)[0]
    if scheme == "memory":
        return MemoryHub(db, queue_size=queue_size, metrics=metrics)
    if scheme in {"redis", "rediss"}:
        try:
            from server.hub_redis import RedisHub
        except ImportError as exc:  # the optional client is not installed
            raise ValueError(
                f"ZARIZ_HUB={scheme}:// needs the redis package (redis-py): {exc}"
            ) from exc
        return RedisHub.from_url(url, db, queue_size=queue_size, metrics=metrics)
    raise ValueError(
        f"unknown ZARIZ_HUB scheme {scheme!r}; supported: memory://, redis://, rediss://"
    )


def reset_payload(reset: Reset) -> dict[str, Any]:
    return {"reason": reset.reason, "last_id": reset.last_id}
