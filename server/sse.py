"""``GET /v1/events/sse`` and ``POST /v1/events/ticket``.

Framing is sse-starlette's (``ServerSentEvent``); the stream itself is served by
:class:`EventStreamResponse` (the request's task writes, one small task listens for the
disconnect, pings come from one shared :class:`Heartbeat`, each event is encoded once for
all streams) rather than sse-starlette's ``EventSourceResponse``, whose per-stream task
group cost half a stream's memory (see the class). This module adds auth (Bearer header or
single-use ticket, never a JWT in the URL), resume by ``Last-Event-ID`` /
``?lastEventId=``, the stream's lifetime (token ``exp``, session revocation, server
shutdown), a capped kernel send buffer per stream and the slow-consumer abort, which
closes the socket.

``Last-Event-ID`` choices: empty = none; not 1-18 ASCII digits -> 400
``invalid_last_event_id``; greater than the newest id -> ``event: reset`` with reason
``unknown_id`` and then live (the client's state belongs to another log).

In dev mode (``server.dev``) a stream also carries ``event: dev.reload`` notices, without
an id: one right after its first frame (the current version, to compare on connect) and
one per change of the page's sources.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import socket
import struct
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, cast

import anyio
from sse_starlette import ServerSentEvent
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from server.auth import authenticated, bearer_token, count_auth_failure
from server.bodies import check_query_size, clip
from server.config import Settings
from server.dev import DevReloader
from server.errors import ApiError, unauthorized
from server.events import (
    Event,
    EventHub,
    Feed,
    Notice,
    Reset,
    StreamClosed,
    Subscription,
    reset_payload,
)
from server.metrics import Metrics
from server.security import AuthError, Principal, Security
from server.storage import run_db

log = logging.getLogger("zariz.sse")

URL_TOKEN_PARAMS = ("token", "access_token", "jwt", "authorization")


SSE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    # sse-starlette's headers: no cache keeps the stream, no proxy buffers it.
    (b"cache-control", b"no-store"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
)


class EventStreamResponse(Response):
    """Serve one SSE stream in the request's own task: the frames of ``frames`` (see
    :func:`_stream`) written as they come, each event's bytes encoded once for all
    streams (:func:`_frame`).

    Why not sse-starlette's ``EventSourceResponse``: it runs an anyio task group per
    stream (the generator, a pinger, a shutdown poller and a disconnect listener, each
    with its cancel scope) and a cancel scope around every write. Measured at 2,000
    idle streams (tracemalloc): about 24 KB of the 47 KB a stream held, and a third of
    the server's CPU in a fan-out (bench/RESULTS.md). Here a stream has one helper task
    (the disconnect listener, which closes the stream's subscription), its pings come
    from one timer for all streams (:class:`Heartbeat`), shutdown closes every
    subscription (``hub.close_all``) and a send gets a deadline only when it can wait
    (the transport's buffer is not empty). Framing stays sse-starlette's
    (``ServerSentEvent``).

    The hub can :meth:`abort` a stream even while a send is blocked on a client that
    stopped reading (its socket buffer is full): the connection is reset.

    Direct writes (:meth:`write_directly`): on uvicorn's httptools stack, an event that
    finds the stream idle is written by the hub's fan-out itself, straight to the
    transport, with the chunk framing uvicorn's ``send`` would add. Waking the stream's
    task for it (a future, the task's step, the generator, this loop, uvicorn's ``send``)
    cost about a third of the server's CPU per delivery (bench/RESULTS.md, Server fan-out).
    Anything else takes the task's path, as before: pings and notices, a stream with
    anything queued (so nothing overtakes it), a transport with bytes still buffered (a
    client that stops reading is dropped by the same queue rule), h11, a closing or
    disconnected connection.
    """

    media_type = "text/event-stream"
    send_buffer = 0
    """SO_SNDBUF for the stream's socket in bytes, set before the first byte (see
    :func:`_cap_send_buffer`); 0 leaves the kernel's autotuning."""
    direct = True
    """Let the hub write events straight to an idle stream (``ZARIZ_SSE_DIRECT``)."""

    def __init__(self, frames: AsyncIterator[ServerSentEvent], *, send_timeout: float) -> None:
        self.frames = frames
        self.send_timeout = send_timeout
        self.status_code = 200
        self.background = None
        self._subscription: Subscription | None = None
        self._receive: Receive | None = None
        self._gone = False  # the client disconnected (seen by the listener)
        self._aborted = False
        # For direct writes: uvicorn's httptools request cycle once the chunked response
        # has started (None on other stacks and before), its transport, the stream's feed.
        self._cycle: Any = None
        self._transport: asyncio.Transport | None = None
        self._feed: Feed | None = None

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:  # type: ignore[override]
        return list(SSE_HEADERS)  # a copy: middleware appends to the message's list

    def watch(self, subscription: Subscription) -> None:
        """Close ``subscription`` when the client goes away (called by :func:`_stream`
        once it has subscribed)."""
        self._subscription = subscription
        if self._gone:
            subscription.close("client_gone")

    def write_directly(self, feed: Feed) -> None:
        """Let the hub write ``feed``'s live events to this stream without its task
        (see the class); a no-op where the stack or the setting does not allow it.
        :meth:`Subscription.offer` calls :meth:`_write_direct` only while the stream's
        task waits in ``feed.next`` with nothing queued - after its first frame and its
        replay, since the task reaches that wait only then."""
        if (self.direct and self._cycle is not None and self._transport is not None
                and feed.subscription.closed_reason is None):
            self._feed = feed
            feed.subscription.direct = self._write_direct

    def _write_direct(self, event: Event) -> bool:
        """Write ``event``'s frame now if the connection takes it without waiting; False
        to have it queued for the stream's task instead."""
        feed = self._feed
        cycle = self._cycle
        transport = self._transport
        if feed is None or cycle is None or transport is None:
            return False  # the stream is ending: its task's path decides
        if event.id <= feed.last_id:
            return True  # the replay/live seam's duplicate: dropped, as Feed.next does
        if (self._gone or self._aborted or cycle.disconnected or cycle.response_complete
                or cycle.flow.write_paused or transport.is_closing()
                or transport.get_write_buffer_size()):
            return False
        subscription = feed.subscription
        try:
            chunk = _chunk(event)
        except Exception:
            # Once per event, not once per stream (a fan-out asks every idle stream).
            if _note_unencodable(event):
                log.exception("SSE frame of event %s could not be encoded: closing the "
                              "streams it reaches", event.id)
            subscription.close("encode_failed")
            return True
        try:
            transport.write(chunk)
        except Exception:
            # What reached the socket is unknown (part of a chunk?): reset, the client
            # resumes by id.
            log.exception("SSE direct write failed: resetting the stream")
            self.abort()
            subscription.close("write_failed")
        return True

    def abort(self) -> None:
        """End the stream of a client that fell behind: reset its connection now (a
        blocked send returns), or, without a transport, end the body when the loop
        sees the closed subscription."""
        self._aborted = True
        if self._receive is not None and _transport(self._receive) is not None:
            _reset_connection(self._receive)

    async def _listen_for_disconnect(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self._gone = True
        if self._subscription is not None:
            self._subscription.close("client_gone")

    async def _send_body(self, send: Send, transport: asyncio.Transport | None,
                         body: bytes) -> bool:
        """Write ``body``; False when the send timed out (the client stopped reading)."""
        message = {"type": "http.response.body", "body": body, "more_body": True}
        if transport is not None and not transport.get_write_buffer_size():
            # The kernel took everything so far: this send cannot wait (uvicorn waits
            # only while the transport is over its high-water mark), so no deadline,
            # no timer, no cancel scope.
            await send(message)
            return True
        try:
            await asyncio.wait_for(send(message), self.send_timeout)
        except TimeoutError:
            return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
        if scope["method"].upper() == "HEAD":
            # Headers only: the stream never starts (sse-starlette's rule, its #218).
            await send(start)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if self.send_buffer:
            _cap_send_buffer(receive, self.send_buffer)
        transport = _transport(receive)
        self._receive = receive
        await send(start)
        del start  # its header list would live as long as the stream
        if transport is not None:
            # Body chunks straight to uvicorn's send (the request cycle's, like the
            # transport): the middleware between (security headers, error and
            # exception handlers) acts on the response start only, and its wrappers
            # cost a coroutine each per chunk - per stream per event.
            send = receive.__self__.send  # type: ignore[attr-defined]
            self._cycle = _chunked_httptools_cycle(receive)
            self._transport = transport
        listener = asyncio.ensure_future(self._listen_for_disconnect(receive))
        timed_out = False
        try:
            async for frame in self.frames:
                if self._gone or self._aborted:
                    break
                if not await self._send_body(send, transport, _encoded(frame)):
                    log.info("SSE send timed out")
                    timed_out = True
                    break
        finally:
            listener.cancel()
            self._cycle = self._feed = None  # no direct write from here on
            # The generator's cleanup (unsubscribe, gauge) runs now, not at GC time.
            aclose = getattr(self.frames, "aclose", None)
            if aclose is not None:
                await aclose()
        if self._aborted or timed_out or _behind(transport):
            await _end_behind_stream(receive, send)
        elif not self._gone:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            if _behind(transport):
                # The end did not fit in the kernel's buffer: the client stopped reading.
                # Left so, uvicorn keeps the connection (and its queue) for as long as
                # the client does.
                _reset_connection(receive)


def _chunked_httptools_cycle(receive: Receive) -> Any:
    """uvicorn's httptools ``RequestResponseCycle`` behind ``receive`` when its response
    has started with chunked framing (what :meth:`EventStreamResponse._write_direct`
    writes), else None: h11's cycle writes through its own state machine, which a direct
    write would bypass. Looked up in ``sys.modules`` so the h11-only install needs no
    httptools. A uvicorn whose cycle lacks the state the direct path reads gets None too
    (every event then takes the stream's task), not an error per write."""
    cycle: Any = getattr(receive, "__self__", None)
    module = sys.modules.get("uvicorn.protocols.http.httptools_impl")
    cls = getattr(module, "RequestResponseCycle", None)
    if (cls is None or type(cycle) is not cls
            or getattr(cycle, "response_started", False) is not True
            or getattr(cycle, "chunked_encoding", None) is not True
            or getattr(cycle, "disconnected", None) is not False
            or getattr(cycle, "response_complete", None) is not False
            or not isinstance(getattr(getattr(cycle, "flow", None), "write_paused", None),
                              bool)):
        return None
    return cycle


def _behind(transport: asyncio.Transport | None) -> bool:
    """The client has not taken what was sent: bytes wait in user space because the
    kernel's send buffer is full. Ending such a stream gracefully never completes
    (uvicorn's ``transport.close()`` waits for the buffer to drain)."""
    return (transport is not None and not transport.is_closing()
            and transport.get_write_buffer_size() > 0)


_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets, drops the queue


def _transport(receive: Receive) -> asyncio.Transport | None:
    """The connection's transport: uvicorn's ``receive`` is a bound method of the
    request's ``RequestResponseCycle`` (h11 and httptools alike), which holds it (no
    middleware of ours wraps ``receive``). Duck-typed: uvloop's transports are not
    ``asyncio.Transport`` subclasses. ``None`` without one (an in-process test client)."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is None or not all(
        hasattr(transport, name) for name in ("abort", "get_write_buffer_size", "is_closing")
    ):
        return None
    return cast(asyncio.Transport, transport)


def _cap_send_buffer(receive: Receive, size: int) -> None:
    """Bound what the kernel holds for a stream whose client stops reading.

    Left alone, Linux autotunes a socket's send buffer up to ``tcp_wmem``'s maximum
    (4 MB): 500 streams that never read held 363 MB of kernel memory before the hub
    dropped them (bench/RESULTS.md, slow consumers), memory outside the process that no
    RSS limit sees. With SO_SNDBUF set the kernel stops autotuning that socket and holds
    about twice ``size`` at most (it doubles the value for its bookkeeping, and clamps
    it to ``net.core.wmem_max``; measured: 259-264 KB per blocked stream for 128 KiB).
    A client that does read is not slowed: an SSE stream needs a few KB/s, and 256 KB in
    flight carries 2.5 MB/s even at 100 ms round trip. A blocked stream fills the hub's
    queue sooner instead, and is dropped sooner.
    """
    transport = _transport(receive)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


def _reset_connection(receive: Receive) -> None:
    """Reset the connection now (``SO_LINGER`` 0, then ``abort()``): the kernel drops
    its send queue, and a send blocked on the full buffer returns (the transport
    reports the connection lost)."""
    transport = _transport(receive)
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    transport.abort()


async def _end_behind_stream(receive: Receive, send: Send) -> None:
    """End the stream of a client that fell behind (dropped as a slow consumer, or a send
    timed out) by resetting its connection, and free what it holds.

    Not a graceful end: no ASGI message can close a connection whose buffer is full.
    uvicorn's ``send`` waits for it to drain, and when the app returns (or raises)
    mid-response uvicorn calls ``transport.close()``, which also waits for the buffer to
    drain - forever, for a client that never reads. Even an end that fits in the buffer
    leaves megabytes queued in the kernel for such a client, behind the FIN. Dropped
    streams kept their connections, file descriptors and kernel send queues until the
    client went away. So: ``transport.abort()`` with ``SO_LINGER`` 0, and the kernel
    resets the connection and frees its queue at once. The client loses nothing: what it
    had not read is replayed when it reconnects with its Last-Event-ID (EventSource
    reconnects after a reset as after an end).

    Without a transport (an in-process test client, see :func:`_transport`) the chunked
    body is ended instead, if the client takes it within 0.5 s.
    """
    if _transport(receive) is None:
        with anyio.move_on_after(0.5), contextlib.suppress(OSError):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    _reset_connection(receive)
    # abort() reports the connection lost on the next loop step: let uvicorn see it
    # before we return, so it does not log "returned without completing response".
    await asyncio.sleep(0)
    log.info("SSE connection reset: the client fell behind")


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def _ms() -> int:
    return int(time.time() * 1000)


PING = "ping"


class Heartbeat:
    """Keep-alive pings for every open stream from one timer: each stream gets an
    ``event: ping`` (``{"ts": ms}``) every ``interval`` seconds, which the client's stall
    watchdog is sized from, and proxies see traffic.

    Streams are dealt round-robin into :attr:`SLICES` slices and the timer pings one
    slice every ``interval / SLICES`` s, so 10,000 streams cost ten bursts of 1,000
    writes, not one of 10,000 in front of an event. A stream with frames already queued
    gets no ping (it is about to write, or it is stuck and a ping would not help)::

        heartbeat = Heartbeat(15.0)
        undo = heartbeat.add(subscription)   # from inside the event loop
        ...
        undo()                               # the timer stops with the last stream
    """

    SLICES = 10

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._slices: list[set[Subscription]] = [set() for _ in range(self.SLICES)]
        self._dealt = 0
        self._members = 0
        self._tick = 0
        self._timer: asyncio.TimerHandle | None = None

    def add(self, subscription: Subscription) -> Callable[[], None]:
        """Ping ``subscription`` from now on; returns the undo (idempotent)."""
        if self.interval <= 0:
            return lambda: None
        members = self._slices[self._dealt % self.SLICES]
        self._dealt += 1
        members.add(subscription)
        self._members += 1
        if self._timer is None:
            self._schedule()

        def undo() -> None:
            if subscription in members:
                members.discard(subscription)
                self._members -= 1
                if not self._members and self._timer is not None:
                    self._timer.cancel()
                    self._timer = None

        return undo

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.interval / self.SLICES, self._ping_slice)

    def _ping_slice(self) -> None:
        self._timer = None
        members = self._slices[self._tick % self.SLICES]
        self._tick += 1
        if members:
            notice = Notice(PING, _compact({"ts": _ms()}))
            for subscription in members:
                subscription.notify_if_idle(notice)
        if self._members:
            self._schedule()


def _authenticate(request: Request) -> Principal:
    if any(name in request.query_params for name in URL_TOKEN_PARAMS):
        # RFC 6750/9700: long-lived credentials in URLs leak into logs and history.
        count_auth_failure(request, "sse")
        raise unauthorized(
            "Access tokens are not accepted in the URL; use the Authorization header or a "
            "ticket from POST /v1/events/ticket."
        )
    security: Security = request.app.state.security
    ticket = request.query_params.get("ticket")
    try:
        if ticket:
            return security.redeem_ticket(ticket)
        token = bearer_token(request)
        if token is None:
            raise AuthError("unauthorized", "Missing credentials: Bearer token or ?ticket=.")
        return security.authenticate(token)
    except AuthError as exc:
        count_auth_failure(request, "sse")
        raise unauthorized(exc.message) from exc


_EVENT_ID = re.compile(r"[0-9]{1,18}")  # ASCII: str.isdigit() accepts "²", int() does not


def parse_last_event_id(request: Request) -> int | None:
    """Header wins over ``?lastEventId=``; empty means none."""
    raw = request.headers.get("last-event-id")
    if raw is None or raw.strip() == "":
        raw = request.query_params.get("lastEventId")
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    if not _EVENT_ID.fullmatch(raw):
        raise ApiError(
            400, "invalid_last_event_id",
            f"Last-Event-ID must be a non-negative integer of at most 18 digits: "
            f"{clip(raw)!r}.",
        )
    return int(raw)


DEV_RELOAD = "dev.reload"


class EncodedEvent(ServerSentEvent):
    """A ``ServerSentEvent`` that encodes itself once: one event goes to every stream."""

    def __init__(self, data: str | None = None, *, event: str | None = None,
                 id: str | None = None) -> None:  # noqa: A002 - sse-starlette's name
        super().__init__(data, event=event, id=id)
        self.wire = super().encode()

    def encode(self) -> bytes:
        return self.wire


def _encoded(frame: ServerSentEvent) -> bytes:
    return frame.wire if isinstance(frame, EncodedEvent) else frame.encode()


_last_chunk: tuple[Event | None, bytes] = (None, b"")
"""The last event's frame as one HTTP/1.1 chunk (uvicorn's httptools framing: the size in
hex, CRLF, the frame, CRLF): a fan-out asks for it once per stream with the same event
object, so an identity check replaces the hash of :func:`_frame`'s key. One tuple, swapped
whole, so a reader never pairs an event with another event's bytes."""


_last_unencodable: list[Event | None] = [None]


def _note_unencodable(event: Event) -> bool:
    """True the first time ``event`` fails to encode in a row of failures (log it then)."""
    if _last_unencodable[0] is event:
        return False
    _last_unencodable[0] = event
    return True


def _chunk(event: Event) -> bytes:
    global _last_chunk
    last_event, chunk = _last_chunk
    if last_event is not event:
        wire = _frame(event).wire
        chunk = b"%x\r\n%b\r\n" % (len(wire), wire)
        _last_chunk = (event, chunk)
    return chunk


@functools.lru_cache(maxsize=256)
def _frame(item: Event | Reset | Notice) -> EncodedEvent:
    """The frame of a log event, reset or notice, encoded once: a fan-out asks for the
    same (equal, frozen) item once per stream, and gets this one object."""
    if isinstance(item, Reset):
        # With the id, a client adopts the log's position even when it is lower than
        # its own (a reset database): later events are newer.
        return EncodedEvent(
            id=str(item.last_id), event="reset", data=_compact(reset_payload(item)),
        )
    if isinstance(item, Notice):
        # No id: ids are the log's positions, and a notice (dev.reload, ping) is not in
        # the log.
        return EncodedEvent(event=item.event, data=item.data)
    return EncodedEvent(id=str(item.id), data=item.wire)


async def _stream(
    hub: EventHub, metrics: Metrics, principal: Principal, after_id: int | None,
    retry_ms: int, response_ref: list[EventStreamResponse],
    session_active: Callable[[str], Awaitable[bool]], dev: DevReloader | None = None,
    heartbeat: Heartbeat | None = None,
) -> AsyncGenerator[ServerSentEvent, None]:
    """The frames of one stream: ``retry``, the position (or a reset), then the live
    events, pings and notices until the subscription closes. ``response_ref`` holds the
    :class:`EventStreamResponse` that writes them (empty in unit tests)."""
    metrics.open_streams.inc()
    metrics.streams_opened.inc()
    try:
        yield ServerSentEvent(retry=retry_ms)
        async with hub.subscribe(after_id, session_id=principal.session_id) as feed:
            if response_ref:
                response = response_ref[0]
                response.watch(feed.subscription)
                response.write_directly(feed)
                feed.subscription.on_close(
                    lambda reason: response.abort() if reason == "slow_consumer" else None
                )
            # A logout between the auth check and this subscription found nothing to
            # close: look again now that the hub would reach us.
            if not await session_active(principal.session_id):
                log.info("SSE stream closed: session revoked before it started")
                return
            # The position frame: with its id the client can resume from the first byte,
            # even if the stream drops before any event (else a reconnect starts "from
            # now" again and whatever was committed in between is lost). A stream that
            # opens with a reset has it already: the reset carries the same id (and
            # goes first, so that a dev hello follows the stream's first frame).
            first: ServerSentEvent
            if feed.pending and isinstance(feed.pending[0], Reset):
                first = _frame(feed.pending.popleft())
            else:
                first = ServerSentEvent(
                    id=str(feed.start_id), event="position",
                    data=_compact({"last_id": feed.start_id}),
                )
            undo_dev: Callable[[], None] | None = None
            if dev is not None:
                # Listen and read the version in one step (no await between): every
                # change after the hello's version reaches this stream as a notice.
                subscription = feed.subscription
                undo_dev = dev.listen(
                    lambda notice: subscription.notify(Notice(DEV_RELOAD, _compact(notice)))
                )
                feed.pending.appendleft(Notice(DEV_RELOAD, _compact(dev.hello())))
            # One timer per stream ends it when the credential behind it expires (rather
            # than a timeout on every wait: that cost a Task per stream per event).
            expiry = asyncio.get_running_loop().call_later(
                max(0.0, principal.expires_at - time.time()),
                feed.subscription.close, "token_expired",
            )
            undo_ping = heartbeat.add(feed.subscription) if heartbeat is not None else None
            try:
                yield first
                while True:
                    item = await feed.next(timeout=None)
                    if item is not None:
                        yield _frame(item)
            finally:
                expiry.cancel()
                if undo_ping is not None:
                    undo_ping()
                if undo_dev is not None:
                    undo_dev()
    except StreamClosed as closed:
        log.info("SSE stream closed: %s", closed.reason)
    finally:
        # Always balanced, whatever ended the stream (client gone, cancel, error).
        metrics.open_streams.dec()


def _heartbeat(request: Request) -> Heartbeat:
    """The app's one :class:`Heartbeat`, made on first use."""
    heartbeat: Heartbeat | None = getattr(request.app.state, "sse_heartbeat", None)
    if heartbeat is None:
        settings: Settings = request.app.state.settings
        heartbeat = request.app.state.sse_heartbeat = Heartbeat(settings.ping_interval)
    return heartbeat


async def events_sse(request: Request) -> Response:
    check_query_size(request)  # before anything reads it
    if not request.app.state.hub.available:
        # The broker is away: a stream now would say "live" and carry nothing. The client
        # retries with backoff and resumes by id once the hub is back. Checked before the
        # ticket is redeemed, so the answer does not burn it.
        raise ApiError(503, "hub_unavailable", "live events are unavailable; retry later",
                       headers={"Retry-After": "2"})
    db = request.app.state.db
    # Reads the database (ticket, session): off the event loop when the backend waits on
    # the network (see server.storage).
    principal = await run_db(db, _authenticate, request)
    after_id = parse_last_event_id(request)
    settings: Settings = request.app.state.settings
    response_ref: list[EventStreamResponse] = []
    response = EventStreamResponse(
        _stream(
            request.app.state.hub, request.app.state.metrics, principal, after_id,
            settings.retry_ms, response_ref,
            lambda session_id: run_db(db, db.session_active, session_id),
            request.app.state.dev, _heartbeat(request),
        ),
        send_timeout=settings.send_timeout,
    )
    response.send_buffer = settings.sse_send_buffer
    response.direct = settings.sse_direct
    response_ref.append(response)
    return response


async def events_ticket(request: Request) -> JSONResponse:
    principal = await authenticated(request, endpoint="ticket")
    db = request.app.state.db
    ticket, expires_in = await run_db(db, request.app.state.security.issue_ticket, principal)
    settings: Settings = request.app.state.settings
    # The client sizes its stall watchdog from the ping interval (0 = no pings).
    return JSONResponse({"ticket": ticket, "expires_in": expires_in,
                         "ping_interval": settings.ping_interval})


class EventsSSEEndpoint:
    """``events_sse`` as a bare ASGI endpoint (an object, so Starlette does not wrap it).

    Starlette wraps a function endpoint in ``request_response``, whose frames (and the
    ``Request`` with its parsed headers) stay alive for as long as the response runs:
    2-3 KB per open stream. Here the request is dropped once the stream is set up;
    errors raised before the response starts (401, 400) still reach the app's exception
    handlers, which sit outside the router."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await events_sse(Request(scope, receive))
        await response(scope, receive, send)


routes = [
    Route("/v1/events/sse", EventsSSEEndpoint(), methods=["GET"], name="events_sse"),
    Route("/v1/events/ticket", events_ticket, methods=["POST"]),
]
