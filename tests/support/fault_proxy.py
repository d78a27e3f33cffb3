"""``FaultProxy``: a TCP proxy on loopback whose faults tests switch at run time.

It runs its own asyncio loop in a background thread, so a synchronous test (Playwright's
sync API owns the test thread's loop) drives it with plain calls. Every control method
returns once the fault is in force: after ``cut()`` no byte of an old connection moves.

Usage::

    with FaultProxy(server.port) as proxy:      # listens on 127.0.0.1:<proxy.port>
        page.goto(proxy.url + "/dashboard")
        proxy.cut()                             # close every connection now, mid-stream
        proxy.stall(); ...; proxy.resume()      # keep sockets open, forward nothing
        proxy.latency(0.8)                      # each chunk delivered 0.8 s after it was read
        proxy.refuse(); ...; proxy.accept()     # new connections closed at once
        proxy.heal()                            # every fault off
        proxy.attempts(since=t0)                # connections accepted since t0 (monotonic)

Faults:

* ``cut()`` aborts both sides of every open connection (RST, no flush): the browser sees a
  network error in the middle of the stream, the server sees its client vanish.
* ``stall()`` stops reading and writing on every connection, old and new (new ones are
  accepted and connected upstream, then held); the kernel buffers fill, nothing is closed.
  ``resume()`` lets the held bytes through, in order.
* ``latency(s)`` delays every chunk, in both directions, by ``s`` seconds from the moment it
  was read (order kept; a request/response round trip gains ``2 * s``). ``latency(0)`` off.
* ``refuse()``: a new connection is accepted by the kernel and reset at once (what a
  browser sees from a port nobody serves, except that it is counted). ``accept()`` undoes.
* An upstream that refuses (server down) makes the proxy reset the client the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
CHUNK = 65_536
# How long a control call waits for the proxy's loop before it calls the proxy broken.
CONTROL_TIMEOUT = 10.0


@dataclass
class Connection:
    """One accepted client connection. Times: ``time.monotonic()`` and ``time.time()``."""

    number: int
    opened_at: float
    opened_wall: float
    outcome: str = "forwarded"  # "forwarded" | "refused" | "upstream_down"
    closed_at: float | None = None
    cut: bool = False
    bytes_up: int = 0  # client -> server
    bytes_down: int = 0  # server -> client


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), not FIN: an abrupt network failure, nothing flushed."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Link:
    """Both directions of one forwarded connection."""

    def __init__(self, proxy: FaultProxy, record: Connection,
                 client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                 upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.proxy, self.record = proxy, record
        self.client_reader, self.client_writer = client
        self.up_reader, self.up_writer = upstream
        self.tasks: list[asyncio.Task[None]] = []

    async def run(self) -> None:
        up = self._direction(self.client_reader, self.up_writer, "bytes_up")
        down = self._direction(self.up_reader, self.client_writer, "bytes_down")
        self.tasks = [asyncio.ensure_future(up), asyncio.ensure_future(down)]
        try:
            await asyncio.gather(*self.tasks)
        except (OSError, asyncio.IncompleteReadError):
            self.abort()
        except asyncio.CancelledError:
            self.abort()
            raise
        finally:
            for writer in (self.client_writer, self.up_writer):
                if not writer.transport.is_closing():
                    writer.close()
            self.record.closed_at = time.monotonic()

    async def _direction(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         counter: str) -> None:
        # Reader and writer are decoupled by a queue so that latency delays each chunk from
        # the moment it was read, without slowing the reading of the next one.
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        flowing = self.proxy._flowing

        async def pump_in() -> None:
            while True:
                await flowing.wait()
                data = await reader.read(CHUNK)
                await queue.put((time.monotonic() + self.proxy._latency, data))
                if not data:
                    return

        async def pump_out() -> None:
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                await flowing.wait()
                if not data:
                    if writer.can_write_eof() and not writer.transport.is_closing():
                        with contextlib.suppress(OSError):
                            writer.write_eof()
                    return
                writer.write(data)
                setattr(self.record, counter, getattr(self.record, counter) + len(data))
                await writer.drain()

        inbound = asyncio.ensure_future(pump_in())
        try:
            await pump_out()
        finally:
            inbound.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await inbound

    def abort(self) -> None:
        for writer in (self.client_writer, self.up_writer):
            _reset(writer)
        for task in self.tasks:
            task.cancel()


class FaultProxy:
    """See the module docstring."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1",
                 host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("FaultProxy listens on loopback only")
        self.upstream_host, self.upstream_port = upstream_host, upstream_port
        self.host, self.port = host, port
        self.connections: list[Connection] = []
        self._links: dict[int, _Link] = {}
        self._link_tasks: set[asyncio.Task[None]] = set()
        self._latency = 0.0
        self._refusing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._flowing: asyncio.Event
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FaultProxy:
        if self._thread is not None:
            raise RuntimeError("FaultProxy.start(): already started")
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(CONTROL_TIMEOUT):
            raise RuntimeError("FaultProxy did not start listening")
        if self._startup_error is not None:
            raise RuntimeError("FaultProxy failed to start") from self._startup_error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._listen())
        except BaseException as exc:  # surfaced by start()
            self._startup_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _listen(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        self._flowing.set()
        self._abort_all(mark_cut=False)
        tasks = list(self._link_tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def stop(self) -> None:
        """Close the listener and every connection; idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(CONTROL_TIMEOUT)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- connections -------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:  # so that stop() can cancel a connection still being set up
            self._link_tasks.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            if task is not None:
                self._link_tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            record = Connection(len(self.connections) + 1, time.monotonic(), time.time())
            self.connections.append(record)
        if self._refusing:
            record.outcome = "refused"
            record.closed_at = time.monotonic()
            _reset(writer)
            return
        try:
            upstream = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        except OSError:
            record.outcome = "upstream_down"
            record.closed_at = time.monotonic()
            _reset(writer)
            return
        link = _Link(self, record, (reader, writer), upstream)
        self._links[record.number] = link
        try:
            await link.run()
        except asyncio.CancelledError:
            pass  # cut() or stop(): the link is already aborted
        finally:
            self._links.pop(record.number, None)

    def _abort_all(self, mark_cut: bool = True) -> int:
        links = list(self._links.values())
        for link in links:
            link.record.cut = mark_cut
            link.abort()
        return len(links)

    # -- control (thread-safe) ---------------------------------------------------------
    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the proxy's loop and wait for it: on return it is in force."""
        loop = self._loop
        if loop is None or not loop.is_running():
            raise RuntimeError("FaultProxy is not running; call start() first")

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(CONTROL_TIMEOUT)

    def cut(self) -> int:
        """Reset every open connection now; returns how many were cut."""
        return self._call(self._abort_all)

    def stall(self) -> None:
        self._call(self._flowing.clear)

    def resume(self) -> None:
        self._call(self._flowing.set)

    @property
    def stalled(self) -> bool:
        return not self._flowing.is_set()

    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency must be >= 0")

        def set_latency() -> None:
            self._latency = float(seconds)

        self._call(set_latency)

    def refuse(self) -> None:
        def set_refusing() -> None:
            self._refusing = True

        self._call(set_refusing)

    def accept(self) -> None:
        def set_accepting() -> None:
            self._refusing = False

        self._call(set_accepting)

    def heal(self) -> None:
        """Every fault off: forwarding, accepting, no latency."""
        def heal() -> None:
            self._refusing = False
            self._latency = 0.0
            self._flowing.set()

        self._call(heal)

    # -- counting ----------------------------------------------------------------------
    @property
    def open_connections(self) -> int:
        return len(self._links)

    def attempts(self, since: float = 0.0, until: float | None = None,
                 outcome: str | None = None) -> list[Connection]:
        """Connections accepted in ``[since, until]`` (``time.monotonic()``), optionally
        only those with ``outcome``."""
        with self._lock:
            found = list(self.connections)
        return [
            c for c in found
            if c.opened_at >= since and (until is None or c.opened_at <= until)
            and (outcome is None or c.outcome == outcome)
        ]


__all__ = ["Connection", "FaultProxy"]
