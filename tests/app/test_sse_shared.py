"""One stream per browser (``zariz.sse.shared``): election, relay, hand-over, zombie leaders.

Several fake tabs share one virtual clock, one BroadcastChannel bus and one Web Lock manager,
as the tabs of one browser profile do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zariz.platform.fake import ChannelBus, FakeLockManager, VirtualClock
from zariz.sse import SSEClient
from zariz.sse.shared import SharedStream

from tests.app.conftest import Tab


def order(i: int) -> dict[str, Any]:
    return {"type": "order.created", "data": {"id": i}}


class Browser:
    """Tabs of one profile, each with a started client and a SharedStream."""

    def __init__(self, make_tab: Callable[..., Tab], **shared_kw: Any) -> None:
        self.make_tab = make_tab
        self.clock = VirtualClock()
        self.bus = ChannelBus()
        self.locks = FakeLockManager()
        self.shared_kw = shared_kw
        self.tabs: list[Tab] = []
        self.streams: list[SharedStream] = []
        self.clients: list[SSEClient] = []
        self.got: list[list[str]] = []

    def open(self, **shared_kw: Any) -> int:
        n = len(self.tabs)
        tab = self.make_tab(seed=n, clock=self.clock, bus=self.bus, lock_manager=self.locks)
        client = tab.client()
        got: list[str] = []
        client.subscribe(lambda ev: got.append(f"{ev.event}:{ev.id}"), events=["order.created"])
        stream = SharedStream(tab.platform, client, tab_id=f"t{n}",
                              **{**self.shared_kw, **shared_kw})
        stream.start()
        client.start()
        self.tabs.append(tab)
        self.streams.append(stream)
        self.clients.append(client)
        self.got.append(got)
        return n

    async def settle(self) -> None:
        for _ in range(4):
            for tab in self.tabs:
                if not tab.platform.closed:
                    await tab.platform.settle()

    async def run(self, seconds: float) -> None:
        until = self.clock.now + seconds
        await self.settle()
        while self.clock.fire_next(until):
            await self.settle()
        self.clock.now = until
        await self.settle()

    def open_sources(self) -> list[int]:
        return [i for i, t in enumerate(self.tabs)
                if not t.platform.closed and t.platform.open_sources > 0]

    def leader(self) -> int:
        (i,) = self.open_sources()
        return i

    async def stream_opens(self, i: int) -> None:
        """The tab's newest source opens (the server answered)."""
        await self.settle()
        self.tabs[i].platform.source.open()
        await self.settle()


async def test_one_stream_for_all_tabs_and_every_event_reaches_every_tab_once(make_tab) -> None:
    b = Browser(make_tab)
    for _ in range(4):
        b.open()
    await b.run(0)
    assert b.open_sources() == [0]
    await b.stream_opens(0)
    assert [c.role for c in b.clients] == ["leader", "follower", "follower", "follower"]
    assert [c.status for c in b.clients] == ["connected"] * 4
    assert sum(t.ticket_requests for t in b.tabs) == 1  # followers request no tickets
    src = b.tabs[0].platform.source
    for i in range(1, 101):
        src.message(order(i), id=i)
    await b.settle()
    expected = [f"order.created:{i}" for i in range(1, 101)]
    assert all(got == expected for got in b.got)
    assert b.clients[2].stats["leader"] == "t0" and b.clients[2].stats["role"] == "follower"


async def test_when_the_leader_closes_the_next_tab_resumes_from_its_newest_id(make_tab) -> None:
    b = Browser(make_tab)
    for _ in range(3):
        b.open()
    await b.run(0)
    await b.stream_opens(0)
    for i in range(1, 6):
        b.tabs[0].platform.source.message(order(i), id=i)
    await b.settle()
    b.tabs[0].platform.close_tab()  # the leader's tab closes: the browser frees its lock
    await b.run(0)
    new = b.leader()
    assert new in (1, 2) and b.clients[new].role == "leader"
    assert b.tabs[new].platform.source.query["lastEventId"] == "5"
    await b.stream_opens(new)
    src = b.tabs[new].platform.source
    src.emit("position", {"last_id": 5}, id=5)
    for i in (5, 6, 7):  # a replay overlapping the seam, then new events
        src.message(order(i), id=i)
    await b.settle()
    expected = [f"order.created:{i}" for i in range(1, 8)]
    assert b.got[1] == expected and b.got[2] == expected
    other = 3 - new
    assert b.clients[other].role == "follower" and b.clients[other].status == "connected"


