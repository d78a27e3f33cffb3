"""Small shared type aliases for the pure core (see ``style.md`` item 10)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from zariz.sse.normalize import SSEEvent

Status = Literal["connected", "connecting", "disconnected"]
"""What the SSE client tells indicators (the ``data-status`` of ``sse-status``)."""

Origin = Literal["source", "relay"]
"""Where an event came from: this tab's EventSource or a relay (another tab)."""

Undo = Callable[[], None]
"""What every subscription, listener, timer and cleanup returns: calling it releases what
was taken (and destroys its proxies); calling it again is harmless."""

Handler = Callable[["SSEEvent"], Any]
"""An event subscriber; its return value is ignored."""

StatusListener = Callable[[Status], Any]
"""Called with the new status on every change."""

JSON = Any
"""A value ``json.loads`` can produce; kept as ``Any`` because recursive aliases add noise."""

STATUSES: tuple[Status, ...] = ("connected", "connecting", "disconnected")

__all__ = ["JSON", "STATUSES", "Handler", "Origin", "Status", "StatusListener", "Undo"]
