"""An order's age ("12 min") and its full local time (the tooltip), in both languages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from zariz.ui.format import FixedZone
from zariz.ui.i18n import locale_as
from zariz.ui.order_time import age_text, full_time, zone_label

CREATED = "2026-11-27T10:00:00Z"
AT = datetime(2026, 11, 27, 10, 0, tzinfo=UTC).timestamp() * 1000


@pytest.mark.parametrize(("seconds", "en", "he"), [
    (0, "now", "עכשיו"),
    (59, "now", "עכשיו"),
    (-300, "now", "עכשיו"),  # a server clock ahead of this one
    (60, "1 min", "דקה"),
    (12 * 60 + 30, "12 min", "12 דק׳"),
    (3600, "1 h", "שעה"),
    (2 * 3600, "2 h", "שעתיים"),
    (5 * 3600 + 59 * 60, "5 h", "5 שע׳"),
    (86400, "1 d", "יום"),
    (3 * 86400, "3 d", "3 ימים"),
])
def test_age_in_both_languages(seconds: int, en: str, he: str) -> None:
    with locale_as("en"):
        assert age_text(CREATED, now_ms=AT + seconds * 1000) == en
    with locale_as("he"):
        assert age_text(CREATED, now_ms=AT + seconds * 1000) == he


def test_the_full_time_is_local_readable_and_names_its_zone() -> None:
    with locale_as("en"):
        assert full_time("2026-11-27T22:30:05Z", zone=FixedZone(120)) == (
            "28 Nov 2026, 00:30:05 (UTC+2)")
        assert full_time("2026-11-27T22:30:05Z", zone=FixedZone(-330)) == (
            "27 Nov 2026, 17:00:05 (UTC-5:30)")
    with locale_as("he"):
        assert full_time("2026-11-27T22:30:05Z", zone=FixedZone(120)) == (
            "28 בנוב׳ 2026, 00:30:05 (UTC+2)")
    assert zone_label(0) == "UTC+0" and zone_label(180) == "UTC+3"


@pytest.mark.parametrize("value", [
    None, "", "not a date", True, [1], {"a": 1}, float("nan"), float("inf"), 10**400,
    "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
])
def test_no_value_ever_raises(value: Any) -> None:
    for tz in (0, 840, -720):
        assert isinstance(full_time(value, zone=FixedZone(tz)), str)
    assert isinstance(age_text(value, now_ms=AT), str)
    assert isinstance(age_text(CREATED, now_ms=float("nan")), str)
