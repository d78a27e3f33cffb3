"""The soak's event driver (see ``bench/soak.py``): mutations through the real REST API
from a thread of its own, on a few keep-alive HTTP/1.1 connections (raw asyncio, so the load
costs the machine little next to the tab it measures), each connection owning its own slice
of the orders so that no request conflicts with another and every 2xx is exactly one event.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any


class _Pool:
    """Order ids with O(1) add, remove and random pick."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.status: dict[int, str] = {}
        self._index: dict[int, int] = {}

    def add(self, oid: int, status: str) -> None:
        if oid not in self._index:
            self._index[oid] = len(self.ids)
            self.ids.append(oid)
        self.status[oid] = status

    def remove(self, oid: int) -> None:
        i = self._index.pop(oid)
        last = self.ids.pop()
        if last != oid:
            self.ids[i] = last
            self._index[last] = i
        del self.status[oid]

    def pick(self, rng: random.Random, statuses: tuple[str, ...] | None = None,
             tries: int = 12) -> int | None:
        for _ in range(tries if self.ids else 0):
            oid = self.ids[rng.randrange(len(self.ids))]
            if statuses is None or self.status[oid] in statuses:
                return oid
        return None


Request = tuple[str, str, str, Any]  # kind, method, path, body


class EventDriver:
    """Sends mutations through the REST API from its own thread; ``release(n)`` lets
    ``n`` more through. Every released slot becomes exactly one event unless the request
    failed (each failed attempt is counted in ``failed``); a slot is retried up to 5 times,
    then given up (``given_up``) and still counted ``done``, so the run moves on.
    ``sent`` is the number of events the driver actually caused."""

    def __init__(self, port: int, token: str, orders: dict[int, str], couriers: list[int],
                 connections: int = 3, seed: int = 7) -> None:
        self.port, self.token, self.couriers = port, token, couriers or [1]
        self.connections = connections
        self.pools = [_Pool() for _ in range(connections)]
        for oid, status in orders.items():
            self.pools[oid % connections].add(oid, status)
        self.balance = [0] * connections  # created - deleted, per connection
        self.rngs = [random.Random(seed * 1000 + w) for w in range(connections)]
        self.kinds: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.issued = self.done = self.allowed = 0
        self.given_up = 0
        self.seq = 0
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="soak-driver", daemon=True)

    # -- control (main thread) -----------------------------------------------------------
    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the event driver did not start")

    def release(self, total: int) -> None:
        """Allow ``total`` events in all (not more)."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._bump, total)

    def wait_done(self, total: int, timeout: float, pause: Callable[[], None]) -> None:
        deadline = time.monotonic() + timeout
        while self.done < total:
            if self._error is not None:
                raise RuntimeError("the event driver failed") from self._error
            if not self._thread.is_alive():
                raise RuntimeError("the event driver stopped")
            if time.monotonic() > deadline:
                raise TimeoutError(f"driver: {self.done}/{total} events after {timeout:.0f} s")
            pause()

    @property
    def sent(self) -> int:
        """Events caused so far: one per 2xx answer."""
        return sum(self.kinds.values())

    def stop(self) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._halt)
        self._thread.join(15)

    # -- the loop (driver thread) -----------------------------------------------------------
    def _bump(self, total: int) -> None:
        self.allowed = max(self.allowed, total)
        assert self._wake is not None
        self._wake.set()

    def _halt(self) -> None:
        self._stopping = True
        assert self._wake is not None
        self._wake.set()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the main thread by wait_done
            self._error = exc

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._ready.set()
        await asyncio.gather(*(self._worker(w) for w in range(self.connections)))

    async def _claim(self) -> bool:
        assert self._wake is not None
        while self.issued >= self.allowed:
            if self._stopping:
                return False
            self._wake.clear()
            await self._wake.wait()
        self.issued += 1
        return True

    async def _worker(self, w: int) -> None:
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        last_used = 0.0
        try:
            while await self._claim():
                for _attempt in range(5):
                    kind, method, path, body = self._pick(w)
                    # uvicorn closes keep-alive connections idle for 5 s: start afresh
                    # rather than race its close.
                    if conn is not None and time.monotonic() - last_used > 2.0:
                        conn[1].close()
                        conn = None
                    if conn is None:
                        conn = await asyncio.open_connection("127.0.0.1", self.port)
                    try:
                        status, payload = await self._request(conn, method, path, body)
                    except (ConnectionError, asyncio.IncompleteReadError):
                        conn[1].close()
                        conn = None
                        self.failed["connection"] += 1
                        continue
                    last_used = time.monotonic()
                    if 200 <= status < 300:
                        self._apply(w, kind, path, payload)
                        self.kinds[kind] += 1
                        break
                    self.failed[f"{kind} {status}"] += 1
                else:
                    self.given_up += 1
                self.done += 1
        finally:
            if conn is not None:
                conn[1].close()

    def _pick(self, w: int) -> Request:
        rng, pool = self.rngs[w], self.pools[w]
        self.seq += 1
        r = rng.random()
        if r < 0.2:
            if self.balance[w] > 0 and (oid := pool.pick(rng)) is not None:
                return "delete", "DELETE", f"/v1/orders/{oid}", None
            return "create", "POST", "/v1/orders", {
                "customer": f"Soak {self.seq}", "phone": "+972-50-000-0000",
                "address": f"Herzl {self.seq % 200 + 1}, Tel Aviv",
            }
        if r < 0.3 and (oid := pool.pick(rng, ("new", "assigned"))) is not None:
            return "assign", "POST", f"/v1/orders/{oid}/assign", {
                "courier_id": rng.choice(self.couriers)}
        if r < 0.4 and (oid := pool.pick(rng, ("assigned", "picked_up"))) is not None:
            nxt = {"assigned": "picked_up", "picked_up": "delivered"}[pool.status[oid]]
            target = "cancelled" if rng.random() < 0.1 else nxt
            return "status", "POST", f"/v1/orders/{oid}/status", {"status": target}
        oid = pool.pick(rng)
        if oid is None:  # an empty slice: grow it
            return "create", "POST", "/v1/orders", {
                "customer": f"Soak {self.seq}", "phone": "+972-50-000-0000",
                "address": "Herzl 1, Tel Aviv"}
        # A unique note: a PATCH that changes nothing writes no event.
        return "patch", "PATCH", f"/v1/orders/{oid}", {"notes": f"soak note {self.seq}"}

    def _apply(self, w: int, kind: str, path: str, payload: Any) -> None:
        pool = self.pools[w]
        if kind == "create" and isinstance(payload, dict):
            pool.add(int(payload["id"]), str(payload.get("status", "new")))
            self.balance[w] += 1
        elif kind == "delete":
            oid = int(path.rsplit("/", 1)[1])
            if oid in pool.status:
                pool.remove(oid)
            self.balance[w] -= 1
        elif kind in ("assign", "status") and isinstance(payload, dict):
            pool.add(int(payload["id"]), str(payload["status"]))

    async def _request(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                       method: str, path: str, body: Any) -> tuple[int, Any]:
        reader, writer = conn
        data = b"" if body is None else json.dumps(body).encode()
        writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode() + data
        )
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in lines[1:] if line)}
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            await reader.readexactly(2)
            raw = b"".join(chunks)
        else:
            raw = await reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            raise ConnectionError("server closed the connection")
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None
