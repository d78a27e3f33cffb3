"""The storage contract on both backends: SQLite (``server.db.Database``, the reference)
and PostgreSQL (``server.db_pg.PostgresDatabase``) against a real, throwaway PostgreSQL
cluster (``tests.support.postgres``: one per session, a new database per test).

* every public method answers alike on both (the same calls, the transcripts compared
  value by value and type by type) and through the REST API alike;
* the cross-instance rules, on both backends with two database objects on one storage
  ("two instances") and several threads: gap-free event ids that a reader never sees out
  of order, a ticket redeemed once, a refresh token rotated once, an Idempotency-Key raced
  by two instances storing one change; retention; migrations run twice and at once;
* async routes keep PostgreSQL off the event loop, and the in-process hub gets events in id
  order even when two commits return out of order (or one never returns).

The PostgreSQL binaries missing is an error here, not a skip.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import inspect
import json
import pathlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from server.__main__ import parse_args
from server.app import create_app
from server.config import ConfigError, Settings
from server.db import Database, Event, IdempotencyConflict, IdempotencyKey
from server.db_pg import PostgresDatabase
from server.events import MemoryHub
from server.metrics import Metrics
from server.orders import OrderCreate, OrderedPublisher, OrderService
from tests.server.app_client import AppClient
from tests.server.sse_wire import RawSSEClient
from tests.support.live_server import LiveServer
from tests.support.postgres import PostgresCluster, shared_cluster

ORDER = {"customer": "Dana Levi", "phone": "+972-50-123-4567", "address": "Herzl 1"}
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture(scope="session")
def pg_cluster() -> PostgresCluster:
    """The session's cluster (shared with other modules; stopped at exit)."""
    return shared_cluster()


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster) -> str:
    return pg_cluster.create_database()


class Storage:
    """One storage (a SQLite file or a PostgreSQL database); :meth:`open` is another
    "instance" on it (its own connection or pool). All closed at teardown."""

    def __init__(self, kind: str, target: str) -> None:
        self.kind = kind
        self.target = target
        self.opened: list[Any] = []

    def open(self, **kwargs: Any) -> Any:
        if self.kind == "sqlite":
            db: Any = Database(self.target, **kwargs)
        else:
            db = PostgresDatabase(self.target, **kwargs)
        self.opened.append(db)
        return db

    def close(self) -> None:
        for db in self.opened:
            db.close()


@pytest.fixture(params=["sqlite", "postgres"])
def storage(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Storage]:
    if request.param == "sqlite":
        made = Storage("sqlite", str(tmp_path / "z.db"))
    else:
        cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
        made = Storage("postgres", cluster.create_database())
    yield made
    made.close()


def _sql(db: Any, text: str) -> str:
    """``?`` placeholders for SQLite, ``%s`` for psycopg."""
    return text.replace("?", "%s") if isinstance(db, PostgresDatabase) else text


# -- the same methods, the same answers ------------------------------------------------


def test_postgres_has_every_public_method_of_sqlite_with_the_same_signature() -> None:
    def public(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(member)
            for name, member in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_")
        }

    def shape(signature: inspect.Signature) -> list[tuple[str, Any, Any]]:
        return [(p.name, p.kind, p.default) for p in signature.parameters.values()]

    sqlite, postgres = public(Database), public(PostgresDatabase)
    assert set(sqlite) - {"__init__"} <= set(postgres)
    for name in sqlite:
        if name != "__init__":
            assert shape(postgres[name]) == shape(sqlite[name]), name
    assert PostgresDatabase.in_loop is False and getattr(Database, "in_loop", True) is True


def _shape(value: Any) -> Any:
    """``value`` with its types spelled out, for comparing two backends' answers: ISO
    times and ``ts`` stamps (which differ by the clock) replaced by placeholders."""
    if isinstance(value, Event):
        return ["Event", value.id, value.type, _shape(json.loads(value.wire))]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [type(value).__name__, _shape(dataclasses.asdict(value))]
    if isinstance(value, dict):
        return [[key, "<ts>" if key == "ts" else _shape(item)] for key, item in value.items()]
    if isinstance(value, list | tuple):
        return [type(value).__name__, [_shape(item) for item in value]]
    if isinstance(value, str):
        return ["str", ISO_TIME.sub("<time>", value)]
    return [type(value).__name__, value]


