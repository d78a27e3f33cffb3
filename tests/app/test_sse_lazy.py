"""Lazy mode (the ticket's Option B): the stream opens on the first subscription that needs
it and closes ``idle_close_s`` after the last one left; a subscriber back within that
keeps the same stream. One tab, then one stream per browser (the leader keeps the stream
while any tab needs it), on the fake platform's virtual clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from zariz.platform.fake import ChannelBus, FakeLockManager, VirtualClock
from zariz.sse import SSEClient
from zariz.sse.client import BACKOFF_BASE_S
from zariz.sse.config import StreamOptions, parse_options
from zariz.sse.shared import SharedStream
from zariz.ui.component import Scope, StrictMode, mount, set_strict, use_order_events

from tests.app.conftest import Tab

IDLE = 10.0
IDLE_LINE = "[SSE] idle: closing after 10 s with no subscribers"


def order(i: int) -> dict[str, Any]:
    return {"type": "order.created", "data": {"id": i}}


def quiet(tab: Tab) -> Tab:
    """A server that announces no pings: these tests move the clock by minutes without
    sending any, and the stall watchdog would reconnect."""
    tab.server.ping_interval = 0
    return tab


def lazy(tab: Tab, **kw: Any) -> SSEClient:
    quiet(tab)
    client = tab.client(mode="lazy", idle_close_s=IDLE, **kw)
    client.start()  # what boot does: follow the session
    return client


async def opened(tab: Tab) -> None:
    """The newest source's server answered."""
    await tab.platform.settle()
    tab.platform.source.open()


# --- one tab ---------------------------------------------------------------------------------
async def test_lazy_opens_on_the_first_subscription_not_at_start(tab: Tab) -> None:
    client = lazy(tab)
    await tab.platform.advance(60)
    assert tab.platform.sources == [] and tab.ticket_requests == 0
    assert client.status == "disconnected" and client.idle  # closed on purpose
    passive = client.subscribe(lambda ev: None, keep_open=False)
    await tab.platform.advance(1)
    assert tab.platform.sources == [], "a keep_open=False subscriber never opens it"
    off = client.subscribe(lambda ev: None)
    await opened(tab)
    assert client.status == "connected" and not client.idle
    assert tab.platform.open_sources == 1 and tab.ticket_requests == 1
    assert client.stats["keep_open_subscribers"] == 1 and client.stats["mode"] == "lazy"
    off()
    passive()


async def test_the_default_mode_is_always_and_ignores_subscribers(tab: Tab) -> None:
    client = quiet(tab).client()
    assert client.mode == "always"
    client.start()
    await opened(tab)
    off = client.subscribe(lambda ev: None)
    off()
    await tab.platform.advance(3600)
    assert tab.platform.open_sources == 1 and client.status == "connected"
    assert not client.idle and client.stats["idle_closes"] == 0


async def test_last_unsubscribe_closes_after_n_seconds_not_before(tab: Tab, caplog) -> None:
    before = tab.platform.live_proxies()  # the auth client's storage listener
    client = lazy(tab)
    statuses: list[str] = []
    client.on_status(statuses.append)
    off = client.subscribe(lambda ev: None)
    await opened(tab)
    src = tab.platform.source
    off()
    assert client.idle_close_in() == pytest.approx(IDLE)
    await tab.platform.advance(IDLE - 0.01)
    assert not src.closed and client.status == "connected" and not client.idle
    assert IDLE_LINE not in caplog.text
    await tab.platform.advance(0.01)
    assert src.closed and tab.platform.open_sources == 0
    assert client.status == "disconnected" and client.idle
    assert statuses == ["connecting", "connected", "disconnected"]
    assert IDLE_LINE in caplog.text
    assert client.stats["idle_closes"] == 1 and client.idle_close_in() is None
    await tab.platform.advance(600)
    assert len(tab.platform.sources) == 1, "no attempt after an idle close"
    assert tab.platform.clock.pending == 0, "nothing left scheduled"
    assert tab.platform.live_proxies() == before, "window listeners released too"


