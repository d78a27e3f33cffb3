"""The event client in a real tab (Debian chromium) against the real server.

One stream per tab whatever the app does, token rotation without
overlap, recovery after a server restart with nothing lost or doubled, offline pause.
The measured gaps and recovery times are printed (``-s``) for the closing notes.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from zariz.sse.client import BACKOFF_BASE_S

from tests.browser.conftest import max_concurrent_streams
from tests.browser.support import (
    COLLECT_EVENTS,
    GaugeSampler,
    open_authed,
    run_py,
    stats,
    wait_client,
    wait_until,
)
from tests.support.live_server import LiveServer

RECONNECT_LINE = re.compile(r"\[SSE\] reconnect in (\d+) ms \(attempt (\d+)\)")


def _received_ids(page: Any) -> list[int]:
    events = page.evaluate("Array.from(window.__events)")
    return [int(e["id"]) for e in events if e["event"].startswith("order.")]


# Re-executions with the client's modules reloaded (what a hot reload does) need their
# source files: a plain boot has them (as dev mode, the hot reloader's, does); a boot from
# the memory snapshot has the modules imported and no files, so it re-executes the entry
# without reloading them (a second script tag, a double mount).
@pytest.mark.parametrize("boot", ["plain", "snapshot"])
def test_one_stream_after_100_connects_and_20_reexecutions(
    open_tab: Callable[..., Any], live_server: LiveServer, boot: str
) -> None:
    path = "/dashboard?boot=plain" if boot == "plain" else "/dashboard"
    page, log, _ = open_authed(open_tab, live_server, path)
    assert page.evaluate("globalThis.__zarizBoot.mode") == boot
    page.evaluate("() => { for (let i = 0; i < 100; i++) window.__zarizSSEClient.connect(); }")
    reexec = (
        "import importlib, zariz.sse.client as c, zariz.sse.singleton as s, zariz.boot as b\n"
        + ("importlib.reload(c); importlib.reload(s); importlib.reload(b)\n"
           if boot == "plain" else "")
        + "b.main()\n"
    )
    for _ in range(20):
        run_py(page, reexec)
    # A fresh event proves the surviving connection is the live one.
    tokens = live_server.login()
    run_py(page, COLLECT_EVENTS)
    order = live_server.create_order(tokens["access_token"], customer="Single")
    page.wait_for_function(
        "id => Array.from(window.__events).some(e => e.id === String(id))",
        arg=_last_event_id(live_server, tokens, order["id"]),
        timeout=10_000,
    )
    s = stats(page)
    assert s["connect_calls"] >= 101
    assert s["connects"] == 1, s
    assert s["open_sources"] == 1
    assert len(log.sse_requests) == 1, log.sse_requests
    assert live_server.metric("zariz_sse_open_streams") == 1
    assert log.outside == []


def _last_event_id(server: LiveServer, tokens: dict[str, Any], order_id: int) -> int:
    """The newest event id, read through an independent SSE replay from id 0."""
    import httpx

    headers = {"Authorization": f"Bearer {tokens['access_token']}", "Last-Event-ID": "0"}
    last = 0
    with httpx.Client(timeout=5) as http, http.stream(
        "GET", server.url + "/v1/events/sse", headers=headers
    ) as resp:
        for line in resp.iter_lines():
            if line.startswith("id:"):
                last = int(line[3:].strip())
            if line.startswith("data:") and f'"id":{order_id},' in line.replace(" ", ""):
                return last
    raise AssertionError("order event not found in replay")


def test_token_rotation_never_overlaps_two_streams(
    open_tab: Callable[..., Any], live_server: LiveServer
) -> None:
    page, log, _ = open_authed(open_tab, live_server)
    with GaugeSampler(live_server) as sampler:
        for i in range(10):
            run_py(
                page,
                "import asyncio\nfrom zariz.boot import runtime\n"
                "asyncio.ensure_future(runtime().auth.refresh())",
            )
            page.wait_for_function(
                "n => window.__zarizSSEClient.stats.opens >= n", arg=i + 2, timeout=15_000
            )
            wait_client(page, "connected", 15_000)
            sampler.wait_samples(3)  # the server's view after every rotation is sampled
    s = stats(page)
    print(f"\n[rotation] gauge samples={len(sampler.samples)} max={sampler.max} stats={s}")
    assert len(sampler.samples) > 20
    assert sampler.max <= 1
    assert s["open_sources"] == 1
    assert len(log.sse_requests) == 11  # the first stream + one per rotation, one at a time
    # The gauge is sampled; Playwright's request events are not: never two in flight.
    page.wait_for_timeout(100)  # let the last abort event arrive
    assert max_concurrent_streams(log) == 1
    assert live_server.metric("zariz_sse_open_streams") == 1


def test_server_restart_backoff_then_recovery_exactly_once(
    open_tab: Callable[..., Any], live_server: LiveServer
) -> None:
    page, log, tokens = open_authed(open_tab, live_server)
    run_py(page, COLLECT_EVENTS)
    token = tokens["access_token"]
    live_server.create_order(token, customer="Before")
    wait_until(lambda: len(_received_ids(page)) == 1, 10, "the first event", page)

    attempts: list[float] = []
    page.on(
        "request",
        lambda r: attempts.append(time.monotonic()) if "/v1/events/ticket" in r.url else None,
    )
    # Phase 1: the server dies; the client backs off with growing, capped, jittered waits.
    live_server.kill()
    killed = time.monotonic()
    # Three attempts show the growth (ceilings 2, 4, 8 s); a fourth would add up to 16 s
    # to the suite and the wait for the retry after the restart up to 30 s.
    wait_until(lambda: len(attempts) >= 3, 60, "three reconnect attempts", page)
    delays = [
        (int(m.group(2)), int(m.group(1)))
        for line in log.console
        if (m := RECONNECT_LINE.search(line))
    ]
    gaps = [round(b - a, 2) for a, b in zip(attempts, attempts[1:], strict=False)]
    print(f"\n[restart] logged (attempt, delay ms): {delays}\n[restart] gaps between ticket "
          f"attempts (s): {gaps}")
    for attempt, delay_ms in delays:
        # full jitter: uniform in [0, min(cap, base * 2**(attempt-1))], base 2 s
        ceiling = min(30_000, BACKOFF_BASE_S * 1000 * 2 ** (attempt - 1))
        assert 0 <= delay_ms <= ceiling + 1, (attempt, delay_ms)
    assert [a for a, _ in delays][:3] == [1, 2, 3]
    assert s_status(page) != "connected"

    # Phase 2: while it is back but the client is still away, three orders are created.
    page.route("**/v1/events/ticket", lambda r: r.abort())
    live_server.restart()
    restarted = time.monotonic()
    for n in range(3):
        live_server.create_order(token, customer=f"While away {n}")
    assert s_status(page) != "connected"
    page.unroute("**/v1/events/ticket")
    wait_client(page, "connected", 45_000)
    recovered = time.monotonic()
    print(f"[restart] down {restarted - killed:.1f} s; connected {recovered - restarted:.2f} s "
          f"after the restart (next backoff retry)")
    wait_until(lambda: len(_received_ids(page)) >= 4, 15, "the orders created while away", page)
    ids = _received_ids(page)
    assert len(ids) == len(set(ids)) == 4, ids
    assert ids == list(range(ids[0], ids[0] + 4)), ids
    # ...and the connection is single again.
    wait_until(lambda: live_server.metric("zariz_sse_open_streams") == 1, 5, "one stream")
    assert stats(page)["open_sources"] == 1


def s_status(page: Any) -> str:
    return str(page.evaluate("window.__zarizSSEClient.status"))


def test_offline_pauses_and_online_reconnects_without_a_backoff_wait(
    open_tab: Callable[..., Any], live_server: LiveServer
) -> None:
    page, log, _ = open_authed(open_tab, live_server)
    context = page.context
    before = stats(page)
    context.set_offline(True)
    wait_client(page, "disconnected", 10_000)
    # Paused, not backing off: no retry timer armed, no attempt spent.
    during = stats(page)
    assert during["phase"] == "offline" and during["retry_in"] is None, during
    assert during["attempt"] == 0 and during["open_sources"] == 0
    assert during["connects"] == before["connects"], (before, during)
    context.set_offline(False)
    t0 = time.monotonic()
    wait_client(page, "connected", 10_000)
    back = time.monotonic() - t0
    print(f"\n[offline] reconnected {back * 1000:.0f} ms after going back online")
    after = stats(page)
    # Straight to a new attempt (within the random spread of up to a second that keeps
    # every tab of a browser from retrying in the same instant), never a backoff wait.
    assert after["connects"] == before["connects"] + 1 and after["reconnects"] == 0
    assert not any(RECONNECT_LINE.search(line) for line in log.console)


def test_reconnect_cycles_leave_proxies_at_baseline(
    open_tab: Callable[..., Any], live_server: LiveServer
) -> None:
    page, log, _ = open_authed(open_tab, live_server)
    baseline = stats(page)["live_proxies"]
    for i in range(100):
        page.evaluate("window.__zarizSSEClient.reconnect()")
        page.wait_for_function(
            "n => window.__zarizSSEClient.stats.opens >= n", arg=i + 2, timeout=15_000
        )
    wait_client(page, "connected")
    # 1,000 more, back to back: each one cancels the previous attempt mid-ticket.
    opens = stats(page)["opens"]
    page.evaluate("() => { for (let i = 0; i < 1000; i++) window.__zarizSSEClient.reconnect(); }")
    page.wait_for_function(
        "n => window.__zarizSSEClient.stats.opens > n", arg=opens, timeout=15_000
    )
    wait_client(page, "connected")
    after = stats(page)
    print(f"\n[hygiene] live proxies before={baseline}, after 1,100 reconnects="
          f"{after['live_proxies']}")
    assert after["live_proxies"] == baseline
    assert after["open_sources"] == 1
    assert after["reconnects"] >= 1100
    assert len(log.sse_requests) <= 110  # cancelled attempts never reached the stream
    wait_until(lambda: live_server.metric("zariz_sse_open_streams") == 1, 5, "one stream")


def test_refresh_racing_another_tab_keeps_the_session(
    open_tab: Callable[..., Any], live_server: LiveServer
) -> None:
    """Regression: tabs share one refresh token. When another tab rotates it while this
    tab's refresh for the same token is on the wire, the server used to revoke the whole
    session (reuse = theft) and log every tab out."""
    import json

    import httpx

    page, log, tokens = open_authed(open_tab, live_server)
    raced: dict[str, Any] = {}

    def other_tab_wins_first(route: Any) -> None:
        # "The other tab": rotates the same refresh token first and stores its new pair
        # (this tab's storage event has not arrived yet).
        won = httpx.post(f"{live_server.url}/v1/auth/refresh",
                         json={"refresh_token": tokens["refresh_token"]})
        raced["winner"] = won.json()
        state = json.dumps({"access_token": raced["winner"]["access_token"],
                            "refresh_token": raced["winner"]["refresh_token"]})
        page.evaluate("s => localStorage.setItem('zariz.auth', s)", state)
        route.continue_()

    page.route("**/v1/auth/refresh", other_tab_wins_first)
    opens = stats(page)["opens"]
    run_py(page, "import asyncio\nfrom zariz.boot import runtime\n"
                 "asyncio.ensure_future(runtime().auth.refresh())")
    page.wait_for_function("n => window.__zarizSSEClient.stats.opens > n", arg=opens,
                           timeout=15_000)
    wait_client(page, "connected", 15_000)
    assert raced["winner"]["access_token"]
    stored = json.loads(page.evaluate("localStorage.getItem('zariz.auth')"))
    assert stored["access_token"] == raced["winner"]["access_token"]
    me = httpx.get(f"{live_server.url}/v1/auth/me",
                   headers={"Authorization": f"Bearer {stored['access_token']}"})
    assert me.status_code == 200  # the session survived the race
    assert any("refresh raced another tab" in line for line in log.console)
    wait_until(lambda: live_server.metric("zariz_sse_open_streams") == 1, 5, "one stream")


def test_two_tabs_refreshing_at_once_share_one_request_through_web_locks(
    open_tab: Callable[..., Any], live_server: LiveServer
) -> None:
    """Tabs of one browser share the refresh token; the Web Lock lets one tab refresh and
    the other adopt its pair: one request, no 409, one session for both. Per-tab mode, so
    that each tab has a stream whose reconnect proves it took the new token (in shared
    mode only the leader has one)."""
    first, log, _ = open_authed(open_tab, live_server, "/dashboard?sse=per-tab")
    second, second_log = open_tab(live_server.url, context=first.context)
    second.goto(live_server.url + "/dashboard?sse=per-tab")  # same storage: same session
    wait_client(second, "connected")
    refreshes: list[str] = []
    held: list[Any] = []
    released = threading.Event()

    def hold_refresh(route: Any) -> None:
        # The lock holder's refresh waits until both tabs have asked for a refresh: the
        # race is then real, whichever tab wins the lock, however slowly the machine runs
        # the second tab's script.
        if released.is_set():
            route.continue_()
        else:
            held.append(route)

    for page in (first, second):
        page.on("request", lambda r: refreshes.append(r.url) if "/v1/auth/refresh" in r.url
                else None)
        page.route("**/v1/auth/refresh", hold_refresh)
    opens = [stats(first)["opens"], stats(second)["opens"]]
    code = ("import asyncio, js\nfrom zariz.boot import runtime\n"
            "js.window.__refreshAsked = True\n"
            "asyncio.ensure_future(runtime().auth.refresh())")
    for page in (first, second):  # both scripts are queued before either refresh runs
        page.evaluate(
            "code => { const s = document.createElement('script'); s.type = 'py';"
            " s.textContent = code; document.body.appendChild(s); }", code)
    for page in (first, second):
        page.wait_for_function("window.__refreshAsked === true", timeout=15_000)
    deadline = time.monotonic() + 15
    while not held and time.monotonic() < deadline:
        first.wait_for_timeout(50)  # lets Playwright dispatch the route handler
    assert held, "no refresh request was made"
    released.set()
    for route in held:
        route.continue_()
    for page, before in zip((first, second), opens, strict=True):
        page.wait_for_function("n => window.__zarizSSEClient.stats.opens > n", arg=before,
                               timeout=15_000)
        wait_client(page, "connected", 15_000)
    assert len(refreshes) == 1, refreshes
    assert not any("refresh raced" in line for line in log.console + second_log.console)
    tokens = [first.evaluate("localStorage.getItem('zariz.auth')"),
              second.evaluate("localStorage.getItem('zariz.auth')")]
    assert tokens[0] == tokens[1]
    wait_until(lambda: live_server.metric("zariz_sse_open_streams") == 2, 5, "two streams")


# --- the adapter's batch: one crossing per task, as UTF-8 --------------------------------
# A scripted EventSource: a whole burst is dispatched in one JS task (a real server cannot
# promise that), with text a real stream can carry and text only a synthetic event can.
FAKE_SOURCE = """() => {
  window.__fakes = [];
  window.EventSource = class extends EventTarget {
    constructor(url) { super(); this.url = url; this.readyState = 0; window.__fakes.push(this); }
    close() { this.readyState = 2; }
  };
}"""
BATCH_SETUP = """
import builtins, js
from zariz.platform.browser import BrowserPlatform
platform = BrowserPlatform()
class Handlers:
    def on_open(self): pass
    def on_error(self, closed): pass
    def on_event(self, ev):
        js.window.zBatches.push("per-event")
    def on_events(self, items):
        js.window.zBatches.push(js.JSON.parse(__import__("json").dumps(list(items))))
