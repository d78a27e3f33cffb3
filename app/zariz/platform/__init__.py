"""The platform contract: everything the pure core needs from a browser.

The SSE client, the auth client and the REST client are pure Python. They receive an
object that satisfies :class:`Platform` and never import ``js`` or ``pyodide``. Two
implementations exist:

* ``zariz.platform.browser.BrowserPlatform`` - with ``zariz.ui.dom`` and the FFI toolkit
  they share (``zariz.platform.jsffi``), the only modules that import ``js`` /
  ``pyodide.ffi``; it owns every proxy it creates.
* ``zariz.platform.fake.FakePlatform`` - CPython tests: a virtual clock, scripted HTTP,
  fake event sources.

Every method that registers something returns its undo (``Callable[[], None]``); an undo
is idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from zariz.types import Undo

T = TypeVar("T")


HeadersHook = Callable[[int, Mapping[str, str]], None]
"""``on_headers(status, headers)`` of :meth:`Platform.request`."""


def call_headers_hook(hook: HeadersHook, status: int, headers: Mapping[str, str]) -> None:
    """Run a request's ``on_headers``; a bug in it is logged and does not fail the request
    (its answer is still the caller's)."""
    try:
        hook(status, headers)
    except Exception:
        logging.getLogger("zariz.platform").exception("[HTTP] on_headers failed")


@dataclass(frozen=True)
class RawEvent:
    """One event as the EventSource (or a relay) delivered it, before normalization.

    ``type`` is the SSE event name (``"message"`` for the default event), ``data`` the
    raw text of the ``data:`` lines, ``last_event_id`` the ``id:`` in force ("" if none).
    """

    type: str
    data: str
    last_event_id: str = ""


@dataclass(frozen=True)
class HttpResponse:
    """A finished HTTP exchange. ``status`` 0 never appears: network failures raise
    :class:`NetworkError` instead. ``body`` is the parsed JSON (``None`` if the body was
    empty or not JSON); ``text`` the raw body."""

    status: int
    body: Any = None
    text: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class NetworkError(Exception):
    """The request never produced an HTTP status (offline, DNS, refused, aborted)."""


class EventSourceHandlers(Protocol):
    """Callbacks the platform calls for one opened source."""

    def on_open(self) -> None: ...

    def on_event(self, event: RawEvent) -> None: ...

    def on_error(self, closed: bool) -> None:
        """``closed`` is True when the browser gave up (readyState CLOSED, e.g. a
        non-200 answer) and False while it would retry by itself."""
        ...


@runtime_checkable
class Platform(Protocol):
    """What the pure core needs. Times are in seconds (floats)."""

    # --- time and randomness -------------------------------------------------------
    def now(self) -> float:
        """A monotonic clock in seconds (``performance.now()/1000`` in the browser)."""
        ...

    def wall_ms(self) -> int:
        """Wall-clock time in epoch milliseconds (``Date.now()``)."""
        ...

    def random(self) -> float:
        """Uniform in [0, 1)."""
        ...

    def schedule(self, delay_s: float, fn: Callable[[], None]) -> Undo:
        """Call ``fn`` once after ``delay_s``. The undo cancels it (idempotent, harmless
        after it fired)."""
        ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> Undo:
        """Run a coroutine on the event loop (Pyodide's webloop in the browser). The undo
        cancels it."""
        ...

    # --- network ---------------------------------------------------------------------
    def open_event_source(
        self, url: str, handlers: EventSourceHandlers, named_events: Sequence[str]
    ) -> Undo:
        """Open a native EventSource on ``url`` and route its ``open``, default
        ``message`` events, each name in ``named_events`` and ``error`` to ``handlers``.
        The undo closes the source, removes every listener and destroys every proxy;
        after it returns no handler is called again."""
        ...

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        on_headers: HeadersHook | None = None,
    ) -> Awaitable[HttpResponse]:
        """An HTTP request (``fetch`` in the browser). Raises :class:`NetworkError`.

        ``on_headers(status, headers)`` (names in lower case) runs once the status and
        headers are in, before the body is read: a caller may start its next request
        meanwhile. What it raises is logged, never the request's (see
        :func:`call_headers_hook`)."""
        ...

    # --- environment -----------------------------------------------------------------
    def is_online(self) -> bool: ...

    def is_visible(self) -> bool: ...

    def on_window_event(self, name: str, fn: Callable[[], None]) -> Undo:
        """Listen for ``online``, ``offline``, ``pageshow`` (window) or
        ``visibilitychange`` (document)."""
        ...

    # --- storage (auth tokens, shared by the tabs of one origin) --------------------
    def storage_get(self, key: str) -> str | None: ...

    def storage_set(self, key: str, value: str) -> None: ...

    def storage_remove(self, key: str) -> None: ...

    def on_storage(self, fn: Callable[[str | None, str | None], None]) -> Undo:
        """Another tab changed ``key`` to ``value`` (``None`` = removed); ``key`` is
        ``None`` when another tab cleared the whole storage."""
        ...

    # --- cross-tab channel (relay) ---------------------------------------------------
    def open_channel(self, name: str, on_message: Callable[[Any], None]) -> tuple[
        Callable[[Any], None], Undo
    ]:
        """A BroadcastChannel: returns ``(post, close)``. Messages are JSON-able values.
        A platform without BroadcastChannel returns a no-op ``post`` and says so in the
        log (an explicit fallback, not an AttributeError)."""
        ...

    def with_lock(self, name: str, fn: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        """Run ``fn()`` while holding ``name``, a lock shared by every tab of the origin
        (Web Locks). Without Web Locks it runs ``fn()`` directly and says so in the log
        (an explicit fallback)."""
        ...

    def hold_lock(
        self,
        name: str,
        on_acquired: Callable[[], None],
        on_lost: Callable[[], None],
        *,
        steal: bool = False,
    ) -> Undo:
        """Ask for the exclusive Web Lock ``name`` (shared by every tab of the origin) and
        keep it until the returned undo is called - for as long as the tab lives.

        * ``on_acquired()`` runs once when the lock is granted: soon, later (queued, FIFO,
          behind the holder and earlier requests), or never. Always asynchronously, never
          from inside ``hold_lock`` itself.
        * ``on_lost()`` runs at most once, after ``on_acquired``, when another tab took the
          lock with ``steal``. The request is then over: this tab neither holds nor waits
          for the lock (ask again with a new ``hold_lock``). It arrives late when this tab
          was frozen: the stealer may be running for a while before the loser hears of it.
        * ``steal=True``: granted at once, deposing the holder (its ``on_lost`` runs);
          requests waiting in the queue stay queued. An undo cannot give the lock back to
          the deposed holder.
        * The undo (idempotent) releases the lock if held, or withdraws the request if still
          queued; neither callback runs after it, and it is a no-op after ``on_lost``.
        * The browser releases the lock by itself when the tab goes away (close, reload,
          navigation, discard): the next request in the queue is granted.

        Without Web Locks (see :meth:`supports`) the request is granted at once, this tab
        alone, and the log says so (an explicit fallback; callers that need a single holder
        check ``supports("locks")`` first)."""
        ...

    def supports(self, feature: str) -> bool:
        """Whether a cross-tab feature exists here: ``"locks"`` (``navigator.locks``, for
        :meth:`hold_lock`/:meth:`with_lock`) or ``"channel"`` (``BroadcastChannel``, for
        :meth:`open_channel`). Any other name raises ``ValueError``."""
        ...

    def live_proxies(self) -> int:
        """How many JS proxies this platform holds right now (0 where none exist)."""
        ...


FEATURES = ("locks", "channel")
"""The names :meth:`Platform.supports` knows."""

__all__ = [
    "FEATURES",
    "EventSourceHandlers",
    "HeadersHook",
    "HttpResponse",
    "NetworkError",
    "Platform",
    "RawEvent",
    "Undo",
    "call_headers_hook",
]
