"""Phones on the server: create and patch accept Israeli numbers in any common form and
store one form (``050-123-4567``); anything else is a 422 that writes nothing; the
browser's rule (zariz.phones) agrees with the server's; demo data is valid."""

from __future__ import annotations

import json
import pathlib
import random
from collections.abc import Iterator
from typing import Any

import pytest
from zariz.phones import format_phone

from server.app import create_app
from server.config import Settings
from server.db import Database
from server.demo import make_order, seed_orders
from server.openapi import build_document
from server.orders import OrderCreate
from server.phones import EXAMPLE, RULE, PhoneError, canonical_phone
from tests.app.test_phones import ACCEPTED, REFUSED
from tests.server.app_client import AppClient

ORDER = {"customer": "Dana Levi", "phone": "050-1234567", "address": "Herzl 1, Tel Aviv"}
FOUR_FORMS = ["050-1234567", "0501234567", "+972-50-123-4567", "+972501234567"]


@pytest.fixture
def client(tmp_path: pathlib.Path) -> Iterator[AppClient]:
    client = AppClient(create_app(Settings(db_path=tmp_path / "zariz.db", root=tmp_path)))
    yield client
    client.close()


@pytest.fixture
def auth(client: AppClient) -> dict[str, str]:
    tokens = client.post("/v1/auth/login", json={"username": "demo", "password": "demo"}).json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def db(client: AppClient) -> Database:
    return client.app.state.db  # type: ignore[no-any-return]


def stored_phones(client: AppClient) -> list[str]:
    rows = db(client)._query("SELECT phone FROM orders ORDER BY id")
    return [row["phone"] for row in rows]


def assert_phone_422(response: Any) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    details = [d for d in error["details"] if d["loc"] == ["phone"]]
    assert details and details[0]["type"] == "invalid_phone", error["details"]
    assert details[0]["msg"] == RULE and EXAMPLE in RULE


# -- the rule --------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "stored"), ACCEPTED)
def test_the_server_stores_each_common_form_as_the_browser_formats_it(
    text: str, stored: str
) -> None:
    assert canonical_phone(text) == stored == format_phone(text)


@pytest.mark.parametrize(("text", "problem"), REFUSED)
def test_the_server_refuses_what_the_browser_refuses(text: str, problem: str) -> None:
    with pytest.raises(PhoneError):
        canonical_phone(text)


def test_browser_and_server_agree_on_random_writings() -> None:
    """Fuzz: digits, separators, prefixes and noise; the two rules give the same answer
    (the server's phonenumbers reads some odd writings its own way: those must be
    refused by both, not accepted by one)."""
    rng = random.Random(20_261_127)
    prefixes = ["", "+972", "972", "00972", "0", "+972 0", "+972(0)", "+", "00", "+1", "0972"]
    noise = "0123456789+ -().\u200e\u00a0a"
    accepted = 0
    for _ in range(20_000):
        if rng.random() < 0.6:
            text = rng.choice(prefixes) + "".join(
                rng.choice("0123456789") for _ in range(rng.randint(6, 11))
            )
            text = "".join(c + (rng.choice(" -().") if rng.random() < 0.2 else "") for c in text)
        else:
            text = "".join(rng.choice(noise) for _ in range(rng.randint(1, 16)))
        try:
            server: str | None = canonical_phone(text)
        except PhoneError:
            server = None
        assert server == format_phone(text), repr(text)
        accepted += server is not None
    assert accepted > 500  # the fuzz reaches numbers that are accepted, too


# -- create ----------------------------------------------------------------------------


def test_create_accepts_the_four_forms_and_stores_one(
    client: AppClient, auth: dict[str, str]
) -> None:
    for form in FOUR_FORMS:
        created = client.post("/v1/orders", json={**ORDER, "phone": form}, headers=auth)
        assert created.status_code == 201, created.text
        assert created.json()["phone"] == "050-123-4567"
        fetched = client.get(f"/v1/orders/{created.json()['id']}", headers=auth).json()
        assert fetched["phone"] == "050-123-4567"
    assert stored_phones(client) == ["050-123-4567"] * 4
    # The events carry the stored form too (every tab shows what the database has).
    events = db(client)._query("SELECT payload FROM events ORDER BY id")
    assert [json.loads(e["payload"])["data"]["phone"] for e in events] == ["050-123-4567"] * 4


