"""``Idempotency-Key`` on the order POSTs (a client retrying after a lost answer must not
create a second order), and the pruning of rows
that no longer matter (sessions, refresh tokens, tickets, idempotency keys).

A POST committed but unacknowledged (the server killed, the connection cut) used to be
doubled by the client's retry; with a key, the retry gets the stored answer instead.
"""

from __future__ import annotations

import json
import pathlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from server import db as db_module
from server.app import create_app
from server.config import Settings
from server.db import AUTH_ROW_RETENTION, IDEMPOTENCY_TTL, PRUNE_INTERVAL, Database
from server.orders import IDEMPOTENCY_HEADER, REPLAYED_HEADER
from tests.server.app_client import AppClient

ORDER = {"customer": "Dana Levi", "phone": "+972-50-123-4567", "address": "Herzl 1"}


@pytest.fixture
def client(tmp_path: pathlib.Path) -> Iterator[AppClient]:
    settings = Settings(db_path=tmp_path / "zariz.db", root=tmp_path / "root")
    client = AppClient(create_app(settings), raise_server_exceptions=False)
    yield client
    client.close()


def login(client: AppClient, username: str = "demo", password: str = "demo") -> dict[str, str]:
    tokens = client.post("/v1/auth/login", json={"username": username, "password": password})
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


@pytest.fixture
def auth(client: AppClient) -> dict[str, str]:
    return login(client)


def database(client: AppClient) -> Database:
    db: Database = client.app.state.db
    return db


def state(client: AppClient) -> tuple[int, int, int]:
    """``(orders, events, stored keys)``."""
    db = database(client)
    keys = db._query("SELECT COUNT(*) FROM idempotency_keys")[0][0]
    return db.count_orders(), db.count_events(), int(keys)


def keyed(auth: dict[str, str], key: str | bytes) -> dict[str, Any]:
    return {**auth, IDEMPOTENCY_HEADER: key}


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


# -- the retry --------------------------------------------------------------------------


def test_a_retried_create_with_the_same_key_returns_the_same_order_and_writes_nothing(
    client: AppClient, auth: dict[str, str],
) -> None:
    key = str(uuid.uuid4())
    first = client.post("/v1/orders", json=ORDER, headers=keyed(auth, key))
    assert first.status_code == 201
    assert REPLAYED_HEADER not in first.headers
    after_first = state(client)
    assert after_first == (1, 1, 1)

    # Another client library would serialise the same request differently.
    retry = client.post(
        "/v1/orders", content=b'{"address":"Herzl 1",  "phone":"+972-50-123-4567",'
        b'"customer":"Dana Levi"}',
        headers={**keyed(auth, key), "Content-Type": "application/json"},
    )
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.content == first.content
    assert retry.headers[REPLAYED_HEADER] == "true"
    assert state(client) == after_first  # no second order, no second event


def test_without_a_key_two_posts_are_two_orders(client: AppClient, auth: dict[str, str]) -> None:
    ids = {client.post("/v1/orders", json=ORDER, headers=auth).json()["id"] for _ in range(2)}
    assert len(ids) == 2
    assert state(client) == (2, 2, 0)


def test_a_retried_status_change_replays_instead_of_409(
    client: AppClient, auth: dict[str, str],
) -> None:
    order_id = client.post("/v1/orders", json=ORDER, headers=auth).json()["id"]
    url = f"/v1/orders/{order_id}/status"
    first = client.post(url, json={"status": "cancelled"}, headers=keyed(auth, "cancel-1"))
    assert first.status_code == 200 and first.json()["status"] == "cancelled"
    after_first = state(client)
    retry = client.post(url, json={"status": "cancelled"}, headers=keyed(auth, "cancel-1"))
    assert retry.status_code == 200 and retry.json() == first.json()
    assert state(client) == after_first
    # Without the key, the same retry is the conflict it always was.
    again = client.post(url, json={"status": "cancelled"}, headers=auth)
    assert again.status_code == 409