async def test_resubscribing_within_n_keeps_the_same_stream(tab: Tab) -> None:
    client = lazy(tab)
    off = client.subscribe(lambda ev: None)
    await opened(tab)
    src = tab.platform.source
    for _ in range(50):  # a page change: dispose (unsubscribe), then mount (subscribe)
        off()
        await tab.platform.advance(IDLE * 0.9)
        off = client.subscribe(lambda ev: None)
    await tab.platform.advance(IDLE * 3)
    assert tab.platform.sources == [src] and not src.closed
    assert tab.ticket_requests == 1 and client.stats["reconnects"] == 0
    assert client.status == "connected" and client.idle_close_in() is None
    off()


async def test_resubscribing_after_n_resumes_from_the_kept_id(tab: Tab) -> None:
    client = lazy(tab)
    got: list[str | None] = []
    off = client.subscribe(lambda ev: got.append(ev.id), events=["order.created"])
    await opened(tab)
    first = tab.platform.source
    for i in (1, 2, 3):
        first.message(order(i), id=i)
    off()
    await tab.platform.advance(IDLE)
    assert first.closed and client.last_event_id == "3"
    off = client.subscribe(lambda ev: got.append(ev.id), events=["order.created"])
    await opened(tab)
    second = tab.platform.source
    assert second is not first and second.query == {"ticket": "t2", "lastEventId": "3"}
    assert client.status == "connected" and not client.idle
    second.emit("position", {"last_id": 3}, id=3)
    for i in (3, 4):  # the replay overlaps the seam by one: dropped as a duplicate
        second.message(order(i), id=i)
    assert got == ["1", "2", "3", "4"]
    off()


async def test_a_token_change_while_idle_closed_opens_no_stream(tab: Tab) -> None:
    client = lazy(tab)
    off = client.subscribe(lambda ev: None)
    await opened(tab)
    off()
    await tab.platform.advance(IDLE)
    assert tab.platform.open_sources == 0
    assert await tab.auth.refresh()  # a new access token
    await tab.auth.logout()
    await tab.auth.login("demo", "demo")
    await tab.platform.advance(60)
    assert len(tab.platform.sources) == 1 and tab.ticket_requests == 1
    assert client.status == "disconnected" and client.idle
    off = client.subscribe(lambda ev: None)  # the next subscriber uses the new token
    await opened(tab)
    assert tab.platform.http.requests[-1].bearer == tab.auth.access_token
    assert client.status == "connected"
    off()


async def test_a_token_change_while_waiting_to_close_closes_rather_than_reopens(
    tab: Tab, caplog
) -> None:
    client = lazy(tab)
    off = client.subscribe(lambda ev: None)
    await opened(tab)
    off()
    await tab.platform.advance(1)
    assert await tab.auth.refresh()
    await tab.platform.advance(60)
    assert len(tab.platform.sources) == 1 and tab.platform.open_sources == 0
    assert tab.ticket_requests == 1 and client.idle
    assert "token changed with no subscribers" in caplog.text


async def test_a_token_change_with_a_subscriber_reconnects_as_always(tab: Tab) -> None:
    client = lazy(tab)
    off = client.subscribe(lambda ev: None)
    await opened(tab)
    assert await tab.auth.refresh()
    await opened(tab)
    assert len(tab.platform.sources) == 2 and tab.platform.open_sources == 1
    assert client.status == "connected"
    off()


async def test_logged_out_subscribers_wait_for_the_login(make_tab: Callable[..., Tab]) -> None:
    tab = make_tab(logged_in=False)
    client = lazy(tab)
    off = client.subscribe(lambda ev: None)
    await tab.platform.advance(5)
    assert tab.platform.sources == [] and not client.idle  # needed, and cannot: not idle
    await tab.auth.login("demo", "demo")
    await opened(tab)
    assert client.status == "connected"
    await tab.auth.logout()
    assert client.status == "disconnected" and tab.platform.open_sources == 0
    off()


async def test_the_idle_close_ends_a_backoff_wait_and_a_subscriber_back_keeps_it(
    tab: Tab,
) -> None:
    client = lazy(tab)
    off = client.subscribe(lambda ev: None)
    await opened(tab)
    tab.server.ticket_mode = "500"
    tab.platform.source.error()  # the stream fails; retries keep failing
    await tab.platform.advance(1)
    assert client.status == "connecting" and client.stats["reconnects"] >= 1
    off()
    off = client.subscribe(lambda ev: None)  # back within N: the backoff goes on
    await tab.platform.advance(IDLE + 1)
    assert client.status == "connecting" and client.retry_in() is not None
    off()
    await tab.platform.advance(IDLE)
    assert client.status == "disconnected" and client.idle
    assert client.retry_in() is None and tab.platform.clock.pending == 0
    tab.server.ticket_mode = "ok"
    off = client.subscribe(lambda ev: None)
    await opened(tab)
    assert client.status == "connected" and client.stats["attempt"] == 0
    off()


