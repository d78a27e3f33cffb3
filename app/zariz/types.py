"""Small shared types of the pure core: aliases, the normalized event, the client seam.

Imports nothing of the app, so every module can import it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

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
]
