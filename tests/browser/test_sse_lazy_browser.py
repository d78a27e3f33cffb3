"""Lazy mode (``?sse=lazy``) in a real browser against a real server: the stream is open
while a live widget needs it and closes ``idle`` seconds after the last one left.

In the app, what needs the stream is a page's live data (the overview, orders and couriers
pages subscribe to order events); the shell's connection indicator and the toasts listen
without holding it open. The app's one page without a live widget is "not found", so that
is the static page here. Counted from outside: the server's open-stream gauge and the
browser's own requests to the SSE endpoint.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.browser.conftest import max_concurrent_streams, wait_booted
from tests.browser.support import GaugeSampler, run_py, stats, wait_client, wait_until

OPEN_STREAMS = "zariz_sse_open_streams"
IDLE_S = 3
LAZY = f"?sse=lazy,idle={IDLE_S}"
LIVE = "/dashboard/orders"
STATIC = "/dashboard/no-live-widget"
IDLE_LINE = f"[SSE] idle: closing after {IDLE_S} s with no subscribers"

# Every change of the indicator's phase and of the stale banner, with Date.now(): proves
# an idle close never reads "Reconnecting" nor shows stale data.
_WATCH_UI = """() => {
  const read = () => [
    document.querySelector('[data-testid=sse-status]')?.dataset.phase,
    document.querySelector('[data-testid=stale-banner]')?.dataset.stale];
  window.__uiLog = [[Date.now(), ...read()]];
  new MutationObserver(() => {
    const last = window.__uiLog[window.__uiLog.length - 1];
    const now = read();
    if (now[0] !== last[1] || now[1] !== last[2]) window.__uiLog.push([Date.now(), ...now]);
  }).observe(document.body, {subtree: true, attributes: true,
                             attributeFilter: ['data-phase', 'data-stale']});
}"""


def session_script(server: Any) -> str:
    tokens = server.login()
    state = json.dumps(
        {"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"]}
    )
    return (f"if (!localStorage.getItem('zariz.auth')) "
            f"localStorage.setItem('zariz.auth', {json.dumps(state)})")


def open_lazy(open_tab: Any, server: Any, path: str, context: Any = None) -> tuple[Any, Any]:
    page, log = open_tab(server.url, context=context)
    page.add_init_script(session_script(server))
    page.goto(server.url + path + LAZY)
    wait_booted(page)
    assert stats(page)["mode"] == "lazy"
    return page, log


def go(page: Any, path: str) -> None:
    """Navigate inside the app (History API, as the router's links do) and wait for it."""
    page.evaluate(
        "p => { history.pushState(null, '', p); dispatchEvent(new PopStateEvent('popstate')); }",
        path,
    )
    wait_page(page, path)


def wait_page(page: Any, path: str) -> None:
    if path == LIVE:
        page.wait_for_selector("[data-testid=orders-page]")
    else:
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=orders-page]')"
            " && document.querySelector('#main .page h1')"
        )


def wait_seconds(page: Any, seconds: float) -> None:
    """Let ``seconds`` of the page's own clock pass (for what must *not* happen)."""
    until = page.evaluate("() => performance.now()") + seconds * 1000
    page.wait_for_function("t => performance.now() >= t", arg=until, polling=100)


def watch_ui(page: Any) -> None:
    page.evaluate(_WATCH_UI)


def ui_log(page: Any) -> list[list[Any]]:
    return page.evaluate("window.__uiLog")  # type: ignore[no-any-return]


def assert_honest(page: Any) -> None:
    """Since :func:`watch_ui`: never "Reconnecting", never the stale banner."""
    entries = ui_log(page)
    assert all(phase != "reconnecting" and stale != "true" for _t, phase, stale in entries), entries


def test_a_static_page_holds_no_stream_and_the_orders_page_exactly_one(
    live_server: Any, open_tab: Any
) -> None:
    page, log = open_lazy(open_tab, live_server, STATIC)
    wait_page(page, STATIC)
    watch_ui(page)
    wait_seconds(page, IDLE_S + 1)
    assert log.sse_requests == [] and live_server.metric(OPEN_STREAMS) == 0
    s = stats(page)
    assert (s["status"], s["idle"], s["connects"]) == ("disconnected", True, 0), s
    assert_honest(page)

    go(page, LIVE)
    wait_client(page, "connected")
    wait_until(lambda: live_server.metric(OPEN_STREAMS) == 1, 15, "the stream to open")
    assert len(log.sse_requests) == 1
    token = live_server.login()["access_token"]
    created = live_server.create_order(token, customer="Seen live")
    page.wait_for_selector(f"[data-testid=order-row][data-order-id='{created['id']}']")
    kept = stats(page)["last_event_id"]
    assert kept is not None

    watch_ui(page)
    left = time.monotonic()
    go(page, STATIC)
    assert stats(page)["idle_close_in"] is not None
    wait_client(page, "disconnected", timeout_ms=(IDLE_S + 30) * 1000)
    assert time.monotonic() - left >= IDLE_S - 0.5, "closed before the idle delay"
    wait_until(lambda: live_server.metric(OPEN_STREAMS) == 0, 15, "the stream to close")
    wait_until(lambda: any(IDLE_LINE in line for line in log.console), 5, "the idle log", page)
    assert stats(page)["idle"] is True and stats(page)["last_event_id"] == kept
    wait_seconds(page, 2)  # longer than the stale banner's grace
    assert_honest(page)
    assert len(log.sse_requests) == 1

    missed = live_server.create_order(token, customer="Created while closed")
    go(page, LIVE)
    wait_client(page, "connected")
    assert len(log.sse_requests) == 2
    resumed = parse_qs(urlsplit(log.sse_requests[1]).query)
    assert resumed.get("lastEventId") == [kept], log.sse_requests[1]
    page.wait_for_selector(f"[data-testid=order-row][data-order-id='{missed['id']}']")
    assert live_server.metric(OPEN_STREAMS) == 1
    assert max_concurrent_streams(log) == 1
    assert_honest(page)  # opening again on demand reads "Connecting…", not "Reconnecting"
    assert not log.errors, log.errors


