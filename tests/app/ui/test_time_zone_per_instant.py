"""Each time the UI shows is in the offset in force at THAT time, not one offset read when
the tab started: Israel's clocks went back on 2026-10-25 (02:00 +3 -> 01:00 +2, i.e. at
2026-10-24T23:00Z), so an order from 2026-10-20T10:00Z reads 13:00 (UTC+3) in Jerusalem,
also when it is looked at in November (UTC+2). "Today" is the viewer's day now.

Checked for the clock (format_clock), the tooltip and its zone label (full_time, and the
orders table's per-second cache), the stale banner and the bell's list."""

from __future__ import annotations

import types
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from zariz.ui.format import ZONE_STEP_MS, FixedZone, ProbedZone, format_clock
from zariz.ui.i18n import locale_as
from zariz.ui.order_time import full_time

from tests.support.browserless import browser_stand_ins

SWITCH_MS = 1792882800000  # 2026-10-24T23:00:00Z: Jerusalem goes from UTC+3 to UTC+2


def ms(iso: str) -> float:
    return datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp() * 1000


def jerusalem() -> ProbedZone:
    """Asia/Jerusalem around the 2026 change, as the browser's ``getTimezoneOffset`` would
    report it (minutes east)."""
    return ProbedZone(lambda at: 180 if at < SWITCH_MS else 120)


BEFORE = "2026-10-20T10:00:00Z"  # 13:00 in Jerusalem (UTC+3)
AFTER = "2026-10-26T10:00:00Z"  # 12:00 in Jerusalem (UTC+2)
NOVEMBER = ms("2026-11-27T08:00:00")  # the operator looks at them in November


@pytest.fixture
def browserless() -> Iterator[Any]:
    """Modules that import the DOM layer, imported over stand-ins for the browser modules
    (their DOM parts are never called here); every module imported is dropped afterwards."""
    with browser_stand_ins():
        import zariz.ui.notifications as notifications
        import zariz.ui.pages.order_rows as order_rows
        import zariz.ui.shell as shell

        yield types.SimpleNamespace(notifications=notifications, order_rows=order_rows,
                                    shell=shell)


def test_the_clock_uses_each_times_own_offset_and_todays_day_now() -> None:
    zone = jerusalem()
    with locale_as("en"):
        assert format_clock(BEFORE, now_ms=NOVEMBER, zone=zone) == "20 Oct 13:00"
        assert format_clock(AFTER, now_ms=NOVEMBER, zone=zone) == "26 Oct 12:00"
        # Either side of the change, seen from either side of it.
        assert format_clock(BEFORE, now_ms=ms("2026-10-20T11:00:00"), zone=zone) == "13:00"
        assert format_clock(AFTER, now_ms=ms("2026-10-20T11:00:00"), zone=zone) == (
            "26 Oct 12:00")
        # The hour the clocks went back: 01:59:59 (+3), then 01:00 (+2).
        assert format_clock(SWITCH_MS - 1000, now_ms=NOVEMBER, zone=zone) == "25 Oct 01:59"
        assert format_clock(SWITCH_MS, now_ms=NOVEMBER, zone=zone) == "25 Oct 01:00"
        # "Today" is now's local day: 00:30 on 25 Oct (+3) is today at 23:30 on 25 Oct (+2)
        # (with its own +3 now would be 00:30 on the 26th: not today).
        assert format_clock("2026-10-24T21:30:00Z", now_ms=ms("2026-10-25T21:30:00"),
                            zone=zone) == "00:30"
    with locale_as("he"):
        assert format_clock(BEFORE, now_ms=NOVEMBER, zone=zone) == "20 באוק׳ 13:00"


def test_the_tooltip_names_the_offset_in_force_at_that_time() -> None:
    zone = jerusalem()
    with locale_as("en"):
        assert full_time(BEFORE, zone=zone) == "20 Oct 2026, 13:00:00 (UTC+3)"
        assert full_time(AFTER, zone=zone) == "26 Oct 2026, 12:00:00 (UTC+2)"
        assert full_time(SWITCH_MS - 1000, zone=zone) == "25 Oct 2026, 01:59:59 (UTC+3)"
        assert full_time(SWITCH_MS, zone=zone) == "25 Oct 2026, 01:00:00 (UTC+2)"