def test_a_retried_assign_replays_instead_of_assigning_again(
    client: AppClient, auth: dict[str, str],
) -> None:
    order_id = client.post("/v1/orders", json=ORDER, headers=auth).json()["id"]
    url = f"/v1/orders/{order_id}/assign"
    first = client.post(url, json={"courier_id": 2}, headers=keyed(auth, "assign-1"))
    assert first.status_code == 200
    after_first = state(client)
    retry = client.post(url, json={"courier_id": 2}, headers=keyed(auth, "assign-1"))
    assert retry.json() == first.json()
    assert state(client) == after_first  # no second order.assigned event


def test_the_same_key_with_another_body_or_path_is_422_and_writes_nothing(
    client: AppClient, auth: dict[str, str],
) -> None:
    first = client.post("/v1/orders", json=ORDER, headers=keyed(auth, "k1"))
    order_id = first.json()["id"]
    before = state(client)
    other_body = client.post(
        "/v1/orders", json={**ORDER, "customer": "Someone Else"}, headers=keyed(auth, "k1")
    )
    assert other_body.status_code == 422
    assert error_code(other_body) == "idempotency_key_reused"
    assert IDEMPOTENCY_HEADER in other_body.json()["error"]["message"]
    other_path = client.post(
        f"/v1/orders/{order_id}/status", json={"status": "cancelled"}, headers=keyed(auth, "k1")
    )
    assert other_path.status_code == 422
    assert error_code(other_path) == "idempotency_key_reused"
    assert state(client) == before
    assert client.get(f"/v1/orders/{order_id}", headers=auth).json()["status"] == "new"


def test_keys_belong_to_their_user(client: AppClient, auth: dict[str, str]) -> None:
    security = client.app.state.security
    database(client).upsert_user("avi", security.hash_password("avi-password"))
    avi = login(client, "avi", "avi-password")
    mine = client.post("/v1/orders", json=ORDER, headers=keyed(auth, "shared-key"))
    theirs = client.post("/v1/orders", json=ORDER, headers=keyed(avi, "shared-key"))
    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine.json()["id"]
    assert state(client) == (2, 2, 2)


@pytest.mark.parametrize(
    "key",
    ["", "x" * 201, "with space", "tab\there", "caf\u00e9".encode("latin-1")],
    ids=["empty", "201_chars", "space", "control", "not_ascii"],
)
def test_a_malformed_key_is_400_and_writes_nothing(
    client: AppClient, auth: dict[str, str], key: str | bytes,
) -> None:
    response = client.post("/v1/orders", json=ORDER, headers=keyed(auth, key))
    assert response.status_code == 400, response.text
    assert error_code(response) == "invalid_idempotency_key"
    assert state(client) == (0, 0, 0)


def test_the_longest_key_is_accepted(client: AppClient, auth: dict[str, str]) -> None:
    response = client.post("/v1/orders", json=ORDER, headers=keyed(auth, "~" * 200))
    assert response.status_code == 201


def test_a_failed_request_stores_no_key(client: AppClient, auth: dict[str, str]) -> None:
    """Only a committed change is remembered: a refused request may be retried once the
    state allows it."""
    order_id = client.post("/v1/orders", json=ORDER, headers=auth).json()["id"]
    url = f"/v1/orders/{order_id}/status"
    refused = client.post(url, json={"status": "picked_up"}, headers=keyed(auth, "step"))
    assert refused.status_code == 409
    assert state(client) == (1, 1, 0)
    client.post(f"/v1/orders/{order_id}/assign", json={"courier_id": 1}, headers=auth)
    allowed = client.post(url, json={"status": "picked_up"}, headers=keyed(auth, "step"))
    assert allowed.status_code == 200 and allowed.json()["status"] == "picked_up"


# -- one transaction ----------------------------------------------------------------------


