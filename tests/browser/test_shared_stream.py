"""One stream per browser, in a real Chromium profile (one browser context) against a real
server: the leader tab holds the stream, the others follow over BroadcastChannel.

Measured from outside: the server's open-stream gauge, every tab's indicator, and a
subscriber in every tab that records each dispatched id (a second dispatch of one id is a
duplicate).
"""

from __future__ import annotations

import json
import time
from typing import Any

from tests.browser.conftest import wait_booted
from tests.browser.support import (
    dispatches,
    run_py,
    track_dispatches,
    wait_client,
    wait_until,
)

OPEN_STREAMS = "zariz_sse_open_streams"
TABS = 8


def open_tabs(browser: Any, server: Any, n: int, path: str = "/dashboard/orders") -> tuple[
    Any, list[Any]
]:
    """``n`` tabs of one profile, logged in through localStorage, each on ``path``."""
    tokens = server.login()
    state = json.dumps(
        {"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"]}
    )
    context = browser.new_context(viewport={"width": 1100, "height": 700})
    context.add_init_script(
        f"if (!localStorage.getItem('zariz.auth')) "
        f"localStorage.setItem('zariz.auth', {json.dumps(state)})"
    )
    pages = []
    for _ in range(n):
        page = context.new_page()
        page.goto(server.url + path)
        pages.append(page)
    for page in pages:
        wait_booted(page)
        wait_client(page, "connected")
    return context, pages


def role(page: Any) -> str:
    return str(page.evaluate("__zarizSSEClient.stats.role"))


def order_ids(page: Any) -> list[int]:
    return [d["order"] for d in dispatches(page) if d["event"] == "order.created"]


def event_ids(page: Any) -> list[str]:
    """The ids of the order events dispatched (a ``position`` or ``ping`` marker repeats
    the id in force: it is no second delivery of that event)."""
    return [d["id"] for d in dispatches(page) if str(d["event"]).startswith("order.")]


def test_eight_tabs_load_share_one_stream_and_each_gets_every_event_once(
    live_server: Any, browser: Any
) -> None:
    context, pages = open_tabs(browser, live_server, TABS)
    try:
        wait_until(lambda: live_server.metric(OPEN_STREAMS) == 1, 15, "one stream")
        roles = [role(p) for p in pages]
        assert roles.count("leader") == 1 and roles.count("follower") == TABS - 1, roles
        for follower in (p for p, r in zip(pages, roles, strict=True) if r == "follower"):
            # The indicator renders in the next animation frame: wait for it.
            follower.wait_for_function(
                "() => (document.querySelector('[data-testid=sse-status]')?.textContent || '')"
                ".includes('via another tab')", timeout=15_000)
        for page in pages:
            track_dispatches(page)
        token = live_server.login()["access_token"]
        created = [live_server.create_order(token, customer=f"c{i}")["id"] for i in range(100)]
        for page in pages:
            wait_until(lambda p=page: len(order_ids(p)) >= 100, 30, "100 events in every tab")
        time.sleep(0.5)  # anything doubled would have arrived by now; asserted below
        for page in pages:
            ids = event_ids(page)
            assert len(ids) == len(set(ids)), f"an id dispatched twice in a {role(page)}"
            assert sorted(order_ids(page)) == created
        assert live_server.metric(OPEN_STREAMS) == 1
    finally:
        context.close()


def test_closing_the_leader_hands_over_within_a_second_and_nothing_is_lost(
    live_server: Any, browser: Any
) -> None:
    context, pages = open_tabs(browser, live_server, 3)
    token = live_server.login()["access_token"]
    created: list[int] = []
    since: dict[Any, int] = {}  # page -> how many orders existed when it started tracking

    def track(page: Any) -> None:
        track_dispatches(page)
        since[page] = len(created)

    try:
        for page in pages:
            track(page)
        handovers: list[float] = []
        for _round in range(3):
            leader = next(p for p in pages if role(p) == "leader")
            created.append(live_server.create_order(token, customer="before")["id"])
            wait_until(lambda: all(created[-1] in order_ids(p) for p in pages), 15, "relayed")
            opened = live_server.metric("zariz_sse_streams_opened_total")
            pages.remove(leader)
            leader.close()
            gone = time.monotonic()
            created.append(live_server.create_order(token, customer="during")["id"])
            # Streaming: a new leader, its stream open on the server, the old one gone.
            wait_until(lambda: any(role(p) == "leader" and p.evaluate(
                "__zarizSSEClient.status") == "connected" for p in pages), 10, "a new leader")
            wait_until(lambda o=opened: live_server.metric("zariz_sse_streams_opened_total") > o
                       and live_server.metric(OPEN_STREAMS) == 1, 10, "its stream")
            handovers.append(time.monotonic() - gone)
            page = context.new_page()  # keep three tabs
            page.goto(live_server.url + "/dashboard/orders")
            wait_booted(page)
            wait_client(page, "connected")
            track(page)
            pages.append(page)
        created.append(live_server.create_order(token, customer="after")["id"])
        print(f"hand-overs (s): {[round(h, 2) for h in handovers]}")
        for page in pages:
            wait_until(lambda p=page: created[-1] in order_ids(p), 15, "the last order")
            ids = event_ids(page)
            assert len(ids) == len(set(ids)), "an id dispatched twice across a hand-over"
            got = order_ids(page)
            # Every order created while the tab was tracking arrived, once; none invented.
            assert set(created[since[page]:]) <= set(got) <= set(created), (since[page], got)
        assert max(handovers) < 5.0, handovers  # measured in bench; here: no stall
        wait_until(lambda: live_server.metric(OPEN_STREAMS) == 1, 10, "one stream")
    finally:
        context.close()


