"""A short "day in a tab" (an operator keeps the orders page open all day, so what leaks per
event or per reconnect adds up): the full soak is ``make soak`` (``python -m bench.soak``:
10,000 orders, 100,000 events, 1,000 reconnects, 100 refreshes).

Here: 2,000 orders, 2,000 events through the REST API, 20 forced reconnects and 3 token
refreshes through the app's auth client, after a warm-up. At the end the tab's memory and
leak counters are flat (end <= start + the tolerances of ``bench.soak_probe.Tolerances``,
after a forced GC) and what the page holds and shows equals ``GET /v1/orders``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bench.soak import SERVER_ENV, SoakConfig, run_soak, wait_loaded
from bench.soak_probe import flatness, snapshot
from tests.browser.support import open_authed
from tests.support.live_server import LiveServer

ORDERS = 2_000


@pytest.mark.timeout(300)
def test_soak_smoke_memory_flat_and_table_equals_api(
    open_tab: Callable[..., Any], live_server_factory: Callable[..., LiveServer]
) -> None:
    server = live_server_factory(**SERVER_ENV, ZARIZ_SEED_ORDERS=str(ORDERS))
    page, log, _tokens = open_authed(open_tab, server, "/dashboard/orders")
    wait_loaded(page, ORDERS)
    cfg = SoakConfig(orders=ORDERS, events=2_000, reconnects=20, refreshes=3,
                     warmup_events=300, warmup_reconnects=5, warmup_refreshes=1,
                     max_s=240)
    result = run_soak(page, server, cfg, log=lambda _line: None)

    assert result["complete"], (result["steps"], result["events_sent"])
    assert result["failed_requests"] == {}
    assert result["steps"] == {"reconnect": 20, "refresh": 3}
    assert result["refresh_ok"] == 3 + 1  # + the warm-up's
    start, end = result["start"], result["end"]
    # Every forced reconnect and refresh opened a new stream; nothing failed on the way.
    assert end["client"]["opens"] - start["client"]["opens"] == 23
    assert end["client"]["errors"] == start["client"]["errors"]
    assert end["client"]["handler_errors"] == 0
    assert result["flat_problems"] == [], (result["flat_problems"], result["type_growth"])
    table = result["table"]
    assert table["ok"], table
    assert table["api_orders"] == table["store_orders"] >= ORDERS
    assert log.errors == []


@pytest.mark.timeout(200)
def test_soak_checks_catch_a_leak_and_a_wrong_table(
    open_tab: Callable[..., Any], live_server_factory: Callable[..., LiveServer]
) -> None:
    """The checks can fail: a subscriber that keeps every event and adds 9 DOM nodes and
    a listener per event is reported (Python objects, DOM nodes, listeners), and a store
    that lost one order and holds a stale status for another is not equal to the API."""
    from bench.soak_probe import check_table, install
    from tests.browser.support import run_py

    server = live_server_factory(**SERVER_ENV, ZARIZ_SEED_ORDERS="200")
    page, _log, tokens = open_authed(open_tab, server, "/dashboard/orders")
    wait_loaded(page, 200)
    install(page)
    cdp = page.context.new_cdp_session(page)
    run_py(page, LEAK)
    start = snapshot(page, cdp)
    for i in range(LEAK_EVENTS):
        server.create_order(tokens["access_token"], customer=f"Leak {i}")
    page.wait_for_function("n => window.__leaked >= n", arg=LEAK_EVENTS, timeout=60_000)
    end = snapshot(page, cdp)
    problems = " ".join(flatness(start, end, SoakConfig().tolerances))
    for key in ("dom_nodes", "js_listeners", "py_objects"):
        assert key in problems, problems

    run_py(page, CORRUPT)
    table = check_table(page, server, tokens["access_token"])
    assert not table["ok"]
    assert table["n_missing"] == 1 and table["n_stale"] == 1, table


LEAK_EVENTS = 60
CORRUPT = """
import gc
from zariz.ui.orders_store import OrdersStore
_store = max((o for o in gc.get_objects() if isinstance(o, OrdersStore)), key=lambda s: s.version)
_ids = sorted(_store._orders)
# Through the store's own bookkeeping (as a lost or misapplied event would), so its
# newest-first index stays consistent with what it holds.
_store._drop(_ids[0])
_store._put(_ids[1], {**_store._orders[_ids[1]], "status": "cancelled", "updated_at": "x"})
_store._touch()
"""


LEAK = """
import js
from pyodide.ffi import create_proxy
from zariz.boot import runtime
_leak_kept = []
js.window.__leaked = 0
def _leak(ev):
    holder = js.document.createElement("div")
    for _ in range(4):
        holder.appendChild(js.document.createElement("span")).textContent = str(ev.id)
    holder.addEventListener("click", create_proxy(lambda e: None))
    js.document.body.appendChild(holder)
    _leak_kept.append([[k, ev.data] for k in range(100)])  # 101 GC-tracked lists
    js.window.__leaked += 1
runtime().client.subscribe(_leak, events=["order.created"])
"""