class Ctx:
    def __init__(self, zone: Any, now: float) -> None:
        self.zone = zone
        self.now = now

    def now_ms(self) -> float:
        return self.now


def test_the_orders_tables_created_cell_per_second_cache_keeps_each_offset(
    browserless: Any,
) -> None:
    order_times = browserless.order_rows.order_times
    ctx = Ctx(jerusalem(), NOVEMBER)
    with locale_as("en"):
        for _twice in range(2):  # the second pass reads the per-second cache
            assert order_times(ctx, BEFORE)[:2] == (
                "20 Oct 2026, 13:00:00 (UTC+3)", "20 Oct 13:00")
            assert order_times(ctx, AFTER)[:2] == (
                "26 Oct 2026, 12:00:00 (UTC+2)", "26 Oct 12:00")
            assert order_times(ctx, "2026-11-27T07:59:00.5Z")[:2] == (
                "27 Nov 2026, 09:59:00 (UTC+2)", "09:59")
        # A tab open across the change: the same rows read the same before and after it.
        early = Ctx(ctx.zone, ms("2026-10-24T22:00:00"))
        assert order_times(early, BEFORE)[0] == "20 Oct 2026, 13:00:00 (UTC+3)"
        assert order_times(early, "2026-10-24T23:30:00Z")[0] == (
            "25 Oct 2026, 01:30:00 (UTC+2)")


def test_the_stale_banner_says_the_local_time_the_data_stopped_being_live(
    browserless: Any,
) -> None:
    stale_text = browserless.shell.stale_text
    zone = jerusalem()
    with locale_as("en"):
        # The stream dropped at 01:50 (+3) and it is now 01:10 (+2), the same morning.
        assert stale_text(ms("2026-10-24T22:50:00"), now_ms=ms("2026-10-24T23:10:00"),
                          zone=zone) == "Not live — data as of 01:50"
        assert stale_text(ms("2026-10-24T23:05:00"), now_ms=ms("2026-10-24T23:10:00"),
                          zone=zone) == "Not live — data as of 01:05"
        assert stale_text(None, now_ms=NOVEMBER, zone=zone) is None


def test_the_bell_lists_each_event_at_its_own_local_time(browserless: Any) -> None:
    entry_clock = browserless.notifications.entry_clock
    zone = jerusalem()
    now = ms("2026-10-24T23:10:00")  # 01:10 (+2)
    with locale_as("en"):
        assert entry_clock(ms("2026-10-24T22:59:00"), now_ms=now, zone=zone) == "01:59"
        assert entry_clock(ms("2026-10-24T23:01:00"), now_ms=now, zone=zone) == "01:01"
        assert entry_clock(ms(BEFORE[:-1]), now_ms=now, zone=zone) == "20 Oct 13:00"
        assert entry_clock(None, now_ms=now, zone=zone) == ""


def test_a_zone_asks_the_platform_once_per_quarter_hour_and_keeps_a_bounded_cache() -> None:
    asked: list[float] = []

    def probe(at: float) -> float:
        asked.append(at)
        return 180 if at < SWITCH_MS else 120

    zone = ProbedZone(probe, cache_max=8)
    start = SWITCH_MS - ZONE_STEP_MS
    offsets = [zone.offset_min(start + i * 1000) for i in range(2 * ZONE_STEP_MS // 1000)]
    assert offsets == [180] * (ZONE_STEP_MS // 1000) + [120] * (ZONE_STEP_MS // 1000)
    assert asked == [start, SWITCH_MS], "one question per bucket, at the bucket's start"
    for i in range(100):
        zone.offset_min(SWITCH_MS + i * ZONE_STEP_MS)
    assert len(zone._cache) <= 8
    # An instant that is no instant, or a platform answer that is no number: an error the
    # formatters turn into "—", never an offset.
    for bad in (float("nan"), float("inf")):
        with pytest.raises((ValueError, OverflowError)):
            zone.offset_min(bad)
    with pytest.raises(ValueError):
        ProbedZone(lambda _at: float("nan")).offset_min(0)
    with locale_as("en"):
        assert format_clock(BEFORE, now_ms=NOVEMBER,
                            zone=ProbedZone(lambda _at: float("nan"))) == "—"
        assert full_time(BEFORE, zone=ProbedZone(lambda _at: float("nan"))) == ""
    assert FixedZone(120).offset_min(SWITCH_MS) == 120 and FixedZone(60) == FixedZone(60)
