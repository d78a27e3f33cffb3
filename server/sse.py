"""``GET /v1/events/sse`` and ``POST /v1/events/ticket``.

Framing, pings, disconnect detection and shutdown draining are sse-starlette's; this
module adds auth (Bearer header or single-use ticket, never a JWT in the URL), resume
by ``Last-Event-ID`` / ``?lastEventId=``, the stream's lifetime (token ``exp``, session
revocation, server shutdown), a capped kernel send buffer per stream and the
slow-consumer abort, which closes the socket.

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
import json
import logging
import re
import socket
import struct
import time
from collections.abc import AsyncGenerator, Callable

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import SendTimeoutError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from server.auth import bearer_token, count_auth_failure, require_principal
from server.bodies import check_query_size, clip
from server.config import Settings
from server.dev import DevReloader
from server.errors import ApiError, unauthorized
from server.events import Event, EventHub, Notice, Reset, StreamClosed, reset_payload
from server.metrics import Metrics
from server.security import AuthError, Principal, Security

log = logging.getLogger("zariz.sse")

URL_TOKEN_PARAMS = ("token", "access_token", "jwt", "authorization")


class AbortableEventSourceResponse(EventSourceResponse):
    """An ``EventSourceResponse`` that the hub can abort, even while a send is blocked
    on a client that stopped reading (its socket buffer is full)."""

    _abort_scope: anyio.CancelScope | None = None
    send_buffer = 0
    """SO_SNDBUF for the stream's socket in bytes, set before the first byte (see
    :func:`_cap_send_buffer`); 0 leaves the kernel's autotuning."""

    def abort(self) -> None:
        if self._abort_scope is not None:
            self._abort_scope.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.send_buffer:
            _cap_send_buffer(receive, self.send_buffer)
        with anyio.CancelScope() as abort_scope:
            self._abort_scope = abort_scope
            try:
                await super().__call__(scope, receive, send)
            except SendTimeoutError:
                log.info("SSE send timed out")
                await _end_behind_stream(receive, send)
                return
        if abort_scope.cancelled_caught:
            await _end_behind_stream(receive, send)


_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets, drops the queue


def _transport(receive: Receive) -> asyncio.Transport | None:
    """The connection's transport: uvicorn's ``receive`` is a bound method of the
    request's ``RequestResponseCycle``, which holds it (no middleware of ours wraps
    ``receive``). ``None`` without one (an in-process test client)."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    return transport if isinstance(transport, asyncio.Transport) else None


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
    transport = _transport(receive)
    if transport is None:
        with anyio.move_on_after(0.5), contextlib.suppress(OSError):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    transport.abort()
    # abort() reports the connection lost on the next loop step: let uvicorn see it
    # before we return, so it does not log "returned without completing response".
    await asyncio.sleep(0)
    log.info("SSE connection reset: the client fell behind")


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def _ms() -> int:
    return int(time.time() * 1000)


def _ping() -> ServerSentEvent:
    return ServerSentEvent(event="ping", data=_compact({"ts": _ms()}))


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


def _frame(item: Event | Reset | Notice) -> ServerSentEvent:
    if isinstance(item, Reset):
        # With the id, a client adopts the log's position even when it is lower than
        # its own (a reset database): later events are newer.
        return ServerSentEvent(
            id=str(item.last_id), event="reset", data=_compact(reset_payload(item)),
        )
    if isinstance(item, Notice):
        # No id: ids are the log's positions, and a notice is not in the log.
        return ServerSentEvent(event=item.event, data=item.data)
    return ServerSentEvent(id=str(item.id), data=item.wire)


async def _stream(
    hub: EventHub, metrics: Metrics, principal: Principal, after_id: int | None,
    retry_ms: int, response_ref: list[AbortableEventSourceResponse],
    session_active: Callable[[str], bool], dev: DevReloader | None = None,
) -> AsyncGenerator[ServerSentEvent, None]:
    metrics.open_streams.inc()
    metrics.streams_opened.inc()
    try:
        yield ServerSentEvent(retry=retry_ms)
        async with hub.subscribe(after_id, session_id=principal.session_id) as feed:
            feed.subscription.on_close(
                lambda reason: response_ref[0].abort() if reason == "slow_consumer" else None
            )
            # A logout between the auth check and this subscription found nothing to
            # close: look again now that the hub would reach us.
            if not session_active(principal.session_id):
                log.info("SSE stream closed: session revoked before it started")
                return
            # The position frame: with its id the client can resume from the first byte,
            # even if the stream drops before any event (else a reconnect starts "from
            # now" again and whatever was committed in between is lost). A stream that
            # opens with a reset has it already: the reset carries the same id (and
            # goes first, so that a dev hello follows the stream's first frame).
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
            try:
                yield first
                while True:
                    item = await feed.next(timeout=None)
                    if item is not None:
                        yield _frame(item)
            finally:
                expiry.cancel()
                if undo_dev is not None:
                    undo_dev()
    except StreamClosed as closed:
        log.info("SSE stream closed: %s", closed.reason)
    finally:
        # Always balanced, whatever ended the stream (client gone, cancel, error).
        metrics.open_streams.dec()


async def events_sse(request: Request) -> Response:
    check_query_size(request)  # before anything reads it
    principal = _authenticate(request)
    after_id = parse_last_event_id(request)
    settings: Settings = request.app.state.settings
    response_ref: list[AbortableEventSourceResponse] = []
    response = AbortableEventSourceResponse(
        _stream(
            request.app.state.hub, request.app.state.metrics, principal, after_id,
            settings.retry_ms, response_ref, request.app.state.db.session_active,
            request.app.state.dev,
        ),
        ping=settings.ping_interval,
        ping_message_factory=_ping,
        send_timeout=settings.send_timeout,
    )
    response.send_buffer = settings.sse_send_buffer
    response_ref.append(response)
    return response


async def events_ticket(request: Request) -> JSONResponse:
    principal = require_principal(request, endpoint="ticket")
    ticket, expires_in = request.app.state.security.issue_ticket(principal)
    settings: Settings = request.app.state.settings
    # The client sizes its stall watchdog from the ping interval (0 = no pings).
    return JSONResponse({"ticket": ticket, "expires_in": expires_in,
                         "ping_interval": settings.ping_interval})


routes = [
    Route("/v1/events/sse", events_sse, methods=["GET"]),
    Route("/v1/events/ticket", events_ticket, methods=["POST"]),
]