def _transcript(db: Any, now: float) -> list[tuple[str, Any]]:
    """Every public method of the storage layer, called the same way; each answer (or
    the exception it raised) shaped for comparison."""
    out: list[tuple[str, Any]] = []

    def call(label: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            out.append((label, ["raised", type(exc).__name__, str(exc)]))
            return None
        out.append((label, _shape(result)))
        return result

    call("seed", db.seed_couriers)
    call("seed again", db.seed_couriers)
    call("couriers", db.list_couriers)
    call("courier 2", db.courier, 2)
    call("courier 99", db.courier, 99)
    call("meta set", db.get_or_set_meta, "k", "first")
    call("meta kept", db.get_or_set_meta, "k", "second")
    call("upsert", db.upsert_user, "ann", "hash-1")
    call("upsert again", db.upsert_user, "ann", "hash-2")
    call("hash", db.password_hash, "ann")
    call("replace stale", db.replace_password_hash, "ann", "hash-1", "hash-3")
    call("replace", db.replace_password_hash, "ann", "hash-2", "hash-3")
    call("hash now", db.password_hash, "ann")
    call("hash unknown", db.password_hash, "bob")
    call("delete user", db.delete_user, "ann")
    call("hash deleted", db.password_hash, "ann")
    # orders and the event log (retention 5: the oldest go)
    call("empty list", db.list_orders, None, 10, 0)
    call("empty counts", db.order_counts)
    call("empty bounds", db.event_bounds)
    call("empty events", db.events_after, 0)
    key = IdempotencyKey("ann", "key-1", "fp", 201)
    call("insert keyed", db.insert_order, {**ORDER, "notes": "ring"}, "order.created", key)
    call("stored", db.stored_response, "ann", "key-1")
    call("stored other owner", db.stored_response, "bob", "key-1")
    for n in range(3):
        call(f"insert {n}", db.insert_order, {**ORDER, "customer": f"c{n}"}, "order.created")
    call("bulk", db.insert_orders_bulk,
         [{**ORDER, "customer": f"b{n}", "notes": None} for n in range(3)], "order.created")
    call("bulk nothing", db.insert_orders_bulk, [], "order.created")
    call("get", db.get_order, 2)
    call("get missing", db.get_order, 99)
    call("update", db.update_order, 2, {"courier_id": 1, "status": "assigned"},
         "order.assigned", expect_status="new")
    call("update with extra", db.update_order, 2, {"status": "picked_up"},
         "order.status_changed", extra={"previous_status": "assigned"},
         expect_status="assigned",
         idempotency=IdempotencyKey("ann", "key-2", "fp2", 200))
    call("update stale", db.update_order, 2, {"status": "delivered"}, "e", expect_status="new")
    call("update missing", db.update_order, 99, {"notes": "x"}, "e")
    call("update bad column", db.update_order, 2, {"nope": 1}, "e")
    call("update nothing", db.update_order, 2, {}, "e")
    call("delete", db.delete_order, 3, "order.deleted")
    call("delete missing", db.delete_order, 3, "order.deleted")
    call("list", db.list_orders, None, 3, 0)
    call("list offset", db.list_orders, None, 2, 3)
    call("list status", db.list_orders, "picked_up", 10, 0)
    call("list before", db.list_orders, None, 10, 0, 5)
    call("list status before", db.list_orders, "new", 10, 0, 5)
    call("counts", db.order_counts)
    call("count orders", db.count_orders)
    call("random", lambda: sorted(db.random_order_ids(("new",), 10)))
    call("random none", db.random_order_ids, ("delivered",), 10)
    call("bounds", db.event_bounds)
    call("count events", db.count_events)
    call("events", db.events_after, 0)
    call("events page", db.events_after, 6, 2)
    call("events after newest", db.events_after, 100)
    # A key stored meanwhile: the change is rolled back. No order is inserted after it:
    # SQLite does not use up the order id of a rolled-back insert, PostgreSQL does.
    call("insert key conflict", db.insert_order, ORDER, "order.created", key)
    call("after conflict", lambda: (db.count_orders(), db.event_bounds()))
    # sessions, refresh tokens, tickets
    call("session", db.create_session, "s1", "ann", "r1", now + 100)
    call("active", db.session_active, "s1")
    call("active unknown", db.session_active, "nope")
    call("user", db.session_user, "s1")
    call("user unknown", db.session_user, "nope")
    call("rotate", db.rotate_refresh, "r1", "r2", now + 100, now, reuse_grace=5.0)
    call("rotate again (tabs)", db.rotate_refresh, "r1", "r3", now + 100, now + 1,
         reuse_grace=5.0)
    call("rotate unknown", db.rotate_refresh, "zz", "r4", now + 100, now)
    call("session 2", db.create_session, "s2", "ann", "x1", now - 1)
    call("rotate expired", db.rotate_refresh, "x1", "x2", now + 100, now)
    call("ticket", db.store_ticket, "t1", "s1", "ann", now + 30.5, now + 60.25)
    call("ticket used", db.consume_ticket, "t1")
    call("ticket again", db.consume_ticket, "t1")
    call("ticket 2", db.store_ticket, "t2", "s1", "ann", now + 30, now + 60)
    call("rotate reused", db.rotate_refresh, "r1", "r5", now + 100, now + 10, reuse_grace=5.0)
    call("active after reuse", db.session_active, "s1")
    call("ticket of revoked", db.consume_ticket, "t2")
    call("rotate revoked", db.rotate_refresh, "r2", "r6", now + 100, now + 10)
    call("session 3", db.create_session, "s3", "ann", "y1", now + 100)
    call("revoke", db.revoke_session, "s3")
    call("revoke again", db.revoke_session, "s3")
    call("active revoked", db.session_active, "s3")
    call("prune later", lambda: db.prune(now + 3 * 24 * 3600))
    call("session gone", db.session_user, "s1")
    return out


def test_both_backends_answer_every_method_alike(tmp_path: pathlib.Path, pg_url: str) -> None:
    sqlite = Database(tmp_path / "z.db", event_retention=5)
    postgres = PostgresDatabase(pg_url, event_retention=5)
    try:
        # The first write of each prunes (every PRUNE_INTERVAL); the explicit prune above
        # is what the transcript checks.
        now = time.time()
        expected, got = _transcript(sqlite, now), _transcript(postgres, now)
    finally:
        sqlite.close()
        postgres.close()
    assert [label for label, _ in got] == [label for label, _ in expected]
    for (label, want), (_, have) in zip(expected, got, strict=True):
        assert have == want, label
    # The transcript exercised what it says (not two identical failures).
    answers = dict(expected)
    assert answers["ticket used"] != answers["ticket again"]
    assert answers["insert key conflict"][:2] == ["raised", "IdempotencyConflict"]
    assert answers["update stale"] == ["raised", "StaleStatus", "picked_up"]
    assert answers["get missing"] == ["raised", "NotFound", "99"]


def test_transaction_commits_or_rolls_back_everything(storage: Storage) -> None:
    db = storage.open()
    db.insert_order(ORDER, "order.created")
    with pytest.raises(RuntimeError, match="boom"), db.transaction() as tx:
        tx.execute("DELETE FROM orders")
        raise RuntimeError("boom")
    assert db.count_orders() == 1
    with db.transaction() as tx:
        tx.execute(_sql(db, "UPDATE orders SET notes = ?"), ("kept",))
    assert db.get_order(1)["notes"] == "kept"


def test_retention_trims_the_oldest_events_by_id(storage: Storage) -> None:
    db = storage.open(event_retention=3)
    for _ in range(5):
        db.insert_order(ORDER, "order.created")
    db.insert_orders_bulk([ORDER, ORDER], "order.created")
    assert db.event_bounds() == (5, 7) and db.count_events() == 3
    assert [e.id for e in db.events_after(0)] == [5, 6, 7]


# -- several instances, several threads ------------------------------------------------


def _race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` at once (one thread each, released together); each call's result,
    or the exception it raised."""
    barrier = threading.Barrier(len(calls))

    def run(fn: Callable[[], Any]) -> Any:
        barrier.wait(timeout=10)
        try:
            return fn()
        except Exception as exc:
            return exc

    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls, timeout=60))


def test_event_ids_stay_gap_free_and_in_order_under_concurrent_writers(
    storage: Storage,
) -> None:
    """Two instances, three writer threads each (creates, updates, and updates that fail
    and roll back), while a reader follows the log by ``events_after``: every id from 1
    up is there once, and the reader never saw id N+1 before N (the outbox property)."""
    a, b = storage.open(), storage.open()
    a.seed_couriers()
    for _ in range(4):
        a.insert_order(ORDER, "order.created")
    written: list[int] = []
    stale = 0
    lock = threading.Lock()
    stop = threading.Event()
    out_of_order: list[tuple[int, int]] = []
    seen: list[int] = []

    def reader() -> None:
        cursor = 0
        while True:
            finished = stop.is_set()
            for event in a.events_after(cursor):
                if event.id != cursor + 1:
                    out_of_order.append((cursor, event.id))
                cursor = event.id
                seen.append(event.id)
            if finished:
                return

    def writer(db: Any, seed: int) -> None:
        nonlocal stale
        for n in range(24):
            order_id = 1 + (seed + n) % 4
            try:
                if n % 3 == 0:
                    _, event = db.insert_order({**ORDER, "customer": f"w{seed}-{n}"},
                                               "order.created")
                elif n % 3 == 1:
                    _, event = db.update_order(order_id, {"notes": f"n{seed}-{n}"},
                                               "order.updated")
                else:  # the guard never holds: rolled back, no id used
                    _, event = db.update_order(order_id, {"status": "assigned"},
                                               "order.assigned", expect_status="picked_up")
            except LookupError:
                with lock:
                    stale += 1
                continue
            with lock:
                written.append(event.id)

    follow = threading.Thread(target=reader)
    follow.start()
    try:
        _race([lambda db=db, seed=seed: writer(db, seed)
               for seed, db in enumerate([a, b, a, b, a, b])])
    finally:
        stop.set()
        follow.join(30)
    ids = [e.id for e in b.events_after(0, 100_000)]
    assert ids == list(range(1, len(ids) + 1))
    assert sorted(written) == ids[4:] and len(written) == 6 * 16
    assert stale == 6 * 8
    assert b.event_bounds() == (1, len(ids))
    assert out_of_order == [] and seen == ids


def test_a_ticket_is_redeemed_once_across_instances(storage: Storage) -> None:
    a, b = storage.open(), storage.open()
    now = time.time()
    a.create_session("s", "demo", "r", now + 100)
    for round_ in range(8):
        a.store_ticket(f"t{round_}", "s", "demo", now + 30, now + 60)
        results = _race([lambda db=db, t=f"t{round_}": db.consume_ticket(t)
                         for db in (a, b, a, b)])
        winners = [r for r in results if r is not None]
        assert len(winners) == 1, results
        assert winners[0] == {"session_id": "s", "username": "demo", "expires_at": now + 30,
                              "access_exp": now + 60}


def test_concurrent_refreshes_of_one_token_rotate_it_once(storage: Storage) -> None:
    """Two tabs (on two instances) refreshing with the same token at the same moment: one
    rotation, the others told ``superseded``; the session stays usable."""
    a, b = storage.open(), storage.open()
    now = time.time()
    for round_ in range(6):
        sid, token = f"s{round_}", f"r{round_}"
        a.create_session(sid, "demo", token, now + 100)
        results = _race([
            lambda db=db, n=n, token=token: db.rotate_refresh(
                token, f"{token}-{n}", now + 100, time.time(), reuse_grace=5.0)
            for n, db in enumerate((a, b, a, b))
        ])
        assert sorted(outcome for outcome, _ in results) == ["ok"] + ["superseded"] * 3
        assert {session for _, session in results} == {sid}
        assert a.session_active(sid)
        rows = a._query(_sql(a, "SELECT COUNT(*) FROM refresh_tokens WHERE session_id = ?"),
                        (sid,))
        assert rows[0][0] == 2  # the used token and exactly one successor


def test_an_idempotency_key_raced_by_two_instances_stores_one_change(storage: Storage) -> None:
    a, b = storage.open(), storage.open()
    for round_ in range(6):
        key = IdempotencyKey("demo", f"key-{round_}", "fp", 201)
        results = _race([lambda db=db, key=key: db.insert_order(ORDER, "order.created", key)
                         for db in (a, b)])
        conflicts = [r for r in results if isinstance(r, IdempotencyConflict)]
        done = [r for r in results if isinstance(r, tuple)]
        assert len(conflicts) == 1 and len(done) == 1, results
        stored = b.stored_response("demo", f"key-{round_}")
        assert stored is not None and json.loads(stored.body) == done[0][0]
    assert a.count_orders() == 6 and a.count_events() == 6
    assert [e.id for e in a.events_after(0)] == [1, 2, 3, 4, 5, 6]


# -- PostgreSQL only: schema, connection, text ------------------------------------------


def test_migrations_are_idempotent_and_safe_when_instances_start_together(
    pg_url: str,
) -> None:
    started = _race([lambda: PostgresDatabase(pg_url) for _ in range(4)])
    try:
        assert all(isinstance(db, PostgresDatabase) for db in started), started
        db = started[0]
        db.insert_order(ORDER, "order.created")
        again = PostgresDatabase(pg_url)  # a restart: nothing recreated, nothing lost
        started.append(again)
        assert again.count_orders() == 1 and again.event_bounds() == (1, 1)
        assert again._query("SELECT value FROM meta WHERE key = 'schema_version'") == [("1",)]
        assert again._query("SELECT COUNT(*) FROM event_seq") == [(1,)]
    finally:
        for db in started:
            if isinstance(db, PostgresDatabase):
                db.close()


def test_a_database_with_a_newer_schema_is_refused(pg_url: str) -> None:
    db = PostgresDatabase(pg_url)
    with db.transaction() as tx:
        tx.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.close()
    with pytest.raises(RuntimeError, match="schema is version 99, newer"):
        PostgresDatabase(pg_url)


def test_an_unreachable_server_is_a_clear_error_without_the_password(
    pg_cluster: PostgresCluster,
) -> None:
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="cannot connect to PostgreSQL") as raised:
        PostgresDatabase(f"postgresql://zariz:s3cret@127.0.0.1:{pg_cluster.port}/nope")
    assert "s3cret" not in str(raised.value) and "zariz:***@" in str(raised.value)
    assert time.monotonic() - started < 5


def test_text_with_nul_finds_nothing_and_is_not_written(storage: Storage) -> None:
    """PostgreSQL text cannot hold NUL: a lookup by such a key finds nothing (as in
    SQLite, where no stored key has one), and a write is a ValueError, not a driver
    error halfway through a transaction."""
    db = storage.open()
    assert db.password_hash("de\x00mo") is None
    assert db.session_active("s\x00") is False and db.session_user("s\x00") is None
    assert db.consume_ticket("t\x00") is None and db.stored_response("a\x00", "k") is None
    assert db.rotate_refresh("r\x00", "n", time.time() + 9, time.time()) == ("unknown", None)
    if storage.kind == "postgres":
        with pytest.raises(ValueError, match="NUL"):
            db.insert_order({**ORDER, "customer": "a\x00b"}, "order.created")
        assert db.count_orders() == 0 and db.event_bounds() == (None, 0)


# -- settings ------------------------------------------------------------------------


def test_zariz_db_takes_a_path_or_a_postgresql_url() -> None:
    url = "postgresql://zariz:s3cret@db.internal:5432/zariz"
    assert Settings.from_env({"ZARIZ_DB": "/data/z.db"}).db_path == pathlib.Path("/data/z.db")
    from_url = Settings.from_env({"ZARIZ_DB": url}).validated()
    assert from_url.db_url == url and from_url.db_label == (
        "postgresql://zariz:***@db.internal:5432/zariz")
    assert Settings.from_env({}).db_url is None
    assert Settings(db_path=pathlib.Path("x.db")).db_label == "x.db"
    with pytest.raises(ConfigError, match="unsupported database URL 'mysql://u:\\*\\*\\*@h/d'"):
        Settings.from_env({"ZARIZ_DB": "mysql://u:p@h/d"}).validated()
    # The flag names the database, whatever ZARIZ_DB said.
    assert parse_args(["--db", url], Settings(db_path=pathlib.Path("a.db"))).db_url == url
    flagged = parse_args(["--db", "b.db"], Settings(db_url=url))
    assert (flagged.db_url, flagged.db_path) == (None, pathlib.Path("b.db"))
    assert parse_args([], Settings(db_url=url)).db_url == url


# -- through the app -------------------------------------------------------------------


def _rest_transcript(client: AppClient) -> list[Any]:
    """One session of API calls; each answer's status, event-id header and JSON body
    (tokens and times replaced), in order."""
    out: list[Any] = []
    tokens = client.post("/v1/auth/login", json={"username": "demo", "password": "demo"})
    auth = {"Authorization": f"Bearer {tokens.json()['access_token']}"}

    def record(response: httpx.Response) -> httpx.Response:
        body = response.json()
        for field in ("access_token", "refresh_token", "ticket"):
            if isinstance(body, dict) and field in body:
                body[field] = "<token>"
        out.append([response.status_code, response.headers.get("x-zariz-event-id"),
                    response.headers.get("idempotent-replayed"), _shape(body)])
        return response

    record(client.post("/v1/auth/login", json={"username": "demo", "password": "nope"}))
    record(client.get("/v1/orders", headers=auth))
    record(client.get("/v1/orders/stats", headers=auth))
    record(client.post("/v1/orders", json=ORDER, headers=auth))
    record(client.post("/v1/orders", json={**ORDER, "notes": " ring "}, headers=auth))
    keyed = {**auth, "Idempotency-Key": "k-1"}
    record(client.post("/v1/orders", json={**ORDER, "customer": "K"}, headers=keyed))
    record(client.post("/v1/orders", json={**ORDER, "customer": "K"}, headers=keyed))
    record(client.post("/v1/orders", json={**ORDER, "customer": "L"}, headers=keyed))
    record(client.post("/v1/orders", json={**ORDER, "phone": "12"}, headers=auth))
    record(client.get("/v1/orders/1", headers=auth))
    record(client.get("/v1/orders/99", headers=auth))
    record(client.get("/v1/orders/99999999999999999999", headers=auth))
    record(client.patch("/v1/orders/1", json={"address": "Dizengoff 5"}, headers=auth))
    record(client.patch("/v1/orders/1", json={"address": "Dizengoff 5"}, headers=auth))
    record(client.patch("/v1/orders/1", json={}, headers=auth))
    record(client.post("/v1/orders/1/assign", json={"courier_id": 2}, headers=auth))
    record(client.post("/v1/orders/1/assign", json={"courier_id": 99}, headers=auth))
    record(client.post("/v1/orders/1/status", json={"status": "picked_up"},
                       headers={**auth, "Idempotency-Key": "k-2"}))
    record(client.post("/v1/orders/1/status", json={"status": "picked_up"},
                       headers={**auth, "Idempotency-Key": "k-2"}))
    record(client.post("/v1/orders/1/status", json={"status": "new"}, headers=auth))
    record(client.post("/v1/orders/2/status", json={"status": "assigned"}, headers=auth))
    record(client.delete("/v1/orders/2", headers=auth))
    record(client.delete("/v1/orders/2", headers=auth))
    record(client.get("/v1/orders?limit=2", headers=auth))
    record(client.get("/v1/orders?status=picked_up", headers=auth))
    record(client.get("/v1/orders?before_id=3&limit=5", headers=auth))
    record(client.get("/v1/orders/stats", headers=auth))
    record(client.get("/v1/couriers", headers=auth))
    record(client.get("/v1/auth/me", headers=auth))
    record(client.post("/v1/events/ticket", headers=auth))
    refresh = {"refresh_token": tokens.json()["refresh_token"]}
    record(client.post("/v1/auth/refresh", json=refresh))
    record(client.post("/v1/auth/refresh", json=refresh))  # within the grace: superseded
    record(client.post("/v1/auth/refresh", json={"refresh_token": "unknown"}))
    record(client.post("/v1/auth/logout", headers=auth))
    record(client.get("/v1/auth/me", headers=auth))
    record(client.get("/v1/orders", headers=auth))
    record(client.get("/healthz"))
    events = client.app.state.db.events_after(0)
    out.append(_shape(events))
    return out


def test_the_api_answers_alike_on_both_backends(tmp_path: pathlib.Path, pg_url: str) -> None:
    answers = []
    for settings in (Settings(db_path=tmp_path / "z.db", root=tmp_path),
                     Settings(db_url=pg_url, root=tmp_path)):
        client = AppClient(create_app(settings))
        try:
            answers.append(_rest_transcript(client))
        finally:
            client.close()
    sqlite, postgres = answers
    assert len(postgres) == len(sqlite)
    for n, (want, have) in enumerate(zip(sqlite, postgres, strict=True)):
        assert have == want, n
    statuses = [answer[0] for answer in sqlite[:-1]]
    assert statuses.count(201) == 4 and 409 in statuses and statuses[-4:] == [200, 401, 401, 200]


def test_postgres_calls_leave_the_event_loop_free(tmp_path: pathlib.Path, pg_url: str) -> None:
    """A slow query (0.5 s) of one request must not hold up another request: the routes
    call the database through run_db (a worker thread for PostgreSQL)."""
    client = AppClient(create_app(Settings(db_url=pg_url, root=tmp_path)))
    try:
        token = client.post("/v1/auth/login", json={"username": "demo", "password": "demo"})
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        db = client.app.state.db
        slow_list = db.list_orders

        def list_slowly(*args: Any) -> Any:
            time.sleep(0.5)
            return slow_list(*args)

        db.list_orders = list_slowly
        http: httpx.AsyncClient = client._client

        async def both() -> tuple[float, float]:
            started = time.monotonic()

            async def timed(url: str, **kwargs: Any) -> float:
                response = await http.get(url, **kwargs)
                assert response.status_code == 200
                return time.monotonic() - started

            slow = asyncio.ensure_future(timed("/v1/orders", headers=auth))
            await asyncio.sleep(0.05)
            quick = await timed("/v1/couriers", headers=auth)
            return quick, await slow

        quick, slow = client.portal.call(both)
        assert slow >= 0.5 and quick < 0.4, (quick, slow)
    finally:
        client.close()


def test_sse_replays_and_streams_from_postgres(
    tmp_path: pathlib.Path, pg_url: str,
) -> None:
    with LiveServer(tmp_path, env={"ZARIZ_DB": pg_url}) as server:
        token = server.login()["access_token"]
        created = [server.create_order(token, customer=f"c{n}")["id"] for n in range(3)]
        headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": "0"}
        with RawSSEClient(server.url + "/v1/events/sse", headers) as stream:
            assert stream.status == 200
            assert stream.next_event().retry is not None
            first = stream.next_event()
            assert (first.event, first.id) == ("position", "0")
            replayed = [stream.next_event() for _ in range(3)]
            server.create_order(token, customer="live")
            live = stream.next_event()
    assert [e.id for e in [*replayed, live]] == ["1", "2", "3", "4"]
    assert [e.json()["data"]["id"] for e in replayed] == created
    assert live.json()["data"]["customer"] == "live"
    assert not (tmp_path / "zariz.db").exists()  # the URL was opened, not a file


# -- the in-process hub gets events in id order ------------------------------------------


def _hub_service(pg_url: str, gap_timeout: float = 1.0) -> tuple[Any, MemoryHub, OrderService]:
    db = PostgresDatabase(pg_url)
    hub = MemoryHub(db, queue_size=100, metrics=Metrics())
    service = OrderService(db, hub)
    assert service.ordered is not None
    service.ordered.gap_timeout = gap_timeout
    return db, hub, service


def _body(customer: str) -> OrderCreate:
    return OrderCreate(customer=customer, phone=ORDER["phone"], address=ORDER["address"])


async def _next_ids(feed: Any, count: int, timeout: float = 3) -> list[int]:
    ids = []
    for _ in range(count):
        item = await feed.next(timeout=timeout)
        assert isinstance(item, Event), item
        ids.append(item.id)
    return ids


async def test_memory_hub_gets_events_in_id_order_when_commits_return_out_of_order(
    pg_url: str,
) -> None:
    """Order 1 commits first but its request thread comes back late; order 2's comes
    back at once. Subscribers must still get 1 before 2 (the hub delivers what it is
    given, in the order given)."""
    db, hub, service = _hub_service(pg_url)
    committed, release = threading.Event(), threading.Event()
    insert_order = db.insert_order

    def insert_then_stall(*args: Any) -> Any:
        result = insert_order(*args)
        if result[0]["customer"] == "first":
            committed.set()
            release.wait(10)
        return result

    db.insert_order = insert_then_stall
    try:
        async with hub.subscribe(None) as feed:
            first = asyncio.ensure_future(service.call(service.create, _body("first")))
            assert await asyncio.to_thread(committed.wait, 10)
            second = await service.call(service.create, _body("second"))
            assert second["id"] == 2
            assert await feed.next(timeout=0.3) is None  # 2 waits for 1
            release.set()
            assert (await first)["id"] == 1
            assert await _next_ids(feed, 2) == [1, 2]
            assert service.ordered is not None and service.ordered.held == 0
    finally:
        release.set()
        db.close()


async def test_an_event_whose_request_never_publishes_is_read_from_the_log(
    pg_url: str,
) -> None:
    """A request thread that died after its commit (or another instance's write) leaves
    an id that never reaches ``publish``: after the gap timeout the publisher reads it
    from the event log, then delivers the held ones - nothing lost, nothing doubled."""
    db, hub, service = _hub_service(pg_url, gap_timeout=0.3)
    try:
        async with hub.subscribe(None) as feed:
            db.insert_order({**ORDER, "customer": "orphan"}, "order.created")  # no publish
            started = time.monotonic()
            await service.call(service.create, _body("after"))
            await service.call(service.create, _body("later"))
            assert await _next_ids(feed, 3) == [1, 2, 3]
            assert time.monotonic() - started >= 0.25
            assert await feed.next(timeout=0.3) is None
    finally:
        db.close()


async def test_the_ordered_publisher_skips_ids_the_log_no_longer_has(
    tmp_path: pathlib.Path,
) -> None:
    db = Database(tmp_path / "z.db", event_retention=2)
    published: list[int] = []

    class Hub:
        def publish(self, event: Event) -> None:
            published.append(event.id)

    ordered = OrderedPublisher(Hub(), db, next_id=1, gap_timeout=0.05)  # type: ignore[arg-type]
    events = [db.insert_order(ORDER, "order.created")[1] for _ in range(4)]  # 1, 2 trimmed
    ordered.add(events[3])
    ordered.add(events[3])  # a duplicate is held once
    await asyncio.sleep(0.3)
    assert published == [3, 4]
    ordered.add(events[0])  # late, already passed: dropped
    assert published == [3, 4] and ordered.held == 0
    db.close()


@pytest.mark.bench
async def test_the_driver_benchmark_runs(pg_url: str) -> None:
    """``bench.pg_driver`` in miniature: both drivers do the same work on one database
    (the figures live in bench/RESULTS.md, never in a unit test)."""
    from bench import pg_driver

    results = await pg_driver.measure(pg_url, runs=1, inserts=10, reads=2, warmup=5)
    assert set(results) == {pg_driver.Psycopg.name, pg_driver.Asyncpg.name}
    for runs in results.values():
        assert len(runs) == 1 and runs[0]["insert_ms"] > 0 and runs[0]["concurrent_tps"] > 0
    db = PostgresDatabase(pg_url)
    try:
        ids = [e.id for e in db.events_after(0, 100_000)]
        assert ids == list(range(1, len(ids) + 1))  # both drivers kept the ids gap-free
        assert len(ids) == 2 * (5 + 2 * 5) + 2 * (10 + 20)
    finally:
        db.close()
