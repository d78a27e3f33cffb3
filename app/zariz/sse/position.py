"""The client's place in the server's event log, and the rules every received event obeys.

Every event has one global, increasing id. Whatever delivers it — this tab's stream, a
relay from another tab, a replay after a reconnect — the same :meth:`Position.accept`
decides whether it is new (dispatch it, move forward) or a duplicate (drop it):

* An event whose id is at or below ours was delivered already. A default (``message``)
  event is then a duplicate, dropped. Named events (``ping`` and custom names) pass either
  way: a ping carries the id *in force* (the browser's ``lastEventId``), not its own.
* A newer id moves us forward, whoever delivered it.
* Only a position the server accepts back as ``Last-Event-ID`` (ASCII digits, at most 18)
  is ever ours: an id like ``"²"``, ``"-3"`` or a 100-digit number is passed to
  subscribers but moves nothing — else the next reconnect would be refused (400) again
  and again, or one huge id would swallow every later event as a "duplicate".
* ``position`` (it opens every stream: where it continues) and ``reset`` (our id means
  nothing to the server's log) state our position outright, and only **our own stream**
  speaks for it: they are adopted even when lower than ours (a wiped database starts again
  at 1). Another tab's, relayed, would move us without the events in between (or take us
  back and replay what we had), so a relayed one moves nothing.

>>> p = Position()
>>> p.accept("position", "41", '{"last_id": 41}', "source"), p.last
(True, '41')
>>> p.accept("message", "42", "{}", "relay"), p.accept("message", "42", "{}", "source")
(True, False)
>>> p.accept("reset", "3", '{"last_id": 3}', "relay"), p.last
(True, '42')
"""

from __future__ import annotations

from typing import Any

from zariz.sse.normalize import DEFAULT_EVENT_TYPE, event_id, parse_json, payload_position
from zariz.types import Origin

POSITION_EVENTS = frozenset({"position", "reset"})
"""Named events by which our own stream states our position (see the module doc)."""


def as_position(value: str | None) -> int | None:
    """``value`` as a log position, or None when it cannot be one (the server's
    ``Last-Event-ID`` rule: :func:`zariz.sse.normalize.event_id`).

    >>> as_position("42"), as_position("²"), as_position("-3"), as_position("9" * 19)
    (42, None, None, None)
    """
    canonical = event_id(value)
    return None if canonical is None else int(canonical)


def stated_position(data: str, ev_id: str | None) -> str | None:
    """The position a ``position``/``reset`` frame states: ``last_id`` from its JSON data
    (parsed depth-guarded: in Pyodide thousands of levels are a fatal JS stack overflow,
    not a RecursionError), else its SSE id; None when it states none."""
    stated = payload_position(data)
    if stated is not None:
        return stated
    parsed = parse_json(data) if isinstance(data, str) else None
    last_id = parsed.get("last_id") if isinstance(parsed, dict) else None
    if isinstance(last_id, int) and not isinstance(last_id, bool):
        return None  # it names a position, and not one we could use (-1, 10**30)
    return event_id(ev_id)


class Position:
    """The newest event id this client has dispatched (or was told by its stream)."""

    # ``last`` as given (a str), and as a number: every event compares against it, and
    # parsing it again per event was a third of the cost of ``accept`` (profiled in Pyodide).
    __slots__ = ("_last", "_n")

    def __init__(self, last: str | None = None) -> None:
        self.last = last

    @property
    def last(self) -> str | None:
        return self._last

    @last.setter
    def last(self, value: str | None) -> None:
        self._last = value
        self._n = as_position(value)

    def is_newer(self, ev_id: str) -> bool:
        """Is ``ev_id`` a position past ours? (False for an id that is no position.)"""
        new = as_position(ev_id)
        if new is None:
            return False
        return self._n is None or new > self._n

    def accept(
        self, sse_type: str, ev_id: str | None, data: str, origin: Origin,
        *, relay_is_our_stream: bool = False,
    ) -> bool:
        """Apply one raw event's id to the position; False when it is a duplicate that
        must not reach subscribers.

        ``relay_is_our_stream``: this tab follows the leader tab's stream (it has none of
        its own), so the leader's ``reset`` speaks for us too (a wiped log: adopted even
        when lower), and its ``position`` when it is ahead of ours (never back: after a
        hand-over the new leader may resume one below what we already have)."""
        sse_type = sse_type or DEFAULT_EVENT_TYPE
        if sse_type in POSITION_EVENTS:
            stated = stated_position(data, ev_id) if (
                origin == "source" or relay_is_our_stream
            ) else None
            if stated is not None and (
                origin == "source" or sse_type == "reset" or self.is_newer(stated)
            ):
                self.last = stated
            return True
        canonical = event_id(ev_id)
        if canonical is None:
            return True  # no id, or one that names no position: nothing to judge it by
        new = int(canonical)
        if self._n is None or new > self._n:
            self._last, self._n = canonical, new
            return True
        return sse_type != DEFAULT_EVENT_TYPE


def parse_relay(message: Any) -> tuple[str, str, str] | None:
    """A relay message from another tab as ``(type, data, id)``; None when malformed.

    >>> parse_relay({"type": "message", "data": "{}", "id": "7"})
    ('message', '{}', '7')
    >>> parse_relay({"type": "message", "data": 1, "id": "7"}) is None
    True
    """
    if not isinstance(message, dict):
        return None
    sse_type, data, ev_id = message.get("type"), message.get("data"), message.get("id")
    if isinstance(sse_type, str) and isinstance(data, str) and isinstance(ev_id, str):
        return sse_type, data, ev_id
    return None


def relay_message(sse_type: str, data: str, ev_id: str) -> dict[str, str]:
    """What a leader posts for one event (the inverse of :func:`parse_relay`)."""
    return {"type": sse_type, "data": data, "id": ev_id}


__all__ = [
    "POSITION_EVENTS",
    "Position",
    "as_position",
    "parse_relay",
    "relay_message",
    "stated_position",
]
