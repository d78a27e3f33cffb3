"""The toast policy: stack, auto-dismiss, burst summary, the on-screen limit, muting and
the bell's list of recent events."""

from __future__ import annotations

import pytest
from zariz.ui.i18n import locale_as
from zariz.ui.toasts import OWN_TTL, ToastModel, count_text


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def model(**kw: object) -> tuple[ToastModel, Clock]:
    clock = Clock()
    return ToastModel(now=clock, **kw), clock  # type: ignore[arg-type]


def test_toasts_stack_and_auto_dismiss() -> None:
    m, clock = model(ttl=5.0, error_ttl=8.0)
    m.notify("New order #1", key=1)
    clock.t = 1
    m.show("Could not save", kind="error")
    assert [t.title for t in m.toasts] == ["New order #1", "Could not save"]
    assert m.next_expiry() == pytest.approx(4.0)
    clock.t = 5.5
    assert m.expire()
    assert [t.title for t in m.toasts] == ["Could not save"]
    clock.t = 9.5
    assert m.expire() and m.toasts == [] and m.next_expiry() is None
    assert not m.expire()


def test_dismiss_and_max_visible() -> None:
    m, clock = model(max_visible=3, burst_limit=100, event_limit=100)
    ids = [m.notify(f"t{i}").id for i in range(5)]
    assert [t.id for t in m.toasts] == ids[2:]  # oldest dropped
    assert m.dismiss(ids[3]) and not m.dismiss(ids[3])
    assert len(m.toasts) == 2


def test_a_burst_of_500_events_makes_one_summary_toast() -> None:
    m, clock = model(burst_limit=5, burst_window=1.0)
    for i in range(500):
        clock.t = i / 500  # 500 events within one second
        label = "created" if i % 2 else "status changes"
        m.notify(f"Order #{i}", key=i % 37, label=label)
    assert len(m.toasts) == 1
    summary = m.toasts[0]
    assert summary.summary and summary.events == 500
    assert summary.title == "37 orders updated"
    assert summary.body == "250 status changes, 250 created"


def test_a_hostile_key_is_counted_as_no_key() -> None:
    m, clock = model(event_limit=1)
    m.notify("Order #[1] updated", key=[1])  # type: ignore[arg-type]
    m.notify("Order #{} updated", key={"a": 1})  # type: ignore[arg-type]
    assert [t.title for t in m.toasts] == ["2 orders updated"]


def test_the_summary_lives_on_after_the_burst_then_single_toasts_return() -> None:
    m, clock = model(burst_limit=2, burst_window=1.0, ttl=5.0)
    for i in range(10):
        clock.t = i * 0.05
        m.notify("x", key=i)
    assert [t.title for t in m.toasts] == ["10 orders updated"]
    clock.t = 3.0  # quiet: a lone event gets its own toast, the summary stays
    m.notify("New order #99", key=99)
    assert [t.title for t in m.toasts] == ["10 orders updated", "New order #99"]
    clock.t = 10
    m.expire()
    assert m.toasts == []


def test_show_is_never_folded_and_kinds_are_checked() -> None:
    m, clock = model(burst_limit=1)
    for _ in range(5):
        m.show("Saved", kind="success")
    assert len(m.toasts) == 5
    with pytest.raises(ValueError):
        m.show("?", kind="loud")
    with pytest.raises(ValueError):
        ToastModel(now=clock, max_visible=0)
    with pytest.raises(ValueError):
        ToastModel(now=clock, event_limit=0)
    with pytest.raises(ValueError):
        m.notify("?", kind="loud")
    m.clear()
    assert m.toasts == []


def test_steady_traffic_never_keeps_more_than_the_limit_on_screen() -> None:
    # Demo traffic: an event every 2 s, each toast living 5 s. Without the limit three
    # toasts would be on screen over the work most of the time.
    m, clock = model(ttl=5.0, event_limit=2)
    seen = []
    for i in range(30):
        clock.t = i * 2.0
        m.expire()
        m.notify(f"Order #{i} assigned", key=i, label="assigned")
        seen.append(len(m.toasts))
    assert max(seen) <= 2
    summary = next(t for t in m.toasts if t.summary)
    assert summary.title.endswith("orders updated") and "assigned" in summary.body


def test_the_limit_folds_the_toasts_showing_into_one_summary() -> None:
    m, clock = model(event_limit=2, burst_limit=100)
    m.notify("New order #1", key=1, label="created")
    clock.t = 2
    m.notify("Order #1 assigned", key=1, label="assigned")
    clock.t = 4
    m.notify("New order #2", key=2, label="created")
    assert [t.title for t in m.toasts] == ["2 orders updated"]
    assert m.toasts[0].body == "2 created, 1 assigned"
    assert m.toasts[0].events == 3
    assert m.toasts[0].latest == "Latest: New order #2"  # what just happened stays readable
    # User-facing messages are never folded or counted against the limit.
    m.show("Could not save", kind="error")
    clock.t = 6
    m.notify("New order #3", key=3, label="created")
    assert [t.title for t in m.toasts] == ["2 orders updated", "Could not save", "New order #3"]


def test_muted_events_are_listed_but_make_no_toast_and_no_unread() -> None:
    m, clock = model()
    m.notify("New order #1", key=1)
    assert m.unread == 1 and len(m.toasts) == 1
    m.set_muted(True)
    assert m.toasts == []  # others' toasts on screen go with the switch
    assert m.notify("Order #2 assigned", "to Avi", key=2, at_ms=1_000.0) is None
    assert m.toasts == [] and m.unread == 1
    latest = m.history[0]
    assert (latest.title, latest.body, latest.muted, latest.at_ms) == (
        "Order #2 assigned", "to Avi", True, 1_000.0
    )
    m.set_muted(False)
    assert m.notify("Order #3 assigned", key=3) is not None and m.unread == 2


def test_the_viewers_own_changes_still_toast_while_muted() -> None:
    m, clock = model()
    m.set_muted(True)
    m.mark_own(7)
    assert m.notify("Order #7 assigned", key=7) is not None
    assert m.notify("Order #8 assigned", key=8) is None
    assert m.notify("Order #9 deleted", key=9, own=True) is not None
    clock.t = OWN_TTL + 1  # the mark is for the moment of the change, not for good
    assert m.notify("Order #7 delivered", key=7) is None
    # A hostile id (unhashable) is someone else's, never a crash.
    m.mark_own([1])  # type: ignore[arg-type]
    assert m.notify("Order #? updated", key=[1]) is None  # type: ignore[arg-type]
    assert not m.is_own({"id": 1})  # type: ignore[arg-type]


def test_the_recent_list_is_newest_first_capped_and_read_when_opened() -> None:
    m, clock = model(history=3, burst_limit=100, event_limit=100)
    for i in range(5):
        m.notify(f"e{i}", key=i)
    assert [e.title for e in m.history] == ["e4", "e3", "e2"]
    assert m.unread == 5
    version = m.history_version
    m.mark_read()
    assert m.unread == 0 and m.history_version > version
    m.mark_read()
    assert m.history_version == version + 1  # nothing new: no re-render
    m.clear_history()
    assert list(m.history) == [] and m.unread == 0


def test_summaries_speak_the_locale() -> None:
    with locale_as("he"):
        m, clock = model(event_limit=1)
        m.notify("a", key=1, label="created")
        m.notify("b", key=2, label="status")
        assert m.toasts[0].title == "2 הזמנות עודכנו"
        assert m.toasts[0].body == "1 נוצרה, 1 שינוי סטטוס"
    assert count_text("status", 2) == "2 status changes"
    assert count_text("teleported", 2) == "2 teleported"  # an unknown kind as it came
