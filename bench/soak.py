"""A day in a tab (issue 7, section 3): one tab on ``/dashboard/orders`` with 10,000
orders takes 100,000 events, 1,000 forced reconnects and 100 token refreshes, compressed
in time; its memory must be flat at the end and its table must equal the API.

    python -m bench.soak                              # the full soak, writes bench/RESULTS.md
    python -m bench.soak --events 5000 --reconnects 50 --refreshes 5 --no-write

How (everything against a real ``python -m server`` from ``LiveServer``, one Chromium):

* **Events** come from the real REST API: a driver thread keeps a few keep-alive HTTP/1.1
  connections (raw asyncio, so the load process costs little CPU) and sends a mix of
  ``PATCH`` (notes; 60 %), create/delete pairs (20 %, so the number of orders stays put),
  assign (10 %) and status changes (10 %). Each connection owns its own slice of the
  orders, so no request conflicts with another and every 2xx is exactly one event.
* **Reconnects** are forced from the page (``__zarizSSEClient.reconnect()``) while events
  keep flowing; **refreshes** go through the app's own auth client
  (``runtime().auth.refresh()``), whose token change makes the client reconnect too.
  Each step waits until the stream is open again (``stats.opens`` grew).
* **Start** and **end** snapshots are taken in a quiet moment (driver idle, the tab
  caught up with the server's newest event id, no load in flight, no toast or animation
  frame pending) after a forced GC: Python ``gc.collect()`` in the page, then CDP
  ``HeapProfiler.collectGarbage``. The start snapshot follows a warm-up (a few percent of
  the events, reconnects and one refresh) so one-time allocations are not counted.
* **Flat** means every end value is <= start + the tolerance stated in the report.
* **Table == API**: the page's ``OrdersStore`` (found through ``gc`` in the page) holds
  exactly the ids, statuses and ``updated_at`` of ``GET /v1/orders``; the rendered first
  page, a filtered page and the per-status counts shown equal the API's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import pathlib
import platform as pyplatform
import random
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.results import report
from tests.support.live_server import LiveServer

SECTION = "soak"
SERVER_ENV = {
    # The soak's refreshes are its own (counted); a token expiring mid-run would add
    # reconnects nobody asked for.
    "ZARIZ_ACCESS_TTL": "3600",
    "ZARIZ_LOG_LEVEL": "warning",  # 100,000 access-log lines would cost more than the app
}
STATUSES = ("new", "assigned", "picked_up", "delivered", "cancelled")


# -- configuration ------------------------------------------------------------------------


@dataclass(frozen=True)
class Tolerances:
    """How much an end value may exceed its start value and still count as flat."""

    js_heap_bytes: int = 3_000_000  # plus js_heap_ratio of the start
    js_heap_ratio: float = 0.10
    wasm_bytes: int = 8 * 1024 * 1024  # linear memory never shrinks: growth is the leak
    py_objects: int = 2_000  # plus py_objects_ratio of the start
    py_objects_ratio: float = 0.02
    dom_nodes: int = 200  # one page of 50 rows; a row with a note has 2 nodes more
    js_listeners: int = 5
    live_proxies: int = 0
    ui_listeners: int = 0
    documents: int = 0

    def describe(self) -> list[str]:
        return [
            f"JS heap (used, after GC): +{self.js_heap_bytes / 1e6:.0f} MB "
            f"+ {self.js_heap_ratio:.0%} of start",
            f"WASM linear memory: +{self.wasm_bytes / 2**20:.0f} MiB",
            f"Python GC-tracked objects: +{self.py_objects:,} + {self.py_objects_ratio:.0%}",
            f"DOM nodes: +{self.dom_nodes} (rows with and without notes differ)",
            f"JS event listeners: +{self.js_listeners}; documents, live proxies and the "
            "app's own listener count: +0",
        ]


@dataclass
class SoakConfig:
    orders: int = 10_000
    events: int = 100_000
    reconnects: int = 1_000
    refreshes: int = 100
    warmup_events: int = 2_000
    warmup_reconnects: int = 10
    warmup_refreshes: int = 1
    connections: int = 3
    max_s: float = 2_400.0  # the whole soak gives up (and reports so) after this
    seed: int = 7
    tolerances: Tolerances = field(default_factory=Tolerances)


# -- the event driver ---------------------------------------------------------------------


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
    failed (counted in ``failed``)."""

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


