"""Formatting helpers (pure): statuses, times, event descriptions, indicator text.

Everything returns plain strings; the DOM layer renders them as text nodes. Every word
shown comes from the string catalogue (:func:`zariz.ui.i18n.t`, keys in
``zariz.ui.locales.shell``), so each helper speaks the current locale: Hebrew month
names, a 24-hour clock.

Values that come from users (names, phones, addresses, notes) go through
:func:`display_text` before they are shown: bidi control characters are removed (a
U+202E in a phone number makes ``+972`` read ``279+``), other control characters become
spaces, lone surrogates become U+FFFD, and text longer than its limit is cut with an
ellipsis (rows written by other systems are not length-capped). :func:`display_title`
gives the longer cleaned value for a ``title`` tooltip when the text was cut.

>>> display_text("\\u202e+972-50-123-4567")
'+972-50-123-4567'
>>> display_text("x" * 500, limit=5), display_title("x" * 8, limit=5)
('xxxx…', 'xxxxxxxx')

>>> ago(75)
'1 min ago'
>>> describe_event("order.status_changed",
...     {"id": 7, "status": "delivered", "previous_status": "picked_up"}).title
'Order #7 delivered'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from zariz.sse.normalize import parse_json
from zariz.ui.i18n import t

# --- user-supplied text ---------------------------------------------------------------
BIDI_CONTROLS = (
    "\u061c"  # ARABIC LETTER MARK
    "\u200e\u200f"  # LRM, RLM
    "\u202a\u202b\u202c\u202d\u202e"  # LRE, RLE, PDF, LRO, RLO
    "\u2066\u2067\u2068\u2069"  # LRI, RLI, FSI, PDI
)
"""Removed from displayed values: each cell is isolated by the DOM (``dir``) and CSS
instead, so a value can neither reorder itself nor leak an override into its neighbours.
"""
ELLIPSIS = "…"
# The display limits are the API's own caps (server/orders.py), so a value the API
# accepted is never cut; only rows written by other systems are. CSS clamps the lines.
CUSTOMER_LIMIT = 200
PHONE_LIMIT = 50
ADDRESS_LIMIT = 300
NOTES_LIMIT = 1000
NAME_LIMIT = 100  # courier names, the signed-in user
LABEL_LIMIT = 80  # event names, statuses, ids: things that are short when they are sane
DEFAULT_LIMIT = CUSTOMER_LIMIT
TITLE_LIMIT = 1000
"""A tooltip holds the value up to the longest API cap (notes), not megabytes."""

# Bidi controls go; C0/C1 controls and line/paragraph separators become spaces (a cell
# shows one flowing line); lone surrogates (JSON "\ud800" escapes) become U+FFFD.
_UNSAFE = re.compile(
    "[" + BIDI_CONTROLS + "\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]"
)
_BIDI = frozenset(BIDI_CONTROLS)
_JOINERS = frozenset("\u200d\ufe0e\ufe0f")  # ZWJ, variation selectors


def _replace_unsafe(match: re.Match[str]) -> str:
    char = match.group()
    if char in _BIDI:
        return ""
    return "\ufffd" if "\ud800" <= char <= "\udfff" else " "


def clean_text(value: Any) -> str:
    """``value`` as text safe to show: ``""`` for ``None``, bidi controls removed, other
    control characters as spaces, lone surrogates as U+FFFD. Never raises.

    >>> clean_text("Dana\\u202e Levi\\x00"), clean_text(None), clean_text(7)
    ('Dana Levi ', '', '7')
    """
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = str(value)
        except (ValueError, RecursionError):  # a huge int, a deep structure
            text = f"<{type(value).__name__}>"
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_replace_unsafe, text)


def _cut(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, ending with an ellipsis when cut; never
    splits a base character from its combining marks or a ZWJ sequence."""
    limit = max(1, limit)
    if len(text) <= limit:
        return text
    end = limit - 1
    while end > 0 and (
        unicodedata.combining(text[end]) or text[end] in _JOINERS or text[end - 1] in _JOINERS
    ):
        end -= 1
    return text[:end].rstrip() + ELLIPSIS


def _clean_prefix(value: Any, limit: int) -> str:
    """:func:`clean_text` of enough of ``value`` to tell whether it exceeds ``limit``
    (more than ``limit`` characters, or all of it): megabytes are not cleaned to show a
    few hundred characters. Cleaning is per character, so chunks can be cleaned apart."""
    if not isinstance(value, str) or len(value) <= 2 * limit + 64:
        return clean_text(value)
    chunk = 2 * limit + 64
    parts: list[str] = []
    size = pos = 0
    while pos < len(value) and size <= limit:  # more chunks only while controls shrink it
        part = clean_text(value[pos : pos + chunk])
        parts.append(part)
        size += len(part)
        pos += chunk
    return "".join(parts)


