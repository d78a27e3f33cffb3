"""The component lifecycle: mount -> effects -> dispose, in pure Python.

A component is a function ``render(scope) -> node``. :func:`mount` runs it in three named
phases (reactpy's ``LifeCycleHook`` is the model):

1. **render** - build the node (no subscriptions yet);
2. **effects** - functions registered with :meth:`Scope.effect` run after the node is
   attached; each may return a cleanup;
3. **dispose** - child scopes first, then cleanups in reverse order, each in ``finally`` so
   that one failing cleanup never skips the others. Errors are logged with their
   traceback, never raised: a broken page must not break navigation.

Every subscription made through a scope is undone when the scope is disposed, which is how
pages, modals and the shell guarantee they leave the SSE client's subscriber count where
they found it.

Example::

    def counter(scope: Scope) -> Node:
        node = h("span", None, "0")
        scope.effect(lambda: client.subscribe(lambda ev: set_text(node, ev.id)))
        return node

    mounted = mount(counter, attach=parent.appendChild, detach=lambda n: n.remove())
    ...
    mounted.dispose()   # unsubscribed, node detached

The hooks :func:`use_sse_events` and :func:`use_order_events` wrap the SSE client's
``subscribe(handler, events=None) -> unsubscribe`` in a scope.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zariz.types import EventClient, Handler, Status, StatusListener, Undo
from zariz.ui.orders_store import parse_event_id

log = logging.getLogger("zariz.ui")

Effect = Callable[[], Any]



def _run_logged(what: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:  # logged, never raised: see the module doc
        log.exception("[UI] %s failed", what)
        return None


class Scope:
    """Owns cleanups and child scopes; :meth:`dispose` releases them all, once."""

    def __init__(self, name: str = "scope", parent: Scope | None = None) -> None:
        self.name = name
        self.parent = parent
        self.phase = "render"  # render -> mounted -> disposing -> disposed
        self._cleanups: list[Undo] = []
        self._effects: list[Effect] = []
        self._children: list[Scope] = []
        if parent is not None:
            parent._children.append(self)

    # --- registration -----------------------------------------------------------------
    @property
    def disposed(self) -> bool:
        return self.phase in ("disposing", "disposed")

    def add_cleanup(self, fn: Undo) -> Undo:
        """Register an undo; it runs on dispose (immediately if already disposed)."""
        if not callable(fn):
            raise TypeError(f"cleanup must be callable, got {fn!r}")
        if self.disposed:
            _run_logged(f"{self.name}: late cleanup", fn)
        else:
            self._cleanups.append(fn)
        return fn

    use = add_cleanup  # ``scope.use(client.subscribe(...))`` reads well

    def effect(self, fn: Effect) -> None:
        """Run ``fn`` after mount (or now, if already mounted); a callable it returns is
        registered as a cleanup."""
        if self.disposed:
            raise RuntimeError(f"{self.name}: effect() on a disposed scope")
        if self.phase == "mounted":
            self._run_effect(fn)
        else:
            self._effects.append(fn)

    def child(self, name: str) -> Scope:
        if self.disposed:
            raise RuntimeError(f"{self.name}: child() on a disposed scope")
        return Scope(name, self)

    # --- phases -----------------------------------------------------------------------
    def _run_effect(self, fn: Effect) -> None:
        result = _run_logged(f"{self.name}: effect", fn)
        if callable(result):
            self.add_cleanup(result)

    def run_effects(self) -> None:
        """Enter the mounted phase: children created during render run their effects
        first (inner before outer, as in React), then this scope's own."""
        if self.phase != "render":
            return
        for child in list(self._children):
            if child.phase == "render" and not self.disposed:
                child.run_effects()
        effects, self._effects = self._effects, []
        self.phase = "mounted"
        for fn in effects:
            if self.disposed:
                break
            self._run_effect(fn)

    def dispose(self) -> None:
        """Children first, then own cleanups in reverse order. Idempotent."""
        if self.disposed:
            return
        self.phase = "disposing"
        try:
            for child in reversed(self._children):
                _run_logged(f"{child.name}: dispose", child.dispose)
            self._children.clear()
            while self._cleanups:
                fn = self._cleanups.pop()
                try:
                    fn()
                except Exception:
                    log.exception("[UI] %s: cleanup failed", self.name)
        finally:
            self.phase = "disposed"
            self._effects.clear()
            if self.parent is not None and self in self.parent._children:
                self.parent._children.remove(self)


