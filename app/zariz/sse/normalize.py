"""Turn one raw SSE event into the ``{event, data}`` shape every subscriber sees.

The rule every consumer of the stream relies on, written for Python values: the backend
publishes ``{"type": ..., "data": ..., "ts": ...}`` on the default ``message`` event, so

* JSON object with a truthy ``event`` or ``type`` -> ``event = raw.get("event") or
  raw.get("type")`` (as ``str``), ``data = raw["data"]`` when present and not ``None``,
  else the whole object;
* anything else -> ``event = "unknown"``, ``data`` = the parsed JSON, or the text itself
  when it is not JSON.

Named SSE events (``event: ping``, ``event: reset``) never reach ``onmessage`` in a browser,
so they arrive here with their own ``type``: for them ``event`` is that name and ``data`` the
parsed JSON (or text). :func:`normalize` never raises, whatever the payload.

Hostile input: ``data`` nested deeper than :data:`MAX_JSON_DEPTH` is treated as
text without calling ``json.loads`` -- in Pyodide a few thousand levels overflow the
*JavaScript* stack, a fatal error for the whole interpreter rather than a
``RecursionError``. An ``id`` is a position in the server's event log: only what the
server accepts back as ``Last-Event-ID`` (:func:`event_id`) counts; anything else
(``"abc"``, ``"-1"``, ``"²"``, ``" 7"``, ``"1_0"``, 100 digits) is dropped from the event,
as the client's position rules ignore it (:mod:`zariz.sse.position`).
"""

from __future__ import annotations

import json
import json.scanner
import re
from itertools import accumulate
from typing import Any

from zariz.types import Origin, SSEEvent, make_event

DEFAULT_EVENT_TYPE = "message"
UNKNOWN = "unknown"

# ``json.loads`` raises ValueError for bad JSON and for huge integers (int max str digits),
# RecursionError for absurdly deep nesting. Nothing else is expected from a ``str`` input,
# so these are the only ones we catch (no bare except).
_PARSE_ERRORS = (ValueError, RecursionError)

MAX_JSON_DEPTH = 64
"""Deeper ``data`` is not parsed. The server's events nest 3 levels; CPython raises
``RecursionError`` near 1,000 but the Pyodide we ship (Python 3.14) dies of "Maximum call
stack size exceeded" between 5,000 and 10,000 levels (measured), a fatal error that stops
the whole app."""

MAX_ID_DIGITS = 18
"""The server takes back as ``Last-Event-ID`` only 1-18 ASCII digits (server/sse.py)."""

# A JSON string (escapes included; an unterminated one runs to the end: linear, no
# backtracking), so brackets inside text do not count as nesting.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET_BYTES = bytes(b for b in range(256) if b not in b"[]{}")
_CANONICAL_ID = re.compile(f"[0-9]{{1,{MAX_ID_DIGITS}}}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}.__getitem__
_DEPTH_CHUNK = 1 << 16


_NOT_JSON = object()

# ``json.loads`` is three Python-level calls (``loads`` -> ``decode`` -> ``raw_decode``, plus
# two whitespace regex matches) around one C scan; in Pyodide those wrappers cost more than
# the scan of a 300-byte event (profiled: bench/RESULTS.md). The C scanner of a default
# decoder is what ``json.loads`` runs: called directly, it gives the same value for text that
# is one JSON value from the first to the last character; anything else (whitespace around
# it, trailing garbage, a BOM, not JSON at all) goes through ``json.loads`` for its exact
# verdict.
_scan_once = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Does ``text`` open more than ``limit`` nested arrays/objects (outside strings)?

    Cheap for everything the server sends: fewer opening brackets than ``limit`` cannot
    nest deeper, and that count runs in C. Only bracket-heavy text gets the exact scan,
    which stops at the first level past ``limit``.

    >>> json_depth_exceeds("[" * 65 + "]" * 65), json_depth_exceeds('["[[[[", {"a": [1]}]', 3)
    (True, False)
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    # Strings out, then every byte but the four brackets (UTF-8 never hides ASCII inside
    # a multi-byte sequence); bytes.translate(delete=) runs in C, a regex per comma not.
    outside = _JSON_STRING.sub("", text).encode("utf-8", "surrogatepass")
    brackets = outside.translate(None, _NOT_BRACKET_BYTES)
    depth = 0
    # Running depth in C (accumulate over a map), chunked so a deep prefix stops early.
    for start in range(0, len(brackets), _DEPTH_CHUNK):
        levels = list(accumulate(map(_STEP, brackets[start : start + _DEPTH_CHUNK]),
                                 initial=depth))
        if max(levels) > limit:
            return True
        depth = levels[-1]
    return False


def parse_json(text: str) -> Any:
    """``json.loads`` that returns a sentinel instead of raising (see ``_PARSE_ERRORS``)
    and never parses text nested deeper than :data:`MAX_JSON_DEPTH`.

    >>> parse_json('{"a": 1}'), parse_json("[" * 100) is parse_json("nope")
    ({'a': 1}, True)
    """
    if not isinstance(text, str) or json_depth_exceeds(text):
        return _NOT_JSON
    try:
        value, end = _scan_once(text, 0)
        if end == len(text):
            return value
    except StopIteration:
        pass
    except _PARSE_ERRORS:
        return _NOT_JSON
    try:
        return json.loads(text)
    except _PARSE_ERRORS:
        return _NOT_JSON


def is_json(value: Any) -> bool:
    """False for :func:`parse_json`'s "not JSON" sentinel."""
    return value is not _NOT_JSON


def event_id(value: Any) -> str | None:
    """The canonical form of an SSE ``id`` as a log position, or ``None`` when it is none.

    Accepted: what the server takes back as ``Last-Event-ID``, 1-18 ASCII digits (leading
    zeros dropped), or a non-negative ``int`` (not ``bool``) of at most 18 digits.
    ``str.isdigit`` is not the test: ``"²"`` passes it and breaks ``int()``; ``int()`` is
    not the test either: it takes ``" 7"``, ``"+7"``, ``"1_0"`` and ``"٧"``.

    >>> [event_id(v) for v in ("42", "007", "", "-1", "²", " 7", "1_0", "9" * 19, True, 5)]
    ['42', '7', None, None, None, None, None, None, None, '5']
    """
    if type(value) is str:  # the hot path: every event's id (a str subclass: below)
        # ``isascii() and isdigit()`` is ``[0-9]+`` (only ASCII digits are both), in C.
        if 0 < len(value) <= MAX_ID_DIGITS and value.isascii() and value.isdigit():
            return value if value[0] != "0" or len(value) == 1 else str(int(value))
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)  # negative: "-" fails the pattern
    if not isinstance(value, str) or not _CANONICAL_ID.fullmatch(value):
        return None
    return str(int(value))


