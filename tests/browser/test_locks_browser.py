"""``BrowserPlatform.hold_lock`` on real Web Locks: two or three pages of ONE browser
context (one profile, one origin, one lock manager), each with its own Pyodide.

Proves the contract the fake platform plays in tests/app/test_platform_locks.py: FIFO
queueing, hand-over when the holder's page closes, withdrawal of a queued request, steal
(the old holder's on_lost, once), release on undo, proxies back to baseline, and no
uncaught error or unhandled rejection (a steal and a withdrawal both reject a request
promise with AbortError: the adapter must handle it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.browser.conftest import BOOT_TIMEOUT_MS, TabLog, wait_booted
from tests.browser.support import run_py, wait_until
from tests.support.live_server import LiveServer

# Not the app's own lock names: the app running in these pages must not interfere.
LOCK = "zariz-test-hold"

# Records unhandled rejections (Playwright's pageerror covers uncaught errors too, but a
# rejection is the failure this test is about: say it explicitly).
REJECTIONS = """
window.__rejections = [];
window.addEventListener('unhandledrejection',
  (e) => window.__rejections.push(String(e.reason && (e.reason.stack || e.reason))));
"""

# Each run_py step starts with this; the test's state lives on builtins between steps.
PRELUDE = f"""
import builtins, json, js
from zariz.platform.browser import BrowserPlatform
S = builtins.__dict__.setdefault("__locks_test", {{}})
if "platform" not in S:
    S["platform"] = BrowserPlatform()
    S["undos"] = []
    js.window.__lockLog = js.Array.new()
P = S["platform"]
def note(what):
    js.window.__lockLog.push(what)
def hold(tag="", steal=False):
    S["undos"].append(P.hold_lock({LOCK!r}, lambda: note("acquired" + tag),
                                  lambda: note("lost" + tag), steal=steal))
def dump():
    js.window.__lockOut = json.dumps({{"live": P.live_proxies(),
                                       "locks": P.supports("locks")}})
