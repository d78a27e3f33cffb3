"""REST contract in-process (Starlette AppClient): auth, orders, couriers, errors."""

from __future__ import annotations

import dataclasses
import pathlib
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from server.app import create_app
from server.config import ConfigError, Settings
from server.db import Database
from tests.server.app_client import AppClient
from tests.support.live_server import PROJECT_ROOT

ORDER = {"customer": "Dana Levi", "phone": "+972-50-123-4567", "address": "Herzl 1, Tel Aviv"}

ClientFactory = Callable[..., AppClient]


@pytest.fixture
def client_factory(tmp_path: pathlib.Path) -> Iterator[ClientFactory]:
    """``factory(**settings) -> AppClient`` (lifespan running); all closed at teardown."""
    clients: list[AppClient] = []

    def factory(raise_server_exceptions: bool = True, **overrides: Any) -> AppClient:
        settings = dataclasses.replace(
            Settings(db_path=tmp_path / "zariz.db", root=tmp_path / "root"), **overrides
        )
        client = AppClient(create_app(settings), raise_server_exceptions=raise_server_exceptions)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


@pytest.fixture
def client(client_factory: ClientFactory) -> AppClient:
    return client_factory()


@pytest.fixture
def auth(client: AppClient) -> dict[str, str]:
    tokens = client.post("/v1/auth/login", json={"username": "demo", "password": "demo"}).json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def event_count(client: AppClient) -> int:
    db: Database = client.app.state.db
    return db.count_events()


def last_event(client: AppClient) -> dict[str, Any]:
    import json

    db: Database = client.app.state.db
    return json.loads(db.events_after(0, limit=100_000)[-1].wire)  # type: ignore[no-any-return]


# -- health, auth --------------------------------------------------------------------------


