"""A deterministic :class:`~zariz.platform.Platform` for CPython tests.

Timers run on a :class:`VirtualClock` (nothing waits for real time); coroutines given to
``spawn`` run as asyncio tasks on the test's loop; HTTP answers come from scripted routes;
event sources are :class:`FakeEventSource` objects the test drives by hand.

``live_proxies()`` counts what the browser adapter would hold as JS proxies at the same
moment, so tests can assert hygiene the way the adapter counts ``create_proxy``/``destroy``:
3 per open event source (the event batch, ``open``, ``error``), 1 per window/storage
listener, 1 per open channel, 1 per timer from ``schedule`` until it has fired (its callback
returned) or was cancelled, 1 while ``with_lock`` waits for or holds its lock, and 1 per
``hold_lock`` request until its undo or until its ``on_lost`` has returned (without Web
Locks: until its ``on_acquired`` has returned).

Several tabs of one browser profile are several ``FakePlatform`` objects sharing a
:class:`ChannelBus`, a :class:`FakeLockManager`, a storage dict and (usually) one
:class:`VirtualClock`. A tab can be frozen (:meth:`FakePlatform.freeze`: nothing is delivered
to it until :meth:`~FakePlatform.thaw`) or closed (:meth:`FakePlatform.close_tab`: what the
browser does on unload).

>>> import asyncio
>>> async def demo():
...     p = FakePlatform(seed=1)
...     p.http.route("POST", "/v1/events/ticket", lambda req: (200, {"ticket": "t1"}))
...     resp = await p.request("POST", "/v1/events/ticket")
...     fired = []
...     p.schedule(2.0, lambda: fired.append(p.now()))
...     p.clock.advance(5)
...     return resp.body, fired
>>> asyncio.run(demo())
({'ticket': 't1'}, [2.0])
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import inspect
import itertools
import json
import logging
import random as _random
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from zariz.platform import (
    FEATURES,
    EventSourceHandlers,
    HeadersHook,
    HttpResponse,
    NetworkError,
    RawEvent,
    T,
    Undo,
    call_headers_hook,
)

log = logging.getLogger("zariz.platform")

EPOCH_MS = 1_700_000_000_000
"""``wall_ms()`` at virtual time 0."""


# --------------------------------------------------------------------------- clock
@dataclass(order=True)
class _Timer:
    due: float
    seq: int
    fn: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class VirtualClock:
    """Time that moves only when told; ``advance`` fires due timers in due order."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = float(start)
        self._heap: list[_Timer] = []
        self._seq = itertools.count()
        self.fired = 0

    def schedule(self, delay_s: float, fn: Callable[[], None]) -> Undo:
        if delay_s < 0 or delay_s != delay_s:
            raise ValueError(f"negative or NaN delay: {delay_s!r}")
        timer = _Timer(self.now + delay_s, next(self._seq), fn)
        heapq.heappush(self._heap, timer)

        def cancel() -> None:
            timer.cancelled = True

        return cancel

    @property
    def pending(self) -> int:
        """Timers scheduled and neither fired nor cancelled."""
        return sum(1 for t in self._heap if not t.cancelled)

    def next_due(self) -> float | None:
        self._drop_cancelled()
        return self._heap[0].due if self._heap else None

    def _drop_cancelled(self) -> None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)

    def fire_next(self, until: float) -> bool:
        """Fire the earliest timer due at or before ``until``; False when there is none."""
        self._drop_cancelled()
        if not self._heap or self._heap[0].due > until:
            return False
        timer = heapq.heappop(self._heap)
        self.now = max(self.now, timer.due)
        timer.cancelled = True
        self.fired += 1
        timer.fn()
        return True

    def advance(self, seconds: float) -> None:
        """Move time forward, firing (in order) every timer that falls due, including
        timers scheduled by those timers."""
        until = self.now + seconds
        while self.fire_next(until):
            pass
        self.now = until