def payload_position(data: Any) -> str | None:
    """The ``last_id`` of a ``reset``/``position`` payload (``{"last_id": N}``, a JSON
    integer) as a canonical id, or ``None`` when the payload does not carry a usable one.
    Parsed with :func:`parse_json` (depth-guarded), never ``json.loads``.

    >>> payload_position('{"last_id": 12}'), payload_position('{"last_id": true}')
    ('12', None)
    >>> payload_position("[" * 100_000), payload_position('{"last_id": 10e30}')
    (None, None)
    >>> payload_position('{"last_id": "12"}'), payload_position('{"last_id": -1}')
    (None, None)
    """
    parsed = parse_json(data) if isinstance(data, str) else _NOT_JSON
    last_id = parsed.get("last_id") if isinstance(parsed, dict) else None
    return event_id(last_id) if isinstance(last_id, int) else None


def _event_name(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except (ValueError, RecursionError):  # pragma: no cover - str() of JSON values is safe
        return UNKNOWN


_canonical_id = event_id


def normalize(
    sse_type: str,
    data: str,
    event_id: str | None,
    received_at: float,
    origin: Origin = "source",
) -> SSEEvent:
    """Normalize one raw event; never raises.

    ``sse_type`` is the SSE event name (``"message"`` for the default event), ``data`` the
    text of its ``data:`` lines, ``event_id`` its id (``""``/``None`` when absent; kept
    only in the canonical form of :func:`event_id`), ``received_at`` the wall-clock time
    in ms.

    >>> normalize("message", "not json", None, 1.0).to_dict()
    {'event': 'unknown', 'data': 'not json', 'id': None, 'received_at': 1.0}
    >>> normalize("ping", '{"ts": 5}', None, 1.0).event
    'ping'
    """
    text = data if isinstance(data, str) else _event_name(data)
    parsed = parse_json(text)
    value: Any = text if parsed is _NOT_JSON else parsed
    ev_id = _canonical_id(event_id)
    if sse_type and sse_type != DEFAULT_EVENT_TYPE:
        return make_event(_event_name(sse_type), value, ev_id, received_at, text, origin)
    if isinstance(parsed, dict):
        name = parsed.get("event") or parsed.get("type")
        if name:
            payload = parsed.get("data")
            if payload is None:
                payload = parsed
            if not isinstance(name, str):
                name = _event_name(name)
            return make_event(name, payload, ev_id, received_at, text, origin)
    return make_event(UNKNOWN, value, ev_id, received_at, text, origin)


__all__ = [
    "DEFAULT_EVENT_TYPE",
    "MAX_ID_DIGITS",
    "MAX_JSON_DEPTH",
    "UNKNOWN",
    "SSEEvent",
    "event_id",
    "is_json",
    "json_depth_exceeds",
    "normalize",
    "parse_json",
    "payload_position",
]
