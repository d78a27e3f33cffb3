"""Fan-out, ids and relays: what subscribers see."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from zariz.platform import RawEvent
from zariz.platform.fake import EPOCH_MS, ChannelBus
from zariz.sse import SSEEvent

from tests.app.conftest import Tab


def order(i: int) -> dict[str, Any]:
    return {"type": "order.created", "data": {"id": i}, "ts": 1}


async def test_events_are_normalized_and_dispatched_in_subscription_order(tab: Tab) -> None:
    client = await tab.connected()
    calls: list[tuple[str, SSEEvent]] = []
    for name in ("a", "b", "c"):
        client.subscribe(lambda ev, name=name: calls.append((name, ev)))
    tab.platform.clock.advance(1.5)
    tab.platform.source.message(order(1), id=1)
    assert [n for n, _ in calls] == ["a", "b", "c"]
    ev = calls[0][1]
    assert ev.to_dict() == {"event": "order.created", "data": {"id": 1}, "id": "1",
                            "received_at": float(EPOCH_MS + 1500)}
    assert ev.origin == "source" and client.last_event_id == "1"


async def test_handler_exceptions_are_isolated_and_logged_with_traceback(
    tab: Tab, caplog: pytest.LogCaptureFixture
) -> None:
    client = await tab.connected()
    got: list[str | None] = []

    def broken(ev: SSEEvent) -> None:
        raise ZeroDivisionError("boom in handler")

    client.subscribe(broken)
    client.subscribe(lambda ev: got.append(ev.id))
    for i in range(1, 4):
        tab.platform.source.message(order(i), id=i)
    assert got == ["1", "2", "3"]
    assert client.stats["handler_errors"] == 3 and client.status == "connected"
    assert len(tab.platform.sources) == 1
    records = [r for r in caplog.records if r.exc_info and "handler" in r.getMessage()]
    assert len(records) == 3 and records[0].levelno == logging.ERROR
    assert "ZeroDivisionError: boom in handler" in caplog.text  # the traceback


async def test_async_handler_runs_and_its_failure_is_isolated(tab: Tab) -> None:
    client = await tab.connected()
    got: list[str] = []

    async def ok(ev: SSEEvent) -> None:
        got.append(ev.event)

    async def bad(ev: SSEEvent) -> None:
        raise ValueError("async boom")

    client.subscribe(ok)
    client.subscribe(bad)
    tab.platform.source.message(order(1), id=1)
    await tab.platform.settle()
    assert got == ["order.created"] and client.stats["handler_errors"] == 1


async def test_status_listener_that_raises_is_isolated(tab: Tab) -> None:
    client = tab.client()
    seen: list[str] = []
    client.on_status(lambda s: 1 / 0)
    off = client.on_status(seen.append)
    client.connect()
    await tab.platform.settle()
    tab.platform.source.open()
    assert seen == ["connecting", "connected"] and client.stats["status_errors"] == 2
    off()
    off()
    client.disconnect()
    assert seen == ["connecting", "connected"] and client.stats["status_listeners"] == 1


async def test_unsubscribe_is_idempotent(tab: Tab) -> None:
    client = await tab.connected()
    got: list[object] = []
    off = client.subscribe(got.append)
    other = client.subscribe(lambda ev: None)
    off()
    off()
    assert client.stats["subscribers"] == 1
    tab.platform.source.message(order(1), id=1)
    assert got == []
    other()
    assert client.stats["subscribers"] == 0


async def test_unsubscribe_during_dispatch_does_not_break_iteration(tab: Tab) -> None:
    client = await tab.connected()
    calls: list[str] = []
    offs: dict[str, Any] = {}

    def first(ev: SSEEvent) -> None:
        calls.append("first")
        offs["first"]()  # itself
        offs["second"]()  # and the next one: it must not be called for this event

    offs["first"] = client.subscribe(first)
    offs["second"] = client.subscribe(lambda ev: calls.append("second"))
    client.subscribe(lambda ev: calls.append("third"))
    tab.platform.source.message(order(1), id=1)
    tab.platform.source.message(order(2), id=2)
    assert calls == ["first", "third", "third"]


async def test_subscribe_during_dispatch_waits_for_next_event(tab: Tab) -> None:
    client = await tab.connected()
    late: list[str | None] = []

    def adder(ev: SSEEvent) -> None:
        if ev.id == "1":
            client.subscribe(lambda e: late.append(e.id))

    client.subscribe(adder)
    tab.platform.source.message(order(1), id=1)
    tab.platform.source.message(order(2), id=2)
    assert late == ["2"]


async def test_events_filter_on_normalized_name(tab: Tab) -> None:
    client = await tab.connected()
    created: list[str] = []
    pings: list[str] = []
    client.subscribe(lambda ev: created.append(ev.event), events=["order.created"])
    client.subscribe(lambda ev: pings.append(ev.event), events="ping")
    tab.platform.source.message(order(1), id=1)
    tab.platform.source.message({"type": "order.deleted", "data": {}}, id=2)
    tab.platform.source.emit("ping", {"ts": 5})
    assert created == ["order.created"] and pings == ["ping"]
    with pytest.raises(ValueError):
        client.subscribe(print, events=[""])
    with pytest.raises(TypeError):
        client.subscribe("not callable")  # type: ignore[arg-type]


async def test_reset_is_passed_through_and_keeps_subscribers(tab: Tab) -> None:
    client = await tab.connected()
    got: list[SSEEvent] = []
    client.subscribe(got.append)
    tab.platform.source.message(order(5), id=5)
    tab.platform.source.emit("reset", {"reason": "too_old", "last_id": 9}, id=9)
    assert got[-1].event == "reset" and got[-1].data == {"reason": "too_old", "last_id": 9}
    assert client.last_event_id == "9" and client.status == "connected"
    assert client.stats["subscribers"] == 1


async def test_reset_to_a_lower_id_after_a_database_reset_keeps_live_events_flowing(
    tab: Tab,
) -> None:
    """Regression: the server's log was wiped (ids start again at 1) while the tab held
    id 500. The reset moves the position down, so ids 4, 5 are not taken for duplicates,
    and the next reconnect resumes from the new log."""
    client = await tab.connected()
    got: list[str] = []
    client.subscribe(lambda ev: got.append(f"{ev.event}:{ev.id}"))
    src = tab.platform.source
    src.message(order(500), id=500)
    src.emit("reset", {"reason": "unknown_id", "last_id": 3}, id=3)
    src.message(order(4), id=4)
    src.message(order(5), id=5)
    assert got == ["order.created:500", "reset:None", "order.created:4", "order.created:5"]
    assert client.stats["duplicates_dropped"] == 0 and client.last_event_id == "5"
    client.reconnect()
    await tab.platform.settle()
    assert "lastEventId=5" in tab.platform.sources[-1].url


async def test_duplicates_dropped_but_pings_with_inherited_id_pass(tab: Tab) -> None:
    client = await tab.connected()
    got: list[str] = []
    client.subscribe(lambda ev: got.append(f"{ev.event}:{ev.id}"))
    src = tab.platform.source
    src.message(order(1), id=1)
    src.message(order(2), id=2)
    src.emit("ping", {"ts": 1})  # the browser hands it lastEventId "2"
    src.message(order(2), id=2)  # replayed at a seam
    src.message(order(1), id=1)
    src.message(order(3), id=3)
    assert got == ["order.created:1", "order.created:2", "ping:2", "order.created:3"]
    assert client.stats["duplicates_dropped"] == 2 and client.last_event_id == "3"


async def test_feed_from_relay_shares_dedupe_and_fanout(tab: Tab) -> None:
    client = await tab.connected()
    got: list[tuple[str | None, str]] = []
    client.subscribe(lambda ev: got.append((ev.id, ev.origin)))
    ev = client.feed(RawEvent("message", '{"type": "order.created", "data": {}}', "7"))
    assert ev is not None and ev.origin == "relay"
    tab.platform.source.message(order(7), id=7)  # the same event, now from our stream
    tab.platform.source.message(order(8), id=8)
    assert client.feed(RawEvent("message", "{}", "8")) is None
    assert got == [("7", "relay"), ("8", "source")]
    assert client.stats["duplicates_dropped"] == 2
    with pytest.raises(TypeError):
        client.feed({"type": "message"})  # type: ignore[arg-type]


async def test_relay_between_two_tabs_delivers_each_event_once(make_tab) -> None:
    bus = ChannelBus()
    leader, follower = make_tab(bus=bus), make_tab(bus=bus)
    a = await leader.connected(relay=True)
    baseline = follower.platform.live_proxies()  # the auth client's storage listener
    b = follower.client(relay=True)  # not connected: it lives on the relay alone
    got_b: list[tuple[str | None, str]] = []
    b.subscribe(lambda ev: got_b.append((ev.id, ev.origin)))
    leader.platform.source.message(order(1), id=1)
    leader.platform.source.emit("ping", {"ts": 1})  # heartbeats are not relayed
    leader.platform.source.message(order(2), id=2)
    assert got_b == [("1", "relay"), ("2", "relay")]
    assert a.stats["relayed_out"] == 2 and b.stats["relayed_in"] == 2
    # Both tabs connected: the same id from the stream and the relay is delivered once.
    b.connect()
    await follower.platform.settle()
    follower.platform.source.open()
    leader.platform.source.message(order(3), id=3)
    follower.platform.source.message(order(3), id=3)
    assert got_b[-1] == ("3", "relay") and b.stats["duplicates_dropped"] == 1
    follower.platform.bus.post(leader.platform, "zariz-sse", {"type": 1})  # malformed
    assert len(got_b) == 3
    b.dispose()
    assert follower.platform.live_proxies() == baseline


async def test_connect_cycles_leave_proxies_and_listeners_at_baseline(tab: Tab) -> None:
    client = tab.client()
    base_proxies = tab.platform.live_proxies()
    base_listeners = tab.platform.listener_count()
    client.connect()
    await tab.platform.settle()
    tab.platform.source.open()
    connected_proxies = tab.platform.live_proxies()
    for i in range(1000):
        src = tab.platform.source
        src.message(order(i), id=i + 1)
        if i % 3 == 0:
            client.reconnect()
        else:
            src.error(closed=i % 2 == 0)
            await tab.platform.advance(client.retry_in() or 0)
        await tab.platform.settle()
        tab.platform.source.open()
        assert tab.platform.live_proxies() == connected_proxies
    assert len(tab.platform.sources) == 1001 and tab.platform.max_open_sources == 1
    assert client.stats["live_proxies"] == connected_proxies
    client.disconnect()
    assert tab.platform.live_proxies() == base_proxies
    assert tab.platform.listener_count() == base_listeners
    assert tab.platform.clock.pending == 0 and not tab.platform.tasks


async def test_stats_is_a_plain_copy(tab: Tab) -> None:
    client = await tab.connected()
    stats = client.stats
    stats["events"] = 999
    assert client.stats["events"] == 0
    assert {"connect_calls", "connects", "opens", "errors", "reconnects", "events",
            "handler_errors", "duplicates_dropped", "stalls", "subscribers",
            "status_listeners", "live_proxies", "last_event_id", "status",
            "open_sources"} <= set(stats)
    assert stats["status"] == "connected" and stats["open_sources"] == 1


async def test_a_relayed_reset_does_not_move_this_tabs_position(tab: Tab) -> None:
    """Another tab's reset, relayed late, must not take us back: we would accept events
    we already delivered again."""
    client = await tab.connected()
    got: list[str] = []
    client.subscribe(lambda ev: got.append(f"{ev.event}:{ev.id}"))
    tab.platform.source.message(order(7), id=7)
    client.feed(RawEvent("reset", '{"reason": "too_old", "last_id": 5}', "5"), origin="relay")
    client.feed(RawEvent("message", '{"type": "order.created", "data": {}}', "6"), "relay")
    assert client.last_event_id == "7"
    assert got == ["order.created:7", "reset:None"]


async def test_a_cut_before_the_first_event_resumes_from_the_streams_position(tab: Tab) -> None:
    """Regression: a stream opened without an id told the client no position, so a cut
    before its first event reconnected "from now" and lost what was committed meanwhile.
    The server's opening ``position`` frame gives the id to resume from."""
    client = await tab.connected()
    got: list[str] = []
    client.subscribe(lambda ev: got.append(f"{ev.event}:{ev.id}"))
    assert "lastEventId" not in tab.platform.source.url
    tab.platform.source.emit("position", {"last_id": 41}, id=41)
    assert client.last_event_id == "41"
    tab.platform.source.error(closed=True)  # cut: no event has flowed yet
    await tab.platform.advance(31)
    assert tab.platform.source.query["lastEventId"] == "41"
    # The replay the server sends for it is delivered, not dropped as a duplicate.
    tab.platform.source.open()
    tab.platform.source.emit("position", {"last_id": 41}, id=41)
    tab.platform.source.message(order(42), id=42)
    assert got == ["position:41", "position:41", "order.created:42"]
    assert client.stats["duplicates_dropped"] == 0