class Mounted:
    """A mounted component: its node, its scope and the undo."""

    def __init__(self, scope: Scope, node: Any, detach: Callable[[Any], Any] | None) -> None:
        self.scope = scope
        self.node = node
        self._detach = detach
        self._done = False

    @property
    def disposed(self) -> bool:
        return self._done

    def dispose(self) -> None:
        """Dispose the scope, then detach the node (also a render-error fallback's)."""
        if self._done:
            return
        self._done = True
        node, detach = self.node, self._detach
        self.node = None
        try:
            self.scope.dispose()
        finally:
            if detach is not None and node is not None:
                _run_logged(f"{self.scope.name}: detach", lambda: detach(node))

    __call__ = dispose


@dataclass
class StrictMode:
    """React's StrictMode for this component model: every :func:`mount` mounts, disposes
    and mounts again, so a cleanup that is missing shows up at once instead of as a slow
    leak. ``probe()`` counts what components hold (subscriptions, listeners, timers,
    proxies); a component whose second mount holds more than its first left something of
    the first behind, and ``warn(message)`` names it."""

    probe: Callable[[], Mapping[str, int]]
    warn: Callable[[str], None]
    checked: int = 0
    leaks: list[str] = field(default_factory=list)

    def check(
        self, name: str, before: Mapping[str, int], first: Mapping[str, int],
        second: Mapping[str, int],
    ) -> None:
        self.checked += 1
        # Held by the second mount minus held by the first, each counted from ``before``.
        grown = {
            key: second.get(key, 0) - first.get(key, 0) for key in sorted(set(first) | set(second))
        }
        grown = {k: v for k, v in grown.items() if v > 0}
        if not grown:
            return
        held = ", ".join(f"{v} more {k}" for k, v in grown.items())
        message = (
            f"strict mode: {name} does not clean up after itself: its second mount holds "
            f"{held} than its first (a subscription, listener or timer it made is not "
            "undone when it is disposed)"
        )
        self.leaks.append(name)
        self.warn(message)


_strict: StrictMode | None = None


def set_strict(mode: StrictMode | None) -> Undo:
    """Turn strict mode on (``mode``) or off (``None``) for every later :func:`mount`;
    returns the undo (the previous setting back)."""
    global _strict
    previous, _strict = _strict, mode

    def undo() -> None:
        global _strict
        if _strict is mode:
            _strict = previous

    return undo


def strict_mode() -> StrictMode | None:
    return _strict


def mount(
    render: Callable[[Scope], Any],
    *,
    attach: Callable[[Any], Any] | None = None,
    detach: Callable[[Any], Any] | None = None,
    parent: Scope | None = None,
    name: str | None = None,
    fallback: Callable[[Exception], Any] | None = None,
) -> Mounted:
    """Render, attach, run effects. A render that raises is logged; its scope is disposed
    (releasing whatever it registered) and ``fallback(exc)`` - an error panel - is
    attached instead, so navigation keeps working.

    In strict mode (:func:`set_strict`) the component is mounted, disposed and mounted
    again, and the second mount is what the caller gets. A node that is attached but
    cannot be detached (``attach`` without ``detach``) is mounted once."""
    label = name or str(getattr(render, "__name__", "component"))
    strict = _strict
    if strict is None or (attach is not None and detach is None):
        return _mount_once(render, label, attach, detach, parent, fallback)
    before = strict.probe()
    first = _mount_once(render, label, attach, detach, parent, fallback)
    if first.scope.phase != "mounted":
        return first  # the render failed: its fallback is shown, nothing to compare
    after_first = strict.probe()
    first.dispose()
    second = _mount_once(render, label, attach, detach, parent, fallback)
    if second.scope.phase == "mounted":
        strict.check(label, before, after_first, strict.probe())
    return second


