"""Small shared types of the pure core: aliases, the normalized event, the client seam.

Imports nothing of the app, so every module can import it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

Status = Literal["connected", "connecting", "disconnected"]
"""What the SSE client tells indicators (the ``data-status`` of ``sse-status``)."""

Origin = Literal["source", "relay"]
"""Where an event came from: this tab's EventSource or a relay (another tab)."""

Undo = Callable[[], None]
"""What every subscription, listener, timer and cleanup returns: calling it releases what
was taken (and destroys its proxies); calling it again is harmless."""


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One normalized event, as handed to subscribers.

    Made by :func:`zariz.sse.normalize.normalize`; defined here, with the aliases that
    name it, so that this module imports nothing of the app.
    """

    event: str
    data: Any
    id: str | None
    received_at: float
    raw: str
    origin: Origin = "source"

    def to_dict(self) -> dict[str, Any]:
        """The public shape every subscriber can rely on:
        ``{"event", "data", "id", "received_at"}``."""
        return {
            "event": self.event,
            "data": self.data,
            "id": self.id,
            "received_at": self.received_at,
        }


class _Unfrozen:
    """:class:`SSEEvent`'s slots without its frozen ``__setattr__`` (:func:`make_event`)."""

    __slots__ = SSEEvent.__slots__

    def __init__(self, event: str, data: Any, id: str | None, received_at: float, raw: str,
                 origin: Origin) -> None:
        self.event = event
        self.data = data
        self.id = id
        self.received_at = received_at
        self.raw = raw
        self.origin = origin


def make_event(event: str, data: Any, id: str | None, received_at: float, raw: str,
               origin: Origin = "source") -> SSEEvent:
    """``SSEEvent(event, data, id, received_at, raw, origin)``, made faster for the
    stream's every event: a frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__``, a slot-wrapper call that Pyodide pays dearly (in the page,
    bench/RESULTS.md's stage table: this and ``SSEEvent(...)`` side by side). The fields
    are stored on a twin with the same slots and no frozen ``__setattr__``, whose instance
    then becomes an ``SSEEvent`` (``__class__`` assignment: the same layout). What comes
    out is an ordinary, frozen ``SSEEvent``; its ``__init__`` does not run, so SSEEvent
    must keep none of its own (no ``__post_init__``, no ``default_factory``: tested)."""
    obj: Any = _Unfrozen(event, data, id, received_at, raw, origin)
    obj.__class__ = SSEEvent
    return cast(SSEEvent, obj)


Handler = Callable[[SSEEvent], Any]
"""An event subscriber; its return value is ignored."""

StatusListener = Callable[[Status], Any]
"""Called with the new status on every change."""

JSON = Any
"""A value ``json.loads`` can produce; kept as ``Any`` because recursive aliases add noise."""

CONNECTION_STATUSES: tuple[Status, ...] = ("connected", "connecting", "disconnected")


class EventClient(Protocol):
    """What the UI needs of the event client (:class:`zariz.sse.SSEClient` is one): the
    seam hooks and pages are typed against, so a page can be checked without the client."""

    @property
    def status(self) -> Status: ...

    @property
    def stats(self) -> dict[str, Any]: ...

    @property
    def role(self) -> str:
        """``per-tab``, ``leader`` or ``follower`` (the stream is another tab's)."""
        ...

    def subscribe(
        self, handler: Handler, events: Iterable[str] | None = None, *, keep_open: bool = True
    ) -> Undo:
        """``keep_open=False``: receive events while the stream is open, but do not hold
        it open (lazy mode: a connection indicator, toasts)."""
        ...

    def on_status(self, fn: StatusListener) -> Undo: ...

    def retry_in(self) -> float | None: ...

    def reconnect(self, reason: str = "requested") -> None: ...

    def reconnect_now(self) -> bool: ...

    @property
    def idle(self) -> bool:
        """Lazy mode: the stream is closed on purpose (nothing needs live events): not an
        outage, so no "Reconnecting" and no stale-data banner."""
        ...

    @property
    def caught_up(self) -> bool:
        """Connected, and the stream has stated its position since it opened."""
        ...

    def nudge(self, reason: str = "signal", *, spread: bool = True) -> bool:
        """A sign the stream may be possible again: if waiting, retry (soon) without
        resetting the backoff."""
        ...

__all__ = [
    "JSON",
    "CONNECTION_STATUSES",
    "EventClient",
    "Handler",
    "Origin",
    "SSEEvent",
    "Status",
    "StatusListener",
    "Undo",
    "make_event",
]