async def test_position_is_adopted_even_when_lower_but_never_from_a_relay(tab: Tab) -> None:
    client = await tab.connected()
    tab.platform.source.message(order(9), id=9)
    client.feed(RawEvent("position", '{"last_id": 3}', "3"), origin="relay")
    assert client.last_event_id == "9"  # another tab's stream says nothing of ours
    # Our own stream's position is the truth (a wiped log restarts at a lower id).
    tab.platform.source.emit("position", {"last_id": 3}, id=3)
    assert client.last_event_id == "3"
    assert client.feed(RawEvent("message", '{"type": "order.created", "data": {}}', "4"))


# --- a platform's batch (the browser adapter hands a task's events over at once) ----------
def _flat(*events: tuple[str, str, str]) -> list[str]:
    return [field for event in events for field in event]


MIXED = (
    ("message", json.dumps(order(1)), "1"),
    ("ping", "{}", "1"),
    ("message", json.dumps(order(1)), "1"),  # a duplicate
    ("message", "not json", "2"),
    ("message", json.dumps(order(3)), "²"),  # an id that names no position
    ("position", '{"last_id": 9}', ""),
    ("message", " " + json.dumps(order(10)) + "\n", "10"),  # JSON with whitespace around
    ("reset", '{"last_id": 2}', "2"),
    ("message", json.dumps(order(3)), "3"),
)


