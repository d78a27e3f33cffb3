"""Connection policy: tickets, 401/5xx, disconnect, soft reconnect, window events, stalls."""

from __future__ import annotations

import asyncio

import pytest
from zariz.platform import RawEvent
from zariz.platform.fake import FakePlatform
from zariz.sse import SSEClient
from zariz.sse.client import BACKOFF_BASE_S

from tests.app.conftest import Tab


async def test_connect_opens_one_source_with_ticket_and_logs_lifecycle(tab: Tab, caplog) -> None:
    client = tab.client(base_url="http://x")
    seen: list[str] = []
    client.on_status(seen.append)
    client.connect()
    for _ in range(100):
        client.connect()
    await tab.platform.settle()
    src = tab.platform.source
    assert src.url == "http://x/v1/events/sse?ticket=t1"
    assert src.named_events == ("ping", "reset", "position", "dev.reload")
    req = tab.platform.http.requests[-1]
    assert req.headers["Authorization"] == "Bearer a1"
    tab.platform.clock.advance(0.25)
    src.open()
    assert client.status == "connected" and seen == ["connecting", "connected"]
    assert len(tab.platform.sources) == 1 and tab.ticket_requests == 1
    s = client.stats
    assert (s["connect_calls"], s["connects"], s["opens"], s["open_sources"]) == (101, 1, 1, 1)
    client.disconnect()
    assert src.closed and client.status == "disconnected"
    text = caplog.text
    for line in ("[SSE] connecting", "[SSE] open in 250 ms", "[SSE] close", "[SSE] cleanup"):
        assert line in text


async def test_last_event_id_is_carried_in_the_url_and_a_hostile_id_never_is(tab: Tab) -> None:
    """A hostile id is delivered but never becomes the resume position: the server
    refuses it as Last-Event-ID (400), which made every reconnect fail."""
    client = await tab.connected()
    got: list[str | None] = []
    client.subscribe(lambda ev: got.append(ev.id))
    tab.platform.source.message({"type": "a"}, id=41)
    client.feed(RawEvent("message", '{"type": "b"}', "4 2&x"))
    tab.platform.source.error()
    await tab.platform.advance(BACKOFF_BASE_S)
    assert len(got) == 2 and got[0] == "41"  # delivered, whatever id it shows
    assert tab.platform.source.query == {"ticket": "t2", "lastEventId": "41"}


async def test_close_during_backoff_stays_closed(tab: Tab) -> None:
    client = await tab.connected()
    tab.platform.source.error()
    assert client.retry_in() is not None
    client.disconnect()
    await tab.platform.advance(600)
    assert len(tab.platform.sources) == 1 and tab.platform.open_sources == 0
    assert client.status == "disconnected" and client.next_retry_at is None
    assert tab.platform.clock.pending == 0, "every timer was cancelled"


async def test_disconnect_while_ticket_request_in_flight(tab: Tab) -> None:
    client = tab.client()
    tab.server.ticket_mode = "gate"
    client.connect()
    await tab.platform.settle()
    assert tab.platform.http.in_flight == 1
    client.disconnect()
    tab.server.gate.set()
    await tab.platform.advance(600)
    assert tab.platform.sources == [] and client.status == "disconnected"


async def test_401_refreshes_once_and_retries_once(tab: Tab) -> None:
    tab.server.expire_access()
    client = tab.client()
    client.connect()
    await tab.platform.settle()
    assert tab.platform.http.count("POST", "/v1/auth/refresh") == 1
    assert tab.ticket_requests == 2
    assert tab.platform.source.query["ticket"] == "t1"
    assert tab.platform.http.requests[-1].bearer == "a2"
    tab.platform.source.open()
    assert client.status == "connected" and len(tab.platform.sources) == 1


async def test_401_after_refresh_gives_up_without_loop(tab: Tab, caplog) -> None:
    tab.server.ticket_mode = "401"
    client = tab.client()
    client.connect()
    await tab.platform.advance(600)
    assert tab.ticket_requests == 2
    assert tab.platform.http.count("POST", "/v1/auth/refresh") == 1
    assert client.status == "disconnected" and tab.platform.sources == []
    assert "ticket refused again" in caplog.text


async def test_refused_refresh_means_logged_out_and_disconnected(tab: Tab) -> None:
    tab.server.expire_access()
    tab.server.refresh_token = "someone-else"  # our r1 counts as reused
    client = tab.client()
    client.connect()
    await tab.platform.advance(600)
    assert not tab.auth.is_authenticated
    assert tab.ticket_requests == 1 and client.status == "disconnected"