"""

QUERY = """async (name) => {
  const s = await navigator.locks.query();
  return {held: s.held.filter(l => l.name === name).length,
          pending: s.pending.filter(l => l.name === name).length};
}"""


def boot(open_tab: Callable[..., tuple[Any, TabLog]], server: LiveServer,
         context: Any = None) -> tuple[Any, TabLog]:
    page, log = open_tab(server.url, context=context)
    page.add_init_script(REJECTIONS)
    page.goto(server.url + "/")
    wait_booted(page)
    py(page, "dump()")
    return page, log


def py(page: Any, code: str) -> None:
    run_py(page, PRELUDE + code, timeout_ms=BOOT_TIMEOUT_MS)


def out(page: Any) -> dict[str, Any]:
    py(page, "dump()")
    return json.loads(page.evaluate("window.__lockOut"))  # type: ignore[no-any-return]


def lock_log(page: Any) -> list[str]:
    return page.evaluate("Array.from(window.__lockLog)")  # type: ignore[no-any-return]


def wait_log(page: Any, expected: list[str]) -> None:
    try:
        page.wait_for_function(
            "x => JSON.stringify(Array.from(window.__lockLog)) === x",
            arg=json.dumps(expected, separators=(",", ":")), timeout=BOOT_TIMEOUT_MS,
        )
    except Exception as exc:
        raise AssertionError(f"lock log {lock_log(page)} never became {expected}") from exc


def wait_locks(page: Any, held: int, pending: int) -> None:
    """Wait until the profile's lock manager (seen from ``page``) has ``held``/``pending``
    requests for LOCK."""
    want = {"held": held, "pending": pending}
    wait_until(lambda: page.evaluate(QUERY, LOCK) == want, 60, f"locks {want}", page=page)


def settle(page: Any) -> None:
    """Two frames and 100 ms: time for a late (wrong) callback or rejection to show."""
    page.evaluate("""() => new Promise(r => setTimeout(
        () => requestAnimationFrame(() => requestAnimationFrame(r)), 100))""")


def clean(page: Any, log: TabLog) -> None:
    settle(page)
    assert page.evaluate("window.__rejections") == []
    assert log.errors == []
    assert not [line for line in log.console if "[locks]" in line or "refused the request" in line]


def test_queue_withdraw_and_hand_over_when_the_holder_page_closes(
    open_tab: Callable[..., tuple[Any, TabLog]], live_server: LiveServer
) -> None:
    a, log_a = boot(open_tab, live_server)
    b, log_b = boot(open_tab, live_server, context=a.context)
    c, log_c = boot(open_tab, live_server, context=a.context)
    baseline = {p: out(p)["live"] for p in (a, b, c)}
    assert out(a)["locks"] is True

    py(a, "hold()")
    wait_log(a, ["acquired"])
    py(b, "hold()")
    py(c, "hold()")
    wait_locks(a, held=1, pending=2)
    assert out(b)["live"] == baseline[b] + 1  # one proxy per waiting request

    py(c, "S['undos'][-1](); S['undos'][-1]()")  # withdraw while queued (idempotent)
    wait_locks(a, held=1, pending=1)
    assert out(c)["live"] == baseline[c]
    clean(a, log_a)

    a.close()  # the browser releases the closed page's lock: B is next in line
    wait_log(b, ["acquired"])
    wait_locks(b, held=1, pending=0)
    assert lock_log(c) == []  # withdrawn: never granted, even when the lock went free

    py(b, "S['undos'][-1]()")
    wait_locks(b, held=0, pending=0)
    assert out(b)["live"] == baseline[b]
    settle(b)
    assert lock_log(b) == ["acquired"]  # no on_lost on undo
    clean(b, log_b)
    clean(c, log_c)


def test_steal_deposes_the_holder_which_hears_on_lost_once(
    open_tab: Callable[..., tuple[Any, TabLog]], live_server: LiveServer
) -> None:
    a, log_a = boot(open_tab, live_server)
    b, log_b = boot(open_tab, live_server, context=a.context)
    base_a, base_b = out(a)["live"], out(b)["live"]

    py(a, "hold()")
    wait_log(a, ["acquired"])
    py(b, "hold(steal=True)")
    wait_log(b, ["acquired"])
    wait_log(a, ["acquired", "lost"])
    assert out(a)["live"] == base_a  # the request is over: its proxy is gone
    assert out(b)["live"] == base_b + 1
    py(a, "S['undos'][-1]()")  # after on_lost: a no-op, B keeps the lock
    wait_locks(a, held=1, pending=0)

    # A asks again and waits behind B; B's undo hands the lock back to A.
    py(a, "hold('2')")
    wait_locks(a, held=1, pending=1)
    py(b, "S['undos'][-1]()")
    wait_log(a, ["acquired", "lost", "acquired2"])
    assert out(b)["live"] == base_b

    # An undo from inside on_acquired: released at once, the proxy only after it returned.
    py(a, "S['undos'][-1]()")
    wait_locks(a, held=0, pending=0)
    py(b, """
box = []
def acquired():
    box[0]()
    note("inside:" + str(P.live_proxies()))
box.append(P.hold_lock("zariz-test-hold", acquired, lambda: note("lost")))
""")
    wait_log(b, ["acquired", "inside:" + str(base_b + 1)])
    wait_locks(b, held=0, pending=0)
    assert out(b)["live"] == base_b
    settle(a)
    assert lock_log(a) == ["acquired", "lost", "acquired2"]
    clean(a, log_a)
    clean(b, log_b)

    # Without Web Locks: supports() says so and hold_lock grants this tab alone.
    b.evaluate("Object.defineProperty(navigator, 'locks', {value: undefined})")
    py(b, "hold('-alone')")
    wait_log(b, ["acquired", "inside:" + str(base_b + 1), "acquired-alone"])
    state = out(b)
    assert state["locks"] is False and state["live"] == base_b
    assert any("Web Locks unavailable" in line for line in log_b.console)