async def test_a_batch_is_handled_as_its_events_one_by_one(make_tab: Any) -> None:
    one, batch = make_tab(), make_tab()
    got: dict[str, list[Any]] = {"one": [], "batch": []}
    for name, tab in (("one", one), ("batch", batch)):
        client = await tab.connected()
        client.subscribe(lambda ev, name=name: got[name].append((ev.to_dict(), ev.origin)))
    for sse_type, data, ev_id in MIXED:
        one.platform.source.handlers.on_event(RawEvent(sse_type, data, ev_id))
    batch.platform.source.handlers.on_events(_flat(*MIXED))
    assert got["batch"] == got["one"] and len(got["one"]) == len(MIXED) - 1
    a, b = one.clients[0].stats, batch.clients[0].stats
    assert a == b and a["duplicates_dropped"] == 1 and a["last_event_id"] == "3"


async def test_a_subscriber_that_reconnects_drops_the_rest_of_its_batch(tab: Tab) -> None:
    client = await tab.connected()
    seen: list[str | None] = []

    def on_event(ev: SSEEvent) -> None:
        seen.append(ev.id)
        if ev.id == "2":
            client.reconnect("test")

    client.subscribe(on_event)
    handlers = tab.platform.source.handlers
    handlers.on_events(_flat(*(("message", json.dumps(order(i)), str(i)) for i in (1, 2, 3, 4))))
    assert seen == ["1", "2"] and client.stats["events"] == 2
    handlers.on_events(_flat(("message", json.dumps(order(5)), "5")))  # the old source's
    assert seen == ["1", "2"]


