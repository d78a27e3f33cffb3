"""The one listener registry (``zariz.listeners.Listeners``) and its users."""

from __future__ import annotations

import logging
import re

import pytest
from zariz.listeners import Listeners

from tests.app.conftest import Tab

log = logging.getLogger("test")


def test_the_same_function_twice_is_two_registrations_with_their_own_undo() -> None:
    seen: list[int] = []
    reg = Listeners[int](log)
    off1, off2 = reg.add(seen.append), reg.add(seen.append)
    off1()
    off1()  # idempotent: must not remove the second registration
    reg.emit(1)
    assert seen == [1] and len(reg) == 1
    off2()
    reg.emit(2)
    assert seen == [1] and len(reg) == 0


def test_a_raising_listener_is_isolated_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def boom(_v: str) -> None:
        raise RuntimeError("boom")

    reg = Listeners[str](log, "demo listener")
    reg.add(boom)
    reg.add(seen.append)
    reg.emit("a")
    assert seen == ["a"] and reg.errors == 1
    assert "demo listener" in caplog.text and "boom" in caplog.text


def test_add_and_remove_during_emit() -> None:
    seen: list[str] = []
    reg = Listeners[str](log)
    offs: list[object] = []

    def first(v: str) -> None:
        seen.append(f"first:{v}")
        reg.add(lambda w: seen.append(f"late:{w}"))  # starts with the next emit
        offs[0]()  # type: ignore[operator]  # removes the second before it runs

    reg.add(first)
    offs.append(reg.add(lambda v: seen.append(f"second:{v}")))
    reg.emit("x")
    assert seen == ["first:x"]
    reg.clear()
    reg.emit("y")
    assert seen == ["first:x"] and len(reg) == 0


def test_refuses_a_non_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        Listeners[int](log).add(42)  # type: ignore[arg-type]


async def test_auth_subscribe_twice_then_undo_once_keeps_the_other(tab: Tab) -> None:
    """Regression: AuthClient removed listeners by identity, so the same function
    registered twice and undone once was gone for both."""
    seen: list[object] = []
    off1 = tab.auth.subscribe(seen.append)
    tab.auth.subscribe(seen.append)
    off1()
    await tab.auth.logout()
    assert seen == [None]


async def test_a_failing_token_listener_never_logs_the_tokens(
    tab: Tab, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression: the registry logged the value it passed, and a token listener's value
    is the session (TokenState's repr held both tokens)."""

    def boom(_state: object) -> None:
        raise RuntimeError("boom")

    tab.auth.subscribe(boom)
    state = tab.auth.state
    assert state is not None
    await tab.auth.logout()
    await tab.auth.login("demo", "demo")
    assert "boom" in caplog.text
    new = tab.auth.state
    assert new is not None
    # The fake server's tokens are short ("a1"): object addresses in the log ("at
    # 0x7f8a1ff3a2a0") could hold one by chance, so they are blanked first.
    text = re.sub(r"0x[0-9a-f]+", "0x?", caplog.text)
    for secret in (state.access_token, state.refresh_token, new.access_token,
                   new.refresh_token):
        assert secret not in text
    assert new.access_token not in repr(new)