async def test_a_drop_during_the_idle_delay_closes_rather_than_reopens(tab: Tab, caplog) -> None:
    """Nobody needs the stream: a drop (a server restart drops every stream) is not worth
    a new ticket and stream that would only be closed at N, nor a place in the restart's
    reconnect storm. It closes now, the id kept."""
    client = lazy(tab)
    off = client.subscribe(lambda ev: None)
    await opened(tab)
    tab.platform.source.message(order(1), id=1)
    off()
    await tab.platform.advance(1)
    tab.platform.source.error()
    await tab.platform.advance(IDLE * 3)
    assert len(tab.platform.sources) == 1 and tab.ticket_requests == 1, "no stream for nobody"
    assert client.status == "disconnected" and client.idle and client.phase == "idle"
    assert client.stats["idle_closes"] == 1 and client.stats["attempt"] == 0
    assert "[SSE] idle: stream error with no subscribers: closing now" in caplog.text
    assert tab.platform.clock.pending == 0
    off = client.subscribe(lambda ev: None)
    await opened(tab)
    assert tab.platform.source.query.get("lastEventId") == "1", "resumes from the kept id"
    off()


async def test_a_stall_during_the_idle_delay_closes_rather_than_reopens(tab: Tab) -> None:
    tab.server.ping_interval = 5.0  # announced: the watchdog runs
    client = tab.client(mode="lazy", idle_close_s=1000.0)
    client.start()
    off = client.subscribe(lambda ev: None)
    await opened(tab)
    off()
    await tab.platform.advance(client.stall_window + 1)  # no ping, no message: stalled
    assert len(tab.platform.sources) == 1 and tab.platform.open_sources == 0
    assert client.status == "disconnected" and client.idle
    assert client.stats["stalls"] == 0 and client.stats["idle_closes"] == 1


async def test_the_idle_close_ends_a_failure_streak(tab: Tab) -> None:
    """A stream that kept failing, then closed for want of subscribers, opens fresh: the
    indicator says Connecting (not Reconnecting) and a first failure waits at most the
    base delay, not the grown ceiling."""
    client = lazy(tab)
    off = client.subscribe(lambda ev: None)
    await opened(tab)
    tab.server.ticket_mode = "500"
    tab.platform.source.error()
    await tab.platform.advance(40)  # several failed attempts: the ceiling has grown
    assert client.stats["attempt"] >= 4
    off()
    await tab.platform.advance(IDLE + 31)
    assert client.idle and client.stats["attempt"] == 0
    off = client.subscribe(lambda ev: None)
    await tab.platform.settle()  # the ticket fails once more
    assert client.stats["attempt"] == 1 and client.status == "connecting"
    retry = client.retry_in()
    assert retry is not None and retry <= BACKOFF_BASE_S, "the first rung, not the grown ceiling"
    off()


async def test_offline_then_idle_close_then_online_stays_closed(tab: Tab) -> None:
    client = lazy(tab)
    off = client.subscribe(lambda ev: None)
    await opened(tab)
    tab.platform.set_online(False)
    tab.platform.fire("offline")
    assert client.phase == "offline"
    off()
    await tab.platform.advance(IDLE)
    assert client.phase == "idle" and client.idle
    tab.platform.set_online(True)
    tab.platform.fire("online")
    await tab.platform.advance(30)
    assert len(tab.platform.sources) == 1 and tab.platform.open_sources == 0


async def test_a_users_reconnect_while_idle_opens_for_n_seconds(tab: Tab) -> None:
    client = lazy(tab)
    client.reconnect("user clicked the indicator")
    await opened(tab)
    assert client.status == "connected"
    await tab.platform.advance(IDLE)
    assert client.status == "disconnected" and client.idle