def test_healthz(client: AppClient):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_login_returns_bearer_pair_and_bad_password_is_401(client: AppClient):
    good = client.post("/v1/auth/login", json={"username": "demo", "password": "demo"})
    assert good.status_code == 200
    body = good.json()
    assert set(body) == {"access_token", "refresh_token", "expires_in", "token_type"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    for creds in ({"username": "demo", "password": "nope"}, {"username": "x", "password": "y"}):
        bad = client.post("/v1/auth/login", json=creds)
        assert bad.status_code == 401 and error_code(bad) == "invalid_credentials"


def test_access_token_claims(client: AppClient):
    import jwt

    token = client.post("/v1/auth/login", json={"username": "demo", "password": "demo"}).json()
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert {"sub", "sid", "exp", "iat", "jti"} <= set(claims)
    assert claims["sub"] == "demo"


def test_missing_or_bad_token_is_401_with_www_authenticate(client: AppClient):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic eDp5"}):
        response = client.get("/v1/orders", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert error_code(response) == "unauthorized"


def test_me_and_logout_revokes_the_session(client: AppClient, auth: dict[str, str]):
    assert client.get("/v1/auth/me", headers=auth).json() == {"username": "demo"}
    assert client.post("/v1/auth/logout", headers=auth).json() == {"ok": True}
    assert client.get("/v1/auth/me", headers=auth).status_code == 401


def test_demo_user_only_in_demo_mode(client_factory: ClientFactory):
    on = client_factory(demo=True)
    assert on.post("/v1/auth/login", json={"username": "demo", "password": "demo"}).is_success
    on.close()
    off = client_factory(demo=False)  # same database: the demo user must be gone
    response = off.post("/v1/auth/login", json={"username": "demo", "password": "demo"})
    assert response.status_code == 401


def test_non_loopback_demo_needs_a_password():
    with pytest.raises(ConfigError, match="ZARIZ_DEMO_PASSWORD"):
        Settings(host="0.0.0.0", demo=True).validated()
    assert Settings(host="0.0.0.0").validated().demo is False  # default off off-loopback
    assert Settings(host="127.0.0.1").validated().demo is True
    assert Settings(host="0.0.0.0", demo=True, demo_password="s3cret").validated().demo


def test_non_loopback_demo_with_password_uses_it(client_factory: ClientFactory):
    client = client_factory(host="0.0.0.0", demo=True, demo_password="s3cret")
    wrong = client.post("/v1/auth/login", json={"username": "demo", "password": "demo"})
    assert wrong.status_code == 401
    assert client.post(
        "/v1/auth/login", json={"username": "demo", "password": "s3cret"}
    ).is_success


def test_cli_refuses_non_loopback_demo_without_password(tmp_path: pathlib.Path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "server", "--host", "0.0.0.0", "--demo", "--db",
         str(tmp_path / "z.db")],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=20,
    )
    assert result.returncode == 2
    assert "ZARIZ_DEMO_PASSWORD" in result.stderr
    assert not (tmp_path / "z.db").exists()


def test_settings_from_env():
    settings = Settings.from_env(
        {"HOST": "0.0.0.0", "PORT": "9000", "ZARIZ_DEMO": "0", "ZARIZ_ACCESS_TTL": "2",
         "ZARIZ_TICKET_TTL": "5", "ZARIZ_HUB": "memory://"}
    ).validated()
    assert (settings.host, settings.port, settings.demo, settings.access_ttl) == (
        "0.0.0.0", 9000, False, 2.0,
    )
    with pytest.raises(ConfigError, match="ZARIZ_TICKET_TTL"):
        Settings(ticket_ttl=31).validated()
    with pytest.raises(ConfigError, match="PORT"):
        Settings.from_env({"PORT": "x"})


def test_a_bad_hub_url_is_refused_clearly(tmp_path: pathlib.Path):
    with pytest.raises(ValueError, match="unknown option 'streem'"):
        create_app(Settings(db_path=tmp_path / "z.db", hub_url="redis://localhost/0?streem=x"))


# -- orders ---------------------------------------------------------------------------------


def test_create_get_list_and_events(client: AppClient, auth: dict[str, str]):
    created = client.post("/v1/orders", json={**ORDER, "notes": "  ring  "}, headers=auth)
    assert created.status_code == 201
    order = created.json()
    assert order["status"] == "new" and order["courier_id"] is None and order["notes"] == "ring"
    assert order["created_at"].endswith("Z")
    assert client.get(f"/v1/orders/{order['id']}", headers=auth).json() == order
    client.post("/v1/orders", json=ORDER, headers=auth)
    listing = client.get("/v1/orders", headers=auth).json()
    assert listing["total"] == 2 and listing["limit"] == 50 and listing["offset"] == 0
    assert [o["id"] for o in listing["items"]] == [order["id"] + 1, order["id"]]  # newest first
    assert last_event(client)["type"] == "order.created"


def test_list_filters_and_pages(client: AppClient, auth: dict[str, str]):
    ids = [client.post("/v1/orders", json=ORDER, headers=auth).json()["id"] for _ in range(5)]
    client.post(f"/v1/orders/{ids[0]}/status", json={"status": "cancelled"}, headers=auth)
    page = client.get("/v1/orders?limit=2&offset=1", headers=auth).json()
    assert [o["id"] for o in page["items"]] == [ids[3], ids[2]] and page["total"] == 5
    cancelled = client.get("/v1/orders?status=cancelled", headers=auth).json()
    assert [o["id"] for o in cancelled["items"]] == [ids[0]] and cancelled["total"] == 1
    assert client.get("/v1/orders?limit=2500", headers=auth).json()["limit"] == 2500
    for query in ("status=lost", "limit=2501", "limit=0", "offset=-1", "limit=x"):
        response = client.get(f"/v1/orders?{query}", headers=auth)
        assert response.status_code == 422, query
        assert error_code(response) == "validation_error"


def test_snapshots_say_at_which_event_id_they_were_taken(client: AppClient, auth: dict[str, str]):
    empty = client.get("/v1/orders", headers=auth)
    assert empty.json()["last_event_id"] == 0 and empty.headers["x-zariz-event-id"] == "0"
    ids = [client.post("/v1/orders", json=ORDER, headers=auth).json()["id"] for _ in range(3)]
    client.post(f"/v1/orders/{ids[0]}/status", json={"status": "cancelled"}, headers=auth)
    newest = client.app.state.db.event_bounds()[1]
    assert newest == 4
    listing = client.get("/v1/orders?status=new", headers=auth)
    assert listing.json()["last_event_id"] == newest
    assert listing.headers["x-zariz-event-id"] == str(newest)
    stats = client.get("/v1/orders/stats", headers=auth)
    assert stats.status_code == 200
    assert stats.json() == {
        "counts": {"new": 2, "assigned": 0, "picked_up": 0, "delivered": 0, "cancelled": 1},
        "total": 3, "last_event_id": newest,
    }
    assert stats.headers["x-zariz-event-id"] == str(newest)
    assert client.get("/v1/orders/stats").status_code == 401


def test_keyset_paging_never_skips_a_row_when_rows_are_deleted(
    client: AppClient, auth: dict[str, str]
):
    ids = [client.post("/v1/orders", json=ORDER, headers=auth).json()["id"] for _ in range(5)]
    first = client.get("/v1/orders?limit=2", headers=auth).json()["items"]
    assert [o["id"] for o in first] == [ids[4], ids[3]]
    client.delete(f"/v1/orders/{ids[4]}", headers=auth)  # offset=2 would now skip ids[2]
    rest = client.get(f"/v1/orders?limit=2&before_id={first[-1]['id']}", headers=auth).json()
    assert [o["id"] for o in rest["items"]] == [ids[2], ids[1]] and rest["total"] == 4
    for query in ("before_id=0", "before_id=x"):
        assert client.get(f"/v1/orders?{query}", headers=auth).status_code == 422, query


def test_a_full_page_names_the_next_one_in_its_headers(client: AppClient, auth: dict[str, str]):
    """``X-Zariz-Next-Before-Id``: the page after a full one, read by key, is the one below
    its smallest id; a client asks for it before this body is read."""
    ids = [client.post("/v1/orders", json=ORDER, headers=auth).json()["id"] for _ in range(5)]
    full = client.get("/v1/orders?limit=2", headers=auth)
    assert full.headers["x-zariz-next-before-id"] == str(ids[3])
    after = client.get(f"/v1/orders?limit=2&before_id={ids[3]}", headers=auth)
    assert [o["id"] for o in after.json()["items"]] == [ids[2], ids[1]]
    assert after.headers["x-zariz-next-before-id"] == str(ids[1])
    last = client.get(f"/v1/orders?limit=2&before_id={ids[1]}", headers=auth)
    assert [o["id"] for o in last.json()["items"]] == [ids[0]]
    assert "x-zariz-next-before-id" not in last.headers  # a short page: no next one
    # With an offset the next page is not "below the smallest id": nothing is said.
    assert "x-zariz-next-before-id" not in client.get("/v1/orders?limit=2&offset=1",
                                                      headers=auth).headers
    filtered = client.get("/v1/orders?limit=1&status=new", headers=auth)
    assert filtered.headers["x-zariz-next-before-id"] == str(ids[4])


@pytest.mark.parametrize(
    "body",
    [
        {**ORDER, "unexpected": 1},
        {"customer": "x", "phone": "1"},
        {**ORDER, "customer": "   "},
        {**ORDER, "customer": "c" * 201},
        {**ORDER, "phone": "1" * 51},
        {**ORDER, "address": "a" * 301},
        {**ORDER, "notes": "n" * 1001},
        {**ORDER, "phone": 123},
    ],
)
def test_invalid_order_is_422_with_serialisable_details(
    client: AppClient, auth: dict[str, str], body: dict[str, Any]
):
    response = client.post("/v1/orders", json=body, headers=auth)
    assert response.status_code == 422
    assert error_code(response) == "validation_error"
    assert isinstance(response.json()["error"]["details"], list)
    assert event_count(client) == 0


def test_malformed_json_is_400_and_non_object_is_422(client: AppClient, auth: dict[str, str]):
    headers = {**auth, "Content-Type": "application/json"}
    response = client.post("/v1/orders", content=b'{"customer": ', headers=headers)
    assert response.status_code == 400 and error_code(response) == "invalid_json"
    response = client.post("/v1/orders", content=b"\xff\xfe", headers=headers)
    assert response.status_code == 400
    response = client.post("/v1/orders", content=b"[1, 2]", headers=headers)
    assert response.status_code == 422


def test_body_over_limit_is_413_by_length_and_by_stream(client_factory: ClientFactory):
    client = client_factory(max_body=1000)
    tokens = client.post("/v1/auth/login", json={"username": "demo", "password": "demo"}).json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    big = {**ORDER, "notes": "x" * 990}
    response = client.post("/v1/orders", json=big, headers=auth)
    assert response.status_code == 413 and error_code(response) == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked upload
        yield b'{"customer": "a", "phone": "1", "address": "b", "notes": "'
        for _ in range(20):
            yield b"y" * 100
        yield b'"}'

    response = client.post("/v1/orders", content=chunks(), headers=auth)
    assert response.status_code == 413
    assert event_count(client) == 0


def test_unknown_ids_and_routes_are_404_json(client: AppClient, auth: dict[str, str]):
    for method, path, body in [
        ("GET", "/v1/orders/999", None),
        ("PATCH", "/v1/orders/999", {"notes": "x"}),
        ("DELETE", "/v1/orders/999", None),
        ("POST", "/v1/orders/999/status", {"status": "cancelled"}),
        ("POST", "/v1/orders/999/assign", {"courier_id": 1}),
        ("GET", "/v1/nothing-here", None),
    ]:
        response = client.request(method, path, json=body, headers=auth)
        assert response.status_code == 404, (method, path)
        assert error_code(response) == "not_found"


def test_patch_edits_fields_and_rejects_empty_or_null(client: AppClient, auth: dict[str, str]):
    order = client.post("/v1/orders", json={**ORDER, "notes": "x"}, headers=auth).json()
    url = f"/v1/orders/{order['id']}"
    patched = client.patch(url, json={"address": " Dizengoff 5 ", "notes": None}, headers=auth)
    assert patched.status_code == 200
    assert patched.json()["address"] == "Dizengoff 5" and patched.json()["notes"] is None
    assert patched.json()["customer"] == ORDER["customer"]
    assert last_event(client)["type"] == "order.updated"
    for body in ({}, {"customer": None}, {"status": "delivered"}, {"phone": ""}):
        response = client.patch(url, json=body, headers=auth)
        assert response.status_code == 422, body


def test_patch_that_changes_nothing_writes_no_event(client: AppClient, auth: dict[str, str]):
    order = client.post("/v1/orders", json=ORDER, headers=auth).json()
    before = event_count(client)
    same = client.patch(f"/v1/orders/{order['id']}", json={"notes": None}, headers=auth)
    assert same.status_code == 200 and same.json() == order  # updated_at not bumped
    assert event_count(client) == before


def test_status_machine_happy_path_and_events(client: AppClient, auth: dict[str, str]):
    order = client.post("/v1/orders", json=ORDER, headers=auth).json()
    base = f"/v1/orders/{order['id']}"
    assigned = client.post(f"{base}/assign", json={"courier_id": 2}, headers=auth).json()
    assert assigned["status"] == "assigned" and assigned["courier_id"] == 2
    assert last_event(client)["type"] == "order.assigned"
    reassigned = client.post(f"{base}/assign", json={"courier_id": 3}, headers=auth).json()
    assert reassigned["courier_id"] == 3
    for target in ("picked_up", "delivered"):
        response = client.post(f"{base}/status", json={"status": target}, headers=auth)
        assert response.status_code == 200 and response.json()["status"] == target
    event = last_event(client)
    assert event["type"] == "order.status_changed"
    assert event["data"]["previous_status"] == "picked_up"
    assert event["data"]["status"] == "delivered"


@pytest.mark.parametrize(
    ("path_to", "target", "message"),
    [
        (["assigned", "picked_up", "delivered"], "new", "from 'delivered' to 'new'"),
        (["assigned", "picked_up", "delivered"], "cancelled", "from 'delivered' to 'cancelled'"),
        (["cancelled"], "delivered", "from 'cancelled' to 'delivered'"),
        ([], "picked_up", "from 'new' to 'picked_up'"),
        ([], "assigned", "assign a courier"),
        ([], "new", "from 'new' to 'new'"),
    ],
)
def test_invalid_transitions_are_409(
    client: AppClient, auth: dict[str, str], path_to: list[str], target: str, message: str
):
    order = client.post("/v1/orders", json=ORDER, headers=auth).json()
    base = f"/v1/orders/{order['id']}"
    for step in path_to:
        if step == "assigned":
            client.post(f"{base}/assign", json={"courier_id": 1}, headers=auth)
        else:
            client.post(f"{base}/status", json={"status": step}, headers=auth)
    before = event_count(client)
    response = client.post(f"{base}/status", json={"status": target}, headers=auth)
    assert response.status_code == 409
    assert error_code(response) == "invalid_transition"
    assert message in response.json()["error"]["message"]
    assert event_count(client) == before


def test_cancel_from_every_non_final_state(client: AppClient, auth: dict[str, str]):
    for steps in ([], ["assign"], ["assign", "picked_up"]):
        order = client.post("/v1/orders", json=ORDER, headers=auth).json()
        base = f"/v1/orders/{order['id']}"
        for step in steps:
            if step == "assign":
                client.post(f"{base}/assign", json={"courier_id": 1}, headers=auth)
            else:
                client.post(f"{base}/status", json={"status": step}, headers=auth)
        response = client.post(f"{base}/status", json={"status": "cancelled"}, headers=auth)
        assert response.json()["status"] == "cancelled", steps


def test_assign_rules(client: AppClient, auth: dict[str, str]):
    order = client.post("/v1/orders", json=ORDER, headers=auth).json()
    base = f"/v1/orders/{order['id']}"
    unknown = client.post(f"{base}/assign", json={"courier_id": 99}, headers=auth)
    assert unknown.status_code == 422 and error_code(unknown) == "unknown_courier"
    for body in ({"courier_id": "1"}, {"courier_id": 1, "x": 1}, {}):
        assert client.post(f"{base}/assign", json=body, headers=auth).status_code == 422
    client.post(f"{base}/status", json={"status": "cancelled"}, headers=auth)
    late = client.post(f"{base}/assign", json={"courier_id": 1}, headers=auth)
    assert late.status_code == 409 and error_code(late) == "invalid_transition"


def test_delete_returns_id_and_logs_last_snapshot(client: AppClient, auth: dict[str, str]):
    order = client.post("/v1/orders", json=ORDER, headers=auth).json()
    response = client.delete(f"/v1/orders/{order['id']}", headers=auth)
    assert response.json() == {"ok": True, "id": order["id"]}
    event = last_event(client)
    assert event["type"] == "order.deleted" and event["data"] == order
    assert client.get(f"/v1/orders/{order['id']}", headers=auth).status_code == 404


def test_every_mutation_writes_exactly_one_event(client: AppClient, auth: dict[str, str]):
    order_id = client.post("/v1/orders", json=ORDER, headers=auth).json()["id"]
    base = f"/v1/orders/{order_id}"
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("PATCH", base, {"notes": "n"}),
        ("POST", f"{base}/assign", {"courier_id": 1}),
        ("POST", f"{base}/status", {"status": "picked_up"}),
        ("DELETE", base, None),
    ]
    for method, path, body in calls:
        before = event_count(client)
        assert client.request(method, path, json=body, headers=auth).is_success
        assert event_count(client) == before + 1, path


