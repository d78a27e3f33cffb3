"""What the connection indicator and the stale banner say, and the shared formatters in
Hebrew (every string from the catalogue, none missing)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from zariz.platform import NetworkError
from zariz.ui import i18n
from zariz.ui.format import (
    PHASES,
    FixedZone,
    ago,
    countdown,
    describe_event,
    error_message,
    field_errors,
    format_clock,
    indicator,
    parse_time,
    status_label,
)
from zariz.ui.liveness import CATCH_UP_FALLBACK_S, FIRST_CONNECT_S, GRACE_S, Liveness
from zariz.ui.routes import NOT_FOUND, ROUTES


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def now(self) -> float:
        return self.t

    def wall_ms(self) -> float:
        return 1_773_324_300_000 + self.t * 1000  # 2026-03-12 14:05 UTC at t=0


def tracker(status: str = "connected", caught_up: bool = True) -> tuple[Liveness, Clock]:
    clock = Clock()
    return Liveness(clock.now, clock.wall_ms, status=status, caught_up=caught_up), clock


# --- the indicator's phase ---------------------------------------------------------------


def test_the_first_connect_is_neutral_until_an_attempt_fails() -> None:
    live, clock = tracker("connecting", caught_up=False)
    assert live.phase("connecting", failed=False) == "connecting"
    assert live.phase("connecting", failed=True) == "reconnecting"


def test_the_first_connect_is_neutral_for_five_seconds_at_most() -> None:
    """Regression: the pill said "Connecting…" for 20 s while the server was down."""
    live, clock = tracker("connecting", caught_up=False)
    clock.t += FIRST_CONNECT_S - 0.1
    assert live.phase("connecting", failed=False) == "connecting"
    clock.t += 0.2
    assert live.phase("connecting", failed=False) == "reconnecting"


def test_after_a_drop_it_says_reconnecting_or_offline() -> None:
    live, clock = tracker()
    assert live.phase("connected", failed=False) == "live"
    live.observe("connecting", False)
    assert live.phase("connecting", failed=False) == "reconnecting"
    live.observe("disconnected", False)
    assert live.phase("disconnected", failed=False) == "offline"
    assert live.phase("something else", failed=False) == "offline"


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        (dict(status="connecting", phase="reconnecting", retry_in_s=4.4),
         ("Reconnecting", "retry in 4s")),
        (dict(status="connecting", phase="reconnecting", retry_in_s=None),
         ("Reconnecting", "opening stream")),
        (dict(status="connecting", phase="connecting", retry_in_s=None),
         ("Connecting…", "opening stream")),
        (dict(status="disconnected", phase="offline", retry_in_s=None, network=False),
         ("Offline", "no network")),
        (dict(status="disconnected", phase="offline", retry_in_s=None),
         ("Offline", "click to reconnect")),
        (dict(status="connected", phase="live", retry_in_s=None, since_last_s=75),
         ("Live", "last event 1 min ago")),
    ],
)
def test_indicator_text_per_phase(kw: dict[str, object], expected: tuple[str, str]) -> None:
    kw.setdefault("since_last_s", None)
    assert indicator(**kw) == expected  # type: ignore[arg-type]


# --- the stale banner ----------------------------------------------------------------------


def test_the_banner_shows_after_the_grace_with_the_time_the_data_stopped_being_live() -> None:
    live, clock = tracker()
    assert live.banner_as_of() is None and live.banner_in() is None
    dropped_at = clock.wall_ms()
    live.observe("connecting", False)
    clock.t += GRACE_S - 0.1
    assert live.banner_as_of() is None, "a blip shows nothing"
    clock.t += 0.2
    assert live.banner_as_of() == dropped_at
    clock.t += 60
    live.observe("connecting", False)
    assert live.banner_as_of() == dropped_at, "as of the drop, not of the last look"
    assert format_clock(dropped_at, now_ms=clock.wall_ms(), zone=FixedZone(120)) == "16:06"


def test_the_banner_stays_until_the_stream_is_back_and_caught_up() -> None:
    live, clock = tracker()
    live.observe("disconnected", False)
    clock.t += 10
    as_of = live.banner_as_of()
    assert as_of is not None
    live.observe("connected", False)  # open, but the replay has not been stated yet
    assert live.banner_as_of() == as_of and not live.live
    assert live.phase("connected", failed=False) == "live"
    live.observe("connected", True)
    assert live.banner_as_of() is None and live.live


def test_a_stream_that_never_says_it_caught_up_counts_as_live_after_a_while() -> None:
    live, clock = tracker()
    live.observe("connecting", False)
    clock.t += 5
    live.observe("connected", False)
    clock.t += CATCH_UP_FALLBACK_S
    live.observe("connected", False)
    assert live.live


def test_a_short_reconnect_shows_no_banner() -> None:
    live, clock = tracker()
    live.observe("connecting", False)
    clock.t += 0.3
    live.observe("connected", False)
    clock.t += 0.1
    live.observe("connected", True)
    clock.t += 10
    assert live.banner_as_of() is None


def test_a_tab_that_was_never_live_shows_the_banner_after_the_first_connect_window() -> None:
    live, clock = tracker("connecting", caught_up=False)
    mounted_at = clock.wall_ms()
    clock.t += GRACE_S + 0.1
    assert live.banner_as_of() is None, "the first connect gets its five seconds"
    clock.t = 100.0 + FIRST_CONNECT_S
    assert live.banner_as_of() == mounted_at


# --- Hebrew --------------------------------------------------------------------------------


@pytest.fixture
def hebrew() -> Iterator[None]:
    i18n.clear_missing()
    with i18n.locale_as("he"):
        yield
    assert not i18n.MISSING, sorted(i18n.MISSING)


def test_statuses_times_and_dates_in_hebrew(hebrew: None) -> None:
    assert [status_label(s) for s in ("new", "assigned", "picked_up", "delivered",
                                      "cancelled")] == ["חדשה", "שובצה", "נאספה", "נמסרה", "בוטלה"]
    assert status_label(None) == "—"
    assert ago(0.2) == "עכשיו" and ago(120) == "לפני 2 דק׳"
    assert countdown(0) == "מנסה שוב עכשיו" and countdown(7.4) == "ניסיון נוסף בעוד 7 שנ׳"
    iso = "2026-03-12T14:05:09Z"
    now = parse_time(iso).timestamp() * 1000  # type: ignore[union-attr]
    assert format_clock(iso, now_ms=now, zone=FixedZone(120)) == "16:05"  # 24-hour clock
    assert format_clock(iso, now_ms=now + 3 * 86400_000, zone=FixedZone(120)) == "12 במרץ 16:05"
    assert format_clock("2026-01-02T23:30:00Z", now_ms=now) == "2 בינו׳ 23:30"


def test_every_month_has_its_hebrew_name(hebrew: None) -> None:
    names = {format_clock(f"2026-{m:02d}-15T12:00:00Z", now_ms=0).split(" ")[1]
             for m in range(1, 13)}
    assert len(names) == 12 and all(n.startswith("ב") for n in names)


def test_event_descriptions_in_hebrew(hebrew: None) -> None:
    text = describe_event("order.status_changed",
                          {"id": 3, "status": "cancelled", "previous_status": "new"})
    assert (text.title, text.body, text.code) == ("הזמנה #3 בוטלה", "חדשה ← בוטלה", "status")
    assert describe_event("order.assigned", {"id": 3, "courier_id": 2}, {2: "אבי"}).body == (
        "ל־אבי")
    for name in ("order.created", "order.assigned", "order.deleted", "order.updated",
                 "reset", "weird"):
        assert describe_event(name, {"id": 1}).label


def test_the_indicator_in_hebrew(hebrew: None) -> None:
    for phase in PHASES:
        for status in ("connected", "connecting", "disconnected"):
            for retry in (None, 3.0):
                label, detail = indicator(status, since_last_s=4, retry_in_s=retry,
                                          phase=phase, via_other_tab=True,
                                          waiting_for="connection", network=False)
                assert label and detail
    assert indicator("connected", since_last_s=None, retry_in_s=None)[0] == "מחובר"


def test_errors_and_titles_in_hebrew(hebrew: None) -> None:
    assert error_message(NetworkError("down")).startswith("אין תקשורת")
    assert error_message(KeyError("k")) == "משהו השתבש (KeyError)."
    assert field_errors([
        {"type": "missing", "loc": ["body", "phone"], "msg": "Field required"},
        {"type": "string_too_long", "loc": ["body", "notes"], "msg": "x",
         "ctx": {"max_length": 1000}},
        {"type": "string_too_short", "loc": ["body", "customer"], "msg": "x",
         "ctx": {"min_length": 1}},
    ]) == {"phone": "שדה חובה", "notes": "עד 1000 תווים", "customer": "שדה חובה"}
    assert [r.title for r in (*ROUTES, NOT_FOUND)] == [
        "כניסה", "סקירה", "הזמנות", "שליחים", "לא נמצא"]


def test_english_field_errors_keep_a_validators_own_sentence() -> None:
    assert field_errors([{"type": "value_error", "loc": ["body", "phone"],
                          "msg": "Value error, not an Israeli phone number"}]) == {
        "phone": "not an Israeli phone number"}
    assert field_errors([{"type": "string_too_short", "loc": ["body", "name"], "msg": "x",
                          "ctx": {"min_length": 3}}]) == {"name": "At least 3 characters"}
    assert field_errors([{"loc": ["body", "name"], "msg": ""}]) == {"name": "invalid"}
