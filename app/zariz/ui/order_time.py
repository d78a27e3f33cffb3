"""An order's age and full time, as the orders table shows them (pure).

The table shows the clock time (:func:`zariz.ui.format.format_clock`) with the order's age
next to it (``12 min``), refreshed by the page's ticker, and the full local date and time
as the tooltip, in the operator's time zone (a :class:`~zariz.ui.format.Zone`: each time
with the offset in force at that time, named in the tooltip).

>>> from zariz.ui.i18n import locale_as
>>> with locale_as("en"):
...     age_text("2026-11-27T10:00:00Z", now_ms=1795773600000 + 12 * 60_000)
'12 min'
>>> from zariz.ui.format import FixedZone
>>> with locale_as("en"):
...     full_time("2026-11-27T10:00:05Z", zone=FixedZone(120))
'27 Nov 2026, 12:00:05 (UTC+2)'
"""

from __future__ import annotations

from typing import Any

from zariz.ui.format import UTC_ZONE, Zone, local_time, parse_time
from zariz.ui.i18n import t, tn


def age_text(value: Any, *, now_ms: float) -> str:
    """How long ago ``value`` (ISO-8601 or epoch) was: ``now`` under a minute (and for a
    time ahead of the clock), then minutes, hours, days; ``""`` when it is no time."""
    dt = parse_time(value)
    if dt is None:
        return ""
    try:
        seconds = now_ms / 1000 - dt.timestamp()
    except (OverflowError, OSError, ValueError):
        return ""
    if seconds != seconds or seconds < 60:  # NaN: a clock that is no number
        return t("orders.age.now")
    minutes = int(seconds // 60)
    if minutes < 60:
        return tn("orders.age.min", minutes)
    hours = minutes // 60
    if hours < 24:
        return tn("orders.age.hour", hours)
    return tn("orders.age.day", hours // 24)


def zone_label(tz_offset_min: int) -> str:
    """``UTC+2``, ``UTC-5``, ``UTC+5:30``."""
    sign = "+" if tz_offset_min >= 0 else "-"
    hours, minutes = divmod(abs(int(tz_offset_min)), 60)
    return f"UTC{sign}{hours}" + (f":{minutes:02d}" if minutes else "")


def full_time(value: Any, *, zone: Zone = UTC_ZONE) -> str:
    """The full local date and time of ``value`` in ``zone`` with the offset in force then
    (a tooltip: an October order in Jerusalem says UTC+3 after the clocks went back);
    ``""`` when it is no time."""
    dt = parse_time(value)
    if dt is None:
        return ""
    try:
        local, offset = local_time(dt, zone)
    except (OverflowError, OSError, ValueError):  # year 9999 plus an offset
        return ""
    return t(
        "orders.time.full",
        day=local.day,
        month=t(f"orders.month.{local.month}"),
        month_num=f"{local.month:02d}",
        year=local.year,
        time=f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}",
        zone=zone_label(offset),
    )


__all__ = ["age_text", "full_time", "zone_label"]