async def test_stop_and_dispose_cancel_the_idle_close(tab: Tab) -> None:
    client = lazy(tab)
    off = client.subscribe(lambda ev: None)
    await opened(tab)
    off()
    client.stop()
    assert client.status == "disconnected" and not client.idle  # stopped: not "idle"
    assert tab.platform.clock.pending == 0
    off = client.subscribe(lambda ev: None)
    await tab.platform.advance(5)
    assert len(tab.platform.sources) == 1, "stopped: subscribers do not connect"
    client.dispose()
    off()  # an undo after dispose is harmless


def test_options_are_validated(tab: Tab) -> None:
    with pytest.raises(ValueError):
        tab.client(mode="sometimes")
    with pytest.raises(ValueError):
        tab.client(mode="lazy", idle_close_s=0)
    with pytest.raises(TypeError):
        tab.client(mode="lazy", idle_close_s="30")


# --- strict mode and hot reload: the UI's dispose -> mount ---------------------------------
async def test_a_strict_double_mount_and_a_remount_keep_the_stream(tab: Tab) -> None:
    client = lazy(tab)
    counts = {"subs": 0}

    def page(scope: Scope) -> str:
        use_order_events(scope, client, lambda ev: None)
        return "page"

    undo = set_strict(StrictMode(lambda: dict(counts), lambda message: None))
    try:
        mounted = mount(page, name="orders")  # mount, dispose, mount: one stream
    finally:
        undo()
    await opened(tab)
    src = tab.platform.source
    assert tab.ticket_requests == 1 and client.stats["keep_open_subscribers"] == 1
    mounted.dispose()  # a hot reload: the UI is disposed, then mounted again
    await tab.platform.advance(IDLE / 2)
    mounted = mount(page, name="orders")
    await tab.platform.advance(IDLE * 2)
    assert tab.platform.sources == [src] and not src.closed
    assert client.stats["reconnects"] == 0 and client.status == "connected"
    mounted.dispose()
    await tab.platform.advance(IDLE)
    assert src.closed


# --- one stream per browser ----------------------------------------------------------------
class Browser:
    """Tabs of one profile, each with a lazy client and a SharedStream."""

    def __init__(self, make_tab: Callable[..., Tab]) -> None:
        self.make_tab = make_tab
        self.clock = VirtualClock()
        self.bus = ChannelBus()
        self.locks = FakeLockManager()
        self.tabs: list[Tab] = []
        self.clients: list[SSEClient] = []
        self.streams: list[SharedStream] = []

    def open(self, mode: str = "lazy") -> int:
        n = len(self.tabs)
        tab = self.make_tab(seed=n, clock=self.clock, bus=self.bus, lock_manager=self.locks)
        client = quiet(tab).client(mode=mode, idle_close_s=IDLE)
        stream = SharedStream(tab.platform, client, tab_id=f"t{n}")
        stream.start()
        client.start()
        self.tabs.append(tab)
        self.clients.append(client)
        self.streams.append(stream)
        return n

    async def run(self, seconds: float) -> None:
        until = self.clock.now + seconds
        await self.settle()
        while self.clock.fire_next(until):
            await self.settle()
        self.clock.now = until
        await self.settle()

    async def settle(self) -> None:
        for _ in range(4):
            for tab in self.tabs:
                if not tab.platform.closed:
                    await tab.platform.settle()

    def open_sources(self) -> int:
        return sum(t.platform.open_sources for t in self.tabs if not t.platform.closed)

    def sources(self) -> int:
        return sum(len(t.platform.sources) for t in self.tabs)

    def leader(self) -> int:
        (i,) = [i for i, c in enumerate(self.clients)
                if c.role == "leader" and not self.tabs[i].platform.closed]
        return i

    async def answer(self) -> None:
        """Every newly opened source's server answers."""
        await self.run(0)
        for tab in self.tabs:
            for src in tab.platform.sources:
                if not src.closed and not src.opened:
                    src.open()
        await self.run(0)


async def test_a_follower_subscriber_opens_the_leaders_stream_and_holds_it(make_tab) -> None:
    b = Browser(make_tab)
    for _ in range(3):
        b.open()
    await b.run(1)
    lead = b.leader()
    assert b.open_sources() == 0 and all(c.idle for c in b.clients)
    follower = (lead + 1) % 3
    got: list[str | None] = []
    off = b.clients[follower].subscribe(lambda ev: got.append(ev.id), events=["order.created"])
    await b.answer()
    assert b.open_sources() == 1 and b.tabs[lead].platform.open_sources == 1
    assert b.streams[lead].remote_demand == 1
    assert b.clients[follower].status == "connected" and not b.clients[follower].idle
    b.tabs[lead].platform.source.message(order(1), id=1)
    await b.run(0)
    assert got == ["1"]
    await b.run(IDLE * 5)
    assert b.open_sources() == 1, "open while the follower needs it"
    off()
    await b.run(IDLE - 0.5)
    assert b.open_sources() == 1
    await b.run(1)
    assert b.open_sources() == 0 and b.streams[lead].remote_demand == 0
    assert all(c.status == "disconnected" and c.idle for c in b.clients)