def display_text(value: Any, limit: int = DEFAULT_LIMIT) -> str:
    """What a cell shows for a user-supplied ``value``: :func:`clean_text`, cut to at
    most ``limit`` characters (the last one an ellipsis). Pure; never raises.

    >>> display_text("  Herzl 1  "), display_text("ab\\u2067cd", limit=3)
    ('  Herzl 1  ', 'ab…')
    """
    return _cut(_clean_prefix(value, limit), limit)


def display_title(value: Any, limit: int = DEFAULT_LIMIT) -> str | None:
    """The ``title`` (tooltip) for a value :func:`display_text` cut: the cleaned value up
    to :data:`TITLE_LIMIT` characters (or ``limit`` if larger). ``None`` when nothing was
    cut (no redundant tooltip).

    >>> display_title("short"), display_title("long value", limit=4)
    (None, 'long value')
    """
    title_limit = max(limit, TITLE_LIMIT)
    text = _clean_prefix(value, title_limit)
    if len(text) <= limit:
        return None
    return _cut(text, title_limit)


def display_phone(value: Any) -> str:
    """A phone number for display (show it in a ``dir="ltr"`` element: a number reads
    left to right in an RTL page too).

    >>> display_phone("\\u202e+972-50-123-4567\\u202c")
    '+972-50-123-4567'
    """
    return display_text(value, PHONE_LIMIT)


STATUS_LABELS: dict[str, str] = {
    "new": "New",
    "assigned": "Assigned",
    "picked_up": "Picked up",
    "delivered": "Delivered",
    "cancelled": "Cancelled",
}
"""The known statuses (English names for reference; views show :func:`status_label`,
which reads ``status.<name>`` from the catalogue in the current locale)."""


def status_label(status: Any) -> str:
    """``"picked_up"`` -> ``"Picked up"`` (``"נאספה"`` in Hebrew); an unknown status is
    shown as cleaned text, a missing one as ``—``.

    >>> status_label("picked_up"), status_label("on_the_moon"), status_label(None)
    ('Picked up', 'on_the_moon', '—')
    """
    if isinstance(status, str) and status in STATUS_LABELS:
        return t(f"status.{status}")
    return display_text(status, LABEL_LIMIT) if status else t("common.none")


def order_ref(order_id: Any) -> str:
    return f"#{display_text(order_id, LABEL_LIMIT)}"


