"""The toast policy (pure): a stack, auto-dismiss times and burst summarization.

The NotificationProvider owns one :class:`ToastModel` and renders ``model.toasts``. Event
toasts go through :meth:`ToastModel.notify`, which applies the burst rule: more than
``burst_limit`` event toasts within ``burst_window`` seconds fold into a single summary
toast ("37 orders updated") that keeps counting while the burst lasts, so 500 events in a
second make one toast, not 500. User-facing messages (errors, confirmations) use
:meth:`ToastModel.show` and are never folded.

>>> t = [0.0]
>>> m = ToastModel(now=lambda: t[0], burst_limit=2)
>>> for i in range(5):
...     _ = m.notify("Order created", key=i)
>>> [x.title for x in m.toasts]
['5 orders updated']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

KINDS = ("info", "success", "warning", "error")


@dataclass
class Toast:
    id: int
    title: str
    body: str = ""
    kind: str = "info"
    created_at: float = 0.0
    expires_at: float | None = None  # None: sticky until dismissed
    summary: bool = False
    event: bool = False  # came from notify() (foldable into a summary)
    keys: set[Hashable] = field(default_factory=set)
    kinds: Counter[str] = field(default_factory=Counter)
    events: int = 0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class ToastModel:
    def __init__(
        self,
        *,
        now: Callable[[], float],
        ttl: float = 5.0,
        error_ttl: float = 8.0,
        max_visible: int = 5,
        burst_limit: int = 5,
        burst_window: float = 1.0,
    ) -> None:
        if max_visible < 1 or burst_limit < 1:
            raise ValueError("max_visible and burst_limit must be >= 1")
        self._now = now
        self.ttl = ttl
        self.error_ttl = error_ttl
        self.max_visible = max_visible
        self.burst_limit = burst_limit
        self.burst_window = burst_window
        self.toasts: list[Toast] = []  # oldest first
        self.version = 0
        self._next_id = 1
        self._recent: list[float] = []  # times of recent notify() calls
        self._summary: Toast | None = None

    # --- showing ----------------------------------------------------------------------
    def _new(self, title: str, body: str, kind: str, ttl: float | None, **kw: object) -> Toast:
        if kind not in KINDS:
            raise ValueError(f"unknown toast kind {kind!r}")
        now = self._now()
        life = ttl if ttl is not None else (self.error_ttl if kind == "error" else self.ttl)
        toast = Toast(self._next_id, title, body, kind, now, now + life if life > 0 else None)
        for k, v in kw.items():
            setattr(toast, k, v)
        self._next_id += 1
        self.toasts.append(toast)
        self._trim()
        self.version += 1
        return toast

    def show(
        self, title: str, body: str = "", kind: str = "info", ttl: float | None = None
    ) -> Toast:
        """A toast that is always shown on its own (errors, confirmations)."""
        return self._new(title, body, kind, ttl)

    def notify(
        self,
        title: str,
        body: str = "",
        kind: str = "info",
        *,
        key: Hashable = None,
        label: str = "event",
    ) -> Toast:
        """An event toast, subject to the burst rule. ``key`` (the order id) lets the
        summary count distinct orders; ``label`` counts kinds of events in its body."""
        now = self._now()
        self._recent = [t for t in self._recent if now - t < self.burst_window]
        self._recent.append(now)
        summary = self._summary
        # A live summary keeps absorbing events while they keep coming (another event
        # within the window); a lone event after a quiet spell gets its own toast.
        if summary is not None and summary in self.toasts and len(self._recent) > 1:
            self._fold(summary, key, label)
            return summary
        if len(self._recent) > self.burst_limit:
            return self._start_summary(key, label)
        toast = self._new(title, body, kind, None, event=True)
        toast.keys = {key} if key is not None else set()
        toast.kinds = Counter({label: 1})
        toast.events = 1
        return toast

    def _start_summary(self, key: Hashable, label: str) -> Toast:
        now = self._now()
        # Fold the burst's individual toasts into the summary.
        folded = [t for t in self.toasts if t.event and now - t.created_at < self.burst_window]
        self.toasts = [t for t in self.toasts if t not in folded]
        summary = self._new("", "", "info", None, summary=True)
        for t in folded:
            summary.keys |= t.keys
            summary.kinds.update(t.kinds)
            summary.events += t.events
        self._summary = summary
        self._fold(summary, key, label)
        return summary

    def _fold(self, summary: Toast, key: Hashable, label: str) -> None:
        if key is not None:
            summary.keys.add(key)
        summary.kinds[label] += 1
        summary.events += 1
        orders = len(summary.keys) or summary.events
        summary.title = f"{_plural(orders, 'order')} updated"
        summary.body = ", ".join(f"{n} {k}" for k, n in summary.kinds.most_common())
        # The summary stays while the burst lasts, then lives its normal time.
        summary.expires_at = self._now() + self.ttl
        self.version += 1

    # --- removing ---------------------------------------------------------------------
    def _trim(self) -> None:
        while len(self.toasts) > self.max_visible:
            victim = next((t for t in self.toasts if not t.summary), self.toasts[0])
            self.toasts.remove(victim)

    def dismiss(self, toast_id: int) -> bool:
        before = len(self.toasts)
        self.toasts = [t for t in self.toasts if t.id != toast_id]
        if self._summary is not None and self._summary.id == toast_id:
            self._summary = None
        if len(self.toasts) != before:
            self.version += 1
            return True
        return False

    def expire(self) -> bool:
        """Drop toasts whose time is up; True when something was removed."""
        now = self._now()
        keep = [t for t in self.toasts if t.expires_at is None or t.expires_at > now]
        if len(keep) == len(self.toasts):
            return False
        self.toasts = keep
        if self._summary is not None and self._summary not in keep:
            self._summary = None
        self.version += 1
        return True

    def next_expiry(self) -> float | None:
        """Seconds until the next toast expires (``None`` when nothing will)."""
        times = [t.expires_at for t in self.toasts if t.expires_at is not None]
        return max(0.0, min(times) - self._now()) if times else None

    def clear(self) -> None:
        if self.toasts:
            self.toasts = []
            self.version += 1
        self._summary = None


__all__ = ["KINDS", "Toast", "ToastModel"]