def test_event_row_and_change_share_one_transaction(
    client_factory: ClientFactory, monkeypatch: pytest.MonkeyPatch
):
    """Regression guard: a failure after the UPDATE (while writing the event) must
    leave neither the change nor an event row behind."""
    client = client_factory(raise_server_exceptions=False)
    tokens = client.post("/v1/auth/login", json={"username": "demo", "password": "demo"}).json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    order = client.post("/v1/orders", json=ORDER, headers=auth).json()
    before = event_count(client)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full (injected)")

    monkeypatch.setattr(Database, "_append_event", broken)
    response = client.patch(f"/v1/orders/{order['id']}", json={"customer": "X"}, headers=auth)
    assert response.status_code == 500 and error_code(response) == "internal_error"
    response = client.post("/v1/orders", json=ORDER, headers=auth)
    assert response.status_code == 500
    monkeypatch.undo()
    assert client.get(f"/v1/orders/{order['id']}", headers=auth).json() == order
    assert client.get("/v1/orders", headers=auth).json()["total"] == 1
    assert event_count(client) == before


def test_couriers_seeded_idempotently(client_factory: ClientFactory):
    first = client_factory()
    first.close()
    client = client_factory()  # same database, seeded again
    tokens = client.post("/v1/auth/login", json={"username": "demo", "password": "demo"}).json()
    body = client.get(
        "/v1/couriers", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    ).json()
    assert len(body["items"]) == 5
    assert set(body["items"][0]) == {"id", "name", "phone", "active"}
    assert client.get("/v1/couriers").status_code == 401


