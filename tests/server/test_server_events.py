"""The in-process hub: seam de-duplication, bounded queues, replay and reset rules."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

from server.db import Database, Event
from server.events import MemoryHub, Reset, StreamClosed
from server.metrics import Metrics


@pytest.fixture
def db(tmp_path: pathlib.Path):
    database = Database(tmp_path / "z.db", event_retention=5)
    database.seed_couriers()
    yield database
    database.close()


def add_order(db: Database) -> Event:
    _, event = db.insert_order({"customer": "c", "phone": "p", "address": "a"}, "order.created")
    return event


async def test_seam_drops_live_duplicates_of_replayed_events(
    db: Database, monkeypatch: pytest.MonkeyPatch
):
    """Regression guard: an event committed between "register for live" and "read the
    replay" is in both; the feed must deliver it once."""
    hub = MemoryHub(db, queue_size=10, metrics=Metrics())
    first = add_order(db)
    racing: list[Event] = []
    original_replay = hub.replay

    def replay_with_a_concurrent_commit(after_id: int):
        racing.append(add_order(db))
        hub.publish(racing[0])  # lands in the live queue of the registered subscriber
        return original_replay(after_id)

    monkeypatch.setattr(hub, "replay", replay_with_a_concurrent_commit)
    async with hub.subscribe(0) as feed:
        got = [await feed.next(timeout=1), await feed.next(timeout=1)]
        assert await feed.next(timeout=0.05) is None
        later = add_order(db)
        hub.publish(later)
        got.append(await feed.next(timeout=1))
    assert [e.id for e in got if isinstance(e, Event)] == [first.id, racing[0].id, later.id]


async def test_replay_then_live_ids_are_contiguous_and_unique(db: Database):
    hub = MemoryHub(db, queue_size=10, metrics=Metrics())
    before = [add_order(db) for _ in range(3)]
    async with hub.subscribe(before[0].id) as feed:
        late = add_order(db)  # committed after the replay was read: arrives live only
        hub.publish(late)
        ids = []
        while (item := await feed.next(timeout=0.05)) is not None:
            assert isinstance(item, Event)
            ids.append(item.id)
    assert ids == [before[1].id, before[2].id, late.id]


async def test_full_queue_drops_the_subscriber_without_blocking_publish(db: Database):
    metrics = Metrics()
    hub = MemoryHub(db, queue_size=2, metrics=metrics)
    async with hub.subscribe(None) as slow, hub.subscribe(None) as fast:
        for _ in range(3):
            event = add_order(db)
            hub.publish(event)  # synchronous: never waits for a consumer
            await fast.next(timeout=1)
        with pytest.raises(StreamClosed, match="slow_consumer"):
            await slow.next(timeout=1)
        assert hub.subscriber_count == 1
    assert metrics.registry.get_sample_value("zariz_sse_slow_consumers_dropped_total") == 1
    assert hub.subscriber_count == 0


async def test_reset_too_old_and_unknown_id(db: Database):
    hub = MemoryHub(db, queue_size=10, metrics=Metrics())
    events = [add_order(db) for _ in range(8)]  # retention 5 keeps ids 4..8
    assert hub.replay(2).reset == Reset("too_old", events[-1].id)
    assert hub.replay(3).reset is None and [e.id for e in hub.replay(3).events] == [4, 5, 6, 7, 8]
    assert hub.replay(8).events == [] and hub.replay(8).reset is None
    assert hub.replay(9).reset == Reset("unknown_id", 8)


async def test_disconnect_session_ends_only_that_sessions_feeds(db: Database):
    hub = MemoryHub(db, queue_size=10, metrics=Metrics())
    async with hub.subscribe(None, session_id="a") as a, hub.subscribe(None, session_id="b") as b:
        assert hub.disconnect_session("a") == 1
        with pytest.raises(StreamClosed, match="session_revoked"):
            await a.next(timeout=1)
        assert await b.next(timeout=0.01) is None


async def test_waiting_reader_wakes_on_close(db: Database):
    hub = MemoryHub(db, queue_size=10, metrics=Metrics())
    async with hub.subscribe(None) as feed:
        reader = asyncio.create_task(feed.next(timeout=10))
        await asyncio.sleep(0)
        hub.close_all("shutdown")
        with pytest.raises(StreamClosed, match="shutdown"):
            await asyncio.wait_for(reader, 1)