def _mount_once(
    render: Callable[[Scope], Any],
    label: str,
    attach: Callable[[Any], Any] | None,
    detach: Callable[[Any], Any] | None,
    parent: Scope | None,
    fallback: Callable[[Exception], Any] | None,
) -> Mounted:
    scope = parent.child(label) if parent is not None else Scope(label)
    try:
        node = render(scope)
    except Exception as exc:
        log.exception("[UI] %s: render failed", label)
        scope.dispose()
        node = fallback(exc) if fallback is not None else None
        if node is not None and attach is not None:
            attach(node)
        return Mounted(scope, node, detach)
    if attach is not None and node is not None:
        try:
            attach(node)
        except Exception:
            scope.dispose()
            raise
    scope.run_effects()
    return Mounted(scope, node, detach)


# --- hooks ----------------------------------------------------------------------------


class Subscription:
    """What the hooks return: call it to unsubscribe early (idempotent); ``status`` is the
    client's live status; ``on_status(fn)`` follows it for the lifetime of the scope."""

    def __init__(self, scope: Scope, client: EventClient) -> None:
        self._scope = scope
        self._client = client
        self._undo: Undo | None = None

    @property
    def status(self) -> Status:
        return self._client.status

    @property
    def active(self) -> bool:
        return self._undo is not None

    def on_status(self, fn: StatusListener) -> Undo:
        off = self._client.on_status(fn)
        self._scope.add_cleanup(off)
        return off

    def _set(self, undo: Undo) -> None:
        self._undo = undo

    def __call__(self) -> None:
        undo, self._undo = self._undo, None
        if undo is not None:
            undo()


def use_sse_events(
    scope: Scope,
    client: EventClient,
    handler: Handler,
    events: Iterable[str] | None = None,
    *,
    keep_open: bool = True,
) -> Subscription:
    """Subscribe ``handler`` when the scope mounts, unsubscribe when it is disposed.
    ``keep_open=False``: get events while the stream is open, never hold it open (the
    client's lazy mode; the shell's indicator and toasts).

    Never connects by itself: the connection belongs to the client. In its default
    ``always`` mode it stays connected while logged in whether or not anything subscribes;
    in ``lazy`` mode a ``keep_open`` subscription is what makes it connect, and the last
    one leaving starts its idle delay."""
    sub = Subscription(scope, client)
    wanted = list(events) if events is not None else None

    def start() -> Undo:
        if not keep_open:
            sub._set(client.subscribe(handler, events=wanted, keep_open=False))
        elif wanted:
            sub._set(client.subscribe(handler, events=wanted))
        else:
            sub._set(client.subscribe(handler))
        return sub

    scope.effect(start)
    return sub


def event_id(ev: Any) -> int | None:
    """The event's numeric id, or ``None`` (no id, or not a plain integer)."""
    return parse_event_id(getattr(ev, "id", None))


def use_order_events(
    scope: Scope,
    client: EventClient,
    handler: Handler,
) -> Subscription:
    """Order events for a store: every ``order.*`` event, ``reset`` (refetch), and any
    other event that carries an id.

    It subscribes to *all* events rather than a filtered list so that the handler still
    sees every id: an order store detects a gap in ids, and a filter would create false
    gaps if the server ever numbered other event types. Events without an id (pings from a
    fresh stream) are dropped here."""

    def relay(ev: Any) -> None:
        name = getattr(ev, "event", "")
        if name.startswith("order.") or name == "reset" or event_id(ev) is not None:
            handler(ev)

    return use_sse_events(scope, client, relay)


__all__ = [
    "Mounted",
    "Scope",
    "StrictMode",
    "Subscription",
    "event_id",
    "mount",
    "set_strict",
    "strict_mode",
    "use_order_events",
    "use_sse_events",
]