def test_fifty_fast_route_changes_hold_one_stream_and_never_reopen(
    live_server: Any, open_tab: Any
) -> None:
    page, log = open_lazy(open_tab, live_server, LIVE)
    wait_page(page, LIVE)
    wait_client(page, "connected")
    with GaugeSampler(live_server) as gauge:
        gauge.wait_samples(2)
        for _ in range(25):  # 50 changes, each page rendered before the next
            go(page, STATIC)
            go(page, LIVE)
        # 50 more in one go, as fast as the router takes them.
        page.evaluate(
            """() => {
              for (let i = 0; i < 50; i++) {
                history.pushState(null, '', i % 2 ? '/dashboard/orders' : '/dashboard/x');
                dispatchEvent(new PopStateEvent('popstate'));
              }
            }"""
        )
        wait_page(page, LIVE)
        # A hot reload: the entry runs again, the UI is disposed and mounted again.
        run_py(page, "from zariz.boot import main\nmain()")
        wait_page(page, LIVE)
        gauge.wait_samples(2)
        assert stats(page)["status"] == "connected"
        assert len(log.sse_requests) == 1, log.sse_requests
        s = stats(page)
        assert (s["connects"], s["idle_closes"], s["reconnects"]) == (1, 0, 0), s
        go(page, STATIC)
        wait_client(page, "disconnected", timeout_ms=(IDLE_S + 30) * 1000)
        wait_until(lambda: live_server.metric(OPEN_STREAMS) == 0, 15, "the idle close")
        gauge.wait_samples(2)
    assert gauge.max <= 1, gauge.samples
    assert max_concurrent_streams(log) <= 1
    assert len(log.sse_requests) == 1 and stats(page)["idle_closes"] == 1
    assert not log.errors, log.errors


def test_the_leader_tab_keeps_the_stream_for_a_follower_until_that_tab_closes(
    live_server: Any, open_tab: Any, browser: Any
) -> None:
    context = browser.new_context(viewport={"width": 1100, "height": 700})
    try:
        leader, _ = open_lazy(open_tab, live_server, STATIC, context=context)
        page_leader_role = "() => __zarizSSEClient.stats.role === 'leader'"
        leader.wait_for_function(page_leader_role)
        follower, _ = open_lazy(open_tab, live_server, LIVE, context=context)
        wait_page(follower, LIVE)
        assert stats(follower)["role"] == "follower"
        wait_client(follower, "connected")
        wait_until(lambda: live_server.metric(OPEN_STREAMS) == 1, 15, "the leader's stream")
        assert stats(leader)["remote_demand"] == 1
        wait_seconds(leader, IDLE_S + 1)
        assert live_server.metric(OPEN_STREAMS) == 1, "held open for the other tab"
        # Gone without a word: no unsubscribe runs in a closing tab; its lock is released.
        follower.close()
        wait_client(leader, "disconnected", timeout_ms=(IDLE_S + 30) * 1000)
        wait_until(lambda: live_server.metric(OPEN_STREAMS) == 0, 15, "the idle close")
        assert stats(leader)["idle"] is True and stats(leader)["remote_demand"] == 0
    finally:
        context.close()


def test_the_deployment_and_the_browser_choose_lazy_without_an_address_switch(
    tmp_path: Any, open_tab: Any
) -> None:
    """The config values behind ``?sse=``: ``ZARIZ_SSE_CLIENT`` (the server writes
    ``<meta name="zariz-sse">``) and ``localStorage['zariz.sse']`` (every tab of the
    origin), read by the page at boot; an address's word still wins over both."""
    from tests.support.live_server import LiveServer

    env = {"ZARIZ_SSE_CLIENT": f"lazy idle={IDLE_S}"}
    with LiveServer(_mkdir(tmp_path / "a"), env=env) as server:
        page, log = open_tab(server.url)
        page.add_init_script(session_script(server))
        page.goto(server.url + STATIC)
        wait_booted(page)
        assert page.get_attribute("meta[name=zariz-sse]", "content") == f"lazy idle={IDLE_S}"
        s = stats(page)
        assert (s["mode"], s["idle_close_s"]) == ("lazy", IDLE_S), s
        wait_seconds(page, IDLE_S + 1)
        assert log.sse_requests == [] and server.metric(OPEN_STREAMS) == 0
        page.goto(server.url + STATIC + "?sse=always")  # the address wins
        wait_booted(page)
        assert stats(page)["mode"] == "always"
        page.close()

    with LiveServer(_mkdir(tmp_path / "b")) as server:
        page, log = open_tab(server.url)
        page.add_init_script(session_script(server))
        page.add_init_script(f"localStorage.setItem('zariz.sse', 'lazy,idle={IDLE_S}')")
        page.goto(server.url + STATIC)
        wait_booted(page)
        assert page.query_selector("meta[name=zariz-sse]") is None
        s = stats(page)
        assert (s["mode"], s["idle_close_s"]) == ("lazy", IDLE_S), s
        wait_seconds(page, IDLE_S + 1)
        assert log.sse_requests == [] and server.metric(OPEN_STREAMS) == 0
        assert not log.errors, log.errors


def _mkdir(path: Any) -> Any:
    path.mkdir(parents=True, exist_ok=True)
    return path
