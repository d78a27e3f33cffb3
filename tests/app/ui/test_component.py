"""The component lifecycle and the hooks (CPython, fake and real SSE client)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from zariz.ui.component import Scope, mount, use_order_events, use_sse_events


class FakeClient:
    """The SSE client's subscription surface, recorded."""

    def __init__(self) -> None:
        self.subs: list[tuple[Any, Any]] = []
        self.status_listeners: list[Any] = []
        self.status = "connecting"

    def subscribe(self, handler: Any, events: Any = None) -> Any:
        entry = (handler, events)
        self.subs.append(entry)
        return lambda: entry in self.subs and self.subs.remove(entry)

    def on_status(self, fn: Any) -> Any:
        self.status_listeners.append(fn)
        return lambda: fn in self.status_listeners and self.status_listeners.remove(fn)

    def emit(self, name: str, data: Any = None, id: str | None = None) -> None:
        ev = type("Ev", (), {"event": name, "data": data, "id": id})()
        for handler, events in list(self.subs):
            if events is None or name in events:
                handler(ev)


def test_phases_run_in_order_and_cleanups_in_reverse() -> None:
    calls: list[str] = []

    def render(scope: Scope) -> str:
        calls.append("render")
        scope.add_cleanup(lambda: calls.append("cleanup-1"))
        scope.effect(lambda: calls.append("effect") or (lambda: calls.append("effect-cleanup")))
        return "node"

    attached: list[str] = []
    m = mount(render, attach=attached.append, detach=attached.remove)
    assert calls == ["render", "effect"] and attached == ["node"]
    m.dispose()
    m.dispose()  # idempotent
    assert calls == ["render", "effect", "effect-cleanup", "cleanup-1"]
    assert attached == [] and m.disposed


def test_a_failing_cleanup_is_logged_and_the_others_still_run(caplog: Any) -> None:
    ran: list[int] = []
    scope = Scope("page")
    scope.add_cleanup(lambda: ran.append(1))
    scope.add_cleanup(lambda: 1 / 0)
    scope.add_cleanup(lambda: ran.append(3))
    with caplog.at_level(logging.ERROR, logger="zariz.ui"):
        scope.dispose()
    assert ran == [3, 1]
    assert "cleanup failed" in caplog.text


def test_render_error_mounts_the_fallback_and_releases_what_render_registered() -> None:
    released: list[bool] = []

    def broken(scope: Scope) -> Any:
        scope.add_cleanup(lambda: released.append(True))
        raise ValueError("boom")

    attached: list[Any] = []
    m = mount(broken, attach=attached.append, detach=attached.remove, fallback=lambda e: f"! {e}")
    assert attached == ["! boom"] and released == [True]
    m.dispose()  # the fallback panel goes too
    assert attached == [] and m.disposed


def test_children_are_disposed_with_the_parent_and_effects_run_child_first() -> None:
    order: list[str] = []
    parent = Scope("shell")
    child = parent.child("indicator")
    child.effect(lambda: order.append("child"))
    parent.effect(lambda: order.append("parent"))
    child.add_cleanup(lambda: order.append("child-cleanup"))
    parent.run_effects()
    parent.dispose()
    assert order == ["child", "parent", "child-cleanup"]
    assert child.disposed


def test_misuse_after_dispose() -> None:
    scope = Scope("x")
    scope.dispose()
    with pytest.raises(RuntimeError):
        scope.effect(lambda: None)
    late: list[int] = []
    scope.add_cleanup(lambda: late.append(1))  # runs at once: nothing can leak
    assert late == [1]
    with pytest.raises(TypeError):
        Scope("y").add_cleanup("not callable")  # type: ignore[arg-type]


def test_use_sse_events_subscribes_on_mount_and_unsubscribes_on_dispose() -> None:
    client = FakeClient()
    seen: list[str] = []

    def render(scope: Scope) -> str:
        sub = use_sse_events(
            scope, client, lambda ev: seen.append(ev.event), events=["order.created"]
        )
        assert client.subs == []  # not before mount
        assert sub.status == "connecting"
        sub.on_status(lambda s: None)
        return "node"

    m = mount(render)
    assert len(client.subs) == 1 and client.subs[0][1] == ["order.created"]
    client.emit("order.created")
    client.emit("order.deleted")
    assert seen == ["order.created"]
    m.dispose()
    assert client.subs == [] and client.status_listeners == []


def test_use_order_events_forwards_orders_reset_and_numbered_events_only() -> None:
    client = FakeClient()
    seen: list[str] = []
    scope = Scope("orders")
    undo = use_order_events(scope, client, lambda ev: seen.append(ev.event))
    scope.run_effects()
    client.emit("order.created", {"id": 1}, "1")
    client.emit("ping")  # no id: dropped
    client.emit("courier.moved", {}, "2")  # numbered: the store must see the id
    client.emit("reset")
    assert seen == ["order.created", "courier.moved", "reset"]
    undo()
    undo()
    assert client.subs == []
    scope.dispose()


