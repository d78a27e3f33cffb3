"""``zariz.platform.jsffi`` in a real tab: every proxy a pool makes is destroyed exactly
once, and its undo brings ``pool.live`` back to where it was.

The rule under test for timeouts and frames: once the callback has started, its cancel is
a no-op (also when the callback calls it itself); the proxy is destroyed after the
callback returns or raises, never while it runs, never twice.

One booted tab serves the module (booting Pyodide is the slow part); each test makes its
own pool, so its baseline is 0.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import BOOT_TIMEOUT_MS, wait_booted
from tests.browser.support import guard_origin, run_py, wait_until
from tests.support.live_server import LiveServer

# Python run before each step: the test's state lives on builtins between run_py calls.
PRELUDE = """
import builtins, json, js
from pyodide.code import run_js
from zariz.platform.jsffi import ProxyPool, is_null, js_object
S = builtins.__dict__.setdefault("__jsffi_state", {})
def dump(**extra):
    out = {"live": S["pool"].live if "pool" in S else None,
           "calls": S.get("calls", []), "errors": S.get("errors", []), **extra}
    js.window.__jsffiOut = json.dumps(out)
"""

# An EventTarget that remembers what was added, so a test can call a listener's proxy
# after the undo and see that it was destroyed (not merely detached).
RECORDING_TARGET = """() => {
  window.__recordingTarget = () => {
    const t = new EventTarget();
    t.added = [];
    const add = t.addEventListener.bind(t);
    t.addEventListener = (name, fn) => { t.added.push(fn); add(name, fn); };
    return t;
  };
}"""

# Uncaught errors the shared tab reported (pageerror), cleared before each test.
ERRORS: list[str] = []

CALL_DESTROYED = """() => {
  try { window.__target.added[0](new Event('ping')); return 'called'; }
  catch (e) { return String(e); }
}"""


class SharedTab:
    """One booted tab for the module, replaced when its renderer crashed: a crash on a
    loaded machine would otherwise fail every later test, and the rerun, on a dead tab."""

    def __init__(self, browser: Any, url: str) -> None:
        self.browser, self.url = browser, url
        self.context: Any = None
        self.page: Any = None
        self.crashed = False

    def get(self) -> Any:
        if self.page is None or self.crashed:
            self.close()
            self.crashed = False
            self.context = self.browser.new_context()
            page = self.context.new_page()
            guard_origin(page, self.url)
            page.on("pageerror", lambda e: ERRORS.append(str(e)))
            page.on("crash", lambda: setattr(self, "crashed", True))
            page.goto(self.url + "/")
            wait_booted(page)
            page.evaluate(RECORDING_TARGET)
            self.page = page
        return self.page

    def close(self) -> None:
        if self.context is not None:
            self.context.close()
        self.context = self.page = None


@pytest.fixture(scope="module")
def tab(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedTab]:
    folder: pathlib.Path = tmp_path_factory.mktemp("jsffi")
    server = LiveServer(folder)
    server.start()
    shared = SharedTab(browser, server.url)
    try:
        yield shared
    finally:
        shared.close()
        server.stop()


@pytest.fixture
def page(tab: SharedTab) -> Iterator[Any]:
    """The shared tab with a fresh ``ProxyPool`` in ``S["pool"]``; fails the test when an
    uncaught error (e.g. a proxy destroyed twice) reached the page."""
    ERRORS.clear()
    current = tab.get()
    run_py(current, PRELUDE + "S.clear(); S['pool'] = ProxyPool(); S['calls'] = []\n"
           "js.window.__jsffiFired = 0\n")
    yield current
    if tab.crashed or current is not tab.page:  # it died under the test: no late errors to read
        return
    settle(current)  # lets Playwright deliver any late pageerror
    assert ERRORS == []


def py(page: Any, code: str) -> None:
    run_py(page, PRELUDE + code)


def state(page: Any, code: str = "dump()") -> dict[str, Any]:
    py(page, code)
    return json.loads(page.evaluate("window.__jsffiOut"))  # type: ignore[no-any-return]


def wait_fired(page: Any, n: int) -> None:
    page.wait_for_function("n => window.__jsffiFired >= n", arg=n, timeout=BOOT_TIMEOUT_MS)


def settle(page: Any) -> None:
    """Wait until two more animation frames and a 100 ms timer have passed: time for a
    second (wrong) call of a timer or frame to show up before the count is read."""
    page.evaluate("""() => new Promise(r => setTimeout(
        () => requestAnimationFrame(() => requestAnimationFrame(r)), 100))""")


def test_listen_undo_removes_the_listener_and_destroys_the_proxy(page: Any) -> None:
    py(page, """
S["target"] = js.window.__target = js.window.__recordingTarget()
S["off"] = S["pool"].listen(S["target"], "ping", lambda e: S["calls"].append(str(e.type)))
S["target"].dispatchEvent(js.Event.new("ping"))
""")
    assert state(page)["live"] == 1
    out = state(page, """