def test_logout_in_a_follower_ends_the_stream_everywhere_and_login_brings_one_back(
    live_server: Any, browser: Any
) -> None:
    context, pages = open_tabs(browser, live_server, 3)
    try:
        follower = next(p for p in pages if role(p) == "follower")
        follower.click("[data-testid=user-menu]")
        follower.click("[data-testid=logout]")
        for page in pages:
            page.wait_for_function(
                "() => __zarizSSEClient.status === 'disconnected'", timeout=20_000
            )
        wait_until(lambda: live_server.metric(OPEN_STREAMS) == 0, 15, "no stream")
        follower.wait_for_url("**/login*")
        follower.fill("[data-testid=login-username]", "demo")
        follower.fill("[data-testid=login-password]", "demo")
        follower.click("[data-testid=login-submit]")
        for page in pages:
            page.wait_for_function(
                "() => __zarizSSEClient.status === 'connected'", timeout=30_000
            )
        wait_until(lambda: live_server.metric(OPEN_STREAMS) == 1, 15, "one stream again")
    finally:
        context.close()


def test_per_tab_mode_and_two_profiles(live_server: Any, browser: Any) -> None:
    context, pages = open_tabs(browser, live_server, 3, "/dashboard/orders?sse=per-tab")
    try:
        assert [role(p) for p in pages] == ["per-tab"] * 3
        wait_until(lambda: live_server.metric(OPEN_STREAMS) == 3, 15, "a stream per tab")
    finally:
        context.close()
    wait_until(lambda: live_server.metric(OPEN_STREAMS) == 0, 15, "none left")
    first, _ = open_tabs(browser, live_server, 2)
    second, _ = open_tabs(browser, live_server, 2)
    try:
        # Two profiles (contexts) share nothing: one stream each.
        wait_until(lambda: live_server.metric(OPEN_STREAMS) == 2, 15, "one per profile")
    finally:
        first.close()
        second.close()


def test_a_silent_leader_is_replaced_and_steps_down_at_once(
    live_server_factory: Any, browser: Any
) -> None:
    """A zombie leader: alive, holding the lock and its stream, but no longer heard (its
    channel posts dropped, as a frozen page's would be). A follower steals the lock; the
    old leader learns it at once (its lock request is aborted), closes its stream and
    follows. (A page frozen for real learns on resume: tests/app/test_sse_shared.py.)"""
    # Pings every 2 s: a connected leader's silence is noticed after 2.5 x 2 s.
    server = live_server_factory(ZARIZ_PING_INTERVAL="2")
    context, pages = open_tabs(browser, server, 2)
    try:
        leader = next(p for p in pages if role(p) == "leader")
        follower = next(p for p in pages if p is not leader)
        leader.evaluate("BroadcastChannel.prototype.postMessage = function () {}")
        silenced = time.monotonic()
        wait_until(lambda: role(follower) == "leader", 30, "the follower took over")
        print(f"takeover {time.monotonic() - silenced:.1f} s after the leader went silent")
        wait_until(lambda: role(leader) == "follower", 15, "the old leader stepped down")
        wait_until(lambda: server.metric(OPEN_STREAMS) == 1, 15, "one stream again")
        for page in pages:
            track_dispatches(page)
        token = server.login()["access_token"]
        made = server.create_order(token, customer="after the takeover")["id"]
        for page in pages:
            wait_until(lambda p=page: made in order_ids(p), 15, "relayed to the old leader")
        wait_client(leader, "connected")
    finally:
        context.close()


def test_rerunning_the_entry_keeps_the_stream_in_the_leader_and_the_relay_in_a_follower(
    live_server: Any, browser: Any
) -> None:
    context, pages = open_tabs(browser, live_server, 2)
    try:
        for page in pages:
            run_py(page, "from zariz.boot import main\nfor _ in range(3):\n    main()")
            wait_client(page, "connected")
        roles = sorted(role(p) for p in pages)
        assert roles == ["follower", "leader"]
        for page in pages:
            track_dispatches(page)
        token = live_server.login()["access_token"]
        made = live_server.create_order(token, customer="after remounts")["id"]
        for page in pages:
            wait_until(lambda p=page: made in order_ids(p), 15, "the order in both tabs")
            assert order_ids(page).count(made) == 1
        assert live_server.metric(OPEN_STREAMS) == 1
    finally:
        context.close()
