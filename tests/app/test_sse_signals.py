"""Leaving a backoff wait early: a user's reconnect (now, backoff over), signals (online,
visible, a REST answer: now or within a random second, backoff kept), and ``caught_up``
(the stream stated its position since it opened) — in one tab and across shared tabs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from zariz.api import ApiClient
from zariz.platform.fake import FakeRequest
from zariz.sse import SSEClient
from zariz.sse.client import BACKOFF_BASE_S

from tests.app.conftest import Tab
from tests.app.test_sse_shared import Browser


async def grown_wait(tab: Tab, client: SSEClient, failures: int = 6) -> None:
    """Fail ``failures`` attempts in a row (ticket 503), then sit in a wait whose ceiling
    is the grown one (2 ** failures s, capped at 30)."""
    tab.server.ticket_mode = "500"
    client.connect()
    await tab.platform.settle()
    for _ in range(failures - 1):
        await tab.platform.advance(client.retry_in() or 0)
    assert client.phase == "waiting" and client.stats["attempt"] == failures


async def test_a_click_during_a_long_wait_tries_now_and_starts_the_backoff_over(
    make_tab: Callable[..., Tab],
) -> None:
    """Regression: the click skipped the wait but kept the attempt count, so the click's
    own failure drew from the grown ceiling — the pill jumped to "retry in 20s"."""
    for seed in range(30):
        tab = make_tab(seed=seed)
        client = tab.client()
        await grown_wait(tab, client)
        before = tab.ticket_requests
        assert client.reconnect_now()
        await tab.platform.settle()  # no virtual time passes: the attempt is immediate
        assert tab.ticket_requests == before + 1
        # The server is still down: the next wait is the first rung again (<= the base).
        assert client.stats["attempt"] == 1 and (client.retry_in() or 0) <= BACKOFF_BASE_S
        tab.server.ticket_mode = "ok"
        await tab.platform.advance(BACKOFF_BASE_S)
        tab.platform.source.open()
        assert client.status == "connected"


async def test_a_click_during_a_hanging_attempt_starts_it_over(tab: Tab) -> None:
    """Review finding: a click while a ticket request hung (up to ``ticket_timeout``
    before the client gives up on it) did nothing. A click on an attempt in flight for a
    second or more starts it over; one on an attempt just begun lets it be."""
    client = tab.client()
    tab.server.ticket_mode = "gate"  # the ticket request hangs
    client.connect()
    await tab.platform.settle()
    assert client.phase == "ticket" and tab.ticket_requests == 1
    assert not client.reconnect_now(), "an attempt just begun is let be"
    await tab.platform.advance(2.0)
    assert client.reconnect_now()
    await tab.platform.settle()
    assert tab.ticket_requests == 2 and client.phase == "ticket"
    assert client.stats["attempt"] == 0, "a user's try starts the backoff over"
    tab.server.ticket_mode = "ok"
    tab.server.gate.set()  # both answer; only the second attempt's answer counts
    await tab.platform.settle()
    assert len(tab.platform.sources) == 1 and client.phase == "opening"
    await tab.platform.advance(2.0)  # the stream itself hangs before its open
    assert client.reconnect_now()
    await tab.platform.settle()
    assert len(tab.platform.sources) == 2 and tab.platform.sources[0].closed
    tab.platform.source.open()
    assert client.status == "connected" and tab.platform.open_sources == 1


async def test_a_click_when_nothing_waits_does_nothing(tab: Tab) -> None:
    client = await tab.connected()
    assert not client.reconnect_now()
    await tab.platform.settle()
    assert tab.ticket_requests == 1 and tab.platform.open_sources == 1


async def test_a_rest_answer_retries_within_the_spread_and_keeps_the_backoff(
    make_tab: Callable[..., Tab],
) -> None:
    """A sign is not a user: it skips the wait (within a random second, as every tab hears
    it at once) but the attempt count keeps growing, so a sign that lies (REST answers,
    the stream still fails) never becomes a retry loop."""
    delays = []
    for seed in range(20):
        tab = make_tab(seed=seed)
        client = tab.client()
        await grown_wait(tab, client)
        api = ApiClient(tab.auth)
        api.on_answer(lambda c=client: c.nudge("rest"))
        tab.platform.http.route("GET", "/v1/couriers", lambda _r: (200, {"items": []}))
        before = tab.ticket_requests
        await api.list_couriers()
        wait = client.retry_in()
        assert wait is not None and 0 <= wait <= 1.0
        delays.append(round(wait, 6))
        await tab.platform.advance(wait)
        assert tab.ticket_requests == before + 1
        assert client.stats["attempt"] == 7, "the backoff was not reset"
        assert client.retry_in() is not None
    assert len(set(delays)) == len(delays), "tabs must not retry in lockstep"


async def test_a_sign_when_the_retry_is_due_sooner_changes_nothing(tab: Tab) -> None:
    client = tab.client(signal_spread=1.0)
    tab.server.ticket_mode = "500"
    client.connect()
    await tab.platform.settle()
    tab.platform.clock.advance(max(0.0, (client.retry_in() or 0) - 0.001))
    due = client.next_retry_at
    assert not client.nudge("rest")  # its random delay would come later than the retry
    assert client.next_retry_at == due
    await tab.platform.advance(0.01)
    assert tab.ticket_requests == 2


async def test_signals_while_connected_connecting_or_logged_out_do_nothing(tab: Tab) -> None:
    client = tab.client()
    assert not client.nudge("rest") and client.status == "disconnected"  # idle
    tab.server.ticket_mode = "gate"
    client.connect()
    await tab.platform.settle()
    assert not client.nudge("rest") and tab.ticket_requests == 1  # ticket in flight
    tab.server.gate.set()
    await tab.platform.settle()
    tab.platform.source.open()
    assert not client.nudge("rest", spread=False)
    assert tab.ticket_requests == 1 and tab.platform.open_sources == 1


async def test_a_rest_answer_while_the_browser_is_offline_waits_for_online(tab: Tab) -> None:
    client = await tab.connected()
    tab.platform.set_online(False)
    assert client.phase == "offline"
    assert not client.nudge("rest")
    await tab.platform.advance(60)
    assert tab.ticket_requests == 1 and client.status == "disconnected"


def test_signal_spread_is_checked() -> None:
    tab = Tab()
    for bad in (-1, 61, "1", True):
        with pytest.raises(ValueError):
            tab.client(signal_spread=bad)


async def test_caught_up_only_after_the_stream_states_its_position(tab: Tab) -> None:
    client = tab.client()
    client.connect()
    await tab.platform.settle()
    source = tab.platform.source
    source.open()
    assert client.status == "connected" and not client.caught_up
    source.emit("position", {"last_id": 4}, 4)
    assert client.caught_up and client.stats["caught_up"] is True
    source.message({"type": "order.created", "data": {"id": 1}}, id=5)
    source.error()
    assert not client.caught_up
    await tab.platform.advance(BACKOFF_BASE_S)
    tab.platform.source.open()
    assert client.status == "connected" and not client.caught_up, "a new stream, not yet"
    tab.platform.source.emit("reset", {"last_id": 2, "reason": "unknown_id"}, 2)
    assert client.caught_up


async def test_a_relayed_position_does_not_catch_up_a_tab_with_its_own_stream(
    tab: Tab,
) -> None:
    from zariz.platform import RawEvent

    client = await tab.connected()
    client.feed(RawEvent("position", '{"last_id": 9}', "9"), origin="relay")
    assert not client.caught_up


# --- shared tabs ------------------------------------------------------------------------


async def test_a_follower_is_caught_up_when_the_leaders_stream_is(make_tab) -> None:
    b = Browser(make_tab)
    b.open()
    b.open()
    await b.run(0)
    b.tabs[0].platform.source.open()
    await b.settle()
    follower = b.clients[1]
    assert follower.status == "connected" and not follower.caught_up
    b.tabs[0].platform.source.emit("position", {"last_id": 0}, 0)
    await b.settle()
    assert follower.caught_up
    b.tabs[0].platform.source.error()
    await b.settle()
    assert follower.status == "connecting" and not follower.caught_up
    await b.run(BACKOFF_BASE_S)
    b.tabs[0].platform.source.open()
    await b.settle()
    assert follower.status == "connected" and not follower.caught_up
    b.tabs[0].platform.source.emit("position", {"last_id": 0}, 0)
    await b.settle()
    assert follower.caught_up
    await b.run(6)  # a beat repeats it
    assert follower.caught_up


async def test_a_rest_answer_in_a_follower_makes_the_leader_retry(make_tab) -> None:
    b = Browser(make_tab)
    b.open()
    b.open()
    await b.run(0)
    leader_tab = b.tabs[0]
    leader_tab.server.ticket_mode = "500"
    leader_tab.platform.source.error()
    for _ in range(5):
        await b.run(b.clients[0].retry_in() or 0)
    assert b.clients[0].phase == "waiting" and (b.clients[0].retry_in() or 0) > 1.0
    before = leader_tab.ticket_requests
    assert b.clients[1].nudge("rest")
    await b.run(1.0)
    assert leader_tab.ticket_requests == before + 1
    assert b.tabs[1].ticket_requests == 0, "a follower never asks for a ticket"


async def test_showing_a_follower_tab_makes_a_waiting_leader_retry_now(make_tab) -> None:
    b = Browser(make_tab)
    b.open()
    b.open()
    await b.run(0)
    leader_tab = b.tabs[0]
    leader_tab.server.ticket_mode = "500"
    leader_tab.platform.source.error()
    for _ in range(5):
        await b.run(b.clients[0].retry_in() or 0)
    assert (b.clients[0].retry_in() or 0) > 0.5
    before = leader_tab.ticket_requests
    b.tabs[1].platform.set_visible(False)
    b.tabs[1].platform.set_visible(True)
    await b.settle()  # no time passes
    assert leader_tab.ticket_requests == before + 1


async def test_a_follower_drops_its_tab_listeners_when_it_leads_or_goes(make_tab) -> None:
    b = Browser(make_tab)
    b.open()
    b.open()
    await b.run(0)
    follower = b.tabs[1].platform
    assert follower.listener_count("visibilitychange") == 1
    b.tabs[0].platform.close_tab()
    await b.run(1)
    assert b.clients[1].role == "leader"
    # The stream's own listeners now (online, offline, visibilitychange, pageshow).
    assert follower.listener_count("visibilitychange") == 1
    assert follower.listener_count("online") == 1
    b.streams[1].dispose()
    b.clients[1].dispose()
    assert follower.listener_count("visibilitychange") == 0


async def test_an_answer_listener_that_raises_never_fails_the_request(tab: Tab) -> None:
    api = ApiClient(tab.auth)
    calls: list[int] = []

    def boom() -> None:
        raise RuntimeError("listener bug")

    api.on_answer(boom)
    off = api.on_answer(lambda: calls.append(1))
    tab.platform.http.route("GET", "/v1/couriers", lambda _r: (200, {"items": []}))
    tab.platform.http.route("GET", "/v1/orders/stats", lambda _r: (503, {}))
    assert await api.list_couriers() == {"items": []}
    assert calls == [1]
    with pytest.raises(Exception, match="503"):
        await api.order_stats()
    assert calls == [1], "a 5xx is no sign the server is back"
    off()
    off()
    await api.list_couriers()
    assert calls == [1]


async def test_a_4xx_is_an_answer_too(tab: Tab) -> None:
    api = ApiClient(tab.auth)
    calls: list[int] = []
    api.on_answer(lambda: calls.append(1))

    def refuse(_r: FakeRequest) -> tuple[int, dict[str, object]]:
        return 409, {"error": {"code": "conflict", "message": "no"}}

    tab.platform.http.route("POST", "/v1/orders/1/status", refuse)
    with pytest.raises(Exception, match="409"):
        await api.set_status(1, "delivered")
    assert calls == [1]
