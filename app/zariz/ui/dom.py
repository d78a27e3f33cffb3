"""The DOM layer: the one UI module that touches ``js.document``.

Everything the UI renders goes through :func:`h` (text is always set with
``textContent``/``createTextNode``, never ``innerHTML``, so user data can never become
markup) and every listener goes through :func:`on`, which returns its undo: the undo
removes the listener *and* destroys the proxy (the step PyScript's ``@when`` leaves out).

Example::

    button = h("button", {"class": "primary", "data-testid": "save"}, "Save")
    off = on(button, "click", lambda e: save())
    ...
    off()  # listener removed, proxy destroyed
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy  # type: ignore[import-not-found]

try:  # Pyodide >= 0.27 hands JS ``null`` to Python as ``jsnull``, not ``None``
    from pyodide.ffi import jsnull as _JSNULL  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - older Pyodide converts null to None
    _JSNULL = None

Node = Any  # a JS DOM node (stays Any: browser objects are opaque to the type checker)
Child = "Node | str | int | float | None | Iterable[Child]"

_live_listeners = 0


def live_listeners() -> int:
    """How many listeners registered through :func:`on` are still attached."""
    return _live_listeners


def document() -> Any:
    return js.document


def opt(value: Any) -> Any:
    """JS ``null``/``undefined`` -> ``None`` (``jsnull`` is not ``None`` in Python)."""
    if value is None or value is _JSNULL:
        return None
    return value


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


def _append(parent: Node, child: Any) -> None:
    if child is None or child is False:
        return
    if isinstance(child, str | int | float):
        parent.appendChild(js.document.createTextNode(str(child)))
    elif isinstance(child, list | tuple):
        for item in child:
            _append(parent, item)
    else:
        parent.appendChild(child)


def h(tag: str, attrs: Mapping[str, Any] | None = None, *children: Any) -> Node:
    """Create an element. ``attrs`` values: ``None``/``False`` skip the attribute,
    ``True`` sets it empty; ``class`` may be a list. Children: nodes, text (as text
    nodes), lists, ``None``."""
    element = js.document.createElement(tag)
    for name, value in (attrs or {}).items():
        if value is None or value is False:
            continue
        if name == "class" and isinstance(value, list | tuple):
            value = " ".join(v for v in value if v)
        element.setAttribute(name, "" if value is True else str(value))
    for child in children:
        _append(element, child)
    return element


def set_text(node: Node, text: Any) -> None:
    node.textContent = "" if text is None else str(text)


def set_attr(node: Node, name: str, value: Any) -> None:
    if value is None or value is False:
        node.removeAttribute(name)
    else:
        node.setAttribute(name, "" if value is True else str(value))


def clear(node: Node) -> None:
    node.replaceChildren()


def replace_children(node: Node, *children: Any) -> None:
    node.replaceChildren()
    for child in children:
        _append(node, child)


def on(
    target: Node, event: str, fn: Callable[[Any], Any], *, prevent_default: bool = False
) -> Callable[[], None]:
    """Add an event listener; returns the undo (idempotent)."""
    global _live_listeners

    def handler(e: Any) -> None:
        if prevent_default:
            e.preventDefault()
        fn(e)

    proxy = create_proxy(handler)
    target.addEventListener(event, proxy)
    _live_listeners += 1
    done = False

    def off() -> None:
        global _live_listeners
        nonlocal done
        if done:
            return
        done = True
        target.removeEventListener(event, proxy)
        proxy.destroy()
        _live_listeners -= 1

    return off


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

_live_frames = 0


def live_frames() -> int:
    """Animation-frame callbacks requested through :func:`request_animation_frame` whose
    proxy is still alive (0 when idle)."""
    return _live_frames


def request_animation_frame(fn: Callable[[], Any]) -> Callable[[], None]:
    """``requestAnimationFrame`` with a proxy that is destroyed after the call (or by the
    returned cancel, idempotent)."""
    global _live_frames
    state: dict[str, Any] = {"proxy": None, "id": None}

    def release() -> None:
        global _live_frames
        proxy = state["proxy"]
        if proxy is not None:
            state["proxy"] = None
            proxy.destroy()
            _live_frames -= 1

    def fire(_ts: Any = None) -> None:
        try:
            fn()
        finally:
            release()

    state["proxy"] = create_proxy(fire)
    _live_frames += 1
    state["id"] = js.requestAnimationFrame(state["proxy"])

    def cancel() -> None:
        if state["proxy"] is not None:
            js.cancelAnimationFrame(state["id"])
            release()

    return cancel


_live_timers = 0


def live_timers() -> int:
    """Timers from :func:`set_timeout` that have neither fired nor been cancelled."""
    return _live_timers


def set_timeout(delay_s: float, fn: Callable[[], Any]) -> Callable[[], None]:
    """``setTimeout`` for the UI's own timers (tickers, toast expiry); the proxy is
    destroyed after the call or by the returned cancel (idempotent). Kept apart from the
    platform's timers so the SSE client's proxy counters only count the client's."""
    global _live_timers
    state: dict[str, Any] = {"proxy": None, "id": None}

    def release() -> None:
        global _live_timers
        proxy = state["proxy"]
        if proxy is not None:
            state["proxy"] = None
            proxy.destroy()
            _live_timers -= 1

    def fire() -> None:
        proxy = state["proxy"]
        state["proxy"] = None  # a cancel() from inside fn must not destroy it mid-call
        try:
            fn()
        finally:
            if proxy is not None:
                state["proxy"] = proxy
                release()

    state["proxy"] = create_proxy(fire)
    _live_timers += 1
    state["id"] = js.setTimeout(state["proxy"], max(0, int(delay_s * 1000)))

    def cancel() -> None:
        if state["proxy"] is not None:
            js.clearTimeout(state["id"])
            release()

    return cancel


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


def tz_offset_minutes() -> int:
    """Minutes east of UTC for the viewer (JS reports west-positive, hence the sign)."""
    return -int(js.Date.new().getTimezoneOffset())


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
    from pyodide.ffi import to_js  # type: ignore[import-not-found]

    def call() -> Any:
        return to_js(fn(), dict_converter=js.Object.fromEntries)

    proxy = create_proxy(call)
    setattr(js.globalThis, name, proxy)
    done = False

    def undo() -> None:
        nonlocal done
        if done:
            return
        done = True
        if getattr(js.globalThis, name, None) is not None:
            js.Reflect.deleteProperty(js.globalThis, name)
        proxy.destroy()

    return undo
