"""The load process of ``bench.server_fanout``: N concurrent SSE streams on raw asyncio.

Runs in its own process (never inside the server's), talks to the orchestrator by JSON
lines on stdout and plain commands on stdin::

    python -m bench.loadgen --port 8124 --path /events --streams 5000 --events 5 \
        [--header 'Authorization: Bearer ...'] [--concurrency 256]

1. Opens ``--streams`` HTTP/1.1 connections to 127.0.0.1 (at most ``--concurrency``
   handshakes in flight), sends ``GET path`` and counts a stream as connected when its
   ``200`` response head has arrived. Then prints
   ``{"phase": "connected", "ok": n, "failed": f, "connect_s": s, "errors": {...}}``.
2. Every SSE line holding a publisher stamp ``bench-seq=<n>;t=<t>`` (``t`` =
   ``time.monotonic()`` in the publisher right before it sent the POST; CLOCK_MONOTONIC
   is system-wide on Linux, so it compares across processes) is recorded with its receive
   time (``time.monotonic()`` on entry to ``data_received``). When every open stream has
   seq n, it prints ``{"phase": "complete", "seq": n}``, so the publisher can space events
   after full delivery.
3. On ``finish`` (stdin), or when every stream has ``--events`` events, it prints
   ``{"phase": "result", "latency_ms": {seq: [...]}, "received": {...}, "closed": c}``
   and exits, closing every socket.

One ``asyncio.Protocol`` per stream, no task and no parser object per stream: the load
side stays cheap enough that 10k streams do not starve the server of CPU more than needed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import re
import sys
import time
from collections import Counter

from bench.common import raise_nofile

MARKER = re.compile(rb"bench-seq=(\d+);t=([0-9.]+)")


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class Collector:
    """Shared state: per seq, the latencies seen so far; signals full delivery."""

    def __init__(self, expected_events: int) -> None:
        self.expected_events = expected_events
        self.latency: dict[int, list[float]] = {}
        self.open_streams = 0
        self.closed_after_connect = 0
        self.announced: set[int] = set()
        self.all_done = asyncio.Event()

    def record(self, seq: int, t_sent: float, t_recv: float) -> None:
        bucket = self.latency.setdefault(seq, [])
        bucket.append((t_recv - t_sent) * 1000.0)
        if len(bucket) >= self.open_streams and seq not in self.announced:
            self.announced.add(seq)
            emit({"phase": "complete", "seq": seq})
            if len(self.announced) >= self.expected_events:
                self.all_done.set()


class SSEStream(asyncio.Protocol):
    __slots__ = ("request", "collector", "head", "buf", "connected", "transport",
                 "closed", "seen")

    def __init__(self, request: bytes, collector: Collector) -> None:
        self.request = request
        self.collector = collector
        self.head: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.buf = b""
        self.connected = False
        self.closed = False
        self.transport: asyncio.Transport | None = None
        self.seen: set[int] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buf = self.buf + data
        if not self.connected:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            status_line = buf[: buf.find(b"\r\n")]
            parts = status_line.split(b" ", 2)
            status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            if not self.head.done():
                self.head.set_result(status)
            if status != 200:
                self.transport.close()  # type: ignore[union-attr]
                return
            self.connected = True
            buf = buf[end + 4:]
        cut = buf.rfind(b"\n")
        if cut < 0:
            self.buf = buf
            return
        complete, self.buf = buf[: cut + 1], buf[cut + 1:]
        if b"bench-seq=" in complete:
            for match in MARKER.finditer(complete):
                seq = int(match.group(1))
                if seq not in self.seen:  # SSE ids are unique; guard replays anyway
                    self.seen.add(seq)
                    self.collector.record(seq, float(match.group(2)), now)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.head.done():
            self.head.set_exception(exc or ConnectionError("closed before the response head"))
        elif self.connected:
            self.collector.closed_after_connect += 1
            self.collector.open_streams -= 1


async def open_streams(args: argparse.Namespace, collector: Collector) -> list[SSEStream]:
    loop = asyncio.get_running_loop()
    headers = "".join(f"{h}\r\n" for h in args.header)
    request = (
        f"GET {args.path} HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\n"
        f"Accept: text/event-stream\r\nCache-Control: no-cache\r\n{headers}\r\n"
    ).encode()
    gate = asyncio.Semaphore(args.concurrency)
    errors: Counter[str] = Counter()
    streams: list[SSEStream] = []

    async def one() -> None:
        async with gate:
            stream = SSEStream(request, collector)
            try:
                await asyncio.wait_for(
                    loop.create_connection(lambda: stream, args.host, args.port),
                    args.connect_timeout,
                )
                status = await asyncio.wait_for(stream.head, args.connect_timeout)
            except (OSError, TimeoutError, ConnectionError) as exc:
                errors[type(exc).__name__] += 1
                if stream.transport is not None:
                    stream.transport.close()
                return
            if status != 200:
                errors[f"http_{status}"] += 1
                return
            streams.append(stream)

    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(args.streams)))
    elapsed = time.monotonic() - started
    collector.open_streams = sum(1 for s in streams if not s.closed)
    emit({"phase": "connected", "ok": len(streams), "failed": args.streams - len(streams),
          "connect_s": round(elapsed, 4), "errors": dict(errors)})
    return streams


async def main_async(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    collector = Collector(args.events)
    streams = await open_streams(args, collector)
    # The instrument must not pause mid-measurement: no cyclic GC in the load process
    # from here on (it only allocates latency floats until it exits).
    gc.collect()
    gc.freeze()
    gc.disable()

    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def wait_finish() -> None:
        while line := await reader.readline():
            if line.strip() == b"finish":
                return

    finish = asyncio.ensure_future(wait_finish())
    done = asyncio.ensure_future(collector.all_done.wait())
    await asyncio.wait({finish, done}, timeout=args.max_wait,
                       return_when=asyncio.FIRST_COMPLETED)
    for fut in (finish, done):
        fut.cancel()
    emit({
        "phase": "result",
        "open": sum(1 for s in streams if not s.closed),
        "closed_after_connect": collector.closed_after_connect,
        "received": {str(k): len(v) for k, v in sorted(collector.latency.items())},
        "latency_ms": {str(k): [round(x, 3) for x in v]
                       for k, v in sorted(collector.latency.items())},
    })
    for stream in streams:
        if stream.transport is not None:
            stream.transport.abort()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/events")
    parser.add_argument("--streams", type=int, required=True)
    parser.add_argument("--events", type=int, default=5,
                        help="report as soon as every stream has this many stamped events")
    parser.add_argument("--header", action="append", default=[],
                        help="extra request header, e.g. 'Authorization: Bearer X'")
    parser.add_argument("--concurrency", type=int, default=256,
                        help="connection handshakes in flight at once")
    parser.add_argument("--connect-timeout", type=float, default=60.0)
    parser.add_argument("--max-wait", type=float, default=300.0,
                        help="give up waiting for events after this many seconds")
    parser.add_argument("--loop", choices=("auto", "uvloop", "asyncio"), default="auto",
                        help="event loop of the load process (auto: uvloop if installed)")
    args = parser.parse_args()
    if args.host not in {"127.0.0.1", "localhost", "::1"}:
        parser.error("loopback only")
    raise_nofile()
    if loop_name(args.loop) == "uvloop":
        import uvloop

        uvloop.run(main_async(args))
    else:
        asyncio.run(main_async(args))


def loop_name(choice: str) -> str:
    """``auto`` -> uvloop when installed: the load process shares the 2 cores with the
    server, and every microsecond it spends reading a socket is one the server lacks."""
    if choice != "auto":
        return choice
    return "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"


if __name__ == "__main__":
    main()