async def test_twenty_handovers_in_a_row_lose_and_double_nothing(make_tab) -> None:
    b = Browser(make_tab)
    for _ in range(21):
        b.open()
    await b.run(0)
    next_id = 1
    for _ in range(20):
        lead = b.leader()
        await b.stream_opens(lead)
        src = b.tabs[lead].platform.source
        for _ in range(3):
            src.message(order(next_id), id=next_id)
            next_id += 1
        await b.settle()
        b.tabs[lead].platform.close_tab()
        await b.run(0)
    last = b.leader()
    await b.stream_opens(last)
    b.tabs[last].platform.source.message(order(next_id), id=next_id)
    await b.settle()
    assert b.got[last] == [f"order.created:{i}" for i in range(1, next_id + 1)]


async def test_a_frozen_leader_is_replaced_and_steps_down_when_it_thaws(make_tab) -> None:
    b = Browser(make_tab)
    for _ in range(3):
        b.open()
    await b.run(0)
    await b.stream_opens(0)
    b.tabs[0].platform.source.message(order(1), id=1)
    await b.settle()
    b.tabs[0].platform.freeze()  # page frozen: no timers, no events, lock still held
    await b.run(30)
    assert b.clients[1].role == b.clients[2].role == "follower"  # not yet
    await b.run(20)  # > 2.5 x 15 s ping interval (+ jitter) since the last beat
    stealers = [i for i in (1, 2) if b.clients[i].role == "leader"]
    assert len(stealers) == 1
    new = stealers[0]
    assert b.tabs[new].platform.source.query["lastEventId"] == "1"
    await b.stream_opens(new)
    b.tabs[0].platform.thaw()  # it learns the lock was stolen: closes its source at once
    await b.run(0)
    assert b.clients[0].role == "follower" and b.open_sources() == [new]
    b.tabs[new].platform.source.message(order(2), id=2)
    await b.settle()
    assert b.got[0][-1] == "order.created:2" and b.clients[0].status == "connected"
    await b.run(120)
    assert b.open_sources() == [new]  # no flapping afterwards


async def test_followers_use_the_leaders_ping_interval_they_never_ask_for_tickets(
    make_tab,
) -> None:
    b = Browser(make_tab)
    b.open()
    b.open()
    b.tabs[0].server.ping_interval = 2  # the leader's ticket answer: pings every 2 s
    await b.run(0)
    await b.stream_opens(0)  # its "connected" carries its window (2 x 2.5 s)
    assert b.streams[1].takeover_after() == 5.0
    b.tabs[0].platform.freeze()
    await b.run(12)  # 5 s + up to 2 s of jitter, checked every 5 s
    assert b.clients[1].role == "leader"


async def test_a_hidden_leader_with_throttled_timers_is_not_deposed(make_tab) -> None:
    """Chrome runs a hidden tab's timers once a minute after 5 minutes; its stream's pings
    (network events, every 15 s) still arrive, and each one is a heartbeat."""
    b = Browser(make_tab)
    b.open(beat_interval=60.0)  # the leader: a beat timer firing once a minute at best
    b.open()
    b.open()
    await b.run(0)
    await b.stream_opens(0)
    for _ in range(40):  # 10 minutes
        await b.run(15)
        b.tabs[0].platform.source.emit("ping", {"ts": 1})
    await b.settle()
    assert b.open_sources() == [0]
    assert [c.role for c in b.clients] == ["leader", "follower", "follower"]
    assert sum(s.handovers for s in b.streams) == 1


async def test_a_leader_without_a_stream_is_only_replaced_after_the_long_silence(
    make_tab,
) -> None:
    """While the server is down the leader has no pings to relay; followers wait out
    idle_takeover_after (longer than a throttled tab's minute) before stealing."""
    b = Browser(make_tab)
    b.open(beat_interval=60.0)
    b.open()
    await b.run(0)
    b.tabs[0].server.ticket_mode = "500"
    await b.run(70)
    assert b.clients[1].role == "follower"


async def test_a_follower_asks_the_leader_to_reconnect_now(make_tab) -> None:
    b = Browser(make_tab)
    b.open()
    b.open()
    await b.run(0)
    await b.stream_opens(0)
    b.tabs[0].platform.source.error()
    await b.settle()
    assert b.clients[1].status == "connecting"
    assert b.clients[1].reconnect_now()  # the user clicked the follower's indicator
    await b.settle()
    assert b.tabs[0].ticket_requests == 2 and b.tabs[1].ticket_requests == 0


async def test_without_web_locks_every_tab_keeps_its_own_stream(make_tab) -> None:
    tab = make_tab(features=("channel",))
    client = tab.client()
    assert not SharedStream(tab.platform, client, tab_id="solo").start()
    client.start()
    await tab.platform.settle()
    assert client.role == "per-tab" and tab.platform.open_sources == 1


