"""The orders store: REST snapshot + incremental events, with filter, search, sort and paging.

One source of truth for a page: mutations go through REST and the table only changes when
the server's event arrives. The store is pure Python; a page feeds it and renders
:meth:`OrdersStore.view`.

Loading and events race, so loading is a transaction::

    store.begin_load()            # events are buffered from here
    items = await fetch_all()
    store.finish_load(items)      # snapshot replaces everything, buffered events replay

Every view is "snapshot at N, then the events after N": the server says at which event id
a snapshot was taken (``finish_load(items, at=N)``); events up to N are already in it and
are skipped, events after it are applied in id order, and a gap in the ids — or a stream
``position``/``ping`` marker beyond what the store has seen (events it never got) — sets
:attr:`needs_refetch`, as does a ``reset``; the page then reloads (throttled). An event
whose ``updated_at`` is older than what the store holds never overwrites it.

>>> s = OrdersStore(page_size=2)
>>> s.finish_load([{"id": 1, "customer": "Ann", "status": "new"}])
>>> s.apply("order.created", {"id": 2, "customer": "Bob", "status": "new"}, event_id=7)
True
>>> [o["id"] for o in s.view().items]
[2, 1]

Sorting is by any column (:data:`SORT_COLUMNS`), stable (ties by id) and kept with every
change: an order that changes moves to its place. The list state (filter, search, sort,
page) round-trips through the URL (:func:`parse_list_state`, :func:`list_state_search`).

>>> s.set_sort("customer")
>>> [o["customer"] for o in s.view().items]
['Ann', 'Bob']
>>> list_state_search(s.list_state(), "?lang=he")
'?lang=he&sort=customer&dir=asc'
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zariz.orders import STATUSES, UPSERT_EVENTS
from zariz.ui.orders_query import (
    DEFAULT_SORT,
    SORT_COLUMNS,
    ListState,
    Query,
    SortKey,
    default_desc,
    list_state_search,
    matches_query,
    parse_list_state,
    sort_key,
)
from zariz.ui.orders_query import created_key as _sort_key

Order = dict[str, Any]
# Named stream events that carry the id in force, not an event of their own: "the stream
# has delivered everything up to here". An id beyond the store's means events it missed.
# ``dev.reload`` (dev mode) has no id of its own either: the browser hands it the last one.
MARKER_EVENTS = frozenset({"position", "ping", "dev.reload"})


def parse_event_id(raw_id: Any) -> int | None:
    """An SSE id as a number; None when absent or not a plain non-negative integer."""
    if raw_id is None or raw_id == "":
        return None
    text = str(raw_id)
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def _order_key(order: Any) -> int | str | None:
    """The order's id as a dict key; None when it has no usable one (a list is not
    hashable, and ``true`` would hash like order 1)."""
    oid = order.get("id") if isinstance(order, Mapping) else None
    if isinstance(oid, bool) or not isinstance(oid, int | str) or oid == "":
        return None
    return oid


class Cursor:
    """Where a "snapshot at N, then events after N" view stands in the event log.

    ``judge`` says what to do with an event: ``"skip"`` (at or before our position),
    ``"apply"``, or ``"gap"`` (apply it, but events before it were missed: refetch).

    >>> c = Cursor(); c.at(5)
    >>> [c.judge("order.created", i) for i in (4, 6, 8)]
    ['skip', 'apply', 'gap']
    >>> c.judge("ping", 8), c.judge("position", 9)
    ('skip', 'gap')
    """

    def __init__(self) -> None:
        self.last: int | None = None

    def at(self, position: int | None) -> None:
        self.last = position

    def judge(self, name: str, event_id: int | None) -> str:
        last = self.last
        if event_id is None or last is None:
            if event_id is not None and name not in MARKER_EVENTS:
                self.last = event_id  # no snapshot position known: follow the stream
            return "apply"
        if name in MARKER_EVENTS:
            return "gap" if event_id > last else "skip"
        if event_id <= last:
            return "skip"  # already in the snapshot, or a replay overlap
        self.last = event_id
        return "gap" if event_id > last + 1 else "apply"


def _older(incoming: Any, current: Any) -> bool:
    """Is ``incoming``'s ``updated_at`` strictly older than ``current``'s?"""
    if incoming is None or current is None:
        return False
    if isinstance(incoming, int | float) and isinstance(current, int | float):
        return incoming < current
    if isinstance(incoming, str) and isinstance(current, str):
        return incoming < current  # ISO-8601 from one server: lexicographic order = time
    return False



@dataclass(frozen=True)
class Page:
    items: list[Order]
    total: int  # matching the filter and search
    page: int  # 0-based, clamped
    pages: int  # at least 1
    page_size: int
    counts: dict[str, int] = field(default_factory=dict)  # all orders, by status

    @property
    def first(self) -> int:
        """1-based index of the first row shown (0 when empty)."""
        return self.page * self.page_size + 1 if self.items else 0

    @property
    def last(self) -> int:
        return self.page * self.page_size + len(self.items)


class OrdersStore:
    """See the module doc. The sorted order and the counts per status are kept up to date
    change by change (an index sorted by the sort's key, counters), not recomputed from
    every order on each view: a page renders once per frame, and sorting 10,000 orders per
    frame cost more than the frame (profiled in Pyodide, bench/RESULTS.md). Choosing
    another sort builds the index once with the new key (flipping the creation time's
    direction does not even do that: it reads the same index backwards)."""

    def __init__(self, page_size: int = 50) -> None:
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        self.page_size = page_size
        self._orders: dict[Any, Order] = {}
        self.sort_column = DEFAULT_SORT
        self.sort_desc = default_desc(DEFAULT_SORT)
        self._couriers: dict[Any, Any] = {}
        self._key: SortKey = _sort_key
        # Ascending (sort key, order key) of every order (shown backwards for a descending
        # sort: newest last by default), and each order's entry, the very tuple in the list,
        # found by bisection (every key orders: the keys tag types and never hold a NaN).
        self._index: list[tuple[Any, Any]] = []
        self._entries: dict[Any, tuple[Any, Any]] = {}
        self._status_counts: dict[str, int] = {}
        self.version = 0  # bumps on every visible change; views are cached on it
        self.loaded = False
        self.loading = False
        self.needs_refetch = False
        self.cursor = Cursor()
        self._buffer: list[tuple[str, Any, int | None]] | None = None
        self.status_filter: str | None = None
        self.query = ""
        self.page = 0
        self._cache_key: tuple[Any, ...] | None = None
        self._cache: list[Order] = []

    @property
    def last_event_id(self) -> int | None:
        """The event id the store's data is complete through (None: unknown)."""
        return self.cursor.last

    # --- loading ----------------------------------------------------------------------
    def begin_load(self) -> None:
        self.loading = True
        self._buffer = []

    def finish_load(self, items: Iterable[Mapping[str, Any]], at: int | None = None) -> None:
        """Replace everything with a snapshot taken at event id ``at`` (as the server
        said), then replay the events buffered meanwhile that came after it."""
        buffered, self._buffer = self._buffer or [], None
        self._orders = {key: dict(o) for o in items if (key := _order_key(o)) is not None}
        self._reindex()
        self.needs_refetch = False  # only a load that succeeded makes the data whole again
        if at is not None:
            self.cursor.at(at)
        self.loading = False
        self.loaded = True
        for name, data, event_id in buffered:
            self._apply_event(name, data, event_id)
        self._touch()

    def fail_load(self) -> None:
        """Loading failed: keep what we had, replay what was buffered. A refetch that was
        needed still is (the gap that asked for it is still in our data)."""
        buffered, self._buffer = self._buffer or [], None
        self.loading = False
        for name, data, event_id in buffered:
            self._apply_event(name, data, event_id)
        self._touch()

    # --- events -----------------------------------------------------------------------
    def apply_event(self, ev: Any) -> bool:
        """Feed one normalized SSE event (``.event``, ``.data``, ``.id``)."""
        name, data = str(getattr(ev, "event", "")), getattr(ev, "data", None)
        return self.apply(name, data, parse_event_id(getattr(ev, "id", None)))

    def apply(self, name: str, data: Any, event_id: int | None = None) -> bool:
        """Apply one event; returns True when the store changed or must refetch."""
        if self._buffer is not None:
            # Loading: the snapshot's position is not known yet, so ids are judged
            # against it when it arrives (``finish_load``).
            self._buffer.append((name, data, event_id))
            return False
        changed = self._apply_event(name, data, event_id)
        if changed:
            self._touch()
        return changed or self.needs_refetch

    def _apply_event(self, name: str, data: Any, event_id: int | None) -> bool:
        if name == "reset":
            self.needs_refetch = True
            self.cursor.at(None)
            return False
        verdict = self.cursor.judge(name, event_id)
        if verdict == "skip":
            return False
        if verdict == "gap":
            self.needs_refetch = True  # something was missed: the snapshot is stale
        if not name.startswith("order."):
            return False
        return self._apply(name, data)

    def _apply(self, name: str, data: Any) -> bool:
        oid = _order_key(data)
        if oid is None or not isinstance(data, Mapping):
            return False
        if name == "order.deleted":
            return self._drop(oid)
        if name not in UPSERT_EVENTS:
            return False
        current = self._orders.get(oid)
        if current is not None and _older(data.get("updated_at"), current.get("updated_at")):
            return False
        order = {k: v for k, v in data.items() if k != "previous_status"}
        if current is not None:
            merged = {**current, **order}
            if merged == current:
                return False
            self._put(oid, merged)
        else:
            self._put(oid, order)
        return True

    def upsert(self, order: Mapping[str, Any]) -> bool:
        changed = self._apply("order.updated", order)
        if changed:
            self._touch()
        return changed

    def remove(self, order_id: Any) -> bool:
        changed = self._drop(order_id)
        if changed:
            self._touch()
        return changed

    # --- the index: newest-first order and counts, kept with every change -----------------
    def _reindex(self) -> None:
        self._build_index()
        self._status_counts = {}
        for order in self._orders.values():
            self._count(order.get("status"), 1)

    def _build_index(self) -> None:
        key = self._key
        self._index = sorted((key(o), k) for k, o in self._orders.items())
        self._entries = {entry[1]: entry for entry in self._index}

    def _count(self, status: Any, delta: int) -> None:
        if isinstance(status, str):
            left = self._status_counts.get(status, 0) + delta
            if left:
                self._status_counts[status] = left
            else:
                del self._status_counts[status]

    def _put(self, oid: Any, order: Order) -> None:
        old = self._orders.get(oid)
        self._orders[oid] = order
        key = self._key(order)
        if old is not None:
            self._count(old.get("status"), -1)
            if self._entries[oid][0] != key:
                self._unlink(oid)
        self._count(order.get("status"), 1)
        if oid not in self._entries:
            entry = (key, oid)
            insort(self._index, entry)
            self._entries[oid] = entry

    def _drop(self, oid: Any) -> bool:
        order = self._orders.pop(oid, None)
        if order is None:
            return False
        self._count(order.get("status"), -1)
        self._unlink(oid)
        return True

    def _unlink(self, oid: Any) -> None:
        entry = self._entries.pop(oid)
        i = bisect_left(self._index, entry)
        if i < len(self._index) and self._index[i] is entry:
            del self._index[i]
            return
        # Unreachable while every key orders; if one ever does not, a stale entry would
        # make all() raise, so it is found by identity instead.
        self._index = [candidate for candidate in self._index if candidate is not entry]

    def _touch(self) -> None:
        self.version += 1

    # --- queries ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._orders)

    def get(self, order_id: Any) -> Order | None:
        return self._orders.get(order_id)

    def all(self) -> list[Order]:
        """Every order in the current sort (by default newest first: by ``created_at``,
        then id)."""
        orders = self._orders
        entries = reversed(self._index) if self.sort_desc else iter(self._index)
        return [orders[oid] for _key, oid in entries]

    def set_sort(self, column: str, desc: bool | None = None) -> None:
        """Sort by ``column`` (one of :data:`SORT_COLUMNS`; ``desc=None``: the column's
        own first direction). Back to the first page, as a new filter does."""
        if column not in SORT_COLUMNS:
            raise ValueError(f"unknown sort column {column!r}")
        desc = default_desc(column) if desc is None else bool(desc)
        if (column, desc) == (self.sort_column, self.sort_desc):
            return
        same_index = column == self.sort_column == DEFAULT_SORT  # read backwards instead
        self.sort_column, self.sort_desc = column, desc
        self.page = 0
        if not same_index:
            self._key = sort_key(column, desc, self._couriers)
            self._build_index()
        self._touch()

    def toggle_sort(self, column: str) -> None:
        """A click on a column header: the same column flips, another starts in its own
        first direction."""
        if column == self.sort_column:
            self.set_sort(column, not self.sort_desc)
        else:
            self.set_sort(column)

    def set_courier_names(self, names: Mapping[Any, Any]) -> None:
        """Courier names by id: the courier column sorts by name."""
        names = dict(names)
        if names == self._couriers:
            return
        self._couriers = names
        if self.sort_column == "courier":
            self._key = sort_key("courier", self.sort_desc, names)
            self._build_index()
            self._touch()

    def list_state(self) -> ListState:
        return ListState(self.status_filter, self.query, self.sort_column, self.sort_desc,
                         self.page)

    def apply_list_state(self, state: ListState) -> None:
        """Show ``state`` (from the URL). Its page is set as is: the caller sets it again
        once the orders are loaded, since a view clamps the page to what there is."""
        self.set_filter(state.status if state.status in STATUSES else None)
        self.set_query(state.query)
        if state.sort in SORT_COLUMNS:
            self.set_sort(state.sort, state.desc)
        self.set_page(state.page)

    def set_filter(self, status: str | None) -> None:
        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        if status != self.status_filter:
            self.status_filter = status
            self.page = 0

    def set_query(self, query: str) -> None:
        if query != self.query:
            self.query = query
            self.page = 0

    def set_page(self, page: int) -> None:
        self.page = max(0, page)

    def counts(self) -> dict[str, int]:
        """Orders per status: every known status (0 when none), then any other status
        some order has."""
        counts = dict.fromkeys(STATUSES, 0)
        counts.update(self._status_counts)
        return counts

    def filtered(self) -> list[Order]:
        key = (self.version, self.status_filter, self.query.strip().lower(), self.sort_column,
               self.sort_desc)
        if key != self._cache_key:
            status, query = self.status_filter, Query(self.query)
            self._cache = [
                o
                for o in self.all()
                if (status is None or o.get("status") == status) and query.matches(o)
            ]
            self._cache_key = key
        return self._cache

    def view(self) -> Page:
        size = self.page_size
        if self.status_filter is None and not self.query.strip():
            # Everything matches: the page is a slice of the index, whatever the total.
            total = len(self._index)
            pages = max(1, -(-total // size))
            self.page = min(self.page, pages - 1)
            orders = self._orders
            if self.sort_desc:
                end = total - self.page * size
                entries = reversed(self._index[max(0, end - size):end])
            else:
                start = self.page * size
                entries = iter(self._index[start:start + size])
            items = [orders[oid] for _key, oid in entries]
        else:
            rows = self.filtered()
            total = len(rows)
            pages = max(1, -(-total // size))
            self.page = min(self.page, pages - 1)
            start = self.page * size
            items = rows[start : start + size]
        return Page(
            items=items,
            total=total,
            page=self.page,
            pages=pages,
            page_size=size,
            counts=self.counts(),
        )


class StatusCounts:
    """Live counts per status for the overview, from REST totals plus events.

    :meth:`apply` returns ``False`` when an event does not say enough to update the counts
    exactly (an ``order.assigned`` without ``previous_status`` may be a re-assignment); the
    caller then refetches the totals."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        self.loaded = False
        self.cursor = Cursor()
        self._buffer: list[tuple[str, Any, int | None]] | None = None

    def begin_load(self) -> None:
        """Events from here on wait for the totals' position (see :meth:`load`)."""
        self._buffer = []

    def load(self, totals: Mapping[str, int], at: int | None = None) -> bool:
        """Counts taken at event id ``at``; the events buffered since :meth:`begin_load`
        are applied on top. False when one of them cannot be applied exactly."""
        buffered, self._buffer = self._buffer or [], None
        self.counts = {s: int(totals.get(s, 0)) for s in STATUSES}
        self.loaded = True
        if at is not None:
            self.cursor.at(at)
        return all([self.apply(*item) for item in buffered])

    def fail_load(self) -> None:
        self._buffer = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def _bump(self, status: Any, delta: int) -> None:
        if isinstance(status, str) and status in self.counts:
            self.counts[status] = max(0, self.counts[status] + delta)

    def apply(self, name: str, data: Any, event_id: int | None = None) -> bool:
        """Apply one event; False when the counts can no longer be trusted (a reset, a
        gap in the ids, an event that does not say enough): the caller reloads."""
        if self._buffer is not None:
            self._buffer.append((name, data, event_id))
            return True
        if name == "reset":
            self.cursor.at(None)
            return False
        verdict = self.cursor.judge(name, event_id)
        if verdict != "apply":
            return verdict == "skip"
        if not name.startswith("order."):
            return True
        if not isinstance(data, Mapping):
            return name == "order.updated"
        status = data.get("status")
        if name == "order.created":
            self._bump(status, +1)
            return True
        if name == "order.updated":
            return True  # a PATCH edits fields, never the status
        if name in ("order.status_changed", "order.assigned"):
            previous = data.get("previous_status")
            if previous is None:
                return False
            if previous != status:
                self._bump(previous, -1)
                self._bump(status, +1)
            return True
        if name == "order.deleted":
            if status is None:
                return False
            self._bump(status, -1)
            return True
        return True


__all__ = [
    "DEFAULT_SORT",
    "MARKER_EVENTS",
    "SORT_COLUMNS",
    "Cursor",
    "ListState",
    "OrdersStore",
    "Page",
    "Query",
    "StatusCounts",
    "default_desc",
    "list_state_search",
    "matches_query",
    "parse_event_id",
    "parse_list_state",
    "sort_key",
]