# -- the page -------------------------------------------------------------------------------

PAGE_PY = """
import gc, json
import js
from pyodide.ffi import create_proxy
from zariz.boot import runtime
from zariz.ui.orders_store import OrdersStore

_soak_rt = runtime()
_soak_state = {"refresh_calls": 0, "refresh_ok": 0, "refresh_failed": 0}


def _soak_stores():
    return [o for o in gc.get_objects() if isinstance(o, OrdersStore)]


def _soak_wasm():
    try:
        import pyodide_js
        return int(pyodide_js._module.HEAP8.length)
    except Exception:
        return -1


def _soak_probe(*_):
    gc.collect()
    objects = gc.get_objects()
    types = {}
    for o in objects:
        name = type(o).__name__
        types[name] = types.get(name, 0) + 1
    count = len(objects)
    del objects
    stores = _soak_stores()
    return json.dumps({
        "py_objects": count, "py_types": types, "wasm_bytes": _soak_wasm(),
        "stores": len(stores), "store_orders": [len(s) for s in stores],
        "refresh": dict(_soak_state),
    })


def _soak_store(*_):
    stores = _soak_stores()
    if not stores:
        return json.dumps({"stores": 0})
    store = max(stores, key=lambda s: s.version)  # the mounted page's gets every event
    return json.dumps({
        "stores": len(stores), "loaded": store.loaded, "loading": store.loading,
        "needs_refetch": store.needs_refetch, "last_event_id": store.last_event_id,
        "orders": [[o.get("id"), o.get("status"), o.get("updated_at")]
                   for o in store.all()],
    })


def _soak_refresh(*_):
    _soak_state["refresh_calls"] += 1

    async def go():
        try:
            ok = await _soak_rt.auth.refresh()
        except Exception:
            ok = False
        _soak_state["refresh_ok" if ok else "refresh_failed"] += 1

    _soak_rt.platform.spawn(go())


def _soak_status(*_):
    store = max(_soak_stores(), key=lambda s: s.version, default=None)
    return json.dumps({
        "refresh": dict(_soak_state),
        "store_loading": None if store is None else store.loading,
        "store_refetch": None if store is None else store.needs_refetch,
        "store_last_id": None if store is None else store.last_event_id,
    })


_soak_api = js.Object.new()
_soak_api.probe = create_proxy(_soak_probe)
_soak_api.store = create_proxy(_soak_store)
_soak_api.refresh = create_proxy(_soak_refresh)
_soak_api.status = create_proxy(_soak_status)
js.window.__soak = _soak_api
"""

CLIENT_OPEN = """n => { const s = window.__zarizSSEClient && __zarizSSEClient.stats;
  return !!s && s.opens > n && s.status === 'connected'; }"""


def install(page: Any) -> None:
    """Install ``window.__soak`` (probe, store, refresh, status) in the page's Python."""
    from tests.browser.support import run_py

    run_py(page, PAGE_PY, timeout_ms=60_000)


def client_stats(page: Any) -> dict[str, Any]:
    return page.evaluate(  # type: ignore[no-any-return]
        "JSON.parse(JSON.stringify(window.__zarizSSEClient.stats))")


def newest_event_id(server: LiveServer) -> int:
    """The log's newest id, read from the server's SQLite file (read-only)."""
    with contextlib.closing(
        sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True, timeout=10)
    ) as db:
        row = db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
    return int(row[0])


def wait_quiet(page: Any, server: LiveServer, timeout_s: float = 120) -> float:
    """Until the tab has caught up with the log, has no load in flight, no refetch
    pending, no toast and no animation frame queued. Returns the seconds it took."""
    started = time.monotonic()
    newest = newest_event_id(server)
    page.wait_for_function(
        """n => { const s = __zarizSSEClient.stats;
          return s.status === 'connected' && s.phase === 'open'
            && Number(s.last_event_id) >= n; }""",
        arg=newest, timeout=timeout_s * 1000, polling=100)
    page.wait_for_function(
        """n => { const st = JSON.parse(__soak.status());
          const ui = __zarizUI();
          return st.store_loading === false && st.store_refetch === false
            && Number(st.store_last_id) >= n && ui.frames === 0 && ui.toasts === 0; }""",
        arg=newest, timeout=timeout_s * 1000, polling=200)
    return time.monotonic() - started


