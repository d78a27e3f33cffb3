"""The toast policy (pure): a stack, auto-dismiss, folding, muting and the recent-events list.

The NotificationProvider owns one :class:`ToastModel` and renders ``model.toasts`` (the
pop-ups) and ``model.history`` (the bell's list). Event toasts go through
:meth:`ToastModel.notify`, which applies two folding rules so live traffic never piles up
over the work:

* **burst**: more than ``burst_limit`` events within ``burst_window`` seconds fold into a
  single summary toast ("37 orders updated") that keeps counting while the burst lasts;
* **limit**: at most ``event_limit`` event toasts are on screen; one more folds the ones
  showing into the summary (steady demo traffic shows one summary, not three toasts).

When :attr:`ToastModel.muted` is set, events that are not the viewer's own (other
dispatchers', demo traffic) still enter the list but make no toast and no unread count.
An event is the viewer's own when its caller says so or its key was marked with
:meth:`ToastModel.mark_own` a moment before (the tab that made a change marks the order).
User-facing messages (errors, confirmations) use :meth:`ToastModel.show`: never folded,
never muted.

Live events come by the hundred a second, and most only count: folded into a summary drawn
once a frame, listed behind a closed bell. :meth:`ToastModel.notify_event` takes an event's
texts as a function, called only when they are shown (a toast of its own, the summary's
latest line, the list when it is read), so such an event costs a count.

>>> t = [0.0]
>>> m = ToastModel(now=lambda: t[0], burst_limit=2)
>>> for i in range(5):
...     _ = m.notify("Order created", key=i)
>>> [x.title for x in m.toasts]
['5 orders updated']
>>> m.muted = True
>>> m.notify("Order #9 assigned", key=9) is None, m.history[0].muted
(True, True)
"""

from __future__ import annotations

from bisect import insort
from collections import Counter, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TypeVar

from zariz.ui.i18n import t, tn

KINDS = ("info", "success", "warning", "error")
T = TypeVar("T", bound="Toast")
Describe = Callable[[], tuple[str, str, str]]
"""An event's texts, made when shown: ``() -> (title, body, kind)``."""
HISTORY = 30
"""How many recent events the bell's list keeps."""
OWN_TTL = 15.0
"""Seconds an order marked as changed by this tab counts its events as the viewer's own."""

# describe_event's codes for kinds of events (stable words, never shown as they are) ->
# the plural keys a summary counts them with.
LABEL_KEYS = {
    "created": "toasts.count.created",
    "assigned": "toasts.count.assigned",
    "status": "toasts.count.status",
    "status changes": "toasts.count.status",
    "deleted": "toasts.count.deleted",
    "edits": "toasts.count.edits",
    "resets": "toasts.count.resets",
    "events": "toasts.count.events",
}


@dataclass(eq=False)  # identity: a toast is found in lists by itself, not by its fields
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
    latest: str = ""  # a summary's newest event ("Order #7 deleted"): what just happened


class Summary(Toast):
    """The summary toast: events folded into it only count (:meth:`fold`); its title,
    body and latest line are composed from the counts when read. A burst folds hundreds of
    events a second into it and it is drawn at most once a frame: composing its texts per
    event (plural lookups, a sort of the kinds, a join) was most of an event's cost."""

    _stale = False
    _title = ""
    _body = ""
    _latest = ""
    _latest_text: Describe | None = None

    def fold(self, key: Hashable, label: str, describe: Describe) -> None:
        """Count one more event (``key``: its order, ``label``: its kind, ``describe``:
        its texts, the title shown as the latest)."""
        if key is not None:
            self.keys.add(key)
        self.kinds[label] += 1
        self.events += 1
        self._latest_text = describe
        self._stale = True

    def _compose(self) -> None:
        self._stale = False
        orders = len(self.keys) or self.events
        self._title = tn("toasts.summary", orders)
        self._body = t("toasts.list_sep").join(
            count_text(k, n) for k, n in self.kinds.most_common()
        )
        title = self._latest_text()[0] if self._latest_text is not None else ""
        self._latest = t("toasts.latest", title=title) if title else ""

    @property
    def title(self) -> str:
        if self._stale:
            self._compose()
        return self._title

    @title.setter
    def title(self, value: str) -> None:
        self._title = value

    @property
    def body(self) -> str:
        if self._stale:
            self._compose()
        return self._body

    @body.setter
    def body(self, value: str) -> None:
        self._body = value

    @property
    def latest(self) -> str:
        if self._stale:
            self._compose()
        return self._latest

    @latest.setter
    def latest(self, value: str) -> None:
        self._latest = value


@dataclass(frozen=True)
class Entry:
    """One event in the bell's list."""

    id: int
    title: str
    body: str
    kind: str
    at: float  # the model's clock
    at_ms: float | None  # wall clock (ms since the epoch) for the time shown, if known
    muted: bool


