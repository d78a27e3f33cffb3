"""The bench server: the real zariz app plus two bench-only routes.

* ``/bench/pages/<name>.html`` - the baseline pages (plain JS, stock PyScript).
* ``/bench/stream`` - an SSE stream of ``BENCH_EVENTS`` pre-built ``order.updated``
  events written as fast as the socket takes them, then held open. It needs a ticket from
  the real ``/v1/events/ticket`` (so our client's connect path runs unchanged) but does not
  check it: this is a throughput probe, never deployed.

Run: ``python -m bench.server --port 8123 --db /tmp/bench.db`` (loopback only);
``--seed-orders N`` fills an empty database with N demo orders, ``--event-retention N`` keeps
the newest N rows of the event log (``bench.latency`` reads every run's stamps from it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib

import uvicorn
from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from server.app import create_app
from server.config import Settings

PAGES = pathlib.Path(__file__).resolve().parent / "pages"


def build_events(n: int) -> bytes:
    """``n`` SSE frames shaped like the real server's, as one buffer."""
    frames = []
    for i in range(1, n + 1):
        payload = {
            "type": "order.updated",
            "data": {"id": i, "customer": f"Customer {i}", "phone": "+972-50-000-0000",
                     "address": f"{i} Herzl St, Tel Aviv", "notes": None, "status": "assigned",
                     "courier_id": i % 5 + 1, "created_at": "2026-11-26T10:00:00Z",
                     "updated_at": "2026-11-26T10:00:01Z"},
            "ts": 1795730000000 + i,
        }
        frames.append(f"id: {i}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n")
    return "".join(frames).encode()


class BenchApp:
    def __init__(self, inner: ASGIApp, n_events: int) -> None:
        self.inner = inner
        self.body = build_events(n_events)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith("/bench/pages/"):
            name = pathlib.PurePosixPath(path).name
            target = PAGES / name
            if target.suffix not in {".html", ".py"} or not target.is_file():
                await Response("not found", 404)(scope, receive, send)
                return
            await FileResponse(target, headers={"Cache-Control": "no-cache"})(scope, receive, send)
            return
        if scope["type"] == "http" and path == "/bench/stream":
            await self.stream(send, receive)
            return
        await self.inner(scope, receive, send)

    async def stream(self, send: Send, receive: Receive) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
        chunk = 256 * 1024
        for start in range(0, len(self.body), chunk):
            await send({"type": "http.response.body", "body": self.body[start:start + chunk],
                        "more_body": True})
        # Hold the stream open (as a real one would) until the client goes away.
        while (await receive())["type"] != "http.disconnect":
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=pathlib.Path, required=True)
    parser.add_argument("--events", type=int, default=int(os.environ.get("BENCH_EVENTS", 20000)))
    parser.add_argument("--seed-orders", type=int, default=0)
    parser.add_argument("--event-retention", type=int, default=Settings.event_retention)
    args = parser.parse_args()
    settings = Settings(host="127.0.0.1", port=args.port, db_path=args.db,
                        seed_orders=args.seed_orders,
                        event_retention=args.event_retention)
    app = BenchApp(create_app(settings), args.events)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning",
                timeout_graceful_shutdown=2)


if __name__ == "__main__":
    main()
