"""Several server instances on one PostgreSQL database and one Redis, as deployed behind a
balancer: real ``python -m server`` processes (``ZARIZ_DB=postgresql://...``,
``ZARIZ_HUB=redis://...``), a real PostgreSQL cluster and a real redis-server, started and
stopped by the tests (the session's PostgreSQL cluster, a redis-server per module; every
test gets a database and a Redis stream key of its own).

* A ticket issued by A is redeemable on B, exactly once.
* Logout through B ends the session's stream on A within 1 s; another session's stream
  on A stays.
* An instance killed between commit and publish (``tests.support.faulty_server``): the
  event still reaches a stream on the other instance, once, without any further write
  (the other instance's relay publishes the committed event row).
* Redis restarted mid-stream: open streams end (the hub says ``hub_unavailable``), new ones
  are refused with 503 ``hub_unavailable`` while it is away, writes still commit, neither
  instance's memory grows with them, and once Redis is back every stream resumes by id:
  every event once, ids contiguous, equal to ``GET /v1/orders``.

Streams are read with ``sse_wire.RawSSEClient`` (raw socket, no shared client code); a
:class:`Follower` is that client in a thread that reconnects with ``Last-Event-ID`` as a
browser would.

The browser side (a page streaming from A, SIGKILL of A behind a balancer) is
tests/browser/test_scaleout_browser.py, which reuses :class:`Stack` from here.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import pathlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.server.sse_wire import RawSSEClient, StreamEnded
from tests.support.live_server import LiveServer
from tests.support.postgres import PostgresCluster, shared_cluster
from tests.support.redis_server import RedisServer

SSE = "/v1/events/sse"
CRASH_CUSTOMER = "crash-between-commit-and-publish"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


# -- the stack: one PostgreSQL, one Redis, instances on them ------------------------------


class Stack:
    """A PostgreSQL cluster and a redis-server for a module; :meth:`instances` starts
    server processes on a fresh database and a fresh Redis stream key (stopped by
    :meth:`close`)."""

    def __init__(self, tmp: pathlib.Path, postgres: PostgresCluster,
                 redis: RedisServer) -> None:
        self.tmp, self.postgres, self.redis = tmp, postgres, redis
        self.servers: list[LiveServer] = []

    def fresh(self) -> tuple[str, str]:
        """``(ZARIZ_DB, ZARIZ_HUB)``: a new empty database, a new Redis stream key."""
        db_url = self.postgres.create_database()
        hub_url = self.redis.hub_url(stream=f"zariz:scaleout:{uuid.uuid4().hex[:12]}")
        return db_url, hub_url

    def instance(self, db_url: str, hub_url: str, *, module: str = "server",
                 **env: str) -> LiveServer:
        folder = self.tmp / f"instance{len(self.servers)}"
        folder.mkdir()
        server = LiveServer(folder, env={"ZARIZ_DB": db_url, "ZARIZ_HUB": hub_url, **env},
                            module=module)
        self.servers.append(server)
        server.start()
        return server

    def instances(self, n: int = 2, **env: str) -> list[LiveServer]:
        """``n`` instances on one fresh database and stream key, started one after
        another (the first creates the schema and the JWT secret; the others find them)."""
        db_url, hub_url = self.fresh()
        return [self.instance(db_url, hub_url, **env) for _ in range(n)]

    def close(self) -> None:
        for server in self.servers:
            try:
                server.stop()
            except Exception:  # noqa: BLE001 - still kill it below
                pass
            finally:
                server.kill()


@contextlib.contextmanager
def running_stack(tmp: pathlib.Path) -> Iterator[Stack]:
    """The session's PostgreSQL cluster (shared with the storage tests; stopped at the
    session's end), a redis-server of our own, and the instances started on them (all
    stopped on exit)."""
    postgres = shared_cluster()
    redis = RedisServer(tmp)
    redis.start()
    made = Stack(tmp, postgres, redis)
    try:
        yield made
    finally:
        try:
            made.close()
        finally:
            redis.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("scaleout")) as made:
        yield made


# -- a reconnecting stream reader ---------------------------------------------------------


class Follower(threading.Thread):
    """One client's stream on ``server``, in a thread: reads every event; when the stream
    ends or is refused, reconnects after ``retry_s`` with ``Last-Event-ID`` (the id of the
    last frame that carried one), as EventSource does. Records the data events' ids and
    order ids, the refusals (status, error code) and how many times a stream ended."""

    def __init__(self, url: str, token: str, *, retry_s: float = 0.2) -> None:
        super().__init__(daemon=True, name=f"follower-{url}")
        self.url, self.token, self.retry_s = url, token, retry_s
        self.last_id: str | None = None
        self.ids: list[int] = []  # event ids of data events, in arrival order
        self.orders: list[int] = []  # the order id of each order.created event
        self.refusals: collections.Counter[tuple[int, str]] = collections.Counter()
        self.ends = 0
        self.connects = 0
        self.connected = threading.Event()
        self._halt = threading.Event()
        self._client: RawSSEClient | None = None

    def run(self) -> None:
        while not self._halt.is_set():
            headers = bearer(self.token)
            if self.last_id is not None:
                headers["Last-Event-ID"] = self.last_id
            try:
                client = RawSSEClient(self.url + SSE, headers, timeout=5)
            except (OSError, StreamEnded):
                self.refusals[(0, "connect")] += 1
                self._halt.wait(self.retry_s)
                continue
            self._client = client
            try:
                if client.status != 200:
                    code = ""
                    try:
                        code = httpx.Response(client.status, content=client.body).json()[
                            "error"]["code"]
                    except (ValueError, KeyError, TypeError):
                        pass
                    self.refusals[(client.status, code)] += 1
                    self._halt.wait(self.retry_s)
                    continue
                self.connects += 1
                self._read(client)
            finally:
                client.close()
                self._client = None
            if not self._halt.is_set():  # the server ended it, not stop()
                self.ends += 1
            self.connected.clear()
            self._halt.wait(self.retry_s)

    def _read(self, client: RawSSEClient) -> None:
        while not self._halt.is_set():
            try:
                event = client.next_event(timeout=0.5)
            except TimeoutError:
                continue
            except (StreamEnded, OSError):
                return
            if event.id is not None:
                self.last_id = event.id
            if event.event == "position":
                self.connected.set()
            elif event.event == "message" and event.data:
                self.ids.append(int(event.id or 0))
                payload = event.json()
                if payload["type"] == "order.created":
                    self.orders.append(int(payload["data"]["id"]))

    def stop(self) -> None:
        self._halt.set()
        client = self._client
        if client is not None:
            client.close()
        self.join(10)

    def __enter__(self) -> Follower:
        self.start()
        if not self.connected.wait(10):
            raise AssertionError(f"{self.url}: no stream ({dict(self.refusals)})")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def assert_once_in_order(follower: Follower, expected_orders: list[int], *,
                         sequential: bool = True) -> None:
    """Every event once, in id order, ids increasing by one (one log, no gap), and the
    orders expected. ``sequential=False`` for orders created concurrently: their event
    ids follow commit order, which need not be the order of their order ids."""
    ids = follower.ids
    assert len(ids) == len(set(ids)), f"an event arrived twice on {follower.url}"
    assert ids == list(range(ids[0], ids[0] + len(ids))), f"ids not contiguous: {ids}"
    if sequential:
        assert follower.orders == expected_orders
    else:
        assert sorted(follower.orders) == sorted(expected_orders)


def create_orders(servers: list[LiveServer], token: str, count: int, *, workers: int = 8,
                  body: dict[str, str] | None = None) -> list[int]:
    """``count`` orders, through the servers in turn, ``workers`` requests at a time;
    returns their ids."""
    base = {"customer": "Dana Levi", "phone": "+972-50-123-4567", "address": "Herzl 1"}
    base.update(body or {})
    clients = [httpx.Client(base_url=s.url, headers=bearer(token), timeout=30)
               for s in servers]
    try:
        def one(i: int) -> int:
            response = clients[i % len(clients)].post("/v1/orders", json=base)
            response.raise_for_status()
            return int(response.json()["id"])

        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            return list(pool.map(one, range(count)))
    finally:
        for client in clients:
            client.close()


# -- tickets and logout across instances --------------------------------------------------


@pytest.fixture(scope="module")
def pair(stack: Stack) -> tuple[LiveServer, LiveServer]:
    a, b = stack.instances(2)
    return a, b


def ticket(server: LiveServer, token: str) -> str:
    response = httpx.post(f"{server.url}/v1/events/ticket", headers=bearer(token), timeout=10)
    response.raise_for_status()
    return str(response.json()["ticket"])


def test_a_ticket_issued_by_a_is_redeemable_on_b_exactly_once(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    a, b = pair
    token = a.login()["access_token"]
    issued = ticket(a, token)
    with RawSSEClient(f"{b.url}{SSE}?ticket={issued}") as stream:
        assert stream.status == 200
        first = next(e for e in iter(stream.next_event, None) if e.data)
        assert first.event == "position"
    for server in (b, a):  # a second use, on either instance, is refused
        with RawSSEClient(f"{server.url}{SSE}?ticket={issued}") as again:
            assert again.status == 401, again.body
    # And the other way round: issued by B, used on A once.
    other = ticket(b, token)
    with RawSSEClient(f"{a.url}{SSE}?ticket={other}") as stream:
        assert stream.status == 200
    with RawSSEClient(f"{b.url}{SSE}?ticket={other}") as again:
        assert again.status == 401


def test_logout_through_b_ends_the_stream_on_a_within_a_second(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    a, b = pair
    leaving = a.login()["access_token"]
    staying = a.login()["access_token"]  # another session: its stream must stay
    with RawSSEClient(f"{a.url}{SSE}?ticket={ticket(a, leaving)}") as stream, \
            Follower(a.url, staying) as other:
        assert stream.status == 200
        assert next(e for e in iter(stream.next_event, None) if e.data).event == "position"
        started = time.monotonic()
        response = httpx.post(f"{b.url}/v1/auth/logout", headers=bearer(leaving), timeout=10)
        assert response.status_code == 200
        stream.read_until_end(timeout=5)
        elapsed = time.monotonic() - started
        assert elapsed < 1.0, f"the stream on A ended {elapsed:.2f}s after logout on B"
        # The session is gone everywhere; the other one streams on.
        refused = httpx.get(f"{a.url}/v1/auth/me", headers=bearer(leaving), timeout=10)
        assert refused.status_code == 401
        order = b.create_order(staying, customer="after-logout")["id"]
        wait_for(lambda: order in other.orders, 10, "the other session's event")
        assert other.ends == 0


# -- a crash between commit and publish ---------------------------------------------------


def test_an_instance_killed_between_commit_and_publish_loses_nothing(stack: Stack) -> None:
    db_url, hub_url = stack.fresh()
    b = stack.instance(db_url, hub_url)
    a = stack.instance(db_url, hub_url, module="tests.support.faulty_server",
                       ZARIZ_TEST_EXIT_AFTER_COMMIT=CRASH_CUSTOMER)
    token = b.login()["access_token"]
    with Follower(b.url, token) as follower:
        before = a.create_order(token, customer="through A, published by A")["id"]
        wait_for(lambda: before in follower.orders, 10, "the event of an order created on A")
        with pytest.raises(httpx.TransportError):  # A dies before it answers
            a.create_order(token, customer=CRASH_CUSTOMER)
        assert a.wait_exit(10) == 137, a.log_text()[-2000:]
        listed = httpx.get(f"{b.url}/v1/orders", headers=bearer(token), timeout=10).json()
        crashed = [o["id"] for o in listed["items"] if o["customer"] == CRASH_CUSTOMER]
        assert len(crashed) == 1, "the order was committed before the crash"
        # Nothing else is written: the other instance's relay finds the committed event.
        wait_for(lambda: crashed[0] in follower.orders, 10, "the crashed instance's event")
        after = b.create_order(token, customer="through B, after the crash")["id"]
        wait_for(lambda: after in follower.orders, 10, "a later event")
        time.sleep(0.5)  # a duplicate would have arrived by now
    assert_once_in_order(follower, [before, crashed[0], after])
    assert follower.ends == 0


# -- Redis restarted mid-stream -----------------------------------------------------------

BULK = 3000  # orders committed while Redis is away
WARM_UP = 300  # committed first, so the baseline RSS includes a warmed-up write path
RSS_BOUND_KB = 12 * 1024
# A big order: 1,500 astral characters, ~6 KB per event as a Python str (4 bytes each) and
# in its wire JSON. Buffering BULK of them anywhere in the process would take > 18 MB.
BIG = {"customer": "🚚" * 200, "address": "🏠" * 300, "notes": "📦" * 1000}


class RssSampler(threading.Thread):
    """The peak VmRSS of each server, sampled every 50 ms until stopped."""

    def __init__(self, servers: list[LiveServer]) -> None:
        super().__init__(daemon=True)
        self.servers = servers
        self.peak = {s.pid: s.rss_kb() for s in servers}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.05):
            for server in self.servers:
                self.peak[server.pid] = max(self.peak[server.pid], server.rss_kb())

    def stop(self) -> dict[int, int]:
        self._halt.set()
        self.join(5)
        return self.peak


def test_redis_restart_mid_stream_streams_recover_ids_contiguous_memory_bounded(
    stack: Stack,
) -> None:
    a, b = stack.instances(2)
    token = a.login()["access_token"]
    with Follower(a.url, token) as on_a, Follower(b.url, token) as on_b:
        followers = (on_a, on_b)
        created = create_orders([a, b], token, 20)
        wait_for(lambda: all(len(f.orders) >= 20 for f in followers), 15, "the first events")

        stack.redis.stop()
        # Open streams end, new ones are refused with 503 hub_unavailable.
        wait_for(lambda: all(f.ends >= 1 and f.refusals[(503, "hub_unavailable")] >= 1
                             for f in followers), 15, "streams ended, then 503")
        # Writes still commit with Redis away, and nothing piles up in memory for it.
        created += create_orders([a, b], token, WARM_UP, body=BIG)
        baseline = {s.pid: s.rss_kb() for s in (a, b)}
        sampler = RssSampler([a, b])
        sampler.start()
        try:
            created += create_orders([a, b], token, BULK, body=BIG)
        finally:
            peak = sampler.stop()
        growth = {pid: peak[pid] - baseline[pid] for pid in peak}
        print(f"RSS growth while {BULK} orders committed with Redis down (KB): {growth}")
        assert all(g < RSS_BOUND_KB for g in growth.values()), growth
        assert all(f.connects == 1 for f in followers), "no stream while Redis was down"

        stack.redis.start()
        wait_for(lambda: all(f.connects >= 2 for f in followers), 20, "streams back")
        created += create_orders([a, b], token, 10)
        total = len(created)
        wait_for(lambda: all(len(f.orders) >= total for f in followers), 30,
                 f"all {total} events on both streams")
        time.sleep(0.5)
    for follower in followers:
        assert_once_in_order(follower, created, sequential=False)
    assert a.order_ids(token) == sorted(created, reverse=True) == b.order_ids(token)