S["off"](); S["off"]()  # idempotent
S["target"].dispatchEvent(js.Event.new("ping"))
dump()
""")
    assert out["calls"] == ["ping"] and out["live"] == 0
    assert "destroyed" in page.evaluate(CALL_DESTROYED)
    settle(page)
    assert ERRORS == []  # the second dispatch reached no (destroyed) proxy


def test_own_gives_a_counted_proxy_whose_release_destroys_it_once(page: Any) -> None:
    out = state(page, """
proxy, release = S["pool"].own(lambda: "hi")
live = S["pool"].live
release(); release()
try:
    proxy()
    after = "called"
except Exception as exc:
    after = str(exc)
dump(live_while_owned=live, after=after)
""")
    assert out["live_while_owned"] == 1 and out["live"] == 0
    assert "destroyed" in out["after"]


def test_timeout_fires_once_and_releases_its_proxy(page: Any) -> None:
    out = state(page, """
def fn():
    S["calls"].append(S["pool"].live)  # its own proxy is alive while it runs
    js.window.__jsffiFired += 1
S["cancel"] = S["pool"].timeout(0.01, fn)
dump()
""")
    assert out["live"] == 1
    wait_fired(page, 1)
    settle(page)
    out = state(page, 'S["cancel"](); S["cancel"](); dump()')  # after firing: no-ops
    assert out["calls"] == [1] and out["live"] == 0


def test_timeout_cancelled_before_firing_releases_its_proxy(page: Any) -> None:
    out = state(page, """
S["cancel"] = S["pool"].timeout(0.05, lambda: S["calls"].append("fired"))
S["cancel"](); S["cancel"]()
dump()
""")
    assert out["live"] == 0
    page.wait_for_timeout(150)  # past the due time: the (cancelled) timer would have run
    settle(page)
    assert state(page) == {"live": 0, "calls": [], "errors": []}


@pytest.mark.parametrize("kind", ["timeout", "frame"])
def test_cancel_from_inside_the_callback_is_a_no_op_and_destroys_once(
    page: Any, kind: str
) -> None:
    arm = "S['pool'].timeout(0, fn)" if kind == "timeout" else "S['pool'].frame(fn)"
    py(page, f"""
def fn():
    S["cancel"]()  # the rule: it has fired, so this is a no-op...
    S["cancel"]()
    S["calls"].append(S["pool"].live)  # ...and the proxy is still alive while fn runs
    js.window.__jsffiFired += 1
S["cancel"] = {arm}
""")
    wait_fired(page, 1)
    settle(page)
    out = state(page)
    assert out["calls"] == [1] and out["live"] == 0


@pytest.mark.parametrize("kind", ["timeout", "frame"])
def test_a_raising_callback_still_releases_its_proxy(page: Any, kind: str) -> None:
    arm = "S['pool'].timeout(0, fn)" if kind == "timeout" else "S['pool'].frame(fn)"
    py(page, f"""
def fn():
    js.window.__jsffiFired += 1
    raise RuntimeError("boom in a callback")
S["cancel"] = {arm}
""")
    wait_fired(page, 1)
    wait_until(lambda: any("boom in a callback" in e for e in ERRORS), 30,
               "the callback's error reported by the page", page=page)
    settle(page)
    assert state(page)["live"] == 0
    ERRORS.clear()  # expected here: the callback's own error, reported by the page


def test_frame_fires_once_and_releases_its_proxy(page: Any) -> None:
    out = state(page, """
def fn():
    S["calls"].append(S["pool"].live)
    js.window.__jsffiFired += 1
S["cancel"] = S["pool"].frame(fn)
dump()
""")
    assert out["live"] == 1
    wait_fired(page, 1)
    settle(page)
    out = state(page, 'S["cancel"](); dump()')
    assert out["calls"] == [1] and out["live"] == 0


def test_frame_cancelled_before_firing_releases_its_proxy(page: Any) -> None:
    out = state(page, """
S["cancel"] = S["pool"].frame(lambda: S["calls"].append("fired"))
S["cancel"](); S["cancel"]()
dump()
""")
    assert out["live"] == 0
    settle(page)  # two frames later: the cancelled one would have run by now
    assert state(page) == {"live": 0, "calls": [], "errors": []}


def test_is_null_and_js_object(page: Any) -> None:
    out = state(page, """
obj = js_object({"a": 1}, b={"c": [2, "x"]})
dump(nulls=[is_null(None), is_null(js.JSON.parse("null")), is_null(run_js("undefined")),
            is_null(0), is_null(""), is_null(js.Object.new())],
     json=str(js.JSON.stringify(obj)), plain=bool(js.Object.getPrototypeOf(obj)
                                                  == js.Object.prototype))
""")
    assert out["nulls"] == [True, True, True, False, False, False]
    # Nested dicts are plain objects too (not Maps, which JSON.stringify shows as {}).
    assert json.loads(out["json"]) == {"a": 1, "b": {"c": [2, "x"]}} and out["plain"]


def test_is_js_tells_js_objects_from_python_ones(page: Any) -> None:
    out = state(page, """
