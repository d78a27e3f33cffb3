"""The client's place in the server's event log, and the rules every received event obeys.

Every event has one global, increasing id. Whatever delivers it — this tab's stream, a
relay from another tab, a replay after a reconnect — the same :meth:`Position.accept`
decides whether it is new (dispatch it, move forward) or a duplicate (drop it):

* An event whose id is at or below ours was delivered already. A default (``message``)
  event is then a duplicate, dropped. Named events (``ping`` and custom names) pass either
  way: a ping carries the id *in force* (the browser's ``lastEventId``), not its own.
  Ids that are not plain integers compare only for equality (the server never sends
  them; a foreign server might).
* A newer id moves us forward, whoever delivered it.
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

import json
from typing import Any

from zariz.types import Origin

DEFAULT_EVENT_TYPE = "message"
POSITION_EVENTS = frozenset({"position", "reset"})
"""Named events by which our own stream states our position (see the module doc)."""


def _as_int(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() else None


def stated_position(data: str, ev_id: str | None) -> str | None:
    """The position a ``position``/``reset`` frame states: ``last_id`` from its JSON data,
    else its SSE id; None when it states none."""
    try:
        payload: Any = json.loads(data)
    except (ValueError, RecursionError):
        payload = None
    last_id = payload.get("last_id") if isinstance(payload, dict) else None
    if isinstance(last_id, int) and not isinstance(last_id, bool) and last_id >= 0:
        return str(last_id)
    return ev_id or None


class Position:
    """The newest event id this client has dispatched (or was told by its stream)."""

    __slots__ = ("last",)

    def __init__(self, last: str | None = None) -> None:
        self.last = last

    def is_newer(self, ev_id: str) -> bool:
        """Is ``ev_id`` past ours? Unknown position: yes. Non-integers: unless equal."""
        last = self.last
        if last is None:
            return True
        if ev_id == last:
            return False
        new, old = _as_int(ev_id), _as_int(last)
        return new is None or old is None or new > old

    def accept(self, sse_type: str, ev_id: str | None, data: str, origin: Origin) -> bool:
        """Apply one raw event's id to the position; False when it is a duplicate that
        must not reach subscribers."""
        sse_type = sse_type or DEFAULT_EVENT_TYPE
        if sse_type in POSITION_EVENTS:
            if origin == "source":
                stated = stated_position(data, ev_id)
                if stated is not None:
                    self.last = stated
            return True
        if not ev_id:
            return True
        if self.is_newer(ev_id):
            self.last = ev_id
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
    "DEFAULT_EVENT_TYPE",
    "POSITION_EVENTS",
    "Position",
    "parse_relay",
    "relay_message",
    "stated_position",
]
