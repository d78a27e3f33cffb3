from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from zariz.sse.normalize import (
    SSEEvent,
    event_id,
    is_json,
    json_depth_exceeds,
    normalize,
    parse_json,
)


@pytest.mark.parametrize(
    ("sse_type", "text", "event", "data"),
    [
        # the server's shape: {type, data, ts}
        ("message", '{"type": "order.created", "data": {"id": 1}, "ts": 5}',
         "order.created", {"id": 1}),
        # {event, data} wins over type
        ("message", '{"event": "e", "type": "t", "data": [1]}', "e", [1]),
        # falsy event falls back to type
        ("message", '{"event": "", "type": "t", "data": 2}', "t", 2),
        # no data -> the whole object
        ("message", '{"type": "order.deleted", "id": 3}', "order.deleted",
         {"type": "order.deleted", "id": 3}),
        # data null -> the whole object; falsy-but-present data is kept (not JS ||)
        ("message", '{"type": "x", "data": null}', "x", {"type": "x", "data": None}),
        ("message", '{"type": "x", "data": 0}', "x", 0),
        ("message", '{"type": "x", "data": ""}', "x", ""),
        # non-string type is coerced
        ("message", '{"type": 7}', "7", {"type": 7}),
        # no event/type -> unknown with the parsed value
        ("message", '{"a": 1}', "unknown", {"a": 1}),
        ("message", '{"type": ""}', "unknown", {"type": ""}),
        ("message", "[1, 2]", "unknown", [1, 2]),
        ("message", "42", "unknown", 42),
        ("message", "null", "unknown", None),
        # not JSON -> the text
        ("message", "hello", "unknown", "hello"),
        ("message", "", "unknown", ""),
        ("", '{"type": "t"}', "t", {"type": "t"}),
        # named events keep their SSE name and the parsed data
        ("ping", '{"ts": 1}', "ping", {"ts": 1}),
        ("reset", '{"reason": "too_old", "last_id": 4}', "reset",
         {"reason": "too_old", "last_id": 4}),
        ("ping", "not json", "ping", "not json"),
        ("reset", '{"type": "order.created"}', "reset", {"type": "order.created"}),
    ],
)
def test_normalization_table(sse_type: str, text: str, event: str, data: Any) -> None:
    ev = normalize(sse_type, text, "7", 123.0)
    assert (ev.event, ev.data) == (event, data)
    assert ev.id == "7" and ev.received_at == 123.0 and ev.raw == text
    assert ev.to_dict() == {"event": event, "data": data, "id": "7", "received_at": 123.0}


def test_empty_id_becomes_none_and_origin_kept() -> None:
    ev = normalize("message", "{}", "", 1.0, "relay")
    assert ev.id is None and ev.origin == "relay"
    with pytest.raises(AttributeError):
        ev.event = "x"  # type: ignore[misc]  # frozen


def test_pathological_payloads_do_not_raise() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    assert normalize("message", deep, None, 0).event == "unknown"
    huge_int = "9" * 10_000  # beyond int max str digits -> ValueError inside json
    assert normalize("message", huge_int, None, 0).data == huge_int
    assert normalize("message", "NaN", None, 0).event == "unknown"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(st.text(), st.sampled_from(["message", "", "ping", "reset", "custom"]))
def test_never_raises_on_any_text(text: str, sse_type: str) -> None:
    ev = normalize(sse_type, text, None, 0.0)
    assert isinstance(ev, SSEEvent) and isinstance(ev.event, str) and ev.event


@given(json_values)
def test_never_raises_on_any_json(value: Any) -> None:
    ev = normalize("message", json.dumps(value), "1", 0.0)
    assert isinstance(ev.event, str) and ev.event
    if not (isinstance(value, dict) and (value.get("event") or value.get("type"))):
        assert ev.event == "unknown" and ev.data == value


@given(st.text(min_size=1), st.dictionaries(st.text(max_size=8), json_values, max_size=4))
def test_type_becomes_event(type_name: str, extra: dict[str, Any]) -> None:
    extra.pop("event", None)
    payload = {**extra, "type": type_name}
    ev = normalize("message", json.dumps(payload), None, 0.0)
    assert ev.event == type_name
    if payload.get("data") is not None:
        assert ev.data == payload["data"]
    else:
        assert ev.data == payload


# --- the fast paths give the definitions' answers ------------------------------------------
def _loads_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _NONE


_NONE = object()
_padding = st.sampled_from(["", " ", "\n", "\t ", "x", " 1", "]", "\ufeff"])


@given(json_values, _padding, _padding, st.booleans())
def test_parse_json_agrees_with_json_loads(
    value: Any, before: str, after: str, compact: bool
) -> None:
    text = before + json.dumps(value, separators=(",", ":") if compact else None) + after
    got = parse_json(text)
    expected = _loads_or_none(text)
    if expected is _NONE:
        assert not is_json(got)
    else:
        assert is_json(got) and got == expected


@given(st.text(max_size=30))
def test_parse_json_agrees_with_json_loads_on_any_text(text: str) -> None:
    expected = _loads_or_none(text)
    got = parse_json(text)
    if expected is _NONE or json_depth_exceeds(text):
        assert not is_json(got)
    elif expected == expected:  # NaN is not equal to itself
        assert got == expected


_ID = re.compile(r"[0-9]{1,18}")


@given(st.one_of(st.text(max_size=20), st.from_regex(r"\A0*[0-9]{0,20}\Z"),
                 st.sampled_from(["²", "٣", "0", "00", "007", "9" * 18, "9" * 19, " 7"])))
def test_event_id_is_at_most_18_ascii_digits_without_leading_zeros(value: str) -> None:
    expected = str(int(value)) if _ID.fullmatch(value) else None
    assert event_id(value) == expected


def test_event_id_of_a_str_subclass_still_follows_the_rule() -> None:
    class Text(str):
        pass

    assert event_id(Text("0042")) == "42" and event_id(Text("4x")) is None


# --- the event object: make_event is SSEEvent(...), faster --------------------------------


@pytest.mark.parametrize("origin", ["source", "relay"])
def test_make_event_is_the_frozen_dataclass_field_for_field(origin: str) -> None:
    import dataclasses

    from zariz.types import SSEEvent, make_event

    args = ("order.created", {"id": 7}, "42", 1.5, '{"type": "order.created"}', origin)
    made, built = make_event(*args), SSEEvent(*args)  # type: ignore[arg-type]
    assert type(made) is SSEEvent
    names = [f.name for f in dataclasses.fields(SSEEvent)]
    assert [getattr(made, n) for n in names] == list(args)  # every field, in order
    assert made == built and repr(made) == repr(built) and made.to_dict() == built.to_dict()
    for name in names:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(made, name, None)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(made, name)
    assert make_event("ping", None, None, 0.0, "").origin == "source"
    # make_event skips SSEEvent.__init__: nothing may hide in it but the field stores.
    assert not hasattr(SSEEvent, "__post_init__")
    assert all(f.default_factory is dataclasses.MISSING for f in dataclasses.fields(SSEEvent))


def test_normalize_hands_out_frozen_events() -> None:
    import dataclasses

    from zariz.types import SSEEvent

    for ev in (normalize("message", '{"type": "order.created", "data": {"id": 1}}', "3", 1.0),
               normalize("message", "not json", None, 1.0),
               normalize("ping", '{"ts": 5}', None, 1.0, "relay")):
        assert type(ev) is SSEEvent
        with pytest.raises(dataclasses.FrozenInstanceError):
            ev.event = "changed"  # type: ignore[misc]
