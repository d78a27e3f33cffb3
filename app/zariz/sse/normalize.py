"""Turn one raw SSE event into the ``{event, data}`` shape every subscriber sees.

The rule is ticket 29's, written for Python values: the backend publishes
``{"type": ..., "data": ..., "ts": ...}`` on the default ``message`` event, so

* JSON object with a truthy ``event`` or ``type`` -> ``event = raw.get("event") or
  raw.get("type")`` (as ``str``), ``data = raw["data"]`` when present and not ``None``,
  else the whole object;
* anything else -> ``event = "unknown"``, ``data`` = the parsed JSON, or the text itself
  when it is not JSON.

Named SSE events (``event: ping``, ``event: reset``) never reach ``onmessage`` in a browser,
so they arrive here with their own ``type``: for them ``event`` is that name and ``data`` the
parsed JSON (or text). :func:`normalize` never raises, whatever the payload.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from zariz.types import Origin

DEFAULT_EVENT_TYPE = "message"
UNKNOWN = "unknown"

# ``json.loads`` raises ValueError for bad JSON and for huge integers (int max str digits),
# RecursionError for absurdly deep nesting. Nothing else is expected from a ``str`` input,
# so these are the only ones we catch (no bare except).
_PARSE_ERRORS = (ValueError, RecursionError)


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One normalized event, as handed to subscribers.

    >>> ev = normalize("message", '{"type": "order.created", "data": {"id": 1}}', "7", 0.0)
    >>> (ev.event, ev.data, ev.id)
    ('order.created', {'id': 1}, '7')
    """

    event: str
    data: Any
    id: str | None
    received_at: float
    raw: str
    origin: Origin = "source"

    def to_dict(self) -> dict[str, Any]:
        """The ticket's public shape: ``{"event", "data", "id", "received_at"}``."""
        return {
            "event": self.event,
            "data": self.data,
            "id": self.id,
            "received_at": self.received_at,
        }


_NOT_JSON = object()


def parse_json(text: str) -> Any:
    """``json.loads`` that returns a sentinel instead of raising (see ``_PARSE_ERRORS``)."""
    try:
        return json.loads(text)
    except _PARSE_ERRORS:
        return _NOT_JSON


def _event_name(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except (ValueError, RecursionError):  # pragma: no cover - str() of JSON values is safe
        return UNKNOWN


def normalize(
    sse_type: str,
    data: str,
    event_id: str | None,
    received_at: float,
    origin: Origin = "source",
) -> SSEEvent:
    """Normalize one raw event; never raises.

    ``sse_type`` is the SSE event name (``"message"`` for the default event), ``data`` the
    text of its ``data:`` lines, ``event_id`` its id (``""``/``None`` when absent),
    ``received_at`` the wall-clock time in ms.

    >>> normalize("message", "not json", None, 1.0).to_dict()
    {'event': 'unknown', 'data': 'not json', 'id': None, 'received_at': 1.0}
    >>> normalize("ping", '{"ts": 5}', None, 1.0).event
    'ping'
    """
    text = data if isinstance(data, str) else _event_name(data)
    parsed = parse_json(text)
    value: Any = text if parsed is _NOT_JSON else parsed
    ev_id = event_id or None
    if sse_type and sse_type != DEFAULT_EVENT_TYPE:
        return SSEEvent(_event_name(sse_type), value, ev_id, received_at, text, origin)
    if isinstance(parsed, dict):
        name = parsed.get("event") or parsed.get("type")
        if name:
            payload = parsed["data"] if parsed.get("data") is not None else parsed
            return SSEEvent(_event_name(name), payload, ev_id, received_at, text, origin)
    return SSEEvent(UNKNOWN, value, ev_id, received_at, text, origin)


__all__ = ["DEFAULT_EVENT_TYPE", "UNKNOWN", "SSEEvent", "normalize", "parse_json"]