async def test_logout_before_the_stream_subscribes_still_ends_it(db: Database):
    """Regression: a session revoked between the auth check and the hub subscription had
    no subscription to close, so its stream lived until the token expired."""
    import time

    from server.security import Principal
    from server.sse import _stream

    metrics = Metrics()
    hub = MemoryHub(db, queue_size=10, metrics=metrics)
    principal = Principal(username="demo", session_id="gone", expires_at=time.time() + 60)
    sent = []

    async def revoked(_sid: str) -> bool:
        return False

    async def consume() -> None:
        async for item in _stream(hub, metrics, principal, None, 1000, [], revoked):
            sent.append(item)

    await asyncio.wait_for(consume(), timeout=2)  # ends by itself, without any event
    assert [s.retry for s in sent] == [1000]
    assert hub.subscriber_count == 0
    assert metrics.registry.get_sample_value("zariz_sse_open_streams") == 0


def test_refresh_reuse_grace_boundary(db: Database):
    """Inside the grace a re-presented token is 'superseded' (nothing revoked); after it,
    'reused' revokes the session in the same transaction."""
    import uuid

    sid = uuid.uuid4().hex
    db.create_session(sid, "demo", "h0", 10_000.0)
    assert db.rotate_refresh("h0", "h1", 10_000.0, now=100.0, reuse_grace=2.0) == ("ok", sid)
    assert db.rotate_refresh("h0", "hx", 10_000.0, now=101.9, reuse_grace=2.0) == (
        "superseded", sid)
    assert db.session_active(sid)
    assert db.rotate_refresh("h0", "hy", 10_000.0, now=102.1, reuse_grace=2.0) == (
        "reused", sid)
    assert not db.session_active(sid)


def test_on_close_callbacks_are_isolated_and_each_registration_has_its_own_undo() -> None:
    from server.events import Subscription

    seen: list[str] = []

    def boom(_reason: str) -> None:
        raise RuntimeError("boom")

    sub = Subscription(4, None)
    sub.on_close(boom)
    undo = sub.on_close(seen.append)
    sub.on_close(seen.append)
    undo()
    undo()
    sub.close("slow_consumer")  # boom is logged, not raised into hub.publish
    sub.close("again")
    assert seen == ["slow_consumer"]


async def test_a_stream_that_subscribes_after_shutdown_began_is_closed_at_once(db: Database):
    """Review of the lean stream: SIGTERM's close_all("shutdown") closed only the streams
    already subscribed; one between its auth and its subscription lived on until the
    graceful-shutdown timeout cancelled it. A later unavailability is not permanent."""
    from server.events import StreamClosed

    hub = MemoryHub(db, queue_size=10, metrics=Metrics())
    hub.close_all("hub_unavailable")
    async with hub.subscribe(None) as feed:  # a passing outage closes nothing new
        assert feed.subscription.closed_reason is None
    hub.close_all("shutdown")
    async with hub.subscribe(None) as feed:
        with pytest.raises(StreamClosed, match="shutdown"):
            await feed.next(timeout=1)


def test_a_replay_trimmed_between_its_bounds_and_its_read_is_too_old_not_a_gap() -> None:
    """Review (PostgreSQL, several writers): the log's bounds and its rows are two reads;
    a commit between them can trim ``after_id + 1``. A silent gap would break "snapshot
    at N, then every event after N": the client refetches instead."""
    from server.events import replay_from_log

    rows = [Event(i, "order.created", "{}") for i in range(8, 11)]  # 5..7 trimmed meanwhile

    def events_after(cursor: int) -> list[Event]:
        return [e for e in rows if e.id > cursor]

    result = replay_from_log(4, 5, 9, events_after)  # the bounds said 5..9
    assert result.events == [] and result.reset == Reset("too_old", 10)
    assert [e.id for e in replay_from_log(7, 5, 10, events_after).events] == [8, 9, 10]


async def test_memory_hub_subscribes_off_the_loop_for_a_networked_database(db: Database):
    """Review: with PostgreSQL and the memory hub, a new stream's bounds and replay ran
    on the event loop (thousands of rows: every other stream stalled)."""
    import time

    class SlowNetworkDb:
        in_loop = False

        def __getattr__(self, name: str):
            method = getattr(db, name)

            def slow(*args, **kwargs):
                time.sleep(0.3)
                return method(*args, **kwargs)

            return slow

    add_order(db)
    hub = MemoryHub(SlowNetworkDb(), queue_size=10, metrics=Metrics())  # type: ignore[arg-type]
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        async with hub.subscribe(0) as feed:
            assert isinstance(await feed.next(timeout=1), Event)
        async with hub.subscribe(None):
            pass
    finally:
        task.cancel()
    assert ticks >= 20  # ~0.9 s of slow reads, and the loop kept ticking through them
