"""The DOM layer: the one UI module that touches ``js.document``.

Everything the UI renders goes through :func:`h` (text is always set with
``textContent``/``createTextNode``, never ``innerHTML``, so user data can never become
markup) and every listener goes through :func:`on`, which returns its undo: the undo
removes the listener *and* destroys the proxy (the step PyScript's ``@when`` leaves out).
Proxies are made by :mod:`zariz.platform.jsffi` pools of this module's own, one per
counter that ``__zarizUI()`` reports, so the UI's counters never mix with the platform's.

Example::

    button = h("button", {"class": "primary", "data-testid": "save"}, "Save")
    off = on(button, "click", lambda e: save())
    ...
    off()  # listener removed, proxy destroyed
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import js
from pyodide.code import run_js

from zariz.platform.jsffi import ProxyPool, is_js, is_null, to_js_values, to_plain_js
from zariz.ui.format import ProbedZone

Node = Any  # a JS DOM node (stays Any: browser objects are opaque to the type checker)
Child = "Node | str | int | float | bool | None | list[Child] | tuple[Child, ...]"

_listeners = ProxyPool()  # on()
_frames = ProxyPool()  # request_animation_frame()
_timers = ProxyPool()  # set_timeout()
_globals = ProxyPool()  # expose_global(): diagnostics hooks, reported nowhere


def live_listeners() -> int:
    """How many listeners registered through :func:`on` are still attached."""
    return _listeners.live


def document() -> Any:
    return js.document


def opt(value: Any) -> Any:
    """JS ``null``/``undefined`` -> ``None`` (``jsnull`` is not ``None`` in Python)."""
    return None if is_null(value) else value


def by_id(element_id: str) -> Node | None:
    return opt(js.document.getElementById(element_id))


def query(selector: str, root: Node | None = None) -> Node | None:
    return opt((root or js.document).querySelector(selector))


def attr(node: Node | None, name: str) -> str | None:
    """``getAttribute`` as ``str | None``."""
    if node is None:
        return None
    value = opt(node.getAttribute(name))
    return None if value is None else str(value)


# h() and replace_children() in one JS call each: the element, its attributes and its
# children (text as text nodes, never markup). From Python, every step was a JS call of
# its own, and every call made JS proxies (``js.document``, the bound method, the node it
# returned): ~20 crossings per element, 2x the cost of one call that gets them all (timed
# in the page: bench/RESULTS.md), and most of a first mount's Python.
_BUILD_JS = """
(() => {
  const fill = (element, rest, from) => {
    for (let i = from; i < rest.length; i++) {
      const child = rest[i];
      element.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return element;
  };
  return {
    h(tag, count, ...rest) {
      const element = document.createElement(tag);
      for (let i = 0; i < count; i += 2) element.setAttribute(rest[i], rest[i + 1]);
      return fill(element, rest, count);
    },
    replace(node, ...children) {
      node.replaceChildren();
      fill(node, children, 0);
    },
  };
})()
"""
_build: list[Any] = []  # [h, replace]: made on first use (no JS object at import time)


def _builders() -> list[Any]:
    if not _build:
        fns = run_js(_BUILD_JS)
        _build.extend((fns.h, fns.replace))
    return _build


def _children(out: list[Any], child: Any) -> None:
    """``child`` as the JS side takes it, appended to ``out``: text (a number as Python
    writes it), nodes, lists flattened; ``None``/``False`` left out."""
    if child is None or child is False:
        return
    if isinstance(child, str | int | float):
        out.append(str(child))
    elif isinstance(child, list | tuple):
        for item in child:
            _children(out, item)
    elif is_js(child):
        out.append(child)
    else:
        raise TypeError(
            f"a child must be a DOM node, text, a number, a list or None, not "
            f"{type(child).__name__}"
        )


def h(tag: str, attrs: Mapping[str, Any] | None = None, *children: Any) -> Node:
    """Create an element. ``attrs`` values: ``None``/``False`` skip the attribute,
    ``True`` sets it empty, anything else is written with ``str()``; ``class`` may be a
    list. Children: DOM nodes; text, as text nodes (never markup); numbers (``True``
    too), as the text ``str()`` writes; lists and tuples, flattened; ``None``/``False``,
    left out. Any other child (a generator, a dict, bytes) raises ``TypeError``."""
    args: list[Any] = []
    if attrs:
        for name, value in attrs.items():
            if value is None or value is False:
                continue
            if name == "class" and isinstance(value, list | tuple):
                value = " ".join(v for v in value if v)
            args += (name, "" if value is True else str(value))
    count = len(args)
    for child in children:
        _children(args, child)
    return _builders()[0](tag, count, *args)


def set_text(node: Node, text: Any) -> None:
    node.textContent = "" if text is None else str(text)


def set_attr(node: Node, name: str, value: Any) -> None:
    if value is None or value is False:
        node.removeAttribute(name)
    else:
        node.setAttribute(name, "" if value is True else str(value))


# Template.clone's JS side: the slots' paths (child indexes from the prototype) are found
# once; each clone is one cloneNode and its writes, all inside one call from Python. A
# row built from Python paid a JS call per property read and per write (~7 us each in
# Pyodide), most of a new row's cost at hundreds of rows a second.
_TEMPLATE_JS = """
(prototype, slots) => {
  const paths = Array.from(slots, (slot) => {
    const path = [];
    for (let node = slot; node !== prototype; node = node.parentNode) {
      if (node.parentNode === null) throw new Error("a template slot is not inside its prototype");
      const index = Array.prototype.indexOf.call(node.parentNode.children, node);
      if (index < 0) throw new Error("a template slot must be an element, not text");
      path.unshift(index);
    }
    return path;
  });
  return (writes) => {
    const root = prototype.cloneNode(true);
    const nodes = paths.map((path) => path.reduce((node, i) => node.children[i], root));
    for (let i = 0; i < writes.length; i += 3) {
      const node = nodes[writes[i]], name = writes[i + 1], value = writes[i + 2];
      if (name === "") node.textContent = value ?? "";
      else if (name === "+") node.append(value);
      else if (name === "=") node.replaceChildren(value);
      else if (value === undefined || value === null || value === false) {
        node.removeAttribute(name);
      } else node.setAttribute(name, value === true ? "" : value);
    }
    return root;
  };
}
"""
_template_fn: Any = None

TEXT = ""
"""A :meth:`Template.clone` write that sets the slot's text (``set_text``)."""
APPEND = "+"
"""A :meth:`Template.clone` write that appends a node to the slot."""
REPLACE = "="
"""A :meth:`Template.clone` write that replaces the slot's children with a node."""


class Template:
    """Copies of one prototype node, each with its own values written in, made by one JS
    call: ``clone(writes)`` with ``writes`` a flat list of ``slot, name, value`` (``slot``
    an index into ``slots``, the prototype's nodes that differ between copies). ``name``
    is an attribute (``value`` as :func:`set_attr` takes it: ``None``/``False`` remove
    it, ``True`` sets it empty), :data:`TEXT` (the text, as :func:`set_text`),
    :data:`APPEND` or :data:`REPLACE` (``value`` a node). Values are strings, booleans,
    ``None`` or nodes (a number is written as JS prints it); any other object is refused
    by the conversion (:func:`~zariz.platform.jsffi.to_js_values`), never made a proxy
    that would leak.

    ``Template(tr, [tr, tr.firstElementChild]).clone([0, "data-id", "7", 1, TEXT, "#7"])``
    """

    def __init__(self, prototype: Node, slots: Iterable[Node]) -> None:
        global _template_fn
        if _template_fn is None:
            _template_fn = run_js(_TEMPLATE_JS)
        self._clone = _template_fn(prototype, to_js_values(list(slots)))

    def clone(self, writes: list[Any]) -> Node:
        return self._clone(to_js_values(writes))


def clear(node: Node) -> None:
    node.replaceChildren()


def replace_children(node: Node, *children: Any) -> None:
    """``node``'s children replaced by ``children`` (as :func:`h` takes them)."""
    args: list[Any] = []
    for child in children:
        _children(args, child)
    _builders()[1](node, *args)


def on(
    target: Node, event: str, fn: Callable[[Any], Any], *, prevent_default: bool = False
) -> Callable[[], None]:
    """Add an event listener; returns the undo (idempotent)."""
    if not prevent_default:
        return _listeners.listen(target, event, fn)

    def handler(e: Any) -> None:
        e.preventDefault()
        fn(e)

    return _listeners.listen(target, event, handler)


def input_value(node: Node) -> str:
    value = opt(node.value)
    return "" if value is None else str(value)


def focus(node: Node | None) -> None:
    node = opt(node)
    if node is not None:
        node.focus()


def children_of(iterable: Iterable[Node]) -> list[Node]:
    return list(iterable)


# --- additions for the app shell (frames, history, focus, globals) ---------------------

def live_frames() -> int:
    """Animation-frame callbacks requested through :func:`request_animation_frame` whose
    proxy is still alive (0 when idle)."""
    return _frames.live


def request_animation_frame(fn: Callable[[], Any]) -> Callable[[], None]:
    """``requestAnimationFrame`` with a proxy that is destroyed after the call (or by the
    returned cancel, idempotent; a no-op from inside ``fn``: the jsffi rule)."""
    return _frames.frame(fn)


def live_timers() -> int:
    """Timers from :func:`set_timeout` that have neither fired nor been cancelled."""
    return _timers.live


def set_timeout(delay_s: float, fn: Callable[[], Any]) -> Callable[[], None]:
    """``setTimeout`` for the UI's own timers (tickers, toast expiry); the proxy is
    destroyed after the call or by the returned cancel (idempotent; a no-op from inside
    ``fn``). Kept apart from the platform's timers so the SSE client's proxy counters only
    count the client's."""
    return _timers.timeout(delay_s, fn)


def window() -> Any:
    return js.window


def location() -> tuple[str, str]:
    """``(pathname, search)`` of the current URL."""
    loc = js.window.location
    return str(loc.pathname), str(loc.search)


def push_state(url: str) -> None:
    js.window.history.pushState(None, "", url)


def replace_state(url: str) -> None:
    js.window.history.replaceState(None, "", url)


def set_title(text: str) -> None:
    js.document.title = text


def _offset_east(epoch_ms: float) -> float:
    # JS reports minutes west of UTC (positive in America), hence the sign; NaN for an
    # instant outside Date's range (ProbedZone's round() raises ValueError on it).
    return -float(js.Date.new(epoch_ms).getTimezoneOffset())


def time_zone() -> ProbedZone:
    """The viewer's time zone as the browser applies it: the offset in force at each
    instant (a daylight-saving change moves it; one offset read at start was wrong for every
    time on the other side of a change)."""
    return ProbedZone(_offset_east)


def set_data(node: Node, key: str, value: Any) -> None:
    """``node.dataset[key] = value`` (``None`` removes it)."""
    if value is None:
        node.removeAttribute("data-" + key.replace("_", "-"))
    else:
        node.setAttribute("data-" + key.replace("_", "-"), str(value))


def active_element() -> Node | None:
    return opt(js.document.activeElement)


def body() -> Node:
    return js.document.body


FOCUSABLE = (
    "a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), "
    "textarea:not([disabled]), [tabindex]:not([tabindex='-1'])"
)


def focusables(root: Node) -> list[Node]:
    return list(root.querySelectorAll(FOCUSABLE))


def closest(node: Node | None, selector: str) -> Node | None:
    node = opt(node)
    if node is None or not hasattr(node, "closest"):
        return None
    return opt(node.closest(selector))


def contains(parent: Node | None, node: Node | None) -> bool:
    parent, node = opt(parent), opt(node)
    return bool(parent is not None and node is not None and parent.contains(node))


def remove(node: Node | None) -> None:
    if node is not None:
        node.remove()


def expose_global(name: str, fn: Callable[[], Any]) -> Callable[[], None]:
    """``globalThis[name]()`` calls ``fn`` and returns its value converted to JS (a
    diagnostics hook for tests). The undo deletes the global and destroys the proxy."""

    def call() -> Any:
        return to_plain_js(fn())

    proxy, release = _globals.own(call)
    setattr(js.globalThis, name, proxy)
    done = False

    def undo() -> None:
        nonlocal done
        if done:
            return
        done = True
        try:
            if getattr(js.globalThis, name, None) is not None:
                js.Reflect.deleteProperty(js.globalThis, name)
        finally:
            release()

    return undo


# --- dev mode: scroll hand-off, stylesheet swap, reload ---------------------------------

def scroll_y() -> float:
    return float(js.window.scrollY)


def scroll_to(y: float) -> None:
    js.window.scrollTo(0, y)


def max_scroll_y() -> float:
    """How far the page can scroll right now (its content may still be loading)."""
    return max(0.0, float(js.document.documentElement.scrollHeight) - float(js.window.innerHeight))


def meta_content(name: str) -> str | None:
    """``<meta name=... content=...>`` of the page, or ``None``."""
    node = query(f'meta[name="{name}"]')
    return None if node is None else str(node.getAttribute("content") or "")


def swap_stylesheet(path: str, version: str) -> bool:
    """Point the ``<link rel=stylesheet>`` whose URL path is ``/path`` at ``?v=version``:
    the new sheet is added beside the old one, which goes once the new one has loaded (no
    unstyled flash). ``False`` when the page has no such link."""
    for link in list(js.document.querySelectorAll('link[rel="stylesheet"]')):
        replaced = link.getAttribute("data-dev-old") == "1"  # already on its way out
        if str(js.URL.new(link.href).pathname) == "/" + path and not replaced:
            _replace_link(link, f"/{path}?v={version}")
            return True
    return False


def _replace_link(old: Node, href: str) -> None:
    fresh = old.cloneNode(False)
    fresh.href = href
    old.setAttribute("data-dev-old", "1")
    offs: list[Callable[[], None]] = []

    def settle(keep: Any, drop: Any) -> None:
        drop.remove()
        keep.removeAttribute("data-dev-old")
        for undo in offs:
            undo()

    offs.append(on(fresh, "load", lambda _e: settle(fresh, old)))
    # A sheet that fails to load must not leave the page unstyled: the old one stays.
    offs.append(on(fresh, "error", lambda _e: settle(old, fresh)))
    old.after(fresh)


def reload_page() -> None:
    js.window.location.reload()


# --- the viewer's preferences: language, direction, theme ------------------------------
def storage_get(key: str) -> str | None:
    """``localStorage[key]``; ``None`` when absent or storage is unavailable (a privacy
    mode throws on access)."""
    try:
        value = js.window.localStorage.getItem(key)
    except Exception:
        return None
    return None if value is None or is_null(value) else str(value)


def storage_set(key: str, value: str | None) -> None:
    """Store (``None`` removes) ``key``; a full or disabled storage is ignored."""
    try:
        if value is None:
            js.window.localStorage.removeItem(key)
        else:
            js.window.localStorage.setItem(key, value)
    except Exception:
        return


def query_param(name: str) -> str | None:
    value = js.URLSearchParams.new(js.window.location.search).get(name)
    return None if value is None or is_null(value) else str(value)


def languages() -> list[str]:
    """The browser's preferred languages, best first (``navigator.languages``)."""
    langs = getattr(js.navigator, "languages", None)
    found = [str(x) for x in langs] if langs is not None and not is_null(langs) else []
    return found or [str(js.navigator.language or "")]


def set_document_locale(lang: str, direction: str) -> None:
    """``<html lang=... dir=...>``: the browser's bidi layout, fonts and screen readers
    follow it."""
    root = js.document.documentElement
    root.setAttribute("lang", lang)
    root.setAttribute("dir", direction)


def set_root_attr(name: str, value: str | None) -> None:
    """An attribute of ``<html>`` (``None`` removes it): ``data-theme`` picks the colours
    of the whole page, the boot skeleton included."""
    set_attr(js.document.documentElement, name, value)


def media_matches(query_text: str) -> bool:
    return bool(js.window.matchMedia(query_text).matches)


def stylesheet_versions() -> dict[str, str]:
    """``{"static/css/app.css": "<v>"}`` for each stylesheet link stamped ``?v=`` (the dev
    server stamps them with the manifest's hash)."""
    found: dict[str, str] = {}
    for link in list(js.document.querySelectorAll('link[rel="stylesheet"]')):
        url = js.URL.new(link.href)
        version = url.searchParams.get("v")
        if version:
            found[str(url.pathname).lstrip("/")] = str(version)
    return found