js.window.zBatches = js.Array.new()
builtins.__batch_close = platform.open_event_source("/x", Handlers(), ["ping"])
"""
DISPATCH = """(events) => {
  const f = window.__fakes[window.__fakes.length - 1];
  for (const [type, data, id] of events)
    f.dispatchEvent(new MessageEvent(type, {data, lastEventId: id}));
}"""
TEXTS = [
    '{"type":"order.created","data":{"customer":"דנה לוי","notes":"🚚 x\\u2028y"}}',
    "עברית · 😀 · \u0000 nul · \u2028 · \"quotes\" \\ backslash",
    "x" * 100_000,
    "",
]


def _batches(page: Any, n: int) -> list[Any]:
    page.wait_for_function("n => window.zBatches.length >= n", arg=n, timeout=10_000)
    return page.evaluate("Array.from(window.zBatches)")  # type: ignore[no-any-return]


def test_a_burst_crosses_as_one_batch_with_every_text_intact(
    open_tab: Callable[..., Any], live_server: LiveServer
) -> None:
    page, _log, _ = open_authed(open_tab, live_server)
    page.evaluate(FAKE_SOURCE)
    run_py(page, BATCH_SETUP)
    events = [["message", text, str(i)] for i, text in enumerate(TEXTS, 1)]
    events.append(["ping", "{}", "4"])
    page.evaluate(DISPATCH, events)
    batches = _batches(page, 1)
    assert batches == [[field for event in events for field in event]]


def test_a_field_with_a_cr_or_a_non_string_still_arrives_intact(
    open_tab: Callable[..., Any], live_server: LiveServer
) -> None:
    """A real stream cannot carry a CR in a field (its lines end at CR), the batch's
    separator; a synthetic event can. Such a batch goes over as an array instead."""
    page, _log, _ = open_authed(open_tab, live_server)
    page.evaluate(FAKE_SOURCE)
    run_py(page, BATCH_SETUP)
    page.evaluate(DISPATCH, [["message", "a\rb", "1"], ["message", "plain", "2\r"]])
    page.evaluate(DISPATCH, [["message", "after", "3"]])  # the next batch: UTF-8 again
    assert _batches(page, 2) == [["message", "a\rb", "1", "message", "plain", "2\r"],
                                 ["message", "after", "3"]]
    page.evaluate("""() => { const f = window.__fakes[window.__fakes.length - 1];
      f.dispatchEvent(new MessageEvent('message', {data: 42, lastEventId: '5'})); }""")
    assert _batches(page, 3)[2] == ["message", 42, "5"]


CLIENT_ON_FAKE = """
import builtins, js
from zariz.boot import runtime
from zariz.sse.client import SSEClient
rt = runtime()
client = SSEClient(rt.platform, rt.auth, sse_path="/fake/stream")
def broken(ev):
    if ev.id == "2":
        raise RuntimeError("boom in a subscriber")
