"""The JS/Python boundary, resolved once (as PyScript does in its ``ffi.py``).

Both browser-facing layers - the platform adapter (:mod:`zariz.platform.browser`) and the
DOM layer (:mod:`zariz.ui.dom`) - go through this module for what differs between Pyodide
versions (``jsnull``), for plain JS objects, and for every proxy whose lifetime they own.

A :class:`ProxyPool` makes proxies and counts the live ones. Each layer keeps its own pools,
so the adapter's ``live_proxies()`` and the UI's ``__zarizUI()`` counters stay separate.
Everything a pool registers returns its undo; an undo is idempotent and destroys the proxy
(the step PyScript's ``@when`` leaves out)::

    pool = ProxyPool()
    off = pool.listen(js.window, "online", lambda e: print("online"))
    cancel = pool.timeout(1.5, lambda: print("later"))
    pool.live   # 2
    off(); cancel()
    pool.live   # 0

**The rule for a cancel from inside the callback** (timeouts and frames alike): once the
callback has started, the timer has fired and its cancel is a no-op - also when the callback
calls it itself. The proxy is destroyed exactly once, by the pool, after the callback has
returned or raised; never while it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import js
from pyodide.ffi import JsProxy, create_proxy, to_js

from zariz.types import Undo

try:  # Pyodide >= 0.27 hands JS ``null`` to Python as ``jsnull``, which is not ``None``
    from pyodide.ffi import jsnull as _JSNULL
except ImportError:  # pragma: no cover - older Pyodide converts null to None
    _JSNULL = None


def is_null(value: Any) -> bool:
    """True for ``None`` and JS ``null``/``undefined`` (``undefined`` arrives as ``None``,
    ``null`` as ``jsnull``)."""
    return value is None or value is _JSNULL


# The JsProxy types seen so far. Pyodide makes a subclass per set of JS capabilities, and
# ``isinstance(x, JsProxy)`` runs a Python-level ``__subclasscheck__`` (~10 us in the page:
# a third of a first mount's Python when h() checked every child with it). The check
# depends only on the type, so each type is checked once.
_JS_TYPES: set[type] = set()


def is_js(value: Any) -> bool:
    """True for a JS object or function as Python sees it (a ``JsProxy``): what a JS call
    takes as it is. ``str``, numbers, ``bool`` and ``None`` are converted by a call; any
    other Python object would become a proxy."""
    kind = type(value)
    if kind in _JS_TYPES:
        return True
    if isinstance(value, JsProxy):
        _JS_TYPES.add(kind)
        return True
    return False


def to_plain_js(value: Any) -> Any:
    """``to_js`` with every dict (nested ones too) as a plain JS object, not a ``Map``:
    what ``fetch`` options, ``postMessage`` payloads and ``JSON.stringify`` expect."""
    return to_js(value, dict_converter=js.Object.fromEntries)


def to_js_values(value: Any) -> Any:
    """``to_js`` of a list (or tuple) of strings, numbers, booleans, ``None`` and JS
    objects, nested ones too; any other object raises instead of becoming a proxy that
    nothing destroys (``create_pyproxies=False``)."""
    return to_js(value, create_pyproxies=False)


def js_object(mapping: Mapping[str, Any] | None = None, /, **fields: Any) -> Any:
    """A plain JS object from a mapping and/or keyword fields.

    ``js_object({"Content-Type": "application/json"})``, ``js_object(signal=abort.signal)``
    """
    return to_plain_js({**(mapping or {}), **fields})


class ProxyPool:
    """Makes ``create_proxy`` proxies, counts the live ones, and destroys each exactly once.

    One pool per counter: a layer that reports several counters keeps several pools.
    """

    def __init__(self) -> None:
        self._live = 0

    @property
    def live(self) -> int:
        """Proxies made by this pool and not destroyed yet."""
        return self._live

    def own(self, fn: Callable[..., Any]) -> tuple[Any, Undo]:
        """``(proxy, release)``: a counted proxy for ``fn`` and its idempotent release. For
        callers with their own rules for when to release (e.g. not while it runs)."""
        proxy = create_proxy(fn)
        self._live += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            try:
                proxy.destroy()
            finally:
                self._live -= 1

        return proxy, release

    def listen(self, target: Any, event: str, fn: Callable[[Any], Any]) -> Undo:
        """``target.addEventListener(event, fn)``; the undo removes the listener and
        destroys the proxy. ``fn``'s return value is ignored."""

        def handler(e: Any) -> None:
            fn(e)

        proxy, release = self.own(handler)
        target.addEventListener(event, proxy)
        done = False

        def off() -> None:
            nonlocal done
            if not done:
                done = True
                try:
                    target.removeEventListener(event, proxy)
                finally:
                    release()

        return off

    def timeout(self, delay_s: float, fn: Callable[[], Any]) -> Undo:
        """``setTimeout(fn, delay_s)``; returns the cancel (see the module's rule for a
        cancel from inside ``fn``)."""
        return self._once(
            fn,
            lambda proxy: js.setTimeout(proxy, max(0, int(delay_s * 1000))),
            js.clearTimeout,
        )

    def frame(self, fn: Callable[[], Any]) -> Undo:
        """``requestAnimationFrame(fn)`` (the timestamp is not passed on); returns the
        cancel, with the same rules as :meth:`timeout`."""
        return self._once(fn, js.requestAnimationFrame, js.cancelAnimationFrame)

    def _once(
        self, fn: Callable[[], Any], arm: Callable[[Any], Any], disarm: Callable[[Any], Any]
    ) -> Undo:
        # "pending" until the browser calls us (or a cancel comes first), then "done":
        # the state moves before fn runs, so a cancel from inside fn finds it fired.
        state = "pending"

        def fire(*_args: Any) -> None:
            nonlocal state
            if state != "pending":
                return
            state = "done"
            try:
                fn()
            finally:
                release()  # after fn, even when it raised: never destroyed mid-call

        proxy, release = self.own(fire)
        try:
            handle = arm(proxy)
        except BaseException:
            release()
            raise

        def cancel() -> None:
            nonlocal state
            if state == "pending":
                state = "done"
                try:
                    disarm(handle)
                finally:
                    release()

        return cancel


__all__ = ["ProxyPool", "is_null", "js_object", "to_js_values", "to_plain_js"]
