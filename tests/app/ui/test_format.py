"""Formatting helpers: times, indicator text, event descriptions, errors."""

from __future__ import annotations

import base64
import json

from zariz.platform import NetworkError
from zariz.ui.format import (
    FixedZone,
    ago,
    countdown,
    describe_event,
    error_message,
    field_errors,
    format_clock,
    indicator,
    parse_time,
    status_label,
    token_subject,
)


def test_ago_and_countdown() -> None:
    assert [ago(s) for s in (0.4, 5, 61, 7200, 200000)] == [
        "just now",
        "5s ago",
        "1 min ago",
        "2 h ago",
        "2 d ago",
    ]
    assert countdown(None) == "" and countdown(0.2) == "retrying now"
    assert countdown(3.6) == "retry in 4s"


def test_indicator_text() -> None:
    assert indicator("connected", since_last_s=None, retry_in_s=None) == ("Live", "no events yet")
    assert indicator("connected", since_last_s=12, retry_in_s=None) == (
        "Live",
        "last event 12s ago",
    )
    assert indicator("connecting", since_last_s=None, retry_in_s=7.2) == (
        "Connecting…",
        "retry in 7s",
    )
    assert indicator("connecting", since_last_s=None, retry_in_s=None)[1] == "opening stream"
    assert indicator("disconnected", since_last_s=3, retry_in_s=None) == (
        "Offline",
        "click to reconnect",
    )


def test_times() -> None:
    iso = "2026-03-12T14:05:09.123Z"
    now = parse_time(iso).timestamp() * 1000  # type: ignore[union-attr]
    assert format_clock(iso, now_ms=now) == "14:05"
    assert format_clock(iso, now_ms=now, zone=FixedZone(120)) == "16:05"
    assert format_clock(iso, now_ms=now + 3 * 86400_000) == "12 Mar 14:05"
    assert format_clock(None, now_ms=now) == "—" and format_clock("garbage", now_ms=now) == "—"
    assert parse_time(1_700_000_000) == parse_time(1_700_000_000_000)
    assert parse_time(True) is None


def test_event_descriptions() -> None:
    created = describe_event("order.created", {"id": 3, "customer": "Noa", "address": "Herzl 1"})
    assert (created.title, created.body, created.kind) == (
        "New order #3",
        "Noa · Herzl 1",
        "success",
    )
    assigned = describe_event("order.assigned", {"id": 3, "courier_id": 2}, {2: "Avi"})
    assert assigned.body == "to Avi"
    assert describe_event("order.assigned", {"id": 3, "courier_id": 5}).body == "to courier 5"
    cancelled = describe_event(
        "order.status_changed", {"id": 3, "status": "cancelled", "previous_status": "new"}
    )
    assert (cancelled.title, cancelled.body, cancelled.kind) == (
        "Order #3 cancelled",
        "New → Cancelled",
        "warning",
    )
    assert describe_event("order.deleted", "not a dict").title == "Order #? deleted"
    assert describe_event("weird", None).title == "weird"
    assert status_label("picked_up") == "Picked up" and status_label(None) == "—"


def test_errors() -> None:
    details = [{"loc": ["body", "customer"], "msg": "too long"}, {"loc": [], "msg": "x"}, "junk"]
    assert field_errors(details) == {"customer": "too long"}
    assert field_errors(None) == {}

    class ApiLike(Exception):
        status, message = 409, "cannot change status from 'new' to 'delivered'"

    assert error_message(ApiLike()).startswith("Not allowed: cannot change")
    assert "could not be reached" in error_message(NetworkError("down"))
    assert error_message(KeyError("k")) == "Something went wrong (KeyError)."


def test_token_subject() -> None:
    payload = base64.urlsafe_b64encode(json.dumps({"sub": "demo"}).encode()).rstrip(b"=")
    assert token_subject(f"h.{payload.decode()}.s") == "demo"
    for bad in (None, "", "a.b", "a.!!!.c", "a.bnVsbA.c"):
        assert token_subject(bad) is None


def test_indicator_says_why_a_connect_takes_long_and_when_the_stream_is_another_tabs() -> None:
    from zariz.ui.format import indicator

    assert indicator("connecting", since_last_s=None, retry_in_s=3.0,
                     waiting_for="connection") == (
        "Connecting…", "waiting for a connection — too many tabs open?")
    assert indicator("connecting", since_last_s=None, retry_in_s=3.0,
                     waiting_for="something new") == ("Connecting…", "retry in 3s")
    label, detail = indicator("connected", since_last_s=None, retry_in_s=None,
                              via_other_tab=True)
    assert (label, detail) == ("Live", "via another tab · no events yet")


def test_known_server_refusals_are_worded_in_the_viewers_language() -> None:
    from zariz.api import ApiError
    from zariz.ui import i18n

    refused = ApiError(409, "invalid_transition", "cannot change status from 'new' to "
                       "'delivered'", {"from": "new", "to": "delivered"})
    gone = ApiError(404, "not_found", "Order 5 does not exist.")
    assert error_message(refused) == "Not allowed: an order cannot go from New to Delivered."
    with i18n.locale_as("he"):
        assert error_message(refused) == 'לא ניתן: הזמנה לא עוברת מ"חדשה" ל"נמסרה".'
        assert "does not exist" not in error_message(gone)
    # Hostile details never break the line.
    assert error_message(ApiError(409, "invalid_transition", "x", ["junk"])).startswith(
        "Not allowed")
    # Codes the UI does not word itself show the server's message.
    assert error_message(ApiError(422, "validation_error", "bad body")) == "bad body"
