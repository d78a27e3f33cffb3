"""The created cell's texts of a new row: formatted once per second of creation, not per
row (at hundreds of new orders a second they were most of a row's Python), and always the
same texts as formatting the order's own time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from zariz.ui.format import FixedZone, format_clock
from zariz.ui.i18n import locale_as
from zariz.ui.order_time import age_text, full_time

from tests.support.browserless import browser_stand_ins


@pytest.fixture
def order_rows() -> Iterator[Any]:
    """``zariz.ui.pages.order_rows`` imported over stand-ins for the browser modules (its
    DOM layer is never called here); every module this imports is dropped afterwards."""
    with browser_stand_ins():
        import zariz.ui.pages.order_rows as module

        yield module


class Ctx:
    def __init__(self, tz: int, now: float) -> None:
        self.zone = FixedZone(tz)
        self.now = now

    def now_ms(self) -> float:
        return self.now


NOW = 1795773600000.0  # 2026-11-27 06:40 UTC
CREATED: list[Any] = [
    "2026-11-27T06:39:59.999999Z", "2026-11-27T06:40:00Z", "2026-11-27T06:40:00.5+02:00",
    "2026-11-26T23:59:59.9", "2026-11-27T00:00:00", "2020-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z", "1969-12-31T23:59:59.5Z", "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999Z", "not a date", "", None, True, 0, 1.5, 1795773599,
    1795773599123, 10**11, 10**11 + 1, 10**400, -5, float("nan"),
]


def test_a_rows_times_read_as_formatting_its_own_time_once_per_second(
    order_rows: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for loc in ("en", "he"):
        with locale_as(loc):
            for tz in (0, 120, -300, 330, 14 * 60, -12 * 60):
                for now in (NOW, NOW - 6 * 3600_000 - 1, 86_400_000 * 3 - 1):
                    for created in CREATED:
                        expected = (
                            full_time(created, zone=FixedZone(tz)),
                            format_clock(created, now_ms=now, zone=FixedZone(tz)),
                            age_text(created, now_ms=now),
                        )
                        got = order_rows.order_times(Ctx(tz, now), created, now)
                        assert got == expected, (loc, tz, now, created)
                        assert order_rows.order_times(Ctx(tz, now), created) == expected
    # A burst: 500 orders created within one second format the clock texts once.
    calls: list[Any] = []

    def counted(*args: Any, **kwargs: Any) -> str:
        calls.append(args)
        return full_time(*args, **kwargs)

    monkeypatch.setattr(order_rows, "full_time", counted)
    ctx = Ctx(120, NOW)
    shown = {order_rows.order_times(ctx, f"2026-11-27T10:00:07.{i:06d}Z", NOW)
             for i in range(0, 1_000_000, 2000)}
    assert shown == {("27 Nov 2026, 12:00:07 (UTC+2)", "12:00", "now")}
    assert len(calls) == 1