async def test_refresh_network_failure_keeps_session_and_backs_off(tab: Tab) -> None:
    tab.server.expire_access()
    tab.server.refresh_mode = "network"
    client = tab.client()
    client.connect()
    await tab.platform.settle()
    assert tab.auth.is_authenticated and client.phase == "waiting"
    tab.server.refresh_mode = "ok"
    await tab.platform.advance(client.retry_in() or 0)
    assert tab.platform.source.query["ticket"] == "t1"


async def test_no_session_disconnected_without_requests(make_tab) -> None:
    tab = make_tab(logged_in=False)
    client = tab.client()
    client.connect()
    await tab.platform.advance(600)
    assert tab.platform.http.requests == [] and tab.platform.sources == []
    assert client.status == "disconnected" and tab.platform.clock.pending == 0


@pytest.mark.parametrize("mode", ["500", "network"])
async def test_5xx_and_network_errors_back_off(tab: Tab, mode: str) -> None:
    tab.server.ticket_mode = mode
    client = tab.client()
    client.connect()
    await tab.platform.settle()
    assert client.phase == "waiting" and client.status == "connecting"
    await tab.platform.advance(120)
    n = tab.ticket_requests
    assert 4 <= n <= 30, n  # retried, but with growing waits, not a tight loop
    assert tab.platform.sources == []
    tab.server.ticket_mode = "ok"
    client.reconnect_now()
    await tab.platform.settle()
    tab.platform.source.open()
    assert client.status == "connected"


async def test_source_error_closes_native_source_and_retries(tab: Tab) -> None:
    client = await tab.connected()
    first = tab.platform.source
    first.error(closed=False)  # the browser would retry by itself: we close it anyway
    assert first.closed and client.stats["errors"] == 1
    await tab.platform.advance(BACKOFF_BASE_S)
    assert len(tab.platform.sources) == 2 and tab.platform.max_open_sources == 1
    first.emit("message", {"type": "late"}, 1)  # a dead source cannot deliver
    assert client.stats["events"] == 0


async def test_token_rotation_never_overlaps_two_sources(tab: Tab) -> None:
    client = await tab.connected()
    tab.platform.source.message({"type": "x"}, id=1)
    got: list[str] = []
    client.subscribe(lambda ev: got.append(ev.event))
    for i in range(50):
        assert await tab.auth.refresh()
        await tab.platform.settle()
        tab.platform.source.open()
        tab.platform.source.message({"type": f"e{i}"}, id=i + 2)
        assert tab.platform.open_sources == 1
    assert tab.platform.max_open_sources == 1
    assert len(tab.platform.sources) == 51 and client.status == "connected"
    assert got == [f"e{i}" for i in range(50)], "subscribers kept across reconnects"
    assert tab.platform.source.query["lastEventId"] == "50"


async def test_token_change_while_ticket_in_flight_restarts_with_new_token(tab: Tab) -> None:
    client = tab.client()
    tab.server.ticket_mode = "gate"
    client.connect()
    await tab.platform.settle()
    assert await tab.auth.refresh()
    tab.server.gate.set()
    await tab.platform.settle()
    assert len(tab.platform.sources) == 1 and tab.platform.max_open_sources == 1
    assert tab.platform.http.requests[-1].bearer == "a2"
    assert client.status == "connecting"


async def test_logout_disconnects_and_login_connects_with_start(tab: Tab) -> None:
    client = tab.client()
    client.start()
    client.start()  # idempotent (app entry run twice)
    await tab.platform.settle()
    tab.platform.source.open()
    assert client.status == "connected"
    await tab.auth.logout()
    assert client.status == "disconnected" and tab.platform.open_sources == 0
    await tab.auth.login("demo", "demo")
    await tab.platform.settle()
    assert tab.platform.open_sources == 1 and len(tab.platform.sources) == 2
    client.stop()
    await tab.auth.logout()
    await tab.auth.login("demo", "demo")
    await tab.platform.settle()
    assert len(tab.platform.sources) == 2, "stop() ended the autoconnect policy"


async def test_without_start_login_does_not_connect(make_tab) -> None:
    tab = make_tab(logged_in=False)
    client = tab.client()
    await tab.auth.login("demo", "demo")
    await tab.platform.settle()
    assert tab.platform.sources == [] and client.status == "disconnected"


async def test_soft_reconnect_keeps_subscribers_and_resets_backoff(tab: Tab) -> None:
    client = await tab.connected()
    got: list[object] = []
    client.subscribe(got.append)
    tab.platform.source.message({"type": "a"}, id=3)
    tab.platform.source.error()
    client.reconnect()
    assert client.stats["attempt"] == 0 and client.retry_in() is None
    await tab.platform.settle()
    assert tab.platform.source.query["lastEventId"] == "3"
    tab.platform.source.open()
    tab.platform.source.message({"type": "b"}, id=4)
    assert len(got) == 2 and tab.platform.max_open_sources == 1