@pytest.mark.parametrize(
    "phone",
    ["abc", "050", "1", "+44 20 7946 0958", "050-1234567 ext 5", "\u202e", "٠٥٠١٢٣٤٥٦٧",
     "<img src=x>", "1-800-123-456"],
)
def test_create_with_a_wrong_phone_is_422_and_writes_nothing(
    client: AppClient, auth: dict[str, str], phone: str
) -> None:
    response = client.post("/v1/orders", json={**ORDER, "phone": phone}, headers=auth)
    assert_phone_422(response)
    # The message is the rule, never the value sent back.
    assert phone not in response.text or phone in RULE
    assert stored_phones(client) == []
    assert db(client).count_events() == 0


def test_length_and_type_are_checked_before_the_number(
    client: AppClient, auth: dict[str, str]
) -> None:
    for phone, kind in (("5" * 51, "string_too_long"), ("", "string_too_short"),
                        (501234567, "string_type"), (None, "string_type")):
        response = client.post("/v1/orders", json={**ORDER, "phone": phone}, headers=auth)
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["type"] == kind, phone
    assert db(client).count_events() == 0


def test_an_idempotent_retry_in_another_form_is_the_same_request(
    client: AppClient, auth: dict[str, str]
) -> None:
    keyed = {**auth, "Idempotency-Key": "phone-forms"}
    first = client.post("/v1/orders", json={**ORDER, "phone": "0501234567"}, headers=keyed)
    again = client.post("/v1/orders", json={**ORDER, "phone": "+972501234567"}, headers=keyed)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert first.json() == again.json() and len(stored_phones(client)) == 1


# -- patch -----------------------------------------------------------------------------


def test_patch_validates_and_formats_the_phone(client: AppClient, auth: dict[str, str]) -> None:
    order = client.post("/v1/orders", json=ORDER, headers=auth).json()
    url = f"/v1/orders/{order['id']}"
    events = db(client).count_events()

    for phone in ("abc", "03-555", "+1 212 555 0100", None):
        response = client.patch(url, json={"phone": phone, "address": "Elsewhere"}, headers=auth)
        assert response.status_code == 422, phone
        if phone is not None:
            assert_phone_422(response)
    # Nothing written: not the phone, not the valid field next to it, no event.
    assert client.get(url, headers=auth).json() == order
    assert db(client).count_events() == events

    # The same number in another form changes nothing (no write, no event).
    same = client.patch(url, json={"phone": "+972-50-123-4567"}, headers=auth)
    assert same.status_code == 200 and same.json() == order
    assert db(client).count_events() == events

    changed = client.patch(url, json={"phone": "+972 3 555 0101"}, headers=auth)
    assert changed.status_code == 200 and changed.json()["phone"] == "03-555-0101"
    assert db(client).count_events() == events + 1


def test_an_old_row_keeps_its_phone_through_a_patch_of_other_fields(
    client: AppClient, auth: dict[str, str]
) -> None:
    order, _event = db(client).insert_order(
        {"customer": "Old Row", "phone": "1", "address": "Herzl 2"}, "order.created"
    )
    url = f"/v1/orders/{order['id']}"
    patched = client.patch(url, json={"address": "Herzl 3"}, headers=auth)
    assert patched.status_code == 200
    assert patched.json()["phone"] == "1" and patched.json()["address"] == "Herzl 3"


# -- demo data and the documented schema -----------------------------------------------


def test_demo_orders_have_valid_phones_in_the_stored_form(tmp_path: pathlib.Path) -> None:
    rng = random.Random(1)
    for _ in range(2_000):
        order = make_order(rng)
        assert format_phone(order.phone) == order.phone
    database = Database(tmp_path / "demo.db")
    try:
        assert seed_orders(database, 50) == 50
        phones = [r["phone"] for r in database._query("SELECT phone FROM orders")]
        assert all(format_phone(p) == p for p in phones), phones
    finally:
        database.close()


def test_the_documented_examples_are_accepted() -> None:
    schemas = build_document()["components"]["schemas"]
    for name in ("OrderCreate", "OrderPatch"):
        phone = schemas[name]["properties"]["phone"]
        assert "invalid_phone" in phone["description"]
        for example in phone["examples"]:
            OrderCreate(customer="a", phone=example, address="b")
