"""``hold_lock`` and tab lifecycles on the fake platform: several tabs of one profile share a
lock manager, a channel bus and a virtual clock. Electing one leader tab per browser (one
stream shared by all tabs) stands on these semantics, so they are pinned here one by one
(the browser adapter is held to the same ones in tests/browser/test_locks_browser.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from zariz.platform import NetworkError, Platform
from zariz.platform.fake import (
    ChannelBus,
    FakeLockManager,
    FakePlatform,
    FakeRequest,
    VirtualClock,
)

LOCK = "zariz-sse-leader"


class Profile:
    """One browser profile: tabs share the lock manager, the channel bus, the clock."""

    def __init__(self) -> None:
        self.clock = VirtualClock()
        self.locks = FakeLockManager()
        self.bus = ChannelBus()
        self.calls: list[tuple[str, str]] = []  # (what, tab label), in delivery order
        self.tabs: list[FakePlatform] = []

    def tab(self, label: str, **kw: Any) -> FakePlatform:
        p = FakePlatform(clock=self.clock, lock_manager=self.locks, bus=self.bus,
                         label=label, **kw)
        self.tabs.append(p)
        return p

    def hold(self, p: FakePlatform, *, steal: bool = False, name: str = LOCK) -> Callable[[], None]:
        return p.hold_lock(
            name,
            lambda: self.calls.append(("acquired", p.label)),
            lambda: self.calls.append(("lost", p.label)),
            steal=steal,
        )

    def run(self) -> None:
        """Deliver every task that is due now (lock callbacks are tasks, never inline)."""
        self.clock.advance(0)

    def holder(self) -> str | None:
        tab = self.locks.holder(LOCK)
        return tab.label if tab is not None else None

    def waiting(self) -> list[str]:
        return [t.label for t in self.locks.waiting(LOCK)]


@pytest.fixture
def profile() -> Profile:
    return Profile()


def test_the_fake_still_satisfies_the_platform_protocol() -> None:
    assert isinstance(FakePlatform(), Platform)


def test_first_tab_acquires_second_waits_and_gets_it_when_the_first_releases(
    profile: Profile,
) -> None:
    a, b = profile.tab("A"), profile.tab("B")
    undo_a = profile.hold(a)
    undo_b = profile.hold(b)
    # Granted in the manager at once, but the tab hears it as a task: never from inside
    # hold_lock (a caller storing the undo first must not be surprised).
    assert profile.calls == [] and profile.holder() == "A" and profile.waiting() == ["B"]
    profile.run()
    assert profile.calls == [("acquired", "A")]
    assert a.live_proxies() == 1 and b.live_proxies() == 1  # the adapter's one per request
    undo_a()
    undo_a()  # idempotent
    assert a.live_proxies() == 0 and profile.holder() == "B"
    profile.run()
    assert profile.calls == [("acquired", "A"), ("acquired", "B")]
    undo_b()
    assert profile.holder() is None and b.live_proxies() == 0
    profile.run()
    assert profile.calls == [("acquired", "A"), ("acquired", "B")]  # no on_lost on undo


def test_closing_the_holders_tab_passes_the_lock_and_drops_its_queued_requests(
    profile: Profile,
) -> None:
    a, b, c = profile.tab("A"), profile.tab("B"), profile.tab("C")
    profile.hold(a)
    profile.hold(b)
    profile.hold(a, name="other")
    profile.hold(b, name="other")  # queued behind A on "other" too
    profile.hold(c)
    got: list[Any] = []
    a.open_channel("zariz-sse", got.append)
    profile.run()
    b.close_tab()  # a queued tab goes away: it is never granted anything
    a.close_tab()  # the holder goes away: the next in line gets it
    a.close_tab()
    assert profile.holder() == "C" and profile.waiting() == []
    assert profile.locks.holder("other") is None  # B's queued "other" request left with B
    profile.run()
    assert profile.calls == [("acquired", "A"), ("acquired", "A"), ("acquired", "C")]
    assert profile.bus.members == []  # A's channel closed with it
    assert a.closed and not c.closed
    # A dead tab hears nothing more and asks for nothing.
    profile.hold(a)
    profile.run()
    assert profile.holder() == "C" and profile.calls[-1] == ("acquired", "C")


def test_steal_deposes_the_holder_once_and_leaves_the_queue_alone(profile: Profile) -> None:
    a, b, c = profile.tab("A"), profile.tab("B"), profile.tab("C")
    undo_a = profile.hold(a)
    undo_b = profile.hold(b)
    profile.run()
    undo_c = profile.hold(c, steal=True)
    assert profile.holder() == "C" and profile.waiting() == ["B"]
    profile.run()
    # The stealer hears first (as in a browser): two tabs believe they lead for a moment.
    assert profile.calls == [("acquired", "A"), ("acquired", "C"), ("lost", "A")]
    assert a.live_proxies() == 0  # the request is over once on_lost returned
    undo_a()  # after on_lost: a no-op, and above all it does not release C's lock
    assert profile.holder() == "C"
    profile.hold(c, steal=True)  # a second steal: C's first request loses, A hears nothing
    profile.run()
    assert profile.calls.count(("lost", "A")) == 1
    assert profile.calls[-2:] == [("acquired", "C"), ("lost", "C")]
    undo_c()  # already lost: no-op
    assert profile.locks.count("steal") == 2 and profile.waiting() == ["B"]
    undo_b()
    profile.run()
    assert ("acquired", "B") not in profile.calls


def test_steal_when_free_is_granted_and_undo_before_delivery_gives_nothing_back(
    profile: Profile,
) -> None:
    a, b = profile.tab("A"), profile.tab("B")
    profile.hold(a, steal=True)
    profile.run()
    assert profile.calls == [("acquired", "A")]
    undo_b = profile.hold(b, steal=True)
    undo_b()  # changed its mind before the grant reached it: A stays deposed
    profile.run()
    assert profile.calls == [("acquired", "A"), ("lost", "A")]
    assert profile.holder() is None and b.live_proxies() == 0 and a.live_proxies() == 0


def test_undo_while_queued_withdraws_and_the_queue_moves_on(profile: Profile) -> None:
    a, b, c = profile.tab("A"), profile.tab("B"), profile.tab("C")
    undo_a = profile.hold(a)
    undo_b = profile.hold(b)
    profile.hold(c)
    profile.run()
    undo_b()
    assert profile.waiting() == ["C"] and b.live_proxies() == 0
    undo_a()
    profile.run()
    assert profile.calls == [("acquired", "A"), ("acquired", "C")]
    assert profile.locks.count("withdraw") == 1


def test_no_callback_after_undo_even_when_the_grant_or_the_loss_is_in_flight(
    profile: Profile,
) -> None:
    a, b, c = profile.tab("A"), profile.tab("B"), profile.tab("C")
    undo_a = profile.hold(a)
    undo_b = profile.hold(b)
    profile.hold(c)
    profile.run()
    undo_a()  # B is granted; its on_acquired is a task not run yet...
    undo_b()  # ...and B gives up before it runs: it never hears of the grant
    assert profile.holder() == "C"
    profile.run()
    assert profile.calls == [("acquired", "A"), ("acquired", "C")]
    assert a.live_proxies() == 0 and b.live_proxies() == 0


def test_an_undo_in_flight_silences_on_lost(profile: Profile) -> None:
    a, b = profile.tab("A"), profile.tab("B")
    undo_a = profile.hold(a)
    profile.run()
    profile.hold(b, steal=True)
    undo_a()  # before A's on_lost task ran
    profile.run()
    assert profile.calls == [("acquired", "A"), ("acquired", "B")]
    assert profile.holder() == "B" and a.live_proxies() == 0


def test_undo_from_inside_on_acquired_keeps_the_proxy_until_the_callback_returned(
    profile: Profile,
) -> None:
    a, b = profile.tab("A"), profile.tab("B")
    inside: list[int] = []
    undo: list[Callable[[], None]] = []

    def acquired() -> None:
        undo[0]()
        inside.append(a.live_proxies())  # the adapter never destroys a running proxy

    undo.append(a.hold_lock(LOCK, acquired, lambda: inside.append(-1)))
    profile.hold(b)
    profile.run()
    assert inside == [1] and a.live_proxies() == 0
    assert profile.calls == [("acquired", "B")]


def test_a_frozen_holder_hears_of_the_steal_only_when_thawed(profile: Profile) -> None:
    a, b = profile.tab("A"), profile.tab("B")
    got: list[Any] = []
    a.open_channel("zariz-sse", lambda m: got.append(("msg", m)))
    post_b, _close_b = b.open_channel("zariz-sse", lambda _m: None)
    profile.hold(a)
    profile.run()
    a.schedule(1.0, lambda: got.append(("timer", a.now())))
    a.freeze()
    post_b({"kind": "hello"})
    profile.hold(b, steal=True)
    profile.clock.advance(5)
    # B leads; A, frozen, neither heard of it nor ran its timer nor read the channel.
    assert profile.calls == [("acquired", "A"), ("acquired", "B")]
    assert got == [] and profile.holder() == "B"
    assert a.live_proxies() == 3  # channel + timer + lock request: nothing released yet
    post_b({"kind": "second"})
    a.thaw()
    # Everything arrives at thaw, in the order it was due/sent, at the time of the thaw.
    assert got == [("msg", {"kind": "hello"}), ("timer", 5.0), ("msg", {"kind": "second"})]
    assert profile.calls[-1] == ("lost", "A")
    assert a.live_proxies() == 1  # only the open channel


def test_a_timer_cancelled_while_its_frozen_tab_waits_never_runs(profile: Profile) -> None:
    a = profile.tab("A")
    fired: list[str] = []
    cancel_late: list[Callable[[], None]] = []
    a.schedule(1, lambda: (fired.append("first"), cancel_late[0]()))
    cancel_late.append(a.schedule(2, lambda: fired.append("second")))
    a.freeze()
    profile.clock.advance(3)
    assert fired == [] and a.live_proxies() == 2
    a.thaw()
    # Both were due while frozen; the first cancels the second before it is delivered.
    assert fired == ["first"] and a.live_proxies() == 0


def test_a_closed_frozen_tab_drops_what_waited_and_passes_its_lock(profile: Profile) -> None:
    a, b = profile.tab("A"), profile.tab("B")
    profile.hold(a)
    profile.hold(b)
    profile.run()
    fired: list[str] = []
    a.schedule(1, lambda: fired.append("timer"))
    a.freeze()
    profile.clock.advance(2)
    a.close_tab()
    a.thaw()
    profile.run()
    assert fired == [] and profile.calls == [("acquired", "A"), ("acquired", "B")]


async def test_a_frozen_tab_gets_its_http_answer_after_thaw(profile: Profile) -> None:
    a = profile.tab("A")
    a.http.route("GET", "/v1/x", lambda _req: {"ok": True})
    a.freeze()
    got: list[Any] = []

    async def fetch() -> None:
        got.append((await a.request("GET", "/v1/x")).body)

    a.spawn(fetch())
    await a.settle()
    assert got == [] and a.http.count("GET", "/v1/x") == 1  # sent, answer held back
    a.thaw()
    await a.settle()
    assert got == [{"ok": True}]


async def test_closing_a_tab_cancels_its_tasks_and_closes_its_sources(profile: Profile) -> None:
    a = profile.tab("A")

    def refused(_req: FakeRequest) -> Any:
        raise NetworkError("refused")  # held back: the tab is frozen, then closed

    a.http.route("GET", "/v1/x", refused)

    class Handlers:
        def on_open(self) -> None: ...

        def on_event(self, event: Any) -> None: ...

        def on_error(self, closed: bool) -> None: ...

    a.open_event_source("/v1/events/sse", Handlers(), ())
    outcome: list[str] = []

    async def fetch() -> None:
        try:
            await a.request("GET", "/v1/x")
        except NetworkError:
            outcome.append("network error")  # would be a crash of a dead tab's code
        outcome.append("resumed")

    a.freeze()
    a.spawn(fetch())
    await a.settle()
    assert a.tasks and a.http.count("GET", "/v1/x") == 1
    a.close_tab()
    await a.settle()
    assert a.open_sources == 0 and a.tasks == [] and a.crashes == [] and outcome == []


def test_frozen_event_source_callbacks_wait_and_a_closed_source_drops_them(
    profile: Profile,
) -> None:
    a = profile.tab("A")
    seen: list[Any] = []

    class Handlers:
        def on_open(self) -> None:
            seen.append("open")

        def on_event(self, event: Any) -> None:
            seen.append(event.last_event_id)

        def on_error(self, closed: bool) -> None:
            seen.append("error")

    close = a.open_event_source("/s", Handlers(), ())
    src = a.source
    a.freeze()
    src.open()
    assert src.message({"n": 1}, id=1)
    assert seen == [] and not src.opened
    a.thaw()
    assert seen == ["open", "1"] and src.opened
    a.freeze()
    src.message({"n": 2}, id=2)
    src.error()
    close()
    a.thaw()
    assert seen == ["open", "1"]


def test_storage_and_window_events_wait_for_a_frozen_tab() -> None:
    p = FakePlatform()
    seen: list[Any] = []
    p.on_storage(lambda k, v: seen.append((k, v)))
    p.on_window_event("online", lambda: seen.append("online"))
    p.freeze()
    p.other_tab_sets("k", "v")
    p.set_online(True)
    assert seen == [] and p.storage["k"] == "v"  # storage is shared: written at once
    p.thaw()
    assert seen == [("k", "v"), "online"]


def test_supports_and_the_explicit_fallbacks_without_locks_or_channel(profile: Profile) -> None:
    full = profile.tab("full")
    assert full.supports("locks") and full.supports("channel")
    with pytest.raises(ValueError):
        full.supports("webgpu")
    with pytest.raises(ValueError):
        FakePlatform(features=("locks", "webgpu"))
    a = profile.tab("A", features=("channel",))
    b = profile.tab("B", features=("channel",))
    assert not a.supports("locks") and a.supports("channel")
    profile.hold(a)
    undo_b = profile.hold(b)
    assert b.live_proxies() == 1
    profile.run()
    # No Web Locks: each tab holds "the lock" alone (it is the caller's job to check
    # supports("locks") and pick per-tab mode); nothing reached the shared manager.
    assert profile.calls == [("acquired", "A"), ("acquired", "B")]
    assert profile.holder() is None and b.live_proxies() == 0
    undo_b()
    lone = profile.tab("lone", features=("locks",))
    got: list[Any] = []
    post, close = lone.open_channel("zariz-sse", got.append)
    post({"x": 1})
    close()
    assert lone.live_proxies() == 0 and profile.bus.members == []


def test_a_closed_tab_spawns_nothing() -> None:
    p = FakePlatform()
    p.close_tab()

    async def never() -> None:
        raise AssertionError("ran in a closed tab")

    p.spawn(never())  # closed, not left un-awaited (filterwarnings=error would catch it)
    assert p.tasks == []


def test_every_tab_is_back_to_baseline_after_a_busy_session(profile: Profile) -> None:
    tabs = [profile.tab(f"T{i}") for i in range(4)]
    undos = [profile.hold(t) for t in tabs]
    profile.run()
    undos.append(profile.hold(tabs[2], steal=True))
    profile.run()
    tabs[1].freeze()
    undos.append(profile.hold(tabs[3], steal=True))
    profile.run()
    undos[0]()
    profile.run()
    tabs[1].thaw()
    profile.run()
    for undo in undos:
        undo()
    profile.run()
    assert [t.live_proxies() for t in tabs] == [0, 0, 0, 0]
    assert profile.holder() is None and profile.waiting() == []
    # Exactly one on_lost per deposed request, and only after its on_acquired.
    for label in {lbl for _w, lbl in profile.calls}:
        mine = [w for w, lbl in profile.calls if lbl == label]
        assert mine.count("lost") <= mine.count("acquired")
