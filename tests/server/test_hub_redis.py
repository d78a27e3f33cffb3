"""The Redis Streams hub against a real ``redis-server``: two ``RedisHub`` objects in one
loop, each with its own ``Database`` on one SQLite file, stand in for two instances."""

from __future__ import annotations

import asyncio
import dataclasses
import pathlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from server.app import create_app
from server.config import Settings
from server.db import Database, Event
from server.events import Feed, MemoryHub, Reset, StreamClosed, create_hub
from server.hub_redis import RedisHub, RedisHubConfig
from server.metrics import Metrics
from tests.server.app_client import AppClient
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.timeout(30)

# Short waits so an outage and a recovery take a fraction of a second here.
FAST: dict[str, Any] = dict(
    poll_interval=0.1, block_ms=500, connect_timeout=2.0, backoff_first=0.02,
    backoff_cap=0.2,
)
ORDER = {"customer": "Dana Levi", "phone": "+972-50-123-4567", "address": "Herzl 1"}


@pytest.fixture
def redis_server(tmp_path: pathlib.Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path) as server:
        yield server


@pytest.fixture
def make_db(tmp_path: pathlib.Path) -> Iterator[Callable[..., Database]]:
    """``make_db(retention=10_000)``: another connection ("instance") to one SQLite file."""
    made: list[Database] = []

    def factory(retention: int = 10_000) -> Database:
        db = Database(tmp_path / "z.db", event_retention=retention)
        if not made:
            db.seed_couriers()
        made.append(db)
        return db

    yield factory
    for db in made:
        db.close()


HubFactory = Callable[..., Awaitable[RedisHub]]


@pytest.fixture
async def make_hub(redis_server: RedisServer) -> AsyncIterator[HubFactory]:
    """``await make_hub(db, url=None, **options)``: a started RedisHub; closed at teardown."""
    made: list[RedisHub] = []

    async def factory(db: Database, url: str | None = None, **options: Any) -> RedisHub:
        hub = RedisHub.from_url(url or redis_server.hub_url(), db, queue_size=10_000,
                                metrics=Metrics(), **{**FAST, **options})
        made.append(hub)
        await hub.start()
        return hub

    yield factory
    for hub in made:
        await hub.aclose()


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


def commit(db: Database) -> Event:
    return db.insert_order(dict(ORDER), "order.created")[1]


def commit_and_publish(db: Database, hub: RedisHub) -> Event:
    event = commit(db)
    hub.publish(event)
    return event