from zariz.platform.jsffi import is_js
samples = [js.document.body, js.document.createTextNode("a"), js.Object.new(), js.Array.new(),
           run_js("() => 1"), js.document.body, "text", 1, None, [], object(), b"x"]
dump(js=[is_js(v) for v in samples])
""")
    # The second body is the cached type's path; strings and numbers arrive as Python.
    assert out["js"] == [True] * 6 + [False] * 6


def test_h_makes_the_element_its_attributes_and_its_children_as_text(page: Any) -> None:
    """``dom.h`` in one JS call: attribute values as ``h`` documents them, every text child
    a text node (markup never parsed), numbers written as Python writes them, lists
    flattened, ``None``/``False`` left out; ``replace_children`` takes the same children."""
    out = state(page, """
from zariz.ui import dom
inner = dom.h("b", None, "bold")
el = dom.h("p", {"class": ["a", "", "b"], "data-x": 5, "hidden": True, "title": None,
                 "disabled": False, "aria-label": "<i>x</i>"},
           "<img src=x onerror=alert(1)>", 1.0, True, None, False, [2, ("three", inner)], 0)
box = dom.h("div", {}, el)
def shape(node):
    return [[int(c.nodeType), str(c.nodeName), str(c.textContent)] for c in node.childNodes]
attrs = {str(a.name): str(a.value) for a in el.attributes}
dom.replace_children(box, "one", None, [dom.h("span", None, "two"), 3])
replaced = shape(box)
dom.replace_children(box)
dump(attrs=attrs, children=shape(el), inner_parent=str(inner.parentNode.nodeName),
     replaced=replaced, emptied=shape(box), tag=str(el.tagName))
""")
    assert out["tag"] == "P"
    assert out["attrs"] == {"class": "a b", "data-x": "5", "hidden": "", "aria-label": "<i>x</i>"}
    text = 3  # Node.TEXT_NODE
    assert out["children"] == [
        [text, "#text", "<img src=x onerror=alert(1)>"], [text, "#text", "1.0"],
        [text, "#text", "True"], [text, "#text", "2"], [text, "#text", "three"],
        [1, "B", "bold"], [text, "#text", "0"],
    ]
    assert out["inner_parent"] == "P"
    assert out["replaced"] == [[text, "#text", "one"], [1, "SPAN", "two"], [text, "#text", "3"]]
    assert out["emptied"] == []


def test_h_refuses_a_child_that_is_not_a_node_by_its_type(page: Any) -> None:
    out = state(page, """
from zariz.ui import dom
box = dom.h("div", None, "kept")
errors = []
for bad in (object(), {"a": 1}, b"bytes", (c for c in "ab")):
    for make in (lambda: dom.h("p", None, "x", bad), lambda: dom.replace_children(box, bad)):
        try:
            make()
        except TypeError as exc:
            errors.append(str(exc))
dump(errors=errors, kept=str(box.textContent))
""")
    assert out["errors"] == [
        f"a child must be a DOM node, text, a number, a list or None, not {name}"
        for name in ("object", "object", "dict", "dict", "bytes", "bytes", "generator",
                     "generator")
    ]
    assert out["kept"] == "kept"  # refused before the JS call: nothing replaced


def test_the_platform_and_the_ui_count_in_separate_pools(page: Any) -> None:
    out = state(page, """
from zariz.platform.browser import BrowserPlatform
from zariz.ui import dom
platform = BrowserPlatform()
before = (platform.live_proxies(), dom.live_timers(), dom.live_frames())
ui_cancel = dom.set_timeout(60, lambda: None)
mid_ui = (platform.live_proxies(), dom.live_timers())
p_cancel = platform.schedule(60, lambda: None)
mid_platform = (platform.live_proxies(), dom.live_timers())
ui_cancel(); p_cancel()
dump(before=before, mid_ui=mid_ui, mid_platform=mid_platform,
     after=(platform.live_proxies(), dom.live_timers(), dom.live_frames()))
""")
    t0 = out["before"][1]
    assert out["mid_ui"] == [0, t0 + 1]
    assert out["mid_platform"] == [1, t0 + 1]
    assert out["after"] == out["before"]


def test_a_crashed_tab_is_replaced_for_the_next_test(tab: SharedTab, page: Any) -> None:
    """The module's shared tab is not a single point of failure: after its renderer died,
    ``get()`` boots a fresh one (so a crash fails one test, and its rerun can pass)."""
    with pytest.raises(Exception):  # noqa: B017 - Playwright reports it as ERR_ABORTED
        page.goto("chrome://crash", timeout=10_000)
    with pytest.raises(Exception, match="crashed"):  # noqa: B017
        page.wait_for_timeout(500)
    assert tab.crashed
    fresh = tab.get()
    assert fresh is not page and not tab.crashed
    run_py(fresh, PRELUDE + "S['pool'] = ProxyPool(); dump()\n")
    assert json.loads(fresh.evaluate("window.__jsffiOut"))["live"] == 0
