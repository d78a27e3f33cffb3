"""The event-position rules on their own (``zariz.sse.position``), with hypothesis."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from zariz.sse.position import Position, parse_relay, relay_message, stated_position

origins = st.sampled_from(["source", "relay"])
ids = st.integers(min_value=0, max_value=60)


@given(st.lists(st.tuples(origins, ids), max_size=80))
def test_ids_from_source_and_relay_in_any_order_never_dispatch_twice_nor_drop_a_newer_one(
    arrivals: list[tuple[str, int]],
) -> None:
    p = Position()
    dispatched: list[int] = []
    for origin, n in arrivals:
        newest = max(dispatched, default=-1)
        if p.accept("message", str(n), "{}", origin):  # type: ignore[arg-type]
            dispatched.append(n)
        else:
            assert n <= newest, "a newer id was dropped"
        if n > newest:
            assert dispatched[-1] == n
    assert len(dispatched) == len(set(dispatched))
    assert dispatched == sorted(dispatched)
    assert p.last == (str(dispatched[-1]) if dispatched else None)


@given(st.lists(st.tuples(origins, st.sampled_from(["position", "reset"]), ids), max_size=30),
       ids)
def test_only_our_own_stream_states_our_position(
    frames: list[tuple[str, str, int]], start: int
) -> None:
    p = Position(str(start))
    expected = str(start)
    for origin, kind, n in frames:
        assert p.accept(kind, str(n), json.dumps({"last_id": n}), origin)  # type: ignore[arg-type]
        if origin == "source":
            expected = str(n)  # adopted even when lower (a wiped log)
        assert p.last == expected


@given(st.sampled_from(["ping", "notice"]), ids, ids)
def test_named_events_are_never_dropped_and_only_move_forward(
    kind: str, last: int, n: int
) -> None:
    p = Position(str(last))
    assert p.accept(kind, str(n), "{}", "source")
    assert p.last == str(max(last, n))


@given(st.one_of(st.text(max_size=25), st.sampled_from(["²", "-3", " 7", "1_0", "٣", "9" * 19])))
def test_an_id_that_names_no_position_is_delivered_but_never_becomes_ours(odd: str) -> None:
    p = Position("5")
    accepted = p.accept("message", odd, "{}", "source")
    if odd.isascii() and odd.isdigit() and len(odd) <= 18:
        assert accepted == (int(odd) > 5)
        assert p.last == (odd if int(odd) > 5 else "5")
    else:
        # "²", "-3", a 19-digit number: the server would refuse it as Last-Event-ID
        # (a reconnect loop), and a huge one would swallow every later event.
        assert accepted and p.last == "5"
        assert p.accept("message", "6", "{}", "relay")


def test_stated_position_prefers_last_id_and_refuses_garbage() -> None:
    assert stated_position('{"last_id": 7}', "9") == "7"
    for data in ("not json", "[1]", '{"last_id": "7"}', '{"last_id": true}', "[" * 5000):
        assert stated_position(data, "9") == "9"
        assert stated_position(data, None) is None
    assert stated_position('{"last_id": -1}', "9") is None
    assert stated_position("{}", "²") is None


def test_relay_messages_round_trip_and_garbage_is_refused() -> None:
    assert parse_relay(relay_message("message", "{}", "3")) == ("message", "{}", "3")
    for bad in (None, "x", [], {"type": "m", "data": "{}"}, {"type": 1, "data": "", "id": ""}):
        assert parse_relay(bad) is None