async def test_hooks_leave_the_real_client_at_its_baseline(tab: Any) -> None:
    client = await tab.connected()
    base = client.stats["subscribers"]
    got: list[Any] = []
    for _ in range(50):  # 50 page visits
        m = mount(lambda s: use_order_events(s, client, got.append) and "page")
        assert client.stats["subscribers"] == base + 1
        m.dispose()
    assert client.stats["subscribers"] == base
    m = mount(lambda s: use_order_events(s, client, got.append) and "page")
    tab.platform.source.message({"type": "order.created", "data": {"id": 9}}, id=1)
    assert [ev.data for ev in got] == [{"id": 9}]
    m.dispose()
    assert tab.platform.open_sources == 1  # subscribing never opened anything


# --- strict mode ------------------------------------------------------------------------


class Counters:
    """What strict mode's probe counts, for made-up components."""

    def __init__(self) -> None:
        self.subs: list[object] = []

    def probe(self) -> dict[str, int]:
        return {"subscriptions": len(self.subs), "listeners": 0, "timers": 0}

    def subscribe(self) -> Any:
        token = object()
        self.subs.append(token)
        return lambda: token in self.subs and self.subs.remove(token)


@pytest.fixture
def strict() -> Any:
    from zariz.ui.component import StrictMode, set_strict

    counters = Counters()
    warnings: list[str] = []
    mode = StrictMode(counters.probe, warnings.append)
    undo = set_strict(mode)
    try:
        yield counters, warnings, mode
    finally:
        undo()


def test_strict_mode_mounts_disposes_and_mounts_again(strict: Any) -> None:
    counters, warnings, mode = strict
    calls: list[str] = []

    def clean(scope: Scope) -> str:
        calls.append("render")
        scope.effect(lambda: (calls.append("effect"), counters.subscribe())[1])
        return "node"

    attached: list[str] = []
    mounted = mount(clean, attach=attached.append, detach=attached.remove, name="clean")
    assert calls == ["render", "effect", "render", "effect"]
    assert attached == ["node"]  # the first node was detached again
    assert len(counters.subs) == 1 and warnings == [] and mode.checked == 1
    mounted.dispose()
    assert counters.subs == []


def test_strict_mode_names_a_component_that_forgets_its_cleanup(strict: Any) -> None:
    counters, warnings, mode = strict

    def leaky(scope: Scope) -> str:
        counters.subscribe()  # the undo is dropped
        return "node"

    mount(leaky, name="page:leaky")
    assert len(warnings) == 1
    assert "page:leaky" in warnings[0] and "1 more subscriptions" in warnings[0]
    assert mode.leaks == ["page:leaky"]


def test_strict_mode_does_not_double_a_render_that_fails_or_a_node_it_cannot_detach(
    strict: Any, caplog: pytest.LogCaptureFixture
) -> None:
    _counters, warnings, mode = strict
    renders: list[int] = []

    def broken(scope: Scope) -> str:
        renders.append(1)
        raise RuntimeError("no")

    mount(broken, fallback=lambda exc: "error panel")
    assert len(renders) == 1
    attached: list[str] = []
    mount(lambda s: (renders.append(2), "x")[1], attach=attached.append)
    assert renders == [1, 2] and attached == ["x"]
    assert warnings == [] and mode.checked == 0


def test_strict_mode_checks_nested_components_each(strict: Any) -> None:
    counters, warnings, _mode = strict

    def child(scope: Scope) -> str:
        counters.subscribe()  # leaks
        return "child"

    def parent(scope: Scope) -> str:
        mount(child, parent=scope, name="child")
        return "parent"

    mount(parent, name="parent")
    assert any("child" in w for w in warnings)


def test_hot_data_is_handed_over_and_withdrawn_with_its_scope() -> None:
    from zariz.ui.hot import HotData

    old = HotData()
    page = Scope("page")
    other = Scope("other")
    old.keep(page, "orders", lambda: {"filter": "ready"})
    old.keep(other, "gone", lambda: 1)
    old.keep(page, "broken", lambda: 1 / 0)  # logged and left out
    other.dispose()  # left normally: nothing of it is handed over
    assert old.collect() == {"orders": {"filter": "ready"}}
    new = HotData(old.collect())
    assert new.take("orders") == {"filter": "ready"}
    assert new.take("orders") == {"filter": "ready"}  # a strict second mount reads it too
    new.settle()
    assert new.take("orders") is None
