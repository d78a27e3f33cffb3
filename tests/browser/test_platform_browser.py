"""The Pyodide adapter's EventSource path in a real tab, driven by a scripted
EventSource (so a whole burst - open, events, error - is dispatched in one JS task, which
a real server cannot guarantee): order, batching, close from inside a batch, isolation
of a raising handler, proxy lifetimes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.support import open_authed, run_py
from tests.support.live_server import LiveServer

FAKE_EVENT_SOURCE = """() => {
  window.__fakes = [];
  window.EventSource = class extends EventTarget {
    constructor(url) { super(); this.url = url; this.readyState = 0; window.__fakes.push(this); }
    close() { this.readyState = 2; this.closed = (this.closed || 0) + 1; }
  };
}"""

SETUP = """
import builtins, js
from zariz.platform.browser import BrowserPlatform
platform = BrowserPlatform()
seen = []
box = {}
class Handlers:
    def on_open(self):
        seen.append("open")
    def on_event(self, ev):
        seen.append(f"{ev.type}:{ev.last_event_id}")
        if MODE == "close" and ev.last_event_id == "2":
            box["close"]()
        if MODE == "raise" and ev.last_event_id == "2":
            raise RuntimeError("boom in a handler")
    def on_error(self, closed):
        seen.append(f"error:{closed}")
        if MODE == "close_on_error":
            box["close"]()
box["close"] = platform.open_event_source("/x", Handlers(), ["ping", "reset"])
builtins.__adapter_test = (platform, seen, box)
"""

DUMP = """
import builtins, js, json
platform, seen, box = builtins.__adapter_test
js.window.__adapterOut = json.dumps({"seen": seen, "live": platform.live_proxies()})
"""

BURST = """([n, error, readyState, closeFirst]) => {
  const f = window.__fakes[window.__fakes.length - 1];
  f.readyState = 1; f.dispatchEvent(new Event('open'));
  for (let i = 1; i <= n; i++) {
    const type = i % 3 === 0 ? 'ping' : 'message';
    f.dispatchEvent(new MessageEvent(type, {data: '{}', lastEventId: String(i)}));
  }
  if (error) { f.readyState = readyState; f.dispatchEvent(new Event('error')); }
  if (closeFirst) window.__closeAdapter();
}"""


def _run(open_tab: Callable[..., Any], server: LiveServer, mode: str, *, error: bool = True,
         ready_state: int = 0, close_before_flush: bool = False) -> dict[str, Any]:
    page, log, _ = open_authed(open_tab, server)
    page.evaluate(FAKE_EVENT_SOURCE)
    run_py(page, f"MODE = {mode!r}\n" + SETUP + (
        "from pyodide.ffi import create_proxy\n"
        "js.window.__closeAdapter = create_proxy(lambda *a: box['close']())\n"))
    page.evaluate(BURST, [5, error, ready_state, close_before_flush])
    page.wait_for_timeout(100)  # let the batch's task run (the outcome is then read)
    run_py(page, DUMP)
    out: dict[str, Any] = json.loads(page.evaluate("window.__adapterOut"))
    out["console"] = log.console
    out["closed"] = page.evaluate("window.__fakes[window.__fakes.length - 1].closed || 0")
    return out


def test_events_keep_their_order_and_the_error_comes_after_them(open_tab, live_server):
    out = _run(open_tab, live_server, "none")
    assert out["seen"] == ["open", "message:1", "message:2", "ping:3", "message:4",
                           "message:5", "error:False"]


def test_close_inside_a_batch_drops_the_rest_and_releases_every_proxy(open_tab, live_server):
    out = _run(open_tab, live_server, "close")
    assert out["seen"] == ["open", "message:1", "message:2"]
    assert out["live"] == 0 and out["closed"] == 1


def test_close_before_the_batch_is_flushed_delivers_nothing(open_tab, live_server):
    out = _run(open_tab, live_server, "none", error=False, close_before_flush=True)
    assert out["seen"] == ["open"] and out["live"] == 0


def test_close_from_the_error_handler_after_the_events(open_tab, live_server):
    out = _run(open_tab, live_server, "close_on_error", ready_state=2)
    assert out["seen"][-1] == "error:True" and len(out["seen"]) == 7
    assert out["live"] == 0


@pytest.mark.parametrize("error", [True, False])
def test_a_raising_handler_loses_neither_the_batch_nor_the_error(
    open_tab, live_server, error: bool
):
    """Regression: with batching, one raising handler used to drop the rest of its batch
    and, on the error path, the error itself (the client then never reconnected)."""
    out = _run(open_tab, live_server, "raise", error=error)
    expected = ["open", "message:1", "message:2", "ping:3", "message:4", "message:5"]
    assert out["seen"] == expected + (["error:False"] if error else [])
    assert any("boom in a handler" in line for line in out["console"])


def test_storage_cleared_in_another_tab_logs_this_one_out(open_tab, live_server):
    page, _log, _ = open_authed(open_tab, live_server)
    other = page.context.new_page()
    other.goto(live_server.url + "/healthz")  # same origin, same localStorage
    other.evaluate("localStorage.clear()")
    page.wait_for_function("window.__zarizSSEClient.status === 'disconnected'")
    stats = page.evaluate("JSON.parse(JSON.stringify(window.__zarizSSEClient.stats))")
    # None crosses into JS as null (not undefined), so no key goes missing.
    assert stats["retry_in"] is None and "last_event_id" in stats
    assert stats["open_sources"] == 0


# The adapter's fetch: the answer's status and headers reach `on_headers` before the
# request returns, with the names in lower case; a raising hook is logged and the answer
# still comes back; the orders API's next-page header arrives that way.
HEADERS_FIRST = """
import asyncio, json, js
from zariz.boot import runtime
from zariz.platform.browser import BrowserPlatform

async def _headers_first():
    platform = BrowserPlatform()
    token = runtime().auth.access_token
    order = []
    def hook(status, headers):
        order.append(["headers", status, headers.get("x-zariz-next-before-id"),
                      headers.get("content-type"), sorted(k for k in headers if k != k.lower())])
    resp = await platform.request("GET", "/v1/orders?limit=1",
                                  headers={"Authorization": "Bearer " + token}, on_headers=hook)
    order.append(["answer", resp.status, [o["id"] for o in resp.body["items"]]])
    def broken(status, headers):
        raise RuntimeError("a broken hook")
    again = await platform.request("GET", "/v1/orders?limit=1",
                                   headers={"Authorization": "Bearer " + token}, on_headers=broken)
    order.append(["after a broken hook", again.status])
    js.window.__headersFirst = json.dumps(order)

asyncio.ensure_future(_headers_first())
"""


def test_the_headers_reach_on_headers_before_the_answer_returns(open_tab, live_server):
    order = live_server.create_order(live_server.login()["access_token"], customer="Head First")
    live_server.create_order(live_server.login()["access_token"], customer="Older is newer")
    page, log, _ = open_authed(open_tab, live_server)
    run_py(page, HEADERS_FIRST)
    page.wait_for_function("window.__headersFirst", timeout=20_000)
    seen = json.loads(page.evaluate("window.__headersFirst"))
    newest = seen[1][2][0]
    assert seen == [
        ["headers", 200, str(newest), "application/json", []],
        ["answer", 200, [newest]],
        ["after a broken hook", 200],
    ], seen
    assert newest > order["id"]
    assert any("on_headers failed" in line and "a broken hook" in line
               for line in log.console), log.console[-5:]