async def test_a_relay_failure_inside_a_batch_loses_no_event(
    tab: Tab, caplog: pytest.LogCaptureFixture
) -> None:
    client = await tab.connected()
    seen: list[str | None] = []
    client.subscribe(lambda ev: seen.append(ev.id))

    def relay(message: dict[str, str]) -> None:  # the relay to other tabs breaks once
        if message["id"] == "2":
            raise RuntimeError("relay broke")

    client._relay_post = relay
    tab.platform.source.handlers.on_events(
        _flat(*(("message", json.dumps(order(i)), str(i)) for i in (1, 2, 3))))
    # The relay's failure is logged and this tab still gets every event, once.
    assert seen == ["1", "2", "3"] and client.status == "connected"
    assert "relaying id=2 to other tabs failed" in caplog.text and "relay broke" in caplog.text


async def test_debug_lines_of_a_batch_follow_the_log_level(
    tab: Tab, caplog: pytest.LogCaptureFixture
) -> None:
    client = await tab.connected()
    handlers = tab.platform.source.handlers
    handlers.on_events(_flat(("message", json.dumps(order(1)), "1"),
                             ("message", json.dumps(order(1)), "1")))
    assert "message order.created id=1" in caplog.text
    assert "duplicate id=1 from source dropped" in caplog.text
    caplog.clear()
    logging.getLogger("zariz").setLevel(logging.INFO)
    handlers.on_events(_flat(("message", json.dumps(order(2)), "2")))
    assert "message order.created" not in caplog.text and client.stats["events"] == 2