def ago(seconds: float) -> str:
    """``4`` -> ``"4s ago"``; under a second is ``"just now"``."""
    s = max(0, int(seconds))
    if s < 1:
        return t("time.just_now")
    if s < 60:
        return t("time.ago.s", n=s)
    if s < 3600:
        return t("time.ago.min", n=s // 60)
    if s < 86400:
        return t("time.ago.h", n=s // 3600)
    return t("time.ago.d", n=s // 86400)


def countdown(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = max(0, round(seconds))
    return t("time.retry_now") if s == 0 else t("time.retry_in", n=s)


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from ISO-8601 text or epoch seconds/milliseconds."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            secs = value / 1000 if value > 1e11 else value
            return datetime.fromtimestamp(secs, UTC)
        except (OverflowError, OSError, ValueError):  # 10**400 / 1000 overflows too
            return None
    if isinstance(value, str) and value:
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return None


# --- time zones ------------------------------------------------------------------------
ZONE_STEP_MS = 15 * 60_000
"""Every real zone changes its offset on a quarter hour of UTC (whole hours, half hours,
Nepal's and the Chatham Islands' quarters), so one offset holds for a whole 15-minute
bucket of UTC: a zone asks the platform once per bucket."""


class Zone(Protocol):
    """The viewer's time zone: the offset from UTC (minutes east) in force at an instant.
    Each instant is shown with ITS offset (an order from before a daylight-saving change
    keeps its own), "today" with now's. See :class:`ProbedZone`, :class:`FixedZone`."""

    def offset_min(self, epoch_ms: float) -> int:
        """Minutes east of UTC at ``epoch_ms``; may raise ``ValueError`` or
        ``OverflowError`` for an instant without one (NaN, infinite, out of range)."""
        ...


class ProbedZone:
    """A :class:`Zone` read from ``probe(epoch_ms) -> minutes east`` (in the browser
    ``Date``'s ``getTimezoneOffset``, see ``zariz.ui.dom.time_zone``), asked once per
    :data:`ZONE_STEP_MS` bucket of UTC; at most ``cache_max`` buckets are kept.

    >>> jerusalem = ProbedZone(lambda ms: 180 if ms < 1792882800000 else 120)
    >>> jerusalem.offset_min(1792882800000 - 1), jerusalem.offset_min(1792882800000)
    (180, 120)
    """

    __slots__ = ("_cache", "_cache_max", "_probe")

    def __init__(self, probe: Callable[[float], float], *, cache_max: int = 2048) -> None:
        self._probe = probe
        self._cache: dict[int, int] = {}
        self._cache_max = max(1, cache_max)

    def offset_min(self, epoch_ms: float) -> int:
        bucket = int(epoch_ms // ZONE_STEP_MS)  # NaN: ValueError; infinity: OverflowError
        offset = self._cache.get(bucket)
        if offset is None:
            offset = round(self._probe(bucket * ZONE_STEP_MS))  # a NaN answer: ValueError
            if len(self._cache) >= self._cache_max:
                self._cache.clear()
            self._cache[bucket] = offset
        return offset


@dataclass(frozen=True)
class FixedZone:
    """A :class:`Zone` whose offset never changes (UTC, tests, a default).

    >>> FixedZone(120).offset_min(0)
    120
    """

    minutes: int

    def offset_min(self, epoch_ms: float) -> int:
        return self.minutes


UTC_ZONE = FixedZone(0)


def local_time(dt: datetime, zone: Zone) -> tuple[datetime, int]:
    """``dt`` as the wall clock in ``zone`` (naive fields in an aware UTC datetime) and
    the offset it was shifted by: the offset in force at ``dt`` itself. Raises
    ``OverflowError``/``ValueError`` at the edges of datetime's range."""
    utc = dt.astimezone(UTC)
    offset = zone.offset_min((utc - _EPOCH) / _ONE_MS)
    return utc + timedelta(minutes=offset), offset


def local_day(now_ms: float, zone: Zone) -> date:
    """Today in ``zone`` at ``now_ms`` (its offset at that instant). Raises like
    :func:`local_time`."""
    offset = zone.offset_min(now_ms)
    return (datetime.fromtimestamp(now_ms / 1000, UTC) + timedelta(minutes=offset)).date()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def format_clock(value: Any, *, now_ms: float, zone: Zone = UTC_ZONE) -> str:
    """``14:05`` for today, ``12 Mar 14:05`` otherwise (``12 במרץ 14:05`` in Hebrew), in
    the viewer's ``zone`` (the offset in force at that time; "today" is now's local day),
    on a 24-hour clock.

    >>> format_clock("2026-03-12T14:05:00Z", now_ms=0, zone=FixedZone(120))
    '12 Mar 16:05'
    """
    dt = parse_time(value)
    if dt is None:
        return t("common.none")
    try:
        # Year 1 or 9999 plus an offset leaves datetime's range: OverflowError.
        local, _offset = local_time(dt, zone)
        today = local_day(now_ms, zone)
    except (OverflowError, OSError, ValueError):
        return t("common.none")
    clock = f"{local.hour:02d}:{local.minute:02d}"  # not strftime: %b follows the C locale
    if local.date() == today:
        return clock
    return t("time.day_month", day=local.day, month=t(f"time.month.{local.month}"), time=clock)


@dataclass(frozen=True)
class EventText:
    title: str
    body: str
    kind: str  # toast kind
    label: str  # short verb for summaries ("created", "status changes"), in the locale
    # The same verb as a stable code ("created", "status"): to count kinds by, whatever
    # the language (``event.label.<code>`` in the catalogue is ``label``).
    code: str = ""


def _known_courier(courier_id: Any, couriers: Mapping[Any, Any] | None) -> str | None:
    try:
        known = couriers.get(courier_id) if couriers else None
    except TypeError:  # the unhashable id of a hostile event ({"courier_id": [1]})
        known = None
    return None if known is None else display_text(known, NAME_LIMIT)


def courier_label(courier_id: Any, couriers: Mapping[Any, Any] | None) -> str | None:
    """The courier's name for a table cell (``#id`` when the name is unknown), cleaned and
    cut; ``None`` when there is no courier. Never raises (``couriers.get(courier_id)``
    does, for an unhashable id).

    >>> courier_label(2, {2: "Avi"}), courier_label(9, {}), courier_label([1], {1: "Avi"})
    ('Avi', '#9', '#[1]')
    """
    if courier_id is None:
        return None
    return _known_courier(courier_id, couriers) or f"#{display_text(courier_id, LABEL_LIMIT)}"


def _courier_name(courier_id: Any, couriers: Mapping[Any, str] | None) -> str:
    if courier_id is None:
        return t("event.courier.any")
    known = _known_courier(courier_id, couriers)
    return known or t("event.courier.id", id=display_text(courier_id, LABEL_LIMIT))


def describe_event(name: str, data: Any, couriers: Mapping[Any, str] | None = None) -> EventText:
    """Toast and feed text for one event (user values cleaned and cut, see
    :func:`display_text`)."""
    d: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
    ref = order_ref(d.get("id", "?"))
    who = display_text(d.get("customer") or "", CUSTOMER_LIMIT)
    where = display_text(d.get("address") or "", ADDRESS_LIMIT)
    detail = " · ".join(x for x in (who, where) if x)
    if name == "order.created":
        return EventText(t("event.created.title", ref=ref), detail, "success",
                         t("event.label.created"), "created")
    if name == "order.assigned":
        courier = _courier_name(d.get("courier_id"), couriers)
        return EventText(t("event.assigned.title", ref=ref),
                         t("event.assigned.body", courier=courier), "info",
                         t("event.label.assigned"), "assigned")
    if name == "order.status_changed":
        status = d.get("status") or ""
        prev = d.get("previous_status")
        body = (
            t("event.transition", before=status_label(prev), after=status_label(status))
            if prev else detail
        )
        kind = "warning" if status == "cancelled" else "info"
        return EventText(
            t("event.status.title", ref=ref, status=status_label(status).lower()), body, kind,
            t("event.label.status"), "status",
        )
    if name == "order.deleted":
        return EventText(t("event.deleted.title", ref=ref), detail, "warning",
                         t("event.label.deleted"), "deleted")
    if name == "order.updated":
        return EventText(t("event.updated.title", ref=ref), detail, "info",
                         t("event.label.edits"), "edits")
    if name == "reset":
        return EventText(t("event.reset.title"), t("event.reset.body"), "warning",
                         t("event.label.resets"), "resets")
    return EventText(display_text(name, LABEL_LIMIT), "", "info", t("event.label.events"),
                     "events")


PHASES = ("connecting", "live", "reconnecting", "offline", "idle")
"""What the indicator says (its ``data-phase``): the first connect (neutral), live,
reconnecting after a failure or a drop, offline (no network, or the client gave up). See
:mod:`zariz.ui.liveness`."""
_PHASE_OF_STATUS = {"connected": "live", "connecting": "connecting", "disconnected": "offline"}
WAITING_TEXTS = {"connection": "conn.detail.waiting_connection"}
"""The client's ``waiting_for`` codes and their catalogue keys."""


def indicator(
    status: str, *, since_last_s: float | None, retry_in_s: float | None,
    via_other_tab: bool = False, waiting_for: str | None = None, phase: str | None = None,
    network: bool = True,
) -> tuple[str, str]:
    """Label and detail of the connection indicator. ``phase`` (see :data:`PHASES`)
    defaults to the one ``status`` implies; ``via_other_tab``: this tab follows the stream
    another tab holds (one stream per browser); ``network``: the browser says it is online.

    >>> indicator("connected", since_last_s=None, retry_in_s=None, via_other_tab=True)
    ('Live', 'via another tab · no events yet')
    >>> indicator("connecting", since_last_s=9, retry_in_s=4.2, phase="reconnecting")
    ('Reconnecting', 'retry in 4s')
    """
    if phase not in PHASES:
        phase = _PHASE_OF_STATUS.get(status)
    label = t(f"conn.phase.{phase}") if phase else display_text(status, LABEL_LIMIT)
    waiting = WAITING_TEXTS.get(waiting_for or "")
    if status == "connected":
        if since_last_s is None:
            detail = t("conn.detail.no_events")
        else:
            detail = t("conn.detail.last_event", ago=ago(since_last_s))
        if via_other_tab:
            detail = t("conn.detail.via_tab", detail=detail)
    elif status == "connecting" and waiting:
        detail = t(waiting)
    elif phase == "idle":
        detail = t("conn.detail.idle")
    elif retry_in_s is not None:
        detail = countdown(retry_in_s)
    elif status == "connecting":
        detail = t("conn.detail.opening")
    elif not network:
        detail = t("conn.detail.no_network")
    else:
        detail = t("conn.detail.click")
    return label, detail


__all__ = [
    "ADDRESS_LIMIT",
    "BIDI_CONTROLS",
    "CUSTOMER_LIMIT",
    "DEFAULT_LIMIT",
    "ELLIPSIS",
    "LABEL_LIMIT",
    "NAME_LIMIT",
    "NOTES_LIMIT",
    "PHASES",
    "PHONE_LIMIT",
    "STATUS_LABELS",
    "TITLE_LIMIT",
    "UTC_ZONE",
    "ZONE_STEP_MS",
    "EventText",
    "FixedZone",
    "ProbedZone",
    "Zone",
    "ago",
    "clean_text",
    "countdown",
    "courier_label",
    "describe_event",
    "display_phone",
    "display_text",
    "display_title",
    "error_message",
    "field_errors",
    "format_clock",
    "indicator",
    "local_day",
    "local_time",
    "order_ref",
    "parse_time",
    "status_label",
    "token_subject",
]


_FIELD_TEXTS = {"missing": "field.required", "string_too_long": "field.too_long"}


def _field_message(item: Mapping[str, Any]) -> str:
    """One pydantic error in the operator's words (and language) when its ``type`` is a
    known one, else the server's message."""
    kind = item.get("type")
    raw_ctx = item.get("ctx")
    ctx: Mapping[str, Any] = raw_ctx if isinstance(raw_ctx, Mapping) else {}
    if kind == "string_too_short":
        least = ctx.get("min_length")
        if isinstance(least, int) and not isinstance(least, bool) and least > 1:
            return t("field.too_short", n=least)
        return t("field.required")
    key = _FIELD_TEXTS.get(kind) if isinstance(kind, str) else None
    if key == "field.too_long":
        most = ctx.get("max_length")
        if isinstance(most, int) and not isinstance(most, bool):
            return t(key, n=most)
    elif key is not None:
        return t(key)
    msg = display_text(item.get("msg") or "", NOTES_LIMIT)
    # A server-side validator's own sentence ("Value error, not an Israeli number").
    msg = msg.removeprefix("Value error, ")
    return msg or t("field.invalid")


def field_errors(details: Any) -> dict[str, str]:
    """``{"customer": "Required"}`` from pydantic's error list (the ``details`` of a 422
    ``validation_error``): known error types in the current language, others as the
    server said them.

    >>> field_errors([{"type": "missing", "loc": ["body", "phone"], "msg": "Field required"}])
    {'phone': 'Required'}
    """
    out: dict[str, str] = {}
    if not isinstance(details, list):
        return out
    for item in details:
        if not isinstance(item, Mapping):
            continue
        loc = item.get("loc")
        name = str(loc[-1]) if isinstance(loc, list | tuple) and loc else ""
        if name and name not in out:
            out[name] = _field_message(item)
    return out


ERROR_KEYS: dict[str, str] = {
    "invalid_transition": "error.code.invalid_transition",
    "not_found": "error.code.not_found",
    "unknown_courier": "error.code.unknown_courier",
    "courier_inactive": "error.code.courier_inactive",
    "payload_too_large": "error.code.payload_too_large",
}
"""The server's error codes the UI words itself (the codes are the API's contract; their
messages are English for API clients). Others show the server's message."""


def error_message(exc: BaseException) -> str:
    """One line for a failed request: the server's message, or what went wrong."""
    status = getattr(exc, "status", None)
    message = getattr(exc, "message", None)
    code = getattr(exc, "code", None)
    details = getattr(exc, "details", None)
    if isinstance(code, str) and code in ERROR_KEYS:
        # A known refusal in the viewer's language (the server's text is English).
        params = details if isinstance(details, dict) else {}
        return t(ERROR_KEYS[code], **{
            "from": status_label(params.get("from")), "to": status_label(params.get("to")),
        })
    if isinstance(status, int) and message:
        # The server may echo what was sent (a 10,000-character value, a bidi override).
        text = display_text(message, NOTES_LIMIT)
        return t("error.not_allowed", text=text) if status == 409 else text
    name = type(exc).__name__
    if name == "NetworkError":
        return t("error.network")
    return t("error.unexpected", name=name)


def token_subject(token: str | None) -> str | None:
    """The ``sub`` claim of a JWT, for the user menu (display only: never trusted for
    anything, the server checks the signature)."""
    import base64

    if not token or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = parse_json(raw.decode("utf-8"))  # depth-guarded, unlike json.loads
    except (ValueError, UnicodeDecodeError):
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    if not isinstance(sub, str):
        return None
    return display_text(sub, NAME_LIMIT) or None