def test_ticket_requires_bearer(client: AppClient, auth: dict[str, str]):
    assert client.post("/v1/events/ticket").status_code == 401
    body = client.post("/v1/events/ticket", headers=auth).json()
    assert len(body["ticket"]) >= 32 and body["expires_in"] <= 30
    assert body["ping_interval"] == 15  # the client sizes its stall watchdog from it


def test_metrics_exposed(client: AppClient):
    text = client.get("/metrics").text
    for name in (
        "zariz_sse_open_streams", "zariz_sse_streams_opened_total", "zariz_events_published_total",
        "zariz_events_replayed_total", "zariz_sse_slow_consumers_dropped_total",
        "zariz_auth_failures_total",
    ):
        assert name in text


def test_seed_orders_fills_an_empty_database_once(client_factory: ClientFactory):
    first = client_factory(seed_orders=300)
    token = first.post("/v1/auth/login", json={"username": "demo", "password": "demo"}).json()
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    page = first.get("/v1/orders?limit=5", headers=auth).json()
    assert page["total"] == 300 and len(page["items"]) == 5
    assert event_count(first) == 300  # each seeded order has its order.created event
    first.close()
    again = client_factory(seed_orders=300)  # a restart with the same flag adds nothing
    assert again.app.state.db.count_orders() == 300
    with pytest.raises(ConfigError):
        Settings(seed_orders=-1).validated()


def test_replace_password_hash_never_resurrects_a_deleted_user(tmp_path: pathlib.Path) -> None:
    db = Database(tmp_path / "z.db")
    db.upsert_user("ann", "h1")
    assert db.replace_password_hash("ann", "h1", "h2")
    assert not db.replace_password_hash("ann", "h1", "h3")  # changed meanwhile
    db.delete_user("ann")
    assert not db.replace_password_hash("ann", "h2", "h4")
    assert db.password_hash("ann") is None
    db.close()
