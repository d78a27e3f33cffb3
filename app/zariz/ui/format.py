"""Formatting helpers (pure): statuses, times, event descriptions, indicator text.

Everything returns plain strings; the DOM layer renders them as text nodes.

>>> ago(75)
'1 min ago'
>>> describe_event("order.status_changed",
...     {"id": 7, "status": "delivered", "previous_status": "picked_up"}).title
'Order #7 delivered'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

STATUS_LABELS: dict[str, str] = {
    "new": "New",
    "assigned": "Assigned",
    "picked_up": "Picked up",
    "delivered": "Delivered",
    "cancelled": "Cancelled",
}
# The status machine (issue 2): new -> assigned -> picked_up -> delivered; cancelled from
# any non-final state. The status modal proposes the natural next step first.
NEXT_STATUS: dict[str, tuple[str, ...]] = {
    "new": ("cancelled",),
    "assigned": ("picked_up", "cancelled"),
    "picked_up": ("delivered", "cancelled"),
    "delivered": (),
    "cancelled": (),
}


def status_label(status: Any) -> str:
    return STATUS_LABELS.get(str(status), str(status or "—"))


def order_ref(order_id: Any) -> str:
    return f"#{order_id}"


def ago(seconds: float) -> str:
    """``4`` -> ``"4s ago"``; under a second is ``"just now"``."""
    s = max(0, int(seconds))
    if s < 1:
        return "just now"
    if s < 60:
        return f"{s}s ago"
    if s < 3600:
        return f"{s // 60} min ago"
    if s < 86400:
        return f"{s // 3600} h ago"
    return f"{s // 86400} d ago"


def countdown(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = max(0, round(seconds))
    return "retrying now" if s == 0 else f"retry in {s}s"


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from ISO-8601 text or epoch seconds/milliseconds."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        secs = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(secs, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value:
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return None


def format_clock(value: Any, *, now_ms: float, tz_offset_min: int = 0) -> str:
    """``14:05`` for today, ``12 Mar 14:05`` otherwise, in the viewer's zone
    (``tz_offset_min`` minutes east of UTC)."""
    dt = parse_time(value)
    if dt is None:
        return "—"
    zone = timedelta(minutes=tz_offset_min)
    local = dt.astimezone(UTC) + zone
    today = datetime.fromtimestamp(now_ms / 1000, UTC) + zone
    if local.date() == today.date():
        return local.strftime("%H:%M")
    return local.strftime("%d %b %H:%M").lstrip("0")


@dataclass(frozen=True)
class EventText:
    title: str
    body: str
    kind: str  # toast kind
    label: str  # short verb for summaries ("created", "status changes")


def _courier_name(courier_id: Any, couriers: Mapping[Any, str] | None) -> str:
    if courier_id is None:
        return "a courier"
    if couriers and courier_id in couriers:
        return couriers[courier_id]
    return f"courier {courier_id}"


def describe_event(name: str, data: Any, couriers: Mapping[Any, str] | None = None) -> EventText:
    """Toast and feed text for one event."""
    d: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
    ref = order_ref(d.get("id", "?"))
    who = str(d.get("customer") or "")
    where = str(d.get("address") or "")
    detail = " · ".join(x for x in (who, where) if x)
    if name == "order.created":
        return EventText(f"New order {ref}", detail, "success", "created")
    if name == "order.assigned":
        courier = _courier_name(d.get("courier_id"), couriers)
        return EventText(f"Order {ref} assigned", f"to {courier}", "info", "assigned")
    if name == "order.status_changed":
        status = str(d.get("status") or "")
        prev = d.get("previous_status")
        body = f"{status_label(prev)} → {status_label(status)}" if prev else detail
        kind = "warning" if status == "cancelled" else "info"
        return EventText(
            f"Order {ref} {status_label(status).lower()}", body, kind, "status changes"
        )
    if name == "order.deleted":
        return EventText(f"Order {ref} deleted", detail, "warning", "deleted")
    if name == "order.updated":
        return EventText(f"Order {ref} updated", detail, "info", "edits")
    if name == "reset":
        return EventText("Event stream reset", "reloading data", "warning", "resets")
    return EventText(name, "", "info", "events")


def indicator(
    status: str, *, since_last_s: float | None, retry_in_s: float | None
) -> tuple[str, str]:
    """Label and detail of the connection indicator."""
    label = {"connected": "Live", "connecting": "Connecting…", "disconnected": "Offline"}.get(
        status, status
    )
    if status == "connected":
        detail = "no events yet" if since_last_s is None else f"last event {ago(since_last_s)}"
    elif retry_in_s is not None:
        detail = countdown(retry_in_s)
    elif status == "connecting":
        detail = "opening stream"
    else:
        detail = "click to reconnect"
    return label, detail


__all__ = [
    "NEXT_STATUS",
    "STATUS_LABELS",
    "EventText",
    "ago",
    "countdown",
    "describe_event",
    "error_message",
    "field_errors",
    "format_clock",
    "indicator",
    "order_ref",
    "parse_time",
    "status_label",
    "token_subject",
]


def field_errors(details: Any) -> dict[str, str]:
    """``{"customer": "String should have at least 1 character"}`` from pydantic's error
    list (the ``details`` of a 422 ``validation_error``)."""
    out: dict[str, str] = {}
    if not isinstance(details, list):
        return out
    for item in details:
        if not isinstance(item, Mapping):
            continue
        loc = item.get("loc")
        name = str(loc[-1]) if isinstance(loc, list | tuple) and loc else ""
        msg = str(item.get("msg") or "invalid")
        if name and name not in out:
            out[name] = msg
    return out


def error_message(exc: BaseException) -> str:
    """One line for a failed request: the server's message, or what went wrong."""
    status = getattr(exc, "status", None)
    message = getattr(exc, "message", None)
    if isinstance(status, int) and message:
        if status == 409:
            return f"Not allowed: {message}"
        return str(message)
    name = type(exc).__name__
    if name == "NetworkError":
        return "The server could not be reached. Check the connection and try again."
    return f"Something went wrong ({name})."


def token_subject(token: str | None) -> str | None:
    """The ``sub`` claim of a JWT, for the user menu (display only: never trusted for
    anything, the server checks the signature)."""
    import base64
    import json

    if not token or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) and sub else None