async def test_dispose_leaves_the_election_and_the_next_tab_leads(make_tab) -> None:
    b = Browser(make_tab)
    b.open()
    b.open()
    await b.run(0)
    base = b.tabs[1].platform.live_proxies()
    b.streams[0].dispose()
    b.clients[0].stop()
    await b.run(0)
    assert b.open_sources() == [1] and b.clients[1].role == "leader"
    assert b.tabs[0].platform.live_proxies() <= base


async def test_after_a_relayed_reset_followers_take_the_leaders_lower_ids(make_tab) -> None:
    """Regression: a relayed reset moved nothing, so after a wiped log followers judged
    ids 4, 5, 6 older than 42 and dropped them all."""
    b = Browser(make_tab)
    b.open()
    b.open()
    await b.run(0)
    await b.stream_opens(0)
    src = b.tabs[0].platform.source
    for i in (40, 41, 42):
        src.message(order(i), id=i)
    src.emit("reset", {"last_id": 3, "reason": "unknown_id"}, id=3)
    for i in (4, 5, 6):
        src.message(order(i), id=i)
    await b.settle()
    assert b.got[1] == b.got[0] == [f"order.created:{i}" for i in (40, 41, 42, 4, 5, 6)]


async def test_a_follower_that_saw_no_event_takes_over_from_the_leaders_position(
    make_tab,
) -> None:
    """Regression: it connected without lastEventId ("from now") and what was committed
    between the old leader leaving and its connect was lost for its subscribers."""
    b = Browser(make_tab)
    b.open()
    await b.run(0)
    await b.stream_opens(0)
    b.tabs[0].platform.source.emit("position", {"last_id": 10}, id=10)
    await b.settle()
    b.open()  # joins in a quiet period
    await b.run(6)
    b.tabs[0].platform.close_tab()
    await b.run(0)
    assert b.tabs[1].platform.source.query.get("lastEventId") == "10"


async def test_a_deposed_leaders_last_words_do_not_make_followers_show_offline(
    make_tab,
) -> None:
    b = Browser(make_tab)
    for _ in range(3):
        b.open()
    await b.run(0)
    await b.stream_opens(0)
    b.tabs[0].platform.freeze()
    await b.run(50)
    new = next(i for i in (1, 2) if b.clients[i].role == "leader")
    await b.stream_opens(new)
    other = 3 - new
    b.tabs[0].platform.thaw()
    await b.run(0)
    assert b.clients[0].role == "follower"
    assert b.clients[other].status == "connected"


async def test_waking_from_sleep_steals_nothing_from_a_live_leader(make_tab) -> None:
    b = Browser(make_tab)
    for _ in range(5):
        b.open()
    await b.run(0)
    await b.stream_opens(0)
    await b.run(3)
    for tab in b.tabs:
        tab.platform.freeze()
    await b.run(3600)  # the laptop slept an hour
    for tab in b.tabs:
        tab.platform.thaw()
    await b.run(0.5)
    assert b.locks.count("steal") == 0
    assert [c.role for c in b.clients] == ["leader"] + ["follower"] * 4


async def test_a_click_in_a_follower_retries_a_leader_that_gave_up(make_tab) -> None:
    b = Browser(make_tab)
    b.open()
    b.open()
    await b.run(0)
    b.clients[0].disconnect()  # e.g. a ticket refused right after a refresh
    await b.run(6)
    assert b.clients[1].status == "disconnected"
    before = b.tabs[0].ticket_requests
    assert b.clients[1].reconnect_now()  # what the shell's click does first
    await b.run(1)
    assert b.tabs[0].ticket_requests > before


async def test_followers_show_the_leaders_retry_countdown_and_reason(make_tab) -> None:
    b = Browser(make_tab)
    b.open()
    b.open()
    await b.run(0)
    b.tabs[0].server.ticket_mode = "500"
    seen = False
    for _ in range(60):  # beats carry the leader's countdown while it waits
        await b.run(1)
        assert b.clients[1].status == "connecting"
        seen = seen or b.clients[1].retry_in() is not None
    assert seen


async def test_a_hidden_leader_whose_server_is_down_is_not_deposed_in_ten_minutes(
    make_tab,
) -> None:
    b = Browser(make_tab)
    b.open(beat_interval=60.0)  # throttled timers: one beat a minute
    b.open()
    b.open()
    await b.run(0)
    b.tabs[0].server.ticket_mode = "500"
    await b.run(600)
    assert sum(s.handovers for s in b.streams) == 1


async def test_dispose_gives_the_client_its_own_stream(make_tab) -> None:
    b = Browser(make_tab)
    b.open()
    b.open()
    await b.run(0)
    b.streams[1].dispose()
    await b.run(1)
    assert b.clients[1].role == "per-tab" and b.tabs[1].platform.open_sources == 1