def test_the_key_commits_with_the_order_and_its_event_or_not_at_all(
    client: AppClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = database(client)

    def failing_store(*args: Any) -> None:
        raise RuntimeError("disk full while storing the key")

    # The key cannot be stored: the order and its event roll back with it.
    with monkeypatch.context() as patch:
        patch.setattr(db, "_store_response", failing_store)
        response = client.post("/v1/orders", json=ORDER, headers=keyed(auth, "atomic"))
    assert response.status_code == 500
    assert state(client) == (0, 0, 0)

    # The event cannot be written: the key is not stored either, so the retry creates
    # the order (once).
    with monkeypatch.context() as patch:
        patch.setattr(db, "_append_event", failing_store)
        response = client.post("/v1/orders", json=ORDER, headers=keyed(auth, "atomic"))
    assert response.status_code == 500
    assert state(client) == (0, 0, 0)

    created = client.post("/v1/orders", json=ORDER, headers=keyed(auth, "atomic"))
    retried = client.post("/v1/orders", json=ORDER, headers=keyed(auth, "atomic"))
    assert created.status_code == retried.status_code == 201
    assert created.json() == retried.json()
    assert state(client) == (1, 1, 1)


def test_a_key_stored_by_a_concurrent_request_rolls_ours_back_and_replays_it(
    client: AppClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The look-up and the insert are apart: if another request stored the key in
    between, ours must not commit a second order."""
    db = database(client)
    first = client.post("/v1/orders", json=ORDER, headers=keyed(auth, "race"))
    before = state(client)
    monkeypatch.setattr(db, "stored_response", _missing_once(db.stored_response))
    retry = client.post("/v1/orders", json=ORDER, headers=keyed(auth, "race"))
    assert retry.status_code == 201 and retry.json() == first.json()
    assert state(client) == before


def _missing_once(lookup: Any) -> Any:
    calls = {"n": 0}

    def patched(owner: str, key: str) -> Any:
        calls["n"] += 1
        return None if calls["n"] == 1 else lookup(owner, key)

    return patched


# -- expiry and pruning -------------------------------------------------------------------


def test_a_key_expires_after_24_hours_and_is_pruned(
    client: AppClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert IDEMPOTENCY_TTL == 24 * 3600
    first = client.post("/v1/orders", json=ORDER, headers=keyed(auth, "daily"))
    # A day passes for the keys (not for the access token): the stored key is too old.
    monkeypatch.setattr(db_module, "IDEMPOTENCY_TTL", 0.0)
    database(client).prune_interval = 0.0
    second = client.post("/v1/orders", json=ORDER, headers=keyed(auth, "daily"))
    assert second.status_code == 201
    assert REPLAYED_HEADER not in second.headers
    assert second.json()["id"] != first.json()["id"]
    # The old row was pruned (or replaced); only the new answer is stored.
    rows = database(client)._query("SELECT body FROM idempotency_keys")
    assert [json.loads(row[0])["id"] for row in rows] == [second.json()["id"]]


class FakeClock:
    """``server.db``'s view of ``time``: only the monotonic clock moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    @staticmethod
    def time() -> float:
        return time.time()


def _rows(db: Database, table: str, column: str) -> set[str]:
    return {str(row[0]) for row in db._query(f"SELECT {column} FROM {table}")}


def test_expired_and_revoked_auth_rows_and_old_keys_are_pruned_at_most_once_a_minute(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Session and refresh-token rows were never deleted."""
    clock = FakeClock()
    monkeypatch.setattr(db_module, "time", clock)
    db = Database(tmp_path / "zariz.db")
    now = time.time()
    old = now - AUTH_ROW_RETENTION - 60  # beyond the retention
    recent = now - 60
    # live: an active session with a live token (kept, with its recently used token).
    db.create_session("live", "demo", "live-used", now + 3600)
    assert db.rotate_refresh("live-used", "live-new", now + 3600, recent)[0] == "ok"
    # The first write pruned (nothing yet); these stale rows come after it.
    # expired: its only token expired long ago -> token and session go.
    db.create_session("expired", "demo", "expired-token", old)
    # old-rotation: a token used long ago stays while its successor can still refresh
    # the session (presented again, it must still revoke the session).
    db.create_session("rotated", "demo", "rotated-old", now + 3600)
    assert db.rotate_refresh("rotated-old", "rotated-new", now + 3600, old)[0] == "ok"
    # dead-chain: rotated, and every token of it expired long ago -> all of it goes.
    db.create_session("dead-chain", "demo", "dead-used", old)
    assert db.rotate_refresh("dead-used", "dead-last", old, old - 60)[0] == "ok"
    # revoked long ago -> session and its tokens go; revoked recently -> kept (a refresh
    # with its token still says "revoked").
    db.create_session("revoked-old", "demo", "revoked-old-token", now + 3600)
    db.create_session("revoked-new", "demo", "revoked-new-token", now + 3600)
    with db.transaction() as tx:
        tx.execute("UPDATE sessions SET revoked_at = ? WHERE id = 'revoked-old'", (old,))
        tx.execute("UPDATE sessions SET revoked_at = ? WHERE id = 'revoked-new'", (recent,))
        tx.execute(
            "INSERT INTO idempotency_keys VALUES ('demo', 'old-key', 'f', 201, '{}', ?)",
            (now - IDEMPOTENCY_TTL - 1,),
        )
        tx.execute(
            "INSERT INTO idempotency_keys VALUES ('demo', 'new-key', 'f', 201, '{}', ?)",
            (recent,),
        )
    db.store_ticket("expired-ticket", "live", "demo", now - 1, now + 60)
    db.store_ticket("live-ticket", "live", "demo", now + 30, now + 60)
    everything = {
        "sessions": {"live", "expired", "rotated", "dead-chain", "revoked-old", "revoked-new"},
        "tokens": {"live-used", "live-new", "expired-token", "rotated-old", "rotated-new",
                   "dead-used", "dead-last", "revoked-old-token", "revoked-new-token"},
        "keys": {"old-key", "new-key"},
    }

    def snapshot() -> dict[str, set[str]]:
        return {
            "sessions": _rows(db, "sessions", "id"),
            "tokens": _rows(db, "refresh_tokens", "hash"),
            "keys": _rows(db, "idempotency_keys", "key"),
        }

    # Less than a minute since the last prune: a login prunes nothing.
    clock.now += PRUNE_INTERVAL - 1
    db.create_session("another", "demo", "another-token", now + 3600)
    assert snapshot() == {
        **everything, "sessions": everything["sessions"] | {"another"},
        "tokens": everything["tokens"] | {"another-token"},
    }

    # A minute later, the next login prunes.
    clock.now += 2
    db.create_session("third", "demo", "third-token", now + 3600)
    assert snapshot() == {
        "sessions": {"live", "rotated", "revoked-new", "another", "third"},
        "tokens": {"live-used", "live-new", "rotated-old", "rotated-new",
                   "revoked-new-token", "another-token", "third-token"},
        "keys": {"new-key"},
    }
    # Expired tickets go at every ticket issue, as before.
    db.store_ticket("next-ticket", "live", "demo", now + 30, now + 60)
    assert _rows(db, "tickets", "hash") == {"live-ticket", "next-ticket"}

    # A refresh is a trigger too, and a token used within the retention still revokes
    # its session when presented again (the stolen-token alarm survives the pruning).
    clock.now += PRUNE_INTERVAL + 1
    assert db.rotate_refresh("live-used", "x", now + 3600, now)[0] == "reused"
    assert not db.session_active("live")
    db.close()


class WallClock:
    """``server.db``'s view of ``time`` with both clocks moved by hand."""

    def __init__(self) -> None:
        self.wall = time.time()
        self.mono = 1000.0

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def test_a_stolen_refresh_token_replayed_days_later_still_revokes_the_session(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reuse alarm outlives the pruning. An attacker rotates a stolen T1 -> T2; a day
    later the used T1 was pruned, so the victim presenting it got "unknown": nothing
    revoked, and the attacker's T2 kept rotating for 30 days."""
    clock = WallClock()
    monkeypatch.setattr(db_module, "time", clock)
    refresh_ttl = 30 * 24 * 3600.0  # Settings().refresh_ttl
    db = Database(tmp_path / "zariz.db")
    db.create_session("victim", "demo", "T1", clock.wall + refresh_ttl)
    assert db.rotate_refresh("T1", "T2", clock.wall + refresh_ttl, clock.wall)[0] == "ok"
    # The attacker keeps the session alive, refreshing every 25 hours; each refresh is
    # more than PRUNE_INTERVAL after the last, so each one prunes first.
    chain = ["T2"]
    for n in range(3, 6):
        clock.advance(25 * 3600)
        token = f"T{n}"
        assert db.rotate_refresh(chain[-1], token, clock.wall + refresh_ttl,
                                 clock.wall)[0] == "ok"
        chain.append(token)
    assert db.prune(clock.wall)["refresh_tokens"] == 0
    assert {"T1", *chain} <= _rows(db, "refresh_tokens", "hash")

    # Three days on, the victim's browser presents T1: the theft is noticed.
    outcome, session = db.rotate_refresh("T1", "victim-new", clock.wall + refresh_ttl,
                                         clock.wall)
    assert (outcome, session) == ("reused", "victim")
    assert not db.session_active("victim")
    assert db.rotate_refresh(chain[-1], "T-next", clock.wall + refresh_ttl, clock.wall) == (
        "revoked", "victim")

    # A day after the revocation the session and its whole chain go.
    clock.advance(AUTH_ROW_RETENTION + 60)
    pruned = db.prune(clock.wall)
    assert (pruned["sessions"], pruned["refresh_tokens"]) == (1, len(chain) + 1)
    assert _rows(db, "refresh_tokens", "hash") == set()
    db.close()


def test_a_session_whose_every_token_expired_a_day_ago_goes_whole(
    tmp_path: pathlib.Path,
) -> None:
    db = Database(tmp_path / "zariz.db")
    now = time.time()
    # Rotated twice; the newest token expired just under a day ago: the used ones stay
    # (presenting them still revokes the session).
    db.create_session("recent", "demo", "r1", now + 10)
    assert db.rotate_refresh("r1", "r2", now + 20, now)[0] == "ok"
    assert db.rotate_refresh("r2", "r3", now - AUTH_ROW_RETENTION + 60, now)[0] == "ok"
    # Rotated two days ago; a day and a minute after its newest token expired, all of
    # it goes.
    two_days_ago = now - 2 * AUTH_ROW_RETENTION
    db.create_session("dead", "demo", "d1", two_days_ago + 10)
    assert db.rotate_refresh(
        "d1", "d2", now - AUTH_ROW_RETENTION - 60, two_days_ago)[0] == "ok"
    assert db.prune(now) == {
        "tickets": 0, "refresh_tokens": 2, "sessions": 1, "idempotency_keys": 0
    }
    assert _rows(db, "sessions", "id") == {"recent"}
    assert _rows(db, "refresh_tokens", "hash") == {"r1", "r2", "r3"}
    assert db.rotate_refresh("r1", "x", now + 20, now)[0] == "reused"
    db.close()


def test_prune_reports_what_it_deleted(tmp_path: pathlib.Path) -> None:
    db = Database(tmp_path / "zariz.db")
    now = time.time()
    db.create_session("gone", "demo", "gone-token", now - AUTH_ROW_RETENTION - 1)
    assert db.prune(now) == {
        "tickets": 0, "refresh_tokens": 1, "sessions": 1, "idempotency_keys": 0
    }
    assert db.prune(now) == {
        "tickets": 0, "refresh_tokens": 0, "sessions": 0, "idempotency_keys": 0
    }
    db.close()


def test_the_schema_with_its_new_table_opens_an_existing_database_twice(
    tmp_path: pathlib.Path,
) -> None:
    first = Database(tmp_path / "zariz.db")
    first.close()
    second = Database(tmp_path / "zariz.db")  # CREATE ... IF NOT EXISTS: idempotent
    assert second.stored_response("demo", "nothing") is None
    second.close()