def snapshot(page: Any, cdp: Any) -> dict[str, Any]:
    """Memory and leak counters after a forced GC (Python first: collecting Python
    objects releases the JS proxies they hold, then V8 collects)."""
    py = json.loads(page.evaluate("__soak.probe()"))
    for _ in range(2):
        cdp.send("HeapProfiler.collectGarbage")
    heap = cdp.send("Runtime.getHeapUsage")
    dom = cdp.send("Memory.getDOMCounters")
    stats = client_stats(page)
    ui = page.evaluate("__zarizUI()")
    return {
        "js_heap_used": int(heap["usedSize"]), "js_heap_total": int(heap["totalSize"]),
        "wasm_bytes": py["wasm_bytes"], "py_objects": py["py_objects"],
        "py_types": py["py_types"], "stores": py["stores"], "store_orders": py["store_orders"],
        "dom_nodes": int(dom["nodes"]), "js_listeners": int(dom["jsEventListeners"]),
        "documents": int(dom["documents"]),
        "elements": page.evaluate("document.getElementsByTagName('*').length"),
        "live_proxies": stats["live_proxies"], "ui_listeners": ui["listeners"],
        "ui_timers": ui["timers"], "subscribers": stats["subscribers"],
        "client": {k: stats[k] for k in ("opens", "reconnects", "events", "errors",
                                         "duplicates_dropped", "stalls", "handler_errors")},
    }


def flatness(start: dict[str, Any], end: dict[str, Any], tol: Tolerances) -> list[str]:
    """The values that grew beyond their tolerance (empty: flat)."""
    limits = {
        "js_heap_used": start["js_heap_used"] * (1 + tol.js_heap_ratio) + tol.js_heap_bytes,
        "wasm_bytes": start["wasm_bytes"] + tol.wasm_bytes,
        "py_objects": start["py_objects"] * (1 + tol.py_objects_ratio) + tol.py_objects,
        "dom_nodes": start["dom_nodes"] + tol.dom_nodes,
        "js_listeners": start["js_listeners"] + tol.js_listeners,
        "documents": start["documents"] + tol.documents,
        "live_proxies": start["live_proxies"] + tol.live_proxies,
        "ui_listeners": start["ui_listeners"] + tol.ui_listeners,
    }
    problems = [f"{k}: {start[k]:,} -> {end[k]:,} (limit {limit:,.0f})"
                for k, limit in limits.items() if end[k] > limit]
    if end["stores"] != 1:
        problems.append(f"OrdersStore instances alive: {end['stores']} (expected 1)")
    return problems


def type_growth(start: dict[str, Any], end: dict[str, Any], top: int = 8) -> list[str]:
    a, b = start["py_types"], end["py_types"]
    deltas = sorted(((b.get(k, 0) - a.get(k, 0), k) for k in set(a) | set(b)), reverse=True)
    return [f"{k} {d:+,}" for d, k in deltas[:top] if d > 0]


# -- table == API ----------------------------------------------------------------------------