class _Listed:
    """An event in the list whose texts are not made yet (see :attr:`ToastModel.history`)."""

    __slots__ = ("at", "at_ms", "describe", "id", "muted")

    def __init__(
        self, id: int, describe: Describe, at: float, at_ms: float | None, muted: bool
    ) -> None:
        self.id, self.describe, self.at, self.at_ms, self.muted = id, describe, at, at_ms, muted

    def entry(self) -> Entry:
        title, body, kind = self.describe()
        return Entry(self.id, title, body, kind, self.at, self.at_ms, self.muted)


def count_text(label: str, n: int) -> str:
    """``"3 created"``: a count of one kind of event, in the current locale (an unknown
    label is shown as it came)."""
    key = LABEL_KEYS.get(label)
    return tn(key, n) if key else f"{n} {label}"


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
        event_limit: int = 2,
        history: int = HISTORY,
    ) -> None:
        if max_visible < 1 or burst_limit < 1 or event_limit < 1:
            raise ValueError("max_visible, burst_limit and event_limit must be >= 1")
        self._now = now
        self.ttl = ttl
        self.error_ttl = error_ttl
        self.max_visible = max_visible
        self.burst_limit = burst_limit
        self.burst_window = burst_window
        self.event_limit = event_limit
        self.toasts: list[Toast] = []  # oldest first
        self.version = 0
        self._history: deque[Entry | _Listed] = deque(maxlen=history)  # newest first
        self._unlisted = 0  # events in _history whose texts are not made yet
        self.history_version = 0
        self.unread = 0
        self.muted = False
        self._next_id = 1
        self._next_entry = 1
        # Times of recent notify() calls that made toasts, ascending: the ones that left
        # the window are a prefix (dropped from the left; a rebuild per event was O(burst)).
        self._recent: deque[float] = deque()
        self._summary: Summary | None = None
        self._own: dict[Hashable, float] = {}  # key -> until

    # --- showing ----------------------------------------------------------------------
    def _new(
        self, cls: type[T], title: str, body: str, kind: str, ttl: float | None, **kw: object
    ) -> T:
        if kind not in KINDS:
            raise ValueError(f"unknown toast kind {kind!r}")
        now = self._now()
        life = ttl if ttl is not None else (self.error_ttl if kind == "error" else self.ttl)
        toast = cls(self._next_id, title, body, kind, now, now + life if life > 0 else None)
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
        return self._new(Toast, title, body, kind, ttl)

    def notify(
        self,
        title: str,
        body: str = "",
        kind: str = "info",
        *,
        key: Hashable = None,
        label: str = "events",
        own: bool = False,
        at_ms: float | None = None,
    ) -> Toast | None:
        """An event: listed in :attr:`history`, and a toast subject to the folding rules
        unless muted. ``key`` (the order id) lets the summary count distinct orders and
        matches :meth:`mark_own`; ``label`` counts kinds of events in its body. Returns
        the toast that shows it (``None`` when muted)."""
        if kind not in KINDS:
            raise ValueError(f"unknown toast kind {kind!r}")
        texts = (title, body, kind)
        return self.notify_event(lambda: texts, key=key, label=label, own=own, at_ms=at_ms)

    def notify_event(
        self,
        describe: Describe,
        *,
        key: Hashable = None,
        label: str = "events",
        own: bool = False,
        at_ms: float | None = None,
    ) -> Toast | None:
        """:meth:`notify` with the event's texts made by ``describe`` only when shown (its
        own toast, the summary's latest line, the list read): an event folded into a
        summary or listed behind a closed bell costs a count."""
        try:
            hash(key)
        except TypeError:  # the unhashable id of a hostile event ({"id": [1]}): no key
            key = None
        silent = self.muted and not (own or self.is_own(key))
        self._record(describe, at_ms, silent)
        if silent:
            return None
        now = self._now()
        recent = self._recent
        window = self.burst_window
        while recent and not now - recent[0] < window:
            recent.popleft()
        if not recent or now >= recent[-1]:
            recent.append(now)
        else:  # a clock that stepped back: keep the times in order
            insort(recent, now)
        summary = self._summary if self._summary in self.toasts else None
        # A live summary keeps absorbing events while they keep coming (another event
        # within the window); a lone event after a quiet spell gets its own toast.
        if summary is not None and len(recent) > 1:
            self._fold(summary, key, label, describe)
            return summary
        singles = [x for x in self.toasts if x.event and not x.summary]
        if len(recent) > self.burst_limit:
            burst = [x for x in singles if now - x.created_at < self.burst_window]
            return self._summarize(summary, burst, key, label, describe)
        if len(singles) + (summary is not None) >= self.event_limit:
            return self._summarize(summary, singles, key, label, describe)
        title, body, kind = describe()
        toast = self._new(Toast, title, body, kind, None, event=True)
        toast.keys = {key} if key is not None else set()
        toast.kinds = Counter({label: 1})
        toast.events = 1
        return toast

    def _summarize(
        self, summary: Summary | None, folded: list[Toast], key: Hashable, label: str,
        describe: Describe,
    ) -> Toast:
        """Fold ``folded`` (event toasts on screen) and this event into the summary (a new
        one when none is showing)."""
        self.toasts = [x for x in self.toasts if x not in folded]
        if summary is None:
            summary = self._new(Summary, "", "", "info", None, summary=True, event=True)
            self._summary = summary
        for x in folded:
            summary.keys |= x.keys
            summary.kinds.update(x.kinds)
            summary.events += x.events
        self._fold(summary, key, label, describe)
        return summary

    def _fold(self, summary: Summary, key: Hashable, label: str, describe: Describe) -> None:
        summary.fold(key, label, describe)  # its texts are composed when read
        # The summary stays while events come, then lives its normal time.
        summary.expires_at = self._now() + self.ttl
        self.version += 1

    # --- the recent-events list ---------------------------------------------------------
    @property
    def history(self) -> deque[Entry]:
        """The recent events, newest first (their texts made now, if not yet)."""
        if self._unlisted:
            self._unlisted = 0
            items = self._history
            for i, item in enumerate(items):
                if isinstance(item, _Listed):
                    items[i] = item.entry()
        return self._history  # type: ignore[return-value]  # every item is an Entry now

    def _record(self, describe: Describe, at_ms: float | None, muted: bool) -> None:
        self._history.appendleft(_Listed(self._next_entry, describe, self._now(), at_ms, muted))
        self._unlisted += 1
        self._next_entry += 1
        if not muted:
            self.unread += 1
        self.history_version += 1

    def mark_read(self) -> None:
        if self.unread:
            self.unread = 0
            self.history_version += 1

    def clear_history(self) -> None:
        if self._history or self.unread:
            self._history.clear()
            self._unlisted = 0
            self.unread = 0
            self.history_version += 1

    # --- whose events -------------------------------------------------------------------
    def mark_own(self, key: Hashable, ttl: float = OWN_TTL) -> None:
        """The viewer just changed ``key`` (an order id) from this tab: its events for the
        next ``ttl`` seconds are the viewer's own and are never muted."""
        if key is None:
            return
        try:
            self._own[key] = self._now() + ttl
        except TypeError:  # an unhashable key from a hostile caller
            return

    def is_own(self, key: Hashable) -> bool:
        if key is None or not self._own:
            return False
        now = self._now()
        self._own = {k: until for k, until in self._own.items() if until > now}
        try:
            return key in self._own
        except TypeError:  # an unhashable id in a hostile event ({"id": [1]})
            return False

    def set_muted(self, muted: bool) -> None:
        """Mute (or unmute) others' events; muting also drops their toasts on screen."""
        self.muted = bool(muted)
        if self.muted:
            before = len(self.toasts)
            self.toasts = [x for x in self.toasts if not x.event or (x.keys & self._own_keys())]
            if self._summary not in self.toasts:
                self._summary = None
            if len(self.toasts) != before:
                self.version += 1

    def _own_keys(self) -> set[Hashable]:
        now = self._now()
        return {k for k, until in self._own.items() if until > now}

    # --- removing ---------------------------------------------------------------------
    def _trim(self) -> None:
        while len(self.toasts) > self.max_visible:
            victim = next((x for x in self.toasts if not x.summary), self.toasts[0])
            self.toasts.remove(victim)

    def dismiss(self, toast_id: int) -> bool:
        before = len(self.toasts)
        self.toasts = [x for x in self.toasts if x.id != toast_id]
        if self._summary is not None and self._summary.id == toast_id:
            self._summary = None
        if len(self.toasts) != before:
            self.version += 1
            return True
        return False

    def expire(self) -> bool:
        """Drop toasts whose time is up; True when something was removed."""
        now = self._now()
        keep = [x for x in self.toasts if x.expires_at is None or x.expires_at > now]
        if len(keep) == len(self.toasts):
            return False
        self.toasts = keep
        if self._summary is not None and self._summary not in keep:
            self._summary = None
        self.version += 1
        return True

    def next_expiry_at(self) -> float | None:
        """When (on the model's clock) the next toast expires (``None`` when nothing will)."""
        times = [x.expires_at for x in self.toasts if x.expires_at is not None]
        return min(times) if times else None

    def next_expiry(self) -> float | None:
        """Seconds until the next toast expires (``None`` when nothing will)."""
        at = self.next_expiry_at()
        return None if at is None else max(0.0, at - self._now())

    def clear(self) -> None:
        if self.toasts:
            self.toasts = []
            self.version += 1
        self._summary = None


__all__ = ["HISTORY", "KINDS", "LABEL_KEYS", "OWN_TTL", "Describe", "Entry", "Summary",
           "Toast", "ToastModel", "count_text"]