async def test_offline_pauses_without_burning_attempts_and_online_reconnects(tab: Tab) -> None:
    client = await tab.connected()
    tab.platform.source.error()
    attempt = client.stats["attempt"]
    tab.platform.set_online(False)
    assert client.status == "disconnected" and tab.platform.open_sources == 0
    await tab.platform.advance(600)
    assert tab.ticket_requests == 1 and client.stats["attempt"] == attempt
    tab.platform.set_online(True)
    await tab.platform.settle()
    # Every tab hears "online" at once: each retries within its own random second.
    assert client.status == "connecting" and 0 < (client.retry_in() or 0) <= BACKOFF_BASE_S
    await tab.platform.advance(1.0)
    assert tab.ticket_requests == 2 and client.status == "connecting"
    tab.platform.source.open()
    assert client.status == "connected"


async def test_offline_while_connected_closes_source(tab: Tab) -> None:
    client = await tab.connected()
    tab.platform.set_online(False)
    assert tab.platform.source.closed and client.phase == "offline"


async def test_connect_while_offline_waits_for_online(make_tab) -> None:
    tab = make_tab(online=False)
    client = tab.client()
    client.connect()
    await tab.platform.advance(60)
    assert tab.platform.http.requests == [] and client.status == "disconnected"
    tab.platform.set_online(True)
    await tab.platform.advance(1.0)
    assert len(tab.platform.sources) == 1


@pytest.mark.parametrize("trigger", ["online", "visible", "pageshow"])
async def test_wake_events_skip_the_backoff_wait(tab: Tab, trigger: str) -> None:
    client = await tab.connected()
    for _ in range(6):  # grow the backoff: waits up to 32 s
        tab.platform.source.error()
        await tab.platform.advance(client.retry_in() or 0)
        await tab.platform.settle()
    tab.platform.source.error()
    assert client.phase == "waiting"
    before = tab.ticket_requests
    if trigger == "online":
        tab.platform.fire("online")
        await tab.platform.advance(1.0)  # the spread: every tab hears "online" at once
    elif trigger == "visible":
        tab.platform.set_visible(False)
        assert tab.ticket_requests == before, "hidden does nothing"
        tab.platform.set_visible(True)
    else:
        tab.platform.fire("pageshow")
    await tab.platform.settle()
    assert tab.ticket_requests == before + 1 and client.retry_in() is None


async def test_wake_while_connected_does_not_duplicate(tab: Tab) -> None:
    await tab.connected()
    for name in ("online", "pageshow", "visibilitychange"):
        tab.platform.fire(name)
    await tab.platform.settle()
    assert len(tab.platform.sources) == 1 and tab.ticket_requests == 1


async def test_stall_watchdog_reconnects_and_pings_keep_alive(tab: Tab, caplog) -> None:
    client = await tab.connected(ping_interval=10, stall_factor=2)
    for _ in range(10):  # pings every 10 s keep a 20 s window alive
        await tab.platform.advance(10)
        tab.platform.source.emit("ping", {"ts": 1})
    assert client.stats["stalls"] == 0 and len(tab.platform.sources) == 1
    await tab.platform.advance(20)
    assert client.stats["stalls"] == 1 and tab.platform.sources[0].closed
    assert len(tab.platform.sources) == 2 and tab.platform.max_open_sources == 1
    assert "[SSE] stalled" in caplog.text


async def test_visible_after_sleep_detects_stall_at_once(tab: Tab) -> None:
    client = await tab.connected(ping_interval=10, stall_factor=2)
    tab.platform.clock.now += 3600  # laptop slept: timers did not run
    tab.platform.set_visible(True)
    await tab.platform.settle()
    assert client.stats["stalls"] == 1 and len(tab.platform.sources) == 2


async def test_source_that_never_opens_is_treated_as_stalled(tab: Tab) -> None:
    client = tab.client(ping_interval=4, stall_factor=2.5)
    client.connect()
    await tab.platform.advance(10)
    assert client.stats["stalls"] == 1 and len(tab.platform.sources) == 2


async def test_dispose_then_use_is_a_lifecycle_error(tab: Tab) -> None:
    client = await tab.connected()
    client.dispose()
    client.dispose()
    assert tab.platform.open_sources == 0
    with pytest.raises(RuntimeError, match="get_client"):
        client.connect()
    with pytest.raises(RuntimeError):
        client.subscribe(print)


@pytest.mark.parametrize(
    ("kw", "exc"),
    [
        ({"backoff_base": 0}, ValueError),
        ({"backoff_cap": 0.5}, ValueError),
        ({"ping_interval": -1}, ValueError),
        ({"ping_interval": "15"}, TypeError),
        ({"stall_factor": 0.5}, ValueError),
        ({"named_events": ["ping", ""]}, ValueError),
        ({"named_events": ["message"]}, ValueError),
        ({"named_events": 5}, TypeError),
        ({"base_url": None}, TypeError),
        ({"logger": "zariz"}, TypeError),
    ],
)
def test_constructor_validates(kw: dict[str, object], exc: type[Exception]) -> None:
    platform = FakePlatform()
    from zariz.auth import AuthClient

    with pytest.raises(exc):
        SSEClient(platform, AuthClient(platform), **kw)  # type: ignore[arg-type]


