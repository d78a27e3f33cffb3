"""What the soak measures in the tab (see ``bench/soak.py``): memory and leak counters after
a forced GC (:func:`snapshot`), whether they stayed flat (:func:`flatness` against
:class:`Tolerances`), a quiet moment to take them in (:func:`wait_quiet`), and whether what
the page holds and shows equals ``GET /v1/orders`` (:func:`check_table`).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.live_server import LiveServer

STATUSES = ("new", "assigned", "picked_up", "delivered", "cancelled")


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


# -- the page -----------------------------------------------------------------------------


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


# -- table == API -------------------------------------------------------------------------


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