async def test_the_leader_waits_for_every_tab_and_a_tab_gone_without_goodbye(
    make_tab,
) -> None:
    b = Browser(make_tab)
    for _ in range(3):
        b.open()
    await b.run(1)
    lead = b.leader()
    f1, f2 = [i for i in range(3) if i != lead]
    own = b.clients[lead].subscribe(lambda ev: None)
    off1 = b.clients[f1].subscribe(lambda ev: None)
    b.clients[f2].subscribe(lambda ev: None)
    await b.answer()
    assert b.open_sources() == 1 and b.streams[lead].remote_demand == 2
    own()
    off1()
    await b.run(IDLE * 3)
    assert b.open_sources() == 1, "f2 still has a live widget"
    b.tabs[f2].platform.close_tab()  # closed or crashed: no unsubscribe, no message
    await b.run(0)
    assert b.streams[lead].remote_demand == 0
    await b.run(IDLE)
    assert b.open_sources() == 0 and b.clients[lead].idle and b.clients[f1].idle
    assert b.sources() == 1


async def test_a_follower_back_within_n_keeps_the_leaders_stream(make_tab) -> None:
    b = Browser(make_tab)
    for _ in range(2):
        b.open()
    await b.run(1)
    lead = b.leader()
    follower = 1 - lead
    off = b.clients[follower].subscribe(lambda ev: None)
    await b.answer()
    for _ in range(20):  # route changes in the follower tab
        off()
        await b.run(IDLE / 4)
        off = b.clients[follower].subscribe(lambda ev: None)
        await b.run(IDLE / 4)
    await b.run(IDLE * 2)
    assert b.sources() == 1 and b.open_sources() == 1
    off()


async def test_a_new_leader_learns_which_followers_need_the_stream(make_tab) -> None:
    b = Browser(make_tab)
    for _ in range(3):
        b.open()
    await b.run(1)
    assert b.leader() == 0  # the lock queue is FIFO: tab 1 is next, then tab 2
    b.clients[2].subscribe(lambda ev: None)
    await b.answer()
    b.tabs[0].platform.source.message(order(7), id=7)
    await b.run(0)
    b.tabs[0].platform.close_tab()
    await b.answer()
    assert b.leader() == 1 and not b.clients[1].wants_stream
    src = b.tabs[1].platform.source
    assert not src.closed and src.query["lastEventId"] == "7"
    assert b.streams[1].remote_demand == 1
    await b.run(IDLE * 3)
    assert b.open_sources() == 1, "the new leader keeps it for the tab that needs it"


async def test_always_followers_take_no_demand_locks(make_tab) -> None:
    b = Browser(make_tab)
    for _ in range(3):
        b.open(mode="always")
    await b.answer()
    assert b.open_sources() == 1
    assert not any(":demand:" in name for _what, name, _tab in b.locks.log)
    assert b.locks.count("request") == 3  # the election only


# --- options from the page --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        ((None, None, None), StreamOptions()),
        (("lazy", None, None), StreamOptions(mode="lazy")),
        (("per-tab", None, "lazy idle=5"), StreamOptions("per-tab", "lazy", 5.0)),
        (("lazy,idle=2", "always per-tab", None), StreamOptions("per-tab", "lazy", 2.0)),
        (("LAZY; idle=0.5",), StreamOptions(mode="lazy", idle_close_s=0.5)),
        (("idle=nan lazy", "idle=7"), StreamOptions(mode="lazy", idle_close_s=7.0)),
        (("idle=0", "idle=-3 idle=inf idle=9999 idle=x"), StreamOptions()),
        (("bogus", "\u202elazy"), StreamOptions()),
    ],
)
def test_parse_options(sources: tuple[str | None, ...], expected: StreamOptions) -> None:
    assert parse_options(*sources) == expected
