"""Hostile values in the formatting helpers: bidi overrides, 10,000-character values, and
whatever else an event can carry (it all reaches these)."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zariz.ui.format import (
    BIDI_CONTROLS,
    ELLIPSIS,
    PHONE_LIMIT,
    TITLE_LIMIT,
    FixedZone,
    clean_text,
    courier_label,
    describe_event,
    display_phone,
    display_text,
    display_title,
    error_message,
    field_errors,
    format_clock,
    order_ref,
    parse_time,
    status_label,
    token_subject,
)

EVERY_BIDI_CONTROL = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
ORDER_EVENTS = ("order.created", "order.updated", "order.assigned", "order.status_changed",
                "order.deleted", "reset", "ping", "unknown")

# Every code point, surrogates and controls included, with the dangerous ones made common.
any_char = st.characters(codec=None, categories=None) | st.sampled_from(
    EVERY_BIDI_CONTROL + "\x00\n\r\t\x7f\x85\u2028\u2029\ud800\udfff\u0301\u200d\ufe0f"
)
hostile_text = st.text(any_char, max_size=300)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | hostile_text,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(hostile_text, children, max_size=3),
    max_leaves=12,
)
hostile_value = (
    json_values
    | st.integers(min_value=10**100, max_value=10**101)
    | st.builds(lambda n, c: c * n, st.integers(1_000, 20_000), st.sampled_from("W ‮ש"))
)
limits = st.integers(min_value=1, max_value=400)


def test_a_bidi_override_no_longer_reverses_a_phone_number() -> None:
    # The bug from outside: "\u202e+972" displayed as "279+".
    assert display_phone("\u202e+972-50-123-4567") == "+972-50-123-4567"
    assert display_text("\u2067Dana\u2069 \u202bLevi\u202c\u200f") == "Dana Levi"
    assert set(BIDI_CONTROLS) == set(EVERY_BIDI_CONTROL)
    assert clean_text("a\x00b\nc\u2028d\ud800") == "a b c d\ufffd"


def test_ten_thousand_characters_are_cut_with_an_ellipsis_and_kept_in_the_title() -> None:
    name = "Dana " * 2000  # 10,000 characters
    shown = display_text(name, 200)
    assert len(shown) <= 200 and shown.endswith(ELLIPSIS) and name.startswith(shown[:-1])
    title = display_title(name, 200)
    assert title is not None and len(title) == TITLE_LIMIT and title.endswith(ELLIPSIS)
    # A value within its limit is shown whole and gets no redundant tooltip.
    assert display_text("Dana Levi", 200) == "Dana Levi" and display_title("Dana Levi", 200) is None
    assert display_text("x" * PHONE_LIMIT, PHONE_LIMIT) == "x" * PHONE_LIMIT


def test_a_cut_keeps_combining_marks_and_zwj_sequences_whole() -> None:
    assert display_text("abe\u0301cd", 4) == "ab" + ELLIPSIS  # never "abe" without its accent
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert display_text("a" + family + "zzzz", 4) == "a" + ELLIPSIS


def test_megabytes_are_not_cleaned_to_show_a_few_hundred_characters() -> None:
    huge = "\u202e" * 5_000 + "x" * 3_000_000
    shown = display_text(huge, 50)
    assert shown.endswith(ELLIPSIS) and "\u202e" not in shown and len(shown) <= 50


@given(hostile_value, limits)
@settings(max_examples=300, deadline=None)
def test_display_text_is_clean_bounded_and_a_prefix(value: Any, limit: int) -> None:
    shown = display_text(value, limit)
    assert isinstance(shown, str) and len(shown) <= limit
    assert not set(shown) & set(BIDI_CONTROLS)
    assert not any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in shown)
    full = clean_text(value)
    if shown == full:
        assert display_title(value, limit) is None
    else:
        assert shown.endswith(ELLIPSIS) and full.startswith(shown[:-1].rstrip())
        title = display_title(value, limit)
        assert title is not None and len(title) <= max(limit, TITLE_LIMIT)
        assert full.startswith(title.removesuffix(ELLIPSIS).rstrip())


@given(json_values, json_values, st.sampled_from(ORDER_EVENTS) | hostile_text,
       st.dictionaries(json_values.filter(lambda v: v.__hash__ is not None), hostile_text,
                       max_size=3))
@settings(max_examples=150, deadline=None)
def test_describe_event_never_raises_and_shows_clean_text(
    data: Any, courier_id: Any, name: str, couriers: dict[Any, str]
) -> None:
    if isinstance(data, dict):
        data = {**data, "courier_id": courier_id}
    text = describe_event(name, data, couriers)
    for part in (text.title, text.body):
        assert isinstance(part, str) and not set(part) & set(BIDI_CONTROLS)
        assert len(part) < 700  # a title and body, never the raw megabytes


def test_describe_event_with_an_unhashable_courier_id() -> None:
    # Was: TypeError (unhashable type: 'list') from ``courier_id in couriers``: the overview
    # feed and the toasts lost the event.
    assert describe_event("order.assigned", {"id": 1, "courier_id": [1]}, {1: "Avi"}).body == (
        "to courier [1]"
    )


def test_courier_label_for_the_orders_table() -> None:
    # orders.py did ``couriers.get(courier_id, ...)``: TypeError for a list, and the whole
    # table render with it.
    couriers = {2: "\u202eAvi Cohen", 3: "x" * 5_000}
    assert courier_label(2, couriers) == "Avi Cohen"
    assert courier_label(9, couriers) == "#9" and courier_label(None, couriers) is None
    assert courier_label([1], couriers) == "#[1]" and courier_label({"a": 1}, {}) == "#{'a': 1}"
    label = courier_label(3, couriers)
    assert label is not None and len(label) <= 100 and label.endswith(ELLIPSIS)


@given(json_values | st.integers(min_value=-(10**30), max_value=10**30), st.integers(-1440, 1440),
       st.floats(min_value=0, max_value=4e14))
@settings(max_examples=300, deadline=None)
def test_times_never_raise(value: Any, offset: int, now_ms: float) -> None:
    assert isinstance(format_clock(value, now_ms=now_ms, zone=FixedZone(offset)), str)
    parse_time(value)


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+05:00",
                                   10**400, -(10**20), float("inf"), float("nan")])
def test_times_at_the_edge_of_datetime(value: Any) -> None:
    # Was: OverflowError from ``astimezone``/``+ timedelta`` at year 1 or 9999.
    assert format_clock(value, now_ms=1.7e12, zone=FixedZone(180)) == "—" or value == (
        "9999-12-31T23:59:59+00:00"
    )


@given(json_values)
@settings(max_examples=200, deadline=None)
def test_labels_and_errors_never_raise(value: Any) -> None:
    for out in (status_label(value), order_ref(value)):
        assert isinstance(out, str) and not set(out) & set(BIDI_CONTROLS) and len(out) <= 81
    assert isinstance(field_errors(value), dict)
    assert isinstance(field_errors([{"loc": [value], "msg": value}]), dict)

    class ApiLike(Exception):
        status, message = 422, value

    assert isinstance(error_message(ApiLike()), str)


@given(json_values)
@settings(max_examples=100, deadline=None)
def test_token_subject_never_raises(claims: Any) -> None:
    import base64

    try:
        raw = json.dumps(claims).encode("utf-8", "surrogatepass")
    except ValueError:
        return
    token = "h." + base64.urlsafe_b64encode(raw).decode().rstrip("=") + ".s"
    sub = token_subject(token)
    assert sub is None or (isinstance(sub, str) and not set(sub) & set(BIDI_CONTROLS))


def test_token_subject_with_deep_claims() -> None:
    import base64

    # json.loads of this is a fatal stack overflow in Pyodide; parse_json refuses it.
    deep = base64.urlsafe_b64encode(b"[" * 100_000 + b"]" * 100_000).decode().rstrip("=")
    assert token_subject(f"h.{deep}.s") is None
