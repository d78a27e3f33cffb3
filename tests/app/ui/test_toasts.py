"""The toast policy: stack, auto-dismiss, burst summary."""

from __future__ import annotations

import pytest
from zariz.ui.toasts import ToastModel


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
    m, clock = model(max_visible=3, burst_limit=100)
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
    m.clear()
    assert m.toasts == []