def test_constructor_rejects_wrong_collaborators() -> None:
    platform = FakePlatform()
    with pytest.raises(TypeError, match="platform"):
        SSEClient(object(), object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="auth"):
        SSEClient(platform, object())  # type: ignore[arg-type]


async def test_custom_named_events_are_registered(tab: Tab) -> None:
    client = await tab.connected(named_events=("ping", "reset", "notice"))
    got: list[str] = []
    client.subscribe(lambda ev: got.append(ev.event))
    assert tab.platform.source.emit("notice", "hi")
    assert got == ["notice"]


async def test_crashing_platform_request_backs_off_instead_of_hanging(tab: Tab, caplog) -> None:
    def boom(req: object) -> object:
        raise RuntimeError("adapter bug")

    tab.platform.http.route("POST", "/v1/events/ticket", boom)
    client = tab.client()
    client.connect()
    await tab.platform.settle()
    assert client.phase == "waiting" and "attempt crashed" in caplog.text
    client.disconnect()
    await asyncio.sleep(0)


async def test_late_callbacks_of_cancelled_timers_and_closed_sources_are_ignored(
    tab: Tab,
) -> None:
    # A timer callback or a source event can already be queued on the JS side when we
    # cancel/close; the client must ignore it rather than trust the platform's undo.
    schedule = tab.platform.clock.schedule
    tab.platform.schedule = lambda delay, fn: (schedule(delay, fn), lambda: None)[1]
    client = await tab.connected()
    old = tab.platform.source.handlers
    client.reconnect()
    await tab.platform.settle()
    tab.platform.source.open()
    old.on_event(RawEvent("message", '{"type": "ghost"}', "99"))
    old.on_error(False)
    old.on_open()
    assert client.stats["events"] == 0 and client.stats["errors"] == 0
    assert client.last_event_id is None and client.status == "connected"
    tab.platform.source.error()
    client.disconnect()
    await tab.platform.advance(600)
    assert len(tab.platform.sources) == 2 and client.status == "disconnected"


async def test_stall_window_follows_the_ping_interval_the_server_announces(tab: Tab) -> None:
    """Regression: the watchdog assumed 15 s pings, so a server pinging every 60 s got a
    needless reconnect every 37.5 s."""
    tab.server.ping_interval = 60
    client = await tab.connected()  # default guess: 15 s * 2.5
    assert client.stall_window == 150
    await tab.platform.advance(100)  # > 37.5 s, < 150 s: quiet but alive
    assert client.stats["stalls"] == 0 and len(tab.platform.sources) == 1
    await tab.platform.advance(60)
    assert client.stats["stalls"] == 1


async def test_server_without_pings_disables_the_watchdog(tab: Tab) -> None:
    tab.server.ping_interval = 0
    client = await tab.connected()
    await tab.platform.advance(3600)
    assert client.stats["stalls"] == 0 and client.status == "connected"


def test_a_client_refuses_objects_that_are_not_a_platform_or_an_auth_client(tab: Tab) -> None:
    with pytest.raises(TypeError, match="Platform"):
        SSEClient(object(), tab.auth)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="AuthLike"):
        SSEClient(tab.platform, object())  # type: ignore[arg-type]


async def test_a_ticket_request_that_hangs_is_abandoned_and_retried(tab: Tab) -> None:
    """Regression (fault matrix): a stalled proxy left the client in the ticket phase,
    'connecting' forever on one pending request; the stall watchdog only watches streams."""
    client = tab.client(ticket_timeout=5)
    tab.server.ticket_mode = "gate"  # the request never answers
    client.connect()
    await tab.platform.advance(4.9)
    assert client.phase == "ticket" and tab.ticket_requests == 1
    await tab.platform.advance(0.2)
    assert client.phase == "waiting" and client.status == "connecting"
    assert client.stats["waiting_for"] == "connection"
    tab.server.ticket_mode = "ok"
    await tab.platform.advance(2.0)  # the first backoff wait is at most 1 s
    assert tab.ticket_requests == 2 and client.phase == "opening"
    tab.server.gate.set()  # the abandoned request answers late: ignored
    await tab.platform.settle()
    assert len(tab.platform.sources) == 1
    tab.platform.source.open()
    assert client.status == "connected" and client.stats["waiting_for"] is None
    await tab.platform.advance(10)  # past every ticket timeout, inside the stall window
    assert client.status == "connected" and client.stats["reconnects"] == 1