def api_orders(http: httpx.Client, status: str | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        params: dict[str, Any] = {"limit": 500, "offset": len(items)}
        if status:
            params["status"] = status
        body = http.get("/v1/orders", params=params).raise_for_status().json()
        items.extend(body["items"])
        if not body["items"] or len(items) >= body["total"]:
            return items


def _shown_rows(page: Any) -> list[list[str]]:
    return page.evaluate(  # type: ignore[no-any-return]
        """() => Array.from(document.querySelectorAll('[data-testid=order-row]'))
             .map(r => [r.dataset.orderId, r.dataset.status])""")


def _count(text: str) -> int:
    digits = "".join(ch for ch in text if ch.isdigit())
    return int(digits) if digits else -1


def check_table(page: Any, server: LiveServer, token: str) -> dict[str, Any]:
    """Compare what the page holds and shows with ``GET /v1/orders``."""
    with httpx.Client(base_url=server.url, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as http:
        api = api_orders(http)
        store = json.loads(page.evaluate("__soak.store()"))
        api_map = {o["id"]: (o["status"], o["updated_at"]) for o in api}
        table = {row[0]: (row[1], row[2]) for row in store.get("orders", [])}
        missing = sorted(set(api_map) - set(table))
        extra = sorted(set(table) - set(api_map))
        stale = sorted(k for k in set(api_map) & set(table) if api_map[k] != table[k])
        duplicates = len(store.get("orders", [])) - len(table)

        first_api = [[str(o["id"]), o["status"]] for o in api[:50]]
        first_shown = _shown_rows(page)
        counts_shown = page.evaluate(
            """() => Object.fromEntries(Array.from(document.querySelectorAll(
                 '[data-testid=orders-filter] [data-filter]')).map(b => [
                 b.dataset.filter || 'all', b.querySelector('.tab-count').textContent]))""")
        counts_api = {s: sum(1 for o in api if o["status"] == s) for s in STATUSES}
        counts_api["all"] = len(api)
        counts_mismatch = {k: (_count(counts_shown.get(k, "")), v)
                           for k, v in counts_api.items() if _count(counts_shown.get(k, "")) != v}

        # One filtered page, through the UI (the filter tab), against the API's.
        pick = min((s for s in STATUSES if counts_api[s] > 0),
                   key=lambda s: counts_api[s], default="new")
        page.click(f"[data-testid=filter-{pick}]")
        # aria-pressed and the rows change in the same render pass.
        page.wait_for_function(
            """s => { const b = document.querySelector(`[data-testid=filter-${s}]`);
                 const rows = document.querySelectorAll('[data-testid=order-row]');
                 return b.getAttribute('aria-pressed') === 'true' && rows.length > 0
                   && Array.from(rows).every(r => r.dataset.status === s); }""",
            arg=pick, timeout=30_000)
        filtered_shown = _shown_rows(page)
        filtered_api = [[str(o["id"]), o["status"]] for o in api if o["status"] == pick][:50]
        page.click("[data-testid=filter-all]")
        page.wait_for_function(
            "() => document.querySelector('[data-testid=filter-all]')"
            ".getAttribute('aria-pressed') === 'true'", timeout=30_000)
    ok = (not missing and not extra and not stale and duplicates == 0
          and first_shown == first_api and filtered_shown == filtered_api
          and not counts_mismatch and store.get("stores") == 1)
    return {
        "ok": ok, "api_orders": len(api), "store_orders": len(table),
        "missing": missing[:20], "extra": extra[:20], "stale": stale[:20],
        "n_missing": len(missing), "n_extra": len(extra), "n_stale": len(stale),
        "duplicates": duplicates, "stores": store.get("stores"),
        "first_page_equal": first_shown == first_api,
        "filtered_status": pick, "filtered_page_equal": filtered_shown == filtered_api,
        "counts_mismatch": counts_mismatch,
    }


# -- the soak ---------------------------------------------------------------------------------


def _schedule(reconnects: int, refreshes: int) -> list[str]:
    """``reconnects`` + ``refreshes`` steps, the refreshes spread evenly."""
    total = reconnects + refreshes
    marks = {round((i + 0.5) * total / refreshes) for i in range(refreshes)} if refreshes else set()
    return ["refresh" if i in marks else "reconnect" for i in range(total)]


class _Requests:
    """Counts the tab's REST requests by kind (refetches of the order list, tickets,
    refreshes) from Playwright's request events."""

    def __init__(self, page: Any) -> None:
        self.counts: Counter[str] = Counter()
        self.page = page
        page.on("request", self._on)

    def _on(self, request: Any) -> None:
        url = request.url
        if "/v1/orders?" in url or url.endswith("/v1/orders"):
            self.counts["orders_list"] += 1
        elif "/v1/events/ticket" in url:
            self.counts["ticket"] += 1
        elif "/v1/auth/refresh" in url:
            self.counts["refresh"] += 1
        elif "/v1/events/sse" in url:
            self.counts["sse"] += 1

    def close(self) -> None:
        self.page.remove_listener("request", self._on)


def _step(page: Any, kind: str, refresh_ok: int, timeout_ms: float = 60_000) -> int:
    """One forced reconnect or refresh; returns the refreshes that succeeded so far."""
    opens = int(client_stats(page)["opens"])
    if kind == "refresh":
        page.evaluate("__soak.refresh()")
        page.wait_for_function(
            "n => JSON.parse(__soak.status()).refresh.refresh_ok > n",
            arg=refresh_ok, timeout=timeout_ms, polling=20)
        refresh_ok += 1
    else:
        page.evaluate("__zarizSSEClient.reconnect()")
    page.wait_for_function(CLIENT_OPEN, arg=opens, timeout=timeout_ms, polling=20)
    return refresh_ok


def run_soak(page: Any, server: LiveServer, cfg: SoakConfig,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """The soak on a tab that is already on ``/dashboard/orders`` with the client
    connected and the orders loaded. Returns everything measured."""
    t_start = time.monotonic()
    deadline = t_start + cfg.max_s
    cdp = page.context.new_cdp_session(page)
    cdp.send("HeapProfiler.enable")
    requests = _Requests(page)
    install(page)
    driver_tokens = server.login()
    with httpx.Client(base_url=server.url, timeout=30, headers={
            "Authorization": f"Bearer {driver_tokens['access_token']}"}) as http:
        orders = {o["id"]: o["status"] for o in api_orders(http)}
        couriers = [c["id"] for c in http.get("/v1/couriers").raise_for_status().json()["items"]
                    if c.get("active", True)]
    driver = EventDriver(server.port, driver_tokens["access_token"], orders, couriers,
                         cfg.connections, cfg.seed)
    driver.start()

    def pause() -> None:
        page.wait_for_timeout(10)  # lets Playwright deliver the page's events meanwhile

    refresh_ok = 0
    out: dict[str, Any] = {"config": dataclasses.asdict(cfg), "complete": False}
    try:
        boot = snapshot(page, cdp)
        # Warm-up: the same mix, not counted.
        warm = _schedule(cfg.warmup_reconnects, cfg.warmup_refreshes)
        for i, kind in enumerate(warm, 1):
            driver.release(round(i * cfg.warmup_events / len(warm)))
            refresh_ok = _step(page, kind, refresh_ok)
        driver.release(cfg.warmup_events)
        driver.wait_done(cfg.warmup_events, 300, pause)
        wait_quiet(page, server)
        start = snapshot(page, cdp)
        start_requests = Counter(requests.counts)
        base_events = driver.done
        log(f"[soak] start: {_brief(start)}")

        steps = _schedule(cfg.reconnects, cfg.refreshes)
        t_run = time.monotonic()
        done_steps = Counter[str]()
        for i, kind in enumerate(steps, 1):
            if time.monotonic() > deadline:
                log(f"[soak] deadline ({cfg.max_s:.0f} s) reached after {i - 1} steps")
                break
            target = base_events + round(i * cfg.events / len(steps))
            driver.release(target)  # events flow while the stream reconnects
            refresh_ok = _step(page, kind, refresh_ok)
            done_steps[kind] += 1
            driver.wait_done(target, max(30.0, deadline - time.monotonic()), pause)
            if i % max(1, len(steps) // 10) == 0:
                el = time.monotonic() - t_run
                log(f"[soak] {i}/{len(steps)} steps, {driver.done - base_events:,} events, "
                    f"{el:.0f} s ({(driver.done - base_events) / el:,.0f} events/s)")
        run_s = time.monotonic() - t_run
        quiet_s = wait_quiet(page, server, timeout_s=300)
        end = snapshot(page, cdp)
        table = check_table(page, server, driver_tokens["access_token"])
        wait_quiet(page, server)
        after_check = snapshot(page, cdp)
        sent = driver.done - base_events
        out.update({
            "complete": (done_steps["reconnect"] == cfg.reconnects
                         and done_steps["refresh"] == cfg.refreshes and sent == cfg.events),
            "boot": boot, "start": start, "end": end, "after_check": after_check,
            "events_sent": sent, "event_kinds": dict(driver.kinds),
            "failed_requests": dict(driver.failed), "steps": dict(done_steps),
            "refresh_ok": refresh_ok, "run_s": round(run_s, 1),
            "catch_up_s": round(quiet_s, 2), "total_s": round(time.monotonic() - t_start, 1),
            "events_per_s": round(sent / run_s, 1) if run_s else 0.0,
            "requests": {k: v - start_requests.get(k, 0) for k, v in requests.counts.items()},
            "table": table,
            "flat_problems": flatness(start, end, cfg.tolerances),
            "type_growth": type_growth(start, end),
            "server_newest_event_id": newest_event_id(server),
        })
        log(f"[soak] end:   {_brief(end)}")
    finally:
        driver.stop()
        requests.close()
        with contextlib.suppress(Exception):
            cdp.detach()
    return out


def _brief(s: dict[str, Any]) -> str:
    return (f"JS heap {s['js_heap_used'] / 1e6:.1f} MB, WASM {s['wasm_bytes'] / 2**20:.1f} MiB, "
            f"py objects {s['py_objects']:,}, DOM nodes {s['dom_nodes']:,}, "
            f"listeners {s['js_listeners']}, proxies {s['live_proxies']}")


# -- report -----------------------------------------------------------------------------------

ROWS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("js_heap_used", "JS heap used (CDP `Runtime.getHeapUsage`, after GC)",
     lambda v: f"{v / 1e6:.2f} MB"),
    ("wasm_bytes", "Pyodide WASM linear memory", lambda v: f"{v / 2**20:.1f} MiB"),
    ("py_objects", "Python GC-tracked objects (after `gc.collect()`)", lambda v: f"{v:,}"),
    ("live_proxies", "live JS<->Python proxies (`stats.live_proxies`)", lambda v: f"{v}"),
    ("dom_nodes", "DOM nodes (CDP `Memory.getDOMCounters`)", lambda v: f"{v:,}"),
    ("js_listeners", "JS event listeners (CDP)", lambda v: f"{v}"),
    ("documents", "documents (CDP)", lambda v: f"{v}"),
    ("ui_listeners", "the app's own listener count (`__zarizUI().listeners`)", lambda v: f"{v}"),
    ("elements", "elements in the document", lambda v: f"{v:,}"),
]


def render(result: dict[str, Any], command: str) -> str:
    cfg = result["config"]
    start, end, boot = result["start"], result["end"], result["boot"]
    table = result["table"]
    flat = not result["flat_problems"]
    lines = [
        "## Soak: a day in a tab",
        "",
        f"Run {dt.date.today().isoformat()} on {pyplatform.node() or 'this machine'} "
        f"({os.cpu_count()} cores, shared with other work), Chromium headless, one tab on "
        f"`/dashboard/orders` with {cfg['orders']:,} orders against `python -m server`. "
        f"After a warm-up ({cfg['warmup_events']:,} events, {cfg['warmup_reconnects']} "
        f"reconnects, {cfg['warmup_refreshes']} refresh): **{result['events_sent']:,} events, "
        f"{result['steps'].get('reconnect', 0):,} forced reconnects and "
        f"{result['steps'].get('refresh', 0)} token refreshes** in {result['run_s']:.0f} s "
        f"({result['events_per_s']:,.0f} events/s through the REST API, the tab caught up "
        f"{result['catch_up_s']:.1f} s after the last one)"
        + ("" if result["complete"] else " - **INCOMPLETE: stopped at the deadline**") + ".",
        "",
        f"Rerun: `{command}`",
        "",
        "| measure | after boot | start | end | end - start | flat |",
        "|---|---:|---:|---:|---:|:---:|",
    ]
    problems = " ".join(result["flat_problems"])
    for key, label, fmt in ROWS:
        delta = end[key] - start[key]
        sign = "+" if delta >= 0 else "-"
        verdict = "NO" if problems.startswith(key) or f" {key}:" in problems else "yes"
        if key == "elements":
            verdict = "-"
        lines.append(f"| {label} | {fmt(boot[key])} | {fmt(start[key])} | {fmt(end[key])} "
                     f"| {sign}{fmt(abs(delta))} | {verdict} |")
    c0, c1 = start["client"], end["client"]
    dups = c1["duplicates_dropped"] - c0["duplicates_dropped"]
    lines += [
        "",
        f"**Flat: {'yes' if flat else 'NO'}**"
        + ("" if flat else " - " + "; ".join(result["flat_problems"])) + ". Tolerances: "
        + "; ".join(cfg_tol for cfg_tol in Tolerances(**cfg["tolerances"]).describe()) + ".",
        "",
        f"**Table == API: {'yes' if table['ok'] else 'NO'}** - {table['api_orders']:,} "
        f"orders from `GET /v1/orders`, {table['store_orders']:,} in the page's store "
        f"(missing {table['n_missing']}, extra {table['n_extra']}, status/`updated_at` "
        f"differing {table['n_stale']}, duplicates {table['duplicates']}); first page of 50 "
        f"rows as rendered: {'equal' if table['first_page_equal'] else 'DIFFERENT'}; the "
        f"`{table['filtered_status']}` filter's first page: "
        f"{'equal' if table['filtered_page_equal'] else 'DIFFERENT'}; per-status counts "
        f"shown: {'equal' if not table['counts_mismatch'] else table['counts_mismatch']}.",
        "",
        f"Client counters over the run: {c1['opens'] - c0['opens']:,} stream opens, "
        f"{c1['events'] - c0['events']:,} events (each stream's `position` frame counts as "
        f"one), {dups:,} duplicates dropped, "
        f"{c1['errors'] - c0['errors']} stream errors, "
        f"{c1['stalls'] - c0['stalls']} stalls, {c1['handler_errors'] - c0['handler_errors']} "
        f"handler errors; REST: {result['requests'].get('orders_list', 0)} order-list requests "
        f"(refetches), {result['requests'].get('ticket', 0):,} tickets, "
        f"{result['requests'].get('refresh', 0)} refreshes. Events by kind: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(result["event_kinds"].items()))
        + (f"; failed requests: {result['failed_requests']}" if result["failed_requests"]
           else "") + ".",
    ]
    if result["type_growth"]:
        lines += ["", "Python object types that grew most (end - start): "
                  + ", ".join(result["type_growth"]) + "."]
    lines += [
        "",
        "Snapshots are taken with the tab quiet (caught up with the server's newest event "
        "id, no load in flight, no toast or frame pending), after `gc.collect()` in the page "
        "and two CDP `HeapProfiler.collectGarbage`. WASM linear memory never shrinks, so it "
        "shows the peak need; growth after the warm-up is what a leak would look like.",
    ]
    return "\n".join(lines)


# -- command line -------------------------------------------------------------------------------


@contextlib.contextmanager
def soak_tab(orders: int) -> Iterator[tuple[Any, LiveServer]]:
    """A LiveServer with ``orders`` seeded orders and one Chromium tab on the orders
    page, logged in and loaded (the same plumbing as the browser tests)."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
    from tests.browser.support import open_authed

    with tempfile.TemporaryDirectory(prefix="zariz-soak-") as tmp:
        server = LiveServer(pathlib.Path(tmp),
                            env={**SERVER_ENV, "ZARIZ_SEED_ORDERS": str(orders)})
        server.start()
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    default_context = browser.new_context(
                        viewport={"width": 1280, "height": 800})

                    def open_tab(base_url: str, context: Any = None) -> tuple[Any, None]:
                        page = (context or default_context).new_page()
                        origin = base_url.rstrip("/") + "/"
                        page.route("**/*", lambda r: r.continue_()
                                   if r.request.url.startswith(origin) else r.abort())
                        return page, None

                    page, _log, _tokens = open_authed(open_tab, server, "/dashboard/orders")
                    wait_loaded(page, orders)
                    yield page, server
                finally:
                    browser.close()
        finally:
            server.stop()


def wait_loaded(page: Any, orders: int, timeout_ms: float = 120_000) -> None:
    page.wait_for_function(
        "n => (document.querySelector('[data-testid=orders-summary]')?.textContent || '')"
        ".replace(/[,\\u202f\\s]/g, '').includes('of' + n)", arg=orders, timeout=timeout_ms)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    d = SoakConfig()
    parser.add_argument("--orders", type=int, default=d.orders)
    parser.add_argument("--events", type=int, default=d.events)
    parser.add_argument("--reconnects", type=int, default=d.reconnects)
    parser.add_argument("--refreshes", type=int, default=d.refreshes)
    parser.add_argument("--warmup-events", type=int, default=d.warmup_events)
    parser.add_argument("--warmup-reconnects", type=int, default=d.warmup_reconnects)
    parser.add_argument("--warmup-refreshes", type=int, default=d.warmup_refreshes)
    parser.add_argument("--connections", type=int, default=d.connections)
    parser.add_argument("--max-s", type=float, default=d.max_s,
                        help="stop the soak (and say so) after this many seconds")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--json", type=pathlib.Path, help="also write the raw result here")
    args = parser.parse_args(argv)
    cfg = SoakConfig(orders=args.orders, events=args.events, reconnects=args.reconnects,
                     refreshes=args.refreshes, warmup_events=args.warmup_events,
                     warmup_reconnects=args.warmup_reconnects,
                     warmup_refreshes=args.warmup_refreshes,
                     connections=args.connections, max_s=args.max_s)
    with soak_tab(cfg.orders) as (page, server):
        result = run_soak(page, server, cfg)
    command = " ".join(["python -m bench.soak",
                        *(argv if argv is not None else sys.argv[1:])]).strip()
    report(render(result, command), SECTION, write=not args.no_write, raw=result,
           raw_path=args.json)
    return 0 if result["complete"] and result["table"]["ok"] and not result["flat_problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
