"""What every view receives: the services (injected by boot) and the shell's shared parts.

Pure Python: nothing here touches the DOM, so a test can build one with fakes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from zariz.api import ApiClient
from zariz.auth import AuthClient
from zariz.platform import Platform
from zariz.types import EventClient, Undo
from zariz.ui.component import Scope
from zariz.ui.format import UTC_ZONE, Zone
from zariz.ui.hot import HotData
from zariz.ui.scheduler import FrameScheduler
from zariz.ui.toasts import ToastModel

RECENT_EVENTS = 12


@dataclass
class Ctx:
    platform: Platform
    auth: AuthClient
    client: EventClient
    api: ApiClient
    frames: FrameScheduler
    toasts: ToastModel
    navigate: Callable[[str], None]
    refresh_toasts: Callable[[], None] = lambda: None
    # UI timers (tickers, toast expiry, throttles): ``schedule(delay_s, fn) -> cancel``.
    # The app passes the DOM layer's; ``None`` falls back to the platform's.
    timer: Callable[[float, Callable[[], None]], Undo] | None = None
    # The viewer's time zone: every time shown uses the offset in force at that time.
    zone: Zone = UTC_ZONE
    username: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    # The latest order events seen anywhere in this tab (the shell records them), so the
    # overview's feed is not empty just because the user was on another page.
    recent_events: deque[Any] = field(default_factory=lambda: deque(maxlen=RECENT_EVENTS))
    # What the previous version of the UI handed over across a hot swap (dev mode).
    hot: HotData = field(default_factory=HotData)

    def run(self, scope: Scope, coro: Coroutine[Any, Any, Any]) -> Undo:
        """Run ``coro`` on the event loop, cancelled if ``scope`` is disposed first (a
        page left while its request is in flight never touches the DOM afterwards)."""
        if scope.disposed:
            coro.close()
            return lambda: None
        cancel = self.platform.spawn(coro)
        scope.add_cleanup(cancel)
        return cancel

    def schedule(self, delay_s: float, fn: Callable[[], None]) -> Undo:
        if self.timer is not None:
            return self.timer(delay_s, fn)
        return self.platform.schedule(delay_s, fn)

    def later(self, scope: Scope, key: str, fn: Callable[[], None]) -> None:
        """Render ``fn`` in the next animation frame (coalesced per scope and key); a
        disposed scope's pending render is skipped."""

        def guarded() -> None:
            if not scope.disposed:
                fn()

        self.frames.invalidate((id(scope), key), guarded)

    def toast(self, title: str, body: str = "", kind: str = "info") -> None:
        self.toasts.show(title, body, kind)
        self.refresh_toasts()

    async def load_couriers(self, *, max_age_s: float = 30.0) -> dict[Any, dict[str, Any]]:
        """Couriers by id, cached for ``max_age_s`` (pages and toasts share one copy)."""
        cached = self.extras.get("couriers")
        at = self.extras.get("couriers_at")
        now = float(self.platform.now())
        if cached is not None and at is not None and now - at < max_age_s:
            return cached  # type: ignore[no-any-return]
        body = await self.api.list_couriers()
        items = body.get("items", []) if isinstance(body, dict) else []
        couriers = {c["id"]: c for c in items if isinstance(c, dict) and "id" in c}
        self.extras["couriers"] = couriers
        self.extras["couriers_at"] = now
        return couriers

    def courier_names(self) -> dict[Any, str]:
        couriers = self.extras.get("couriers") or {}
        return {cid: str(c.get("name") or cid) for cid, c in couriers.items()}

    def now_ms(self) -> float:
        return float(self.platform.wall_ms())


__all__ = ["Ctx"]