# --------------------------------------------------------------------------- http
@dataclass
class FakeRequest:
    method: str
    url: str
    headers: dict[str, str]
    json_body: Any

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.url).query))

    @property
    def bearer(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else None


Responder = Callable[[FakeRequest], Any]


def to_response(value: Any) -> HttpResponse:
    """Accept what a responder returns: an ``HttpResponse``, ``(status, body)`` or a body
    (status 200)."""
    if isinstance(value, HttpResponse):
        return value
    status, body = value if isinstance(value, tuple) else (200, value)
    text = "" if body is None else json.dumps(body)
    return HttpResponse(status, body, text, {"content-type": "application/json"})


def error_body(code: str, message: str = "") -> dict[str, Any]:
    """The server's JSON error shape."""
    return {"error": {"code": code, "message": message or code}}


async def _headers_first(exchange: Awaitable[HttpResponse], hook: HeadersHook) -> HttpResponse:
    """The answer's headers to ``hook``, then a turn of the loop before its body: what a
    real fetch gives a caller that starts its next request on the headers."""
    response = await exchange
    call_headers_hook(hook, response.status,
                      {k.lower(): v for k, v in response.headers.items()})
    await asyncio.sleep(0)
    return response


class FakeHttp:
    """Scripted routes; the longest matching ``path_prefix`` wins. Unrouted -> 404."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, str, Responder]] = []
        self.requests: list[FakeRequest] = []
        self.in_flight = 0

    def route(self, method: str, path_prefix: str, responder: Responder) -> Undo:
        """``responder(req)`` returns a response (see :func:`to_response`), may raise
        :class:`NetworkError`, and may be ``async`` (to hold a request open)."""
        entry = (method.upper(), path_prefix, responder)
        self._routes.append(entry)

        def remove() -> None:
            if entry in self._routes:
                self._routes.remove(entry)

        return remove

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method.upper()) and (path is None or r.path == path)
        )

    async def handle(self, req: FakeRequest) -> HttpResponse:
        self.requests.append(req)
        # Longest prefix wins; among equals the newest, so a test can override a route.
        matches = [
            ((len(prefix), i), responder)
            for i, (m, prefix, responder) in enumerate(self._routes)
            if m == req.method and req.path.startswith(prefix)
        ]
        if not matches:
            return to_response((404, error_body("not_found", f"no fake route for {req.path}")))
        responder = max(matches, key=lambda m: m[0])[1]
        self.in_flight += 1
        try:
            # A real fetch never completes synchronously; yielding once keeps tests honest.
            await asyncio.sleep(0)
            value = responder(req)
            if inspect.isawaitable(value):
                value = await value
            return to_response(value)
        finally:
            self.in_flight -= 1


# --------------------------------------------------------------------------- event source
class FakeEventSource:
    """One "native" EventSource. Drive it with :meth:`open`, :meth:`emit`, :meth:`error`.

    Like the browser, the id in force sticks across events (``lastEventId`` of a ping that
    follows ``id: 5`` is ``"5"``) and named events reach the client only when their name
    was registered.
    """

    def __init__(
        self,
        platform: FakePlatform,
        url: str,
        handlers: EventSourceHandlers,
        named_events: Sequence[str],
    ) -> None:
        self._platform = platform
        self.url = url
        self.handlers = handlers
        self.named_events = tuple(named_events)
        self.closed = False
        self.opened = False
        self.last_event_id = ""

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.url).query))

    def open(self) -> None:
        def deliver() -> None:
            if not self.closed:
                self.opened = True
                self.handlers.on_open()

        if not self.closed:
            self._platform._deliver(deliver)

    def emit(self, type: str = "message", data: Any = "", id: str | int | None = None) -> bool:
        """Deliver one event; ``data`` that is not ``str`` is JSON-encoded. Returns False
        when nothing was delivered (closed source, or a name nobody listens for). To a
        frozen tab it is queued (True) and dropped if the source is closed by then."""
        if id is not None:
            self.last_event_id = str(id)
        if self.closed or (type != "message" and type not in self.named_events):
            return False
        text = data if isinstance(data, str) else json.dumps(data)
        event = RawEvent(type, text, self.last_event_id)

        def deliver() -> None:
            if not self.closed:
                self.handlers.on_event(event)

        self._platform._deliver(deliver)
        return True

    def message(self, payload: Any, id: str | int | None = None) -> bool:
        """Shorthand for ``emit("message", payload, id)``."""
        return self.emit("message", payload, id)

    def error(self, closed: bool = False) -> None:
        def deliver() -> None:
            if not self.closed:
                self.handlers.on_error(closed)

        if not self.closed:
            self._platform._deliver(deliver)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._platform._source_closed(self)


# --------------------------------------------------------------------------- channel bus
class ChannelBus:
    """Connects the ``open_channel`` of several fake platforms (tabs) of one origin."""

    def __init__(self) -> None:
        self.members: list[tuple[FakePlatform, str, Callable[[Any], None]]] = []

    def post(self, sender: FakePlatform, name: str, message: Any) -> None:
        # Structured clone: receivers never share the sender's objects.
        cloned = json.loads(json.dumps(message))
        for platform, member_name, fn in list(self.members):
            if platform is not sender and member_name == name:
                fn(cloned)


# --------------------------------------------------------------------------- web locks
@dataclass(eq=False)
class FakeLockRequest:
    """One ``hold_lock`` request as the :class:`FakeLockManager` sees it. ``granted`` and
    ``stolen`` are the tab's hooks (they queue the callbacks as tasks of that tab)."""

    tab: FakePlatform
    name: str
    granted: Callable[[], None] = field(repr=False)
    stolen: Callable[[], None] = field(repr=False)
    state: str = "queued"  # queued -> held -> released | stolen; queued -> withdrawn


class FakeLockManager:
    """Web Locks (exclusive mode) of one browser profile, shared by its tabs the way
    :class:`ChannelBus` shares channels: pass one to every ``FakePlatform(lock_manager=)``.

    Per name at most one holder and a FIFO queue. A release grants the head of the queue; a
    ``steal`` deposes the holder and is granted at once, the queue staying as it was. The
    manager moves synchronously; each tab hears of it through tasks on its own clock, so a
    deposed holder (above all a frozen one) learns it after the stealer was granted - as in
    a browser, where the stealer's callback runs before the old holder's promise rejects.

    ``FakePlatform.with_lock`` keeps its own asyncio locks (``FakePlatform.locks``): in a
    browser both share one namespace; the app uses distinct names for the two.
    """

    def __init__(self) -> None:
        self._held: dict[str, FakeLockRequest] = {}
        self._queues: dict[str, deque[FakeLockRequest]] = {}
        # (what, lock name, tab label): request | steal | grant | release | withdraw | lost
        self.log: list[tuple[str, str, str]] = []

    def holder(self, name: str) -> FakePlatform | None:
        """The tab holding ``name`` (``None``: free)."""
        held = self._held.get(name)
        return held.tab if held is not None else None

    def waiting(self, name: str) -> list[FakePlatform]:
        """The tabs queued for ``name``, in grant order."""
        return [r.tab for r in self._queues.get(name, ())]

    def count(self, what: str, name: str | None = None) -> int:
        """How many ``what`` entries the log has (for ``name``, or every name)."""
        return sum(1 for w, n, _t in self.log if w == what and (name is None or n == name))

    def request(self, req: FakeLockRequest, *, steal: bool = False) -> None:
        self.log.append(("steal" if steal else "request", req.name, req.tab.label))
        queue = self._queues.setdefault(req.name, deque())
        if steal:
            old = self._held.pop(req.name, None)
            self._grant(req)
            if old is not None:
                old.state = "stolen"
                self.log.append(("lost", old.name, old.tab.label))
                old.stolen()  # after the grant: the stealer hears first
        elif req.name not in self._held and not queue:
            self._grant(req)
        else:
            queue.append(req)

    def release(self, req: FakeLockRequest) -> None:
        """Release ``req`` if it holds its lock, withdraw it if queued; else a no-op."""
        if req.state == "held":
            req.state = "released"
            self.log.append(("release", req.name, req.tab.label))
            del self._held[req.name]
            self._grant_next(req.name)
        elif req.state == "queued":
            req.state = "withdrawn"
            self.log.append(("withdraw", req.name, req.tab.label))
            self._queues[req.name].remove(req)

    def release_tab(self, tab: FakePlatform) -> None:
        """What the browser does when a document goes away: every request of ``tab`` is
        withdrawn (queued ones first, so none is granted to the dying tab) or released."""
        for queue in self._queues.values():
            for req in [r for r in queue if r.tab is tab]:
                self.release(req)
        for req in [r for r in self._held.values() if r.tab is tab]:
            self.release(req)

    def _grant(self, req: FakeLockRequest) -> None:
        req.state = "held"
        self._held[req.name] = req
        self.log.append(("grant", req.name, req.tab.label))
        req.granted()

    def _grant_next(self, name: str) -> None:
        queue = self._queues.get(name)
        if queue and name not in self._held:
            self._grant(queue.popleft())


# --------------------------------------------------------------------------- platform
class FakePlatform:
    """Everything a test needs to stand in for a browser tab.

    Tabs of one profile share ``bus``, ``lock_manager``, ``storage`` and usually ``clock``.
    ``features`` lists what exists here (see :meth:`supports`): leave out ``"locks"`` or
    ``"channel"`` to play a browser without Web Locks or BroadcastChannel.
    """

    _labels = itertools.count(1)

    def __init__(
        self,
        *,
        seed: int = 0,
        online: bool = True,
        visible: bool = True,
        storage: dict[str, str] | None = None,
        bus: ChannelBus | None = None,
        locks: dict[str, asyncio.Lock] | None = None,
        lock_manager: FakeLockManager | None = None,
        clock: VirtualClock | None = None,
        features: Collection[str] = FEATURES,
        label: str | None = None,
    ) -> None:
        unknown = set(features) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown platform features {sorted(unknown)}")
        self.features = frozenset(features)
        self.label = label if label is not None else f"tab{next(self._labels)}"
        self.clock = clock if clock is not None else VirtualClock()
        self.lock_manager = lock_manager if lock_manager is not None else FakeLockManager()
        # Share one dict between the FakePlatforms of one "browser" (like Web Locks).
        self.locks: dict[str, asyncio.Lock] = locks if locks is not None else {}
        self.lock_log: list[str] = []
        self.http = FakeHttp()
        self.rng = _random.Random(seed)
        self.sources: list[FakeEventSource] = []
        self.max_open_sources = 0
        self.storage: dict[str, str] = storage if storage is not None else {}
        self.bus = bus if bus is not None else ChannelBus()
        self.tasks: list[asyncio.Task[Any]] = []
        self._online = online
        self._visible = visible
        self._window: dict[str, list[Callable[[], None]]] = {}
        self._storage_listeners: list[Callable[[str | None, str | None], None]] = []
        self._proxies = 0
        # Exceptions that escaped spawned tasks: tests assert this stays empty.
        self.crashes: list[BaseException] = []
        # A frozen tab's deliveries wait here (in order) until thaw(); a closed tab gets none.
        self._frozen = False
        self._closed = False
        self._held_back: list[Callable[[], None]] = []
        self._thaw_waiters: list[asyncio.Future[None]] = []
        self._channel_closers: list[Undo] = []

    def __repr__(self) -> str:
        return f"<FakePlatform {self.label}>"

    # --- lifecycle: frozen and closed tabs --------------------------------------------
    @property
    def frozen(self) -> bool:
        return self._frozen

    @property
    def closed(self) -> bool:
        return self._closed

    def _deliver(self, fn: Callable[[], None]) -> None:
        """Run a callback into this tab now, later (frozen) or never (closed)."""
        if self._closed:
            return
        if self._frozen:
            self._held_back.append(fn)
            return
        fn()

    def _task(self, fn: Callable[[], None]) -> None:
        """Queue ``fn`` as a task of this tab: it runs on the next ``clock.advance(0)``
        (or ``await advance(0)``), never inside the call that queued it."""
        self.clock.schedule(0, lambda: self._deliver(fn))

    def freeze(self) -> None:
        """Freeze the tab (a background tab Chrome froze, or CDP
        ``Page.setWebLifecycleState frozen``): timers, channel messages, lock callbacks,
        event-source callbacks, window and storage events and HTTP responses wait, in
        order, until :meth:`thaw`. Its locks stay held; other tabs may steal them. Spawned
        coroutines that need none of these keep running (the fake cannot stop them)."""
        self._frozen = True

    def thaw(self) -> None:
        """Resume a frozen tab: deliver what waited, in arrival order, at the current
        virtual time (a callback that raises stops the delivery; the rest waits for the
        next ``thaw()``)."""
        self._frozen = False
        while self._held_back and not self._frozen and not self._closed:
            self._held_back.pop(0)()
        waiters, self._thaw_waiters = self._thaw_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def close_tab(self) -> None:
        """The tab goes away (closed, reloaded, navigated, discarded), as the browser
        does it: its locks are released or withdrawn (the next tab in the queue is
        granted), its channels and event sources closed, its spawned tasks cancelled, and
        nothing is delivered to it any more. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._held_back.clear()
        self.lock_manager.release_tab(self)
        for close in list(self._channel_closers):
            close()
        for source in self.sources:
            source.close()
        for task in list(self.tasks):
            task.cancel()
        for fut in self._thaw_waiters:
            fut.cancel()
        self._thaw_waiters.clear()

    async def _until_thawed(self) -> None:
        while self._frozen or self._closed:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._thaw_waiters.append(fut)
            await fut  # cancelled when the tab is closed meanwhile

    # --- time ---------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now

    def wall_ms(self) -> int:
        return EPOCH_MS + int(self.clock.now * 1000)

    def random(self) -> float:
        return self.rng.random()

    def schedule(self, delay_s: float, fn: Callable[[], None]) -> Undo:
        # The adapter's rule (zariz.platform.jsffi): the proxy is released after fn
        # returns or raises; a cancel once fn has started (also from inside it) is a no-op.
        # A frozen tab's due timer waits for thaw(); cancelled meanwhile, it never runs
        # (as clearTimeout on a timer whose task is queued).
        release = self._count(1)
        started = False

        def run() -> None:
            nonlocal started
            if started:
                return
            started = True
            try:
                fn()
            finally:
                release()

        unschedule = self.clock.schedule(delay_s, lambda: self._deliver(run))

        def cancel() -> None:
            nonlocal started
            if not started:
                started = True
                unschedule()
                release()

        return cancel

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> Undo:
        if self._closed:  # a closed page runs nothing
            coro.close()
            return lambda: None
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.append(task)
        task.add_done_callback(self._task_done)

        def cancel() -> None:
            task.cancel()

        return cancel

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if task in self.tasks:
            self.tasks.remove(task)
        if not task.cancelled():
            exc = task.exception()
            if exc is not None:
                # Surface crashes of spawned code instead of losing them in the loop's log.
                self.crashes.append(exc)

    async def settle(self, rounds: int = 200) -> None:
        """Let spawned tasks run until they finish or block (on a gate, a held request)."""
        for _ in range(rounds):
            if not self.tasks:
                break
            await asyncio.sleep(0)
        for _ in range(3):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """``clock.advance`` that lets spawned tasks run after every timer it fires."""
        until = self.clock.now + seconds
        await self.settle()
        while self.clock.fire_next(until):
            await self.settle()
        self.clock.now = until
        await self.settle()

    # --- network ------------------------------------------------------------------
    def open_event_source(
        self, url: str, handlers: EventSourceHandlers, named_events: Sequence[str]
    ) -> Undo:
        source = FakeEventSource(self, url, handlers, named_events)
        self.sources.append(source)
        # The browser adapter's three: the event batch (every name), open, error.
        self._proxies += 3
        self.max_open_sources = max(self.max_open_sources, self.open_sources)
        return source.close

    def _source_closed(self, source: FakeEventSource) -> None:
        self._proxies -= 3  # called once: FakeEventSource.close is idempotent

    @property
    def open_sources(self) -> int:
        return sum(1 for s in self.sources if not s.closed)

    @property
    def source(self) -> FakeEventSource:
        """The most recently opened source (AssertionError when none was opened)."""
        assert self.sources, "no event source was opened"
        return self.sources[-1]

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        on_headers: HeadersHook | None = None,
    ) -> Awaitable[HttpResponse]:
        req = FakeRequest(method.upper(), url, dict(headers or {}), json_body)
        if not self._online:
            return self._held_until_thawed(self._offline(req))
        exchange = self.http.handle(req)
        if on_headers is not None:
            exchange = _headers_first(exchange, on_headers)
        return self._held_until_thawed(exchange)

    async def _held_until_thawed(self, exchange: Awaitable[HttpResponse]) -> HttpResponse:
        # A frozen tab gets its answer (or its network error) once it is thawed.
        try:
            response = await exchange
        except NetworkError:
            if self._frozen or self._closed:
                await self._until_thawed()
            raise
        if self._frozen or self._closed:
            await self._until_thawed()
        return response

    async def _offline(self, req: FakeRequest) -> HttpResponse:
        self.http.requests.append(req)
        raise NetworkError("offline")

    # --- environment --------------------------------------------------------------
    def is_online(self) -> bool:
        return self._online

    def is_visible(self) -> bool:
        return self._visible

    def on_window_event(self, name: str, fn: Callable[[], None]) -> Undo:
        return self._register(self._window.setdefault(name, []), fn)

    def _register(self, listeners: list[Any], fn: Any) -> Undo:
        """Add ``fn`` to ``listeners``, counted like a browser proxy; idempotent undo."""
        listeners.append(fn)
        release = self._count(1)
        done = False

        def off() -> None:
            nonlocal done
            if not done:
                done = True
                listeners.remove(fn)
                release()

        return off

    def _count(self, n: int) -> Undo:
        """Count ``n`` proxies as live; the returned undo (idempotent) releases them."""
        self._proxies += n
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._proxies -= n

        return release

    def fire(self, name: str) -> None:
        """Dispatch a window/document event to its listeners."""
        for fn in list(self._window.get(name, [])):
            self._deliver(fn)

    def set_online(self, online: bool) -> None:
        self._online = online
        self.fire("online" if online else "offline")

    def set_visible(self, visible: bool) -> None:
        self._visible = visible
        self.fire("visibilitychange")

    def listener_count(self, name: str | None = None) -> int:
        if name is not None:
            return len(self._window.get(name, []))
        return sum(len(v) for v in self._window.values()) + len(self._storage_listeners)

    # --- storage ------------------------------------------------------------------
    def storage_get(self, key: str) -> str | None:
        return self.storage.get(key)

    def storage_set(self, key: str, value: str) -> None:
        # Like localStorage: the writing tab gets no ``storage`` event.
        self.storage[key] = value

    def storage_remove(self, key: str) -> None:
        self.storage.pop(key, None)

    def on_storage(self, fn: Callable[[str | None, str | None], None]) -> Undo:
        return self._register(self._storage_listeners, fn)

    def other_tab_clears(self) -> None:
        """Another tab ran ``localStorage.clear()``: the event has a null key."""
        self.storage.clear()
        for fn in list(self._storage_listeners):
            self._deliver(functools.partial(fn, None, None))

    def other_tab_sets(self, key: str, value: str | None) -> None:
        """Another tab wrote (``None``: removed) ``key``: update storage, fire events."""
        if value is None:
            self.storage.pop(key, None)
        else:
            self.storage[key] = value
        for fn in list(self._storage_listeners):
            self._deliver(functools.partial(fn, key, value))

    # --- channel ------------------------------------------------------------------
    def open_channel(
        self, name: str, on_message: Callable[[Any], None]
    ) -> tuple[Callable[[Any], None], Undo]:
        if "channel" not in self.features:  # the adapter's explicit fallback
            log.warning("BroadcastChannel is not available: cross-tab relay disabled")
            return (lambda _msg: None), (lambda: None)
        closed = False

        def receive(message: Any) -> None:
            def deliver() -> None:
                if not closed:  # closed while the message waited (frozen tab)
                    on_message(message)

            self._deliver(deliver)

        off = self._register(self.bus.members, (self, name, receive))

        def post(message: Any) -> None:
            if not closed and not self._closed:
                self.bus.post(self, name, message)

        def close() -> None:
            nonlocal closed
            if not closed:
                closed = True
                off()
                self._channel_closers.remove(close)

        self._channel_closers.append(close)
        return post, close

    def live_proxies(self) -> int:
        return self._proxies

    def supports(self, feature: str) -> bool:
        if feature not in FEATURES:
            raise ValueError(f"unknown platform feature {feature!r}")
        return feature in self.features

    def hold_lock(
        self,
        name: str,
        on_acquired: Callable[[], None],
        on_lost: Callable[[], None],
        *,
        steal: bool = False,
    ) -> Undo:
        if "locks" not in self.features:  # the adapter's fallback: this tab alone
            log.warning("Web Locks unavailable: %s is held by this tab alone", name)
            return self.schedule(0, on_acquired)
        # Mirrors the adapter: one proxy from the request until the undo or until on_lost
        # returned; never released while a callback runs (an undo from inside one).
        release_proxy = self._count(1)
        over = False
        depth = 0

        def call(fn: Callable[[], None], last: bool) -> None:
            nonlocal over, depth
            if over:
                return  # undone meanwhile: nothing after the undo
            over = last
            depth += 1
            try:
                fn()
            finally:
                depth -= 1
                if over and depth == 0:
                    release_proxy()

        req = FakeLockRequest(
            self,
            name,
            granted=lambda: self._task(lambda: call(on_acquired, False)),
            stolen=lambda: self._task(lambda: call(on_lost, True)),
        )
        if self._closed:  # a closed page asks for nothing
            over = True
            release_proxy()
        else:
            self.lock_manager.request(req, steal=steal)

        def undo() -> None:
            nonlocal over
            if over:
                return
            over = True
            self.lock_manager.release(req)
            if depth == 0:
                release_proxy()

        return undo

    async def with_lock(self, name: str, fn: Callable[[], Awaitable[T]]) -> T:
        if "locks" not in self.features:  # the adapter's explicit fallback
            return await fn()
        lock = self.locks.setdefault(name, asyncio.Lock())
        release = self._count(1)  # the adapter's lock-granted callback
        try:
            async with lock:
                self.lock_log.append(name)
                return await fn()
        finally:
            release()


__all__ = [
    "EPOCH_MS",
    "ChannelBus",
    "FakeEventSource",
    "FakeHttp",
    "FakeLockManager",
    "FakeLockRequest",
    "FakePlatform",
    "FakeRequest",
    "VirtualClock",
    "error_body",
    "to_response",
]
