"""What an event folded into a live summary costs: a count, not a rebuild. At 500 events a
second the burst window holds hundreds of times and the summary is drawn once a frame; the
model used to filter the whole window and compose the summary's texts per event (most of
the notifications subscriber's time in the page, bench/RESULTS.md)."""

from __future__ import annotations

from typing import Any

import pytest
import zariz.ui.toasts as toasts
from zariz.ui.i18n import locale_as, tn
from zariz.ui.toasts import Describe, Summary, ToastModel


class CountingTime(float):
    """A clock reading that counts how often it is subtracted from (the window check)."""

    subtractions = 0

    def __sub__(self, other: float) -> float:  # type: ignore[override]
        CountingTime.subtractions += 1
        return float(self) - other


def burst(n: int, **kw: object) -> tuple[ToastModel, list[float]]:
    clock = [0.0]
    m = ToastModel(now=lambda: CountingTime(clock[0]), **kw)  # type: ignore[arg-type]
    for i in range(n):
        clock[0] = i / 500  # 500 events a second
        m.notify(f"New order #{i}", key=i, label="created")
    return m, clock


def test_an_event_in_a_long_burst_checks_the_window_once_not_per_time_in_it() -> None:
    m, clock = burst(400)  # 400 times within the one-second window
    CountingTime.subtractions = 0
    clock[0] = 400 / 500
    m.notify("New order #400", key=400, label="created")
    assert CountingTime.subtractions <= 4  # was one per time in the window (400)
    # The rule itself is kept when the clock steps back (times kept in order).
    for last, bursts in ((10.4, True), (10.6, False)):
        m = ToastModel(now=lambda: clock[0], burst_limit=3, event_limit=100)
        for t in (10.0, 9.5, 10.2, last):  # 9.5: a reading from before an adjustment
            clock[0] = t
            m.notify("e", key=t)
        # At 10.4 all four are within the second (a burst); at 10.6 9.5 has left it.
        assert [x.summary for x in m.toasts] == ([True] if bursts else [False] * 4), last


def test_the_summary_composes_its_texts_when_read_not_per_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[Any, ...]] = []
    real_tn = tn

    def counted(*args: Any, **kwargs: Any) -> str:
        calls.append(args)
        return real_tn(*args, **kwargs)

    monkeypatch.setattr(toasts, "tn", counted)
    m, _clock = burst(300)
    assert calls == []  # 300 events folded, nothing composed yet
    (summary,) = m.toasts
    assert isinstance(summary, Summary)
    assert (summary.title, summary.body, summary.latest) == (
        "300 orders updated", "300 created", "Latest: New order #299"
    )
    composed = len(calls)
    assert summary.title == "300 orders updated" and len(calls) == composed  # cached
    # Read between events, it shows each moment, in the locale it is read in.
    m.notify("Order #3 deleted", key=3, label="deleted")
    assert (summary.title, summary.body, summary.latest) == (
        "300 orders updated", "300 created, 1 deleted", "Latest: Order #3 deleted"
    )
    with locale_as("he"):
        m.notify("x", key=301, label="created")
        assert summary.title == "301 הזמנות עודכנו"


def test_the_next_expiry_is_given_on_the_models_clock_for_the_provider_to_keep_its_timer(
) -> None:
    # The provider keeps the timer it set while the next expiry only moves later (a burst
    # extends the summary every frame) instead of setting a new one per frame.
    m, clock = burst(10, burst_limit=2, ttl=5.0)
    first = m.next_expiry_at()
    assert first == pytest.approx(9 / 500 + 5.0)
    clock[0] = 0.5
    m.notify("New order #10", key=10, label="created")
    assert m.next_expiry_at() == pytest.approx(5.5) and m.next_expiry() == pytest.approx(5.0)
    m.show("Could not save", kind="error", ttl=1.0)  # an earlier one: the timer is set again
    assert m.next_expiry_at() == pytest.approx(1.5)


def test_an_events_texts_are_made_only_when_shown() -> None:
    made: list[int] = []

    def texts(i: int) -> Describe:
        def describe() -> tuple[str, str, str]:
            made.append(i)
            return f"New order #{i}", f"Customer {i}", "success"
        return describe

    clock = [0.0]
    m = ToastModel(now=lambda: clock[0], history=30)
    for i in range(300):
        clock[0] = i / 500
        m.notify_event(texts(i), key=i, label="created", at_ms=1000.0 + i)
    assert made == [0, 1]  # the first two toasts of their own; the rest only counted
    (summary,) = m.toasts
    assert summary.latest == "Latest: New order #299" and made[2:] == [299]
    assert m.unread == 300
    entries = list(m.history)  # the list read: the 30 it keeps are made, newest first
    assert [(e.title, e.body, e.kind, e.at_ms) for e in entries[:2]] == [
        ("New order #299", "Customer 299", "success", 1299.0),
        ("New order #298", "Customer 298", "success", 1298.0),
    ]
    assert len(entries) == 30 and sorted(made[3:]) == list(range(270, 300))
    assert list(m.history) == entries and len(made) == 33  # made once
    clock[0] = 5.0  # a lone event after a quiet spell: its own toast, texts made at once
    m.notify_event(texts(900), key=900, label="created")
    assert made[-1] == 900 and m.toasts[-1].title == "New order #900"