async def ids_until(feed: Feed, last_id: int, timeout: float = 5.0) -> list[int]:
    """The event ids the feed yields until ``last_id`` (bounded)."""
    ids: list[int] = []
    async with asyncio.timeout(timeout):
        while not ids or ids[-1] < last_id:
            item = await feed.next(timeout=timeout)
            if isinstance(item, Event):
                ids.append(item.id)
    return ids


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> float:
    """Wait for ``condition()`` (bounded); returns the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def published(*hubs: RedisHub) -> float:
    return sum(h.metrics.registry.get_sample_value("zariz_events_published_total") or 0
               for h in hubs)


async def test_an_event_committed_through_a_reaches_a_stream_on_b_once(
    make_db: Callable[..., Database], make_hub: HubFactory, redis_client: Redis,
) -> None:
    db_a, db_b = make_db(), make_db()
    a, b = await make_hub(db_a), await make_hub(db_b)
    assert a.available and b.available
    async with b.subscribe(None) as feed:
        event = commit_and_publish(db_a, a)
        assert await ids_until(feed, event.id, timeout=2) == [event.id]
        await asyncio.sleep(0.3)  # B's relay polls meanwhile: it must not publish it again
        assert await feed.next(timeout=0.05) is None
    assert await redis_client.xlen("zariz:events") == 1
    assert published(a, b) == 1


async def test_interleaved_writers_on_two_instances_every_stream_sees_each_id_once(
    make_db: Callable[..., Database], make_hub: HubFactory,
) -> None:
    db_a, db_b = make_db(), make_db()
    a, b = await make_hub(db_a), await make_hub(db_b)
    async with a.subscribe(None) as on_a, b.subscribe(None) as on_b, \
            b.subscribe(None) as on_b2:
        first = db_a.event_bounds()[1] + 1
        last = 0
        for i in range(300):
            db, hub = (db_a, a) if i % 3 else (db_b, b)
            last = commit_and_publish(db, hub).id
            if i % 7 == 0:
                await asyncio.sleep(0)  # let the relays run between some writes
        expected = list(range(first, last + 1))
        for feed in (on_a, on_b, on_b2):
            assert await ids_until(feed, last) == expected
            assert await feed.next(timeout=0.2) is None  # and nothing twice
    assert published(a, b) == len(expected)


async def test_an_event_committed_by_a_crashed_instance_is_published_by_another(
    make_db: Callable[..., Database], make_hub: HubFactory,
) -> None:
    db_a, db_b = make_db(), make_db()
    a, b = await make_hub(db_a), await make_hub(db_b)
    async with b.subscribe(None) as feed:
        orphan = commit(db_a)  # committed; A dies before its publish()
        await a.aclose()
        assert await ids_until(feed, orphan.id, timeout=2) == [orphan.id]
        assert await feed.next(timeout=0.3) is None
    assert published(b) == 1


async def test_a_restarted_instance_publishes_what_it_committed_before_dying(
    make_db: Callable[..., Database], make_hub: HubFactory, redis_client: Redis,
) -> None:
    db = make_db()
    a = await make_hub(db)
    before = commit_and_publish(db, a)
    await until(lambda: a.buffered()["relay_batch"] == 0 and published(a) == 1)
    orphan = commit(db)
    await a.aclose()
    restarted = await make_hub(db)
    async with restarted.subscribe(before.id) as feed:
        assert await ids_until(feed, orphan.id, timeout=2) == [orphan.id]
    entries = await redis_client.xrange("zariz:events")
    assert [entry_id for entry_id, _ in entries] == [f"{before.id}-0", f"{orphan.id}-0"]


async def test_replay_from_redis_from_the_database_when_trimmed_and_reset_when_neither(
    make_db: Callable[..., Database], make_hub: HubFactory, redis_client: Redis,
    redis_server: RedisServer,
) -> None:
    # Redis keeps more than the database: the replay comes from Redis.
    db = make_db()
    hub = await make_hub(db)
    events = [commit_and_publish(db, hub) for _ in range(10)]
    await until(lambda: published(hub) == 10)
    db.event_retention = 3
    events.append(commit_and_publish(db, hub))
    await until(lambda: published(hub) == 11)
    assert db.event_bounds() == (9, 11)
    result = await hub.replay(2)
    assert result.reset is None and [e.id for e in result.events] == list(range(3, 12))
    assert result.events == events[2:]
    async with hub.subscribe(2) as feed:  # the seam: replay, then live, each once
        late = commit_and_publish(db, hub)
        assert await ids_until(feed, late.id) == list(range(3, late.id + 1))

    # Redis trimmed (maxlen 5; small nodes so that MAXLEN ~ trims close to it), the
    # database still has them: the replay comes from the database.
    await redis_client.config_set("stream-node-max-entries", 2)
    trimmed = await make_hub(db, url=redis_server.hub_url("trimmed", maxlen=5))
    db.event_retention = 100
    more = [commit_and_publish(db, trimmed) for _ in range(20)]
    await until(lambda: published(trimmed) == 20)
    oldest_in_redis = int((await redis_client.xrange("trimmed", count=1))[0][0].split("-")[0])
    assert oldest_in_redis > more[2].id
    result = await trimmed.replay(more[1].id)
    assert result.reset is None
    assert [e.id for e in result.events] == [e.id for e in more[2:]]

    # Neither has it: too_old; an id never issued: unknown_id.
    db.event_retention = 5
    newest = commit_and_publish(db, trimmed).id
    assert (await trimmed.replay(more[1].id)).reset == Reset("too_old", newest)
    assert (await trimmed.replay(newest + 5)).reset == Reset("unknown_id", newest)
    assert (await trimmed.replay(newest)).events == []


async def test_redis_restart_ends_streams_refuses_new_ones_and_resumes_contiguously(
    make_db: Callable[..., Database], make_hub: HubFactory, redis_server: RedisServer,
) -> None:
    db_a, db_b = make_db(), make_db()
    a, b = await make_hub(db_a), await make_hub(db_b)
    seen: list[int] = []
    async with b.subscribe(None) as feed, a.subscribe(None) as feed_a:
        for _ in range(5):
            seen.append(commit_and_publish(db_a, a).id)
        assert await ids_until(feed, seen[-1]) == seen
        assert await ids_until(feed_a, seen[-1]) == seen
        redis_server.stop()
        for stream in (feed, feed_a):
            with pytest.raises(StreamClosed, match="hub_unavailable"):
                await asyncio.wait_for(stream.next(timeout=None), 3)
    await until(lambda: not a.available and not b.available)

    # While it is down: writes commit, nothing is held per stream or in the relay, and a
    # stream that subscribes anyway ends at once.
    down = [commit_and_publish(db_a if i % 2 else db_b, a if i % 2 else b).id
            for i in range(2000)]
    await asyncio.sleep(0.3)
    for hub in (a, b):
        assert hub.buffered() == {"streams": 0, "queued": 0, "relay_batch": 0,
                                  "control_tasks": 0}
    async with b.subscribe(seen[-1]) as refused:
        with pytest.raises(StreamClosed, match="hub_unavailable"):
            await refused.next(timeout=1)

    redis_server.start()  # same port, empty: Redis lost its data
    await until(lambda: a.available and b.available)
    async with b.subscribe(seen[-1]) as resumed, a.subscribe(seen[-1]) as on_a:
        live = commit_and_publish(db_a, a).id
        for stream in (resumed, on_a):
            assert await ids_until(stream, live) == [*down, live]
            assert await stream.next(timeout=0.2) is None
    # What was committed while Redis was away was published when it came back, once.
    assert published(a, b) == len(seen) + len(down) + 1


async def test_a_hub_that_starts_while_redis_is_down_serves_and_connects_later(
    make_db: Callable[..., Database], redis_server: RedisServer,
) -> None:
    redis_server.stop()
    db = make_db()
    hub = RedisHub.from_url(redis_server.hub_url(), db, queue_size=10, metrics=Metrics(),
                            **FAST)
    try:
        started = time.monotonic()
        await hub.start()  # does not raise
        assert time.monotonic() - started < 3 and not hub.available
        pending = commit_and_publish(db, hub)  # committed while Redis is away
        redis_server.start()
        await until(lambda: hub.available)
        await until(lambda: published(hub) == 1)  # published once it is back
        async with hub.subscribe(0) as feed:
            assert await ids_until(feed, pending.id) == [pending.id]
    finally:
        await hub.aclose()


async def test_logout_on_b_ends_the_sessions_streams_on_a_within_a_second(
    make_db: Callable[..., Database], make_hub: HubFactory,
) -> None:
    a, b = await make_hub(make_db()), await make_hub(make_db())
    async with a.subscribe(None, session_id="gone") as gone, \
            a.subscribe(None, session_id="kept") as kept, \
            b.subscribe(None, session_id="gone") as local:
        started = time.monotonic()
        assert b.disconnect_session("gone") == 1  # B's own stream: at once
        with pytest.raises(StreamClosed, match="session_revoked"):
            await local.next(timeout=0)
        with pytest.raises(StreamClosed, match="session_revoked"):
            await asyncio.wait_for(gone.next(timeout=None), 1.0)
        assert time.monotonic() - started < 1.0
        assert await kept.next(timeout=0.05) is None
        await until(lambda: b.buffered()["control_tasks"] == 0)


def test_the_sse_route_answers_503_while_redis_is_down(
    tmp_path: pathlib.Path, redis_server: RedisServer,
) -> None:
    settings = dataclasses.replace(
        Settings(db_path=tmp_path / "app.db", root=tmp_path / "root"),
        hub_url=redis_server.hub_url(),
    )
    client = AppClient(create_app(settings))
    try:
        hub = client.app.state.hub
        assert isinstance(hub, RedisHub) and hub.available
        tokens = client.post("/v1/auth/login", json={"username": "demo", "password": "demo"})
        auth = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
        redis_server.stop()
        deadline = time.monotonic() + 5
        while hub.available and time.monotonic() < deadline:
            time.sleep(0.02)
        response = client.get("/v1/events/sse", headers=auth)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "hub_unavailable"
        # Writes still commit while it is away.
        created = client.post("/v1/orders", json=ORDER, headers=auth)
        assert created.status_code == 201
        redis_server.start()
        deadline = time.monotonic() + 5
        while not hub.available and time.monotonic() < deadline:
            time.sleep(0.02)
        assert hub.available
    finally:
        client.close()


@pytest.mark.parametrize(("url", "message"), [
    ("redis://", "no host"),
    ("redis://localhost:notaport/0", "bad port"),
    ("redis://localhost/zero", "database number"),
    ("redis://localhost/0?maxlen=0", "maxlen must be a positive integer"),
    ("redis://localhost/0?maxlen=-5", "maxlen must be a positive integer"),
    ("redis://localhost/0?maxlen=ten", "maxlen must be a positive integer"),
    ("redis://localhost/0?stream=", "stream must be"),
    ("redis://localhost/0?streem=x", "unknown option 'streem'"),
    ("redis://localhost/0?stream=a&stream=b", "given twice"),
    ("kafka://localhost", "unknown ZARIZ_HUB scheme"),
    ("redis://u:s3cret@localhost/0?maxlen=x", r"u:\*\*\*@localhost"),
])
def test_bad_hub_urls_are_refused_clearly(
    url: str, message: str, make_db: Callable[..., Database],
) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        create_hub(url, make_db(), queue_size=10, metrics=Metrics())
    assert "s3cret" not in str(refused.value)


def test_hub_urls_pick_the_backend_and_parse_the_options(
    make_db: Callable[..., Database],
) -> None:
    db = make_db()
    assert isinstance(create_hub("memory://", db, queue_size=10, metrics=Metrics()), MemoryHub)
    hub = create_hub("rediss://u:secret@cache:6380/2?stream=s:e&maxlen=50", db,
                     queue_size=10, metrics=Metrics())
    assert isinstance(hub, RedisHub)
    assert hub.config == RedisHubConfig("rediss://u:secret@cache:6380/2", "s:e", 50)
    assert hub.config.safe_url == "rediss://u:***@cache:6380/2"
    assert RedisHubConfig.parse("redis://h") == RedisHubConfig("redis://h/0")


async def test_a_relay_behind_the_retention_never_hands_a_hole_to_a_live_stream(
    make_db: Callable[..., Database], make_hub: HubFactory,
) -> None:
    """Review: a relay behind by more than the database's retention published the oldest
    id the database still had, and the reader passed the hole to its streams (live ids
    1, then 17...). Now the stream ends instead, and its replay says ``too_old``."""
    db = make_db(retention=5)
    hub = await make_hub(db)
    first = db.insert_order(dict(ORDER), "order.created")[1]
    hub.publish(first)
    async with hub.subscribe(None) as feed:
        start = feed.start_id
        # 20 commits in one step of the loop: the relay cannot run in between, and the
        # database keeps only the newest 5 when it does.
        for _ in range(20):
            last = db.insert_order(dict(ORDER), "order.created")[1]
            hub.publish(last)
        got: list[int] = []
        with pytest.raises(StreamClosed, match="reset"):
            while (item := await feed.next(timeout=3.0)) is not None:
                assert isinstance(item, Event)
                got.append(item.id)
        assert got == list(range(start + 1, start + 1 + len(got))), got  # no hole
    replay = await hub.replay(start + len(got))
    assert replay.reset is not None and replay.reset.reason == "too_old"


async def test_a_gap_the_database_still_holds_is_filled_in_order(
    make_db: Callable[..., Database], make_hub: HubFactory, redis_client: Redis,
) -> None:
    """Redis lost entries another instance had published (here: deleted by hand, then a
    later id added above them): the reader delivers the missing ids from the database,
    in order, once."""
    db = make_db()
    hub = await make_hub(db, poll_interval=30)  # this hub's relay stays out of the way
    await asyncio.sleep(0.5)  # ... once its first pass (nothing to publish yet) is done
    async with hub.subscribe(None) as feed:
        start = feed.start_id
        events = [db.insert_order(dict(ORDER), "order.created")[1] for _ in range(4)]
        # Another instance publishes only the newest one (ids 1-3 never reach Redis).
        await redis_client.xadd(hub.stream, {"type": events[-1].type, "wire": events[-1].wire},
                                id=f"{events[-1].id}-0")
        got = [item.id for item in [await feed.next(timeout=3.0) for _ in events]
               if isinstance(item, Event)]
        assert got == [e.id for e in events] and got[0] == start + 1
