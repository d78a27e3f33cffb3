"""The baseline for ``bench.server_fanout``: sse-starlette's own broadcasting example.

A faithful, minimal copy of ``examples/02_broadcasting.py`` from sysid/sse-starlette
(one bounded ``asyncio.Queue`` per stream, ``put_nowait`` to every queue on publish, a
full queue evicts its client; the stream is an async iterator that checks
``request.is_disconnected()`` and then awaits its queue; ``EventSourceResponse`` serves it
under uvicorn, one process). Two deliberate differences, both neutral for the benchmark:

* plain Starlette routes instead of FastAPI (FastAPI is Starlette underneath and is not
  installed here; only the POST handler's request parsing differs);
* the ping interval is a parameter (``BASELINE_PING``, default 3600 s) so that, like the
  zariz run (``ZARIZ_PING_INTERVAL``), no keep-alive ping lands inside a measurement.

Routes: ``GET /events`` (the stream), ``POST /send`` with ``{"message": str, "event":
str|null}`` (broadcast to every queue), ``GET /status``, ``GET /healthz``.

Run: ``python -m bench.baseline_broadcast --port 8124`` (binds 127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import asyncio
import os

import uvicorn
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.common import raise_nofile


class _ClientDisconnect:
    """Sentinel used to terminate an evicted client's stream."""


_DISCONNECT = _ClientDisconnect()
_QueueItem = ServerSentEvent | _ClientDisconnect


class BroadcastStream:
    """Connects one client to the broadcaster (async iterator for EventSourceResponse)."""

    def __init__(self, request: Request, broadcaster: MessageBroadcaster) -> None:
        self.request = request
        self.broadcaster = broadcaster
        self.queue: asyncio.Queue[_QueueItem] | None = None
        self._registered = False
        self._closed = False

    def __aiter__(self) -> BroadcastStream:
        if not self._closed and not self._registered:
            self.queue = self.broadcaster.add_client()
            self._registered = True
        return self

    async def __anext__(self) -> ServerSentEvent:
        if self._closed:
            raise StopAsyncIteration
        try:
            if await self.request.is_disconnected():
                raise StopAsyncIteration
            assert self.queue is not None
            message = await self.queue.get()
            if isinstance(message, _ClientDisconnect):
                raise StopAsyncIteration
            return message
        except BaseException:
            await self._cleanup()
            raise

    async def aclose(self) -> None:
        await self._cleanup()

    async def _cleanup(self) -> None:
        self._closed = True
        if self._registered and self.queue:
            self.broadcaster.remove_client(self.queue)
            self._registered = False


class MessageBroadcaster:
    """One bounded asyncio.Queue per client; broadcast = put_nowait into each."""

    def __init__(self, max_queue_size: int = 100) -> None:
        if max_queue_size <= 0:
            raise ValueError("max_queue_size must be greater than zero")
        self._max_queue_size = max_queue_size
        self._clients: list[asyncio.Queue[_QueueItem]] = []

    def add_client(self) -> asyncio.Queue[_QueueItem]:
        client_queue: asyncio.Queue[_QueueItem] = asyncio.Queue(maxsize=self._max_queue_size)
        self._clients.append(client_queue)
        return client_queue

    def remove_client(self, client_queue: asyncio.Queue[_QueueItem]) -> None:
        if client_queue in self._clients:
            self._clients.remove(client_queue)

    def disconnect_client(self, client_queue: asyncio.Queue[_QueueItem]) -> None:
        self.remove_client(client_queue)
        while not client_queue.empty():
            client_queue.get_nowait()
        client_queue.put_nowait(_DISCONNECT)

    async def broadcast(self, message: str, event: str | None = None) -> None:
        if not self._clients:
            return
        sse_event = ServerSentEvent(data=message, event=event)
        disconnected_clients = []
        for client_queue in self._clients:
            try:
                client_queue.put_nowait(sse_event)
            except asyncio.QueueFull:
                disconnected_clients.append(client_queue)
        for client_queue in disconnected_clients:
            self.disconnect_client(client_queue)

    def create_stream(self, request: Request) -> BroadcastStream:
        return BroadcastStream(request, self)

    @property
    def client_count(self) -> int:
        return len(self._clients)


def create_app(ping: float) -> Starlette:
    broadcaster = MessageBroadcaster()

    async def sse_endpoint(request: Request) -> EventSourceResponse:
        return EventSourceResponse(broadcaster.create_stream(request), ping=ping)

    async def send_message(request: Request) -> JSONResponse:
        body = await request.json()
        message = body["message"]
        if not isinstance(message, str):
            return JSONResponse({"detail": "message must be a string"}, status_code=422)
        await broadcaster.broadcast(message=message, event=body.get("event"))
        return JSONResponse(
            {"status": "sent", "clients": broadcaster.client_count, "message": message}
        )

    async def status(request: Request) -> JSONResponse:
        return JSONResponse({"connected_clients": broadcaster.client_count})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[
        Route("/events", sse_endpoint, methods=["GET"]),
        Route("/send", send_message, methods=["POST"]),
        Route("/status", status, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline_broadcast")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ping", type=float,
                        default=float(os.environ.get("BASELINE_PING", "3600")))
    parser.add_argument("--log-level", default="warning")
    # Pinned, not uvicorn's "auto": with uvloop/httptools installed (the zariz server's
    # production stack) "auto" would switch the baseline's stack under the comparison.
    parser.add_argument("--http", default="h11", choices=("h11", "httptools"))
    parser.add_argument("--loop", default="asyncio", choices=("asyncio", "uvloop"))
    args = parser.parse_args()
    raise_nofile()
    # Loopback only; uvicorn defaults otherwise (as the zariz server: backlog 2048).
    uvicorn.run(create_app(args.ping), host="127.0.0.1", port=args.port,
                log_level=args.log_level, http=args.http, loop=args.loop)


if __name__ == "__main__":
    main()