def record(ev):
    js.window.__seen.push(ev.id or "")
    if ev.id == "4":
        client.disconnect()
js.window.__seen = js.Array.new()
client.subscribe(broken)
client.subscribe(record)
client.connect()
builtins.__fake_client = client
"""


def test_the_client_on_the_batch_isolates_a_subscriber_and_stops_at_a_close(
    open_tab: Callable[..., Any], live_server: LiveServer
) -> None:
    page, log, _ = open_authed(open_tab, live_server)
    page.evaluate(FAKE_SOURCE)
    run_py(page, CLIENT_ON_FAKE)
    page.wait_for_function("window.__fakes.length === 1", timeout=10_000)
    page.evaluate("() => { const f = window.__fakes[0]; f.readyState = 1;"
                  " f.dispatchEvent(new Event('open')); }")
    page.evaluate(DISPATCH, [["message", f'{{"type":"order.created","data":{{"id":{i}}}}}',
                              str(i)] for i in range(1, 7)])
    page.wait_for_function("window.__seen.length >= 4", timeout=10_000)
    run_py(page, "import builtins, js\n"
                 "js.window.__live = builtins.__fake_client.stats['live_proxies']")
    assert page.evaluate("Array.from(window.__seen)") == ["1", "2", "3", "4"]
    assert any("boom in a subscriber" in line for line in log.console)
    assert page.evaluate("window.__live") == page.evaluate(
        "window.__zarizSSEClient.stats.live_proxies")  # the closed source's are released


RECORD_POSTS = """() => {
  window.zPosted = [];
  const Base = window.BroadcastChannel;
  window.BroadcastChannel = class extends Base {
    postMessage(m) { window.zPosted.push(m); super.postMessage(m); }
  };
}"""
CHANNEL = """
import builtins, js, json
from zariz.platform.browser import BrowserPlatform
sender, receiver = BrowserPlatform(), BrowserPlatform()
js.window.zHeard = js.Array.new()
_, stop = receiver.open_channel("zariz-test", lambda m: js.window.zHeard.push(json.dumps(m)))
post, close = sender.open_channel("zariz-test", lambda m: None)
before = sender.live_proxies()
for i in range(3):
    post({"n": i, "none": None})
js.window.zPostedInTask = len(js.window.zPosted)  # posts leave at the end of the task
close()  # and what was posted before a close still goes
post({"n": 99})  # after the close: dropped
last, last_close = BrowserPlatform().open_channel("zariz-test", lambda m: None)
last({"n": "end"})
js.window.zLive = [before, sender.live_proxies()]
builtins.__channel_stop = (stop, last_close)
"""


def test_channel_posts_leave_in_order_at_the_end_of_the_task_and_survive_a_close(
    open_tab: Callable[..., Any], live_server: LiveServer
) -> None:
    page, log, _ = open_authed(open_tab, live_server)
    page.evaluate(RECORD_POSTS)
    run_py(page, CHANNEL)
    page.wait_for_function("window.zHeard.length >= 4", timeout=10_000)
    heard = [json.loads(m) for m in page.evaluate("Array.from(window.zHeard)")]
    assert heard == [{"n": i, "none": None} for i in range(3)] + [{"n": "end"}]
    assert page.evaluate("window.zPostedInTask") == 0
    before, after = page.evaluate("Array.from(window.zLive)")
    assert after == before - 2  # the listener's and the flush's proxies are released
    assert not [line for line in log.console if "rror" in line]
