"""What the orders list shows: the sort keys, the search, and the list state in the URL.

Pure (the orders store keeps its index with :func:`sort_key`; the orders page reads and
writes the URL with :func:`parse_list_state` and :func:`list_state_search`).

Every key is a tuple of type-tagged parts, so any two orders compare whatever their values
(a ``None``, a number where text was expected, a NaN): an index sorted by it can be kept
by bisection.

>>> rows = [{"id": 1, "customer": "b"}, {"id": 2}, {"id": 3, "customer": "A"}]
>>> [r["id"] for r in sorted(rows, key=sort_key("customer", False))]
[3, 1, 2]
>>> parse_list_state("?q=050&sort=phone")
ListState(status=None, query='050', sort='phone', desc=False, page=0)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from zariz.orders import STATUSES
from zariz.phones import COUNTRY_CODE, clean, digits_key
from zariz.ui import routes


def created_key(order: Mapping[str, Any]) -> tuple[Any, ...]:
    """By created_at, then id (read backwards: newest first). Numbers and strings never
    compare with each other (a mixed payload would raise in ``sorted``), hence the type
    tags."""
    created = order.get("created_at")
    oid = order.get("id")
    return (
        (1, created) if _orders_as_number(created) else (2, str(created or "")),
        (1, oid) if _orders_as_number(oid) else (2, str(oid)),
    )


def _orders_as_number(value: Any) -> bool:
    # NaN (JSON's ``NaN`` literal parses) compares false with everything: in the sorted
    # index it would misplace every later insert for good, so it sorts as text instead.
    return isinstance(value, int | float) and value == value


# --- sorting -----------------------------------------------------------------------------
SORT_COLUMNS: tuple[str, ...] = (
    "id", "customer", "phone", "address", "status", "courier", "created",
)
DEFAULT_SORT = "created"
SortKey = Callable[[Mapping[str, Any]], tuple[Any, ...]]


def default_desc(column: str) -> bool:
    """The direction a column starts in: the newest first for the creation time, A to Z
    (or first status to last) for the others."""
    return column == DEFAULT_SORT


_DIGIT_RUNS = re.compile(r"([0-9]+)")


def _text(value: Any) -> str:
    """Any value as text, never raising (``str()`` of a 5,000-digit int raises)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except (ValueError, RecursionError):
        return f"<{type(value).__name__}>"


def _natural(text: str) -> tuple[Any, ...]:
    """A key where ``Herzl 9`` comes before ``Herzl 10``: runs of digits compare as numbers
    (by length once leading zeros go, then by digits: no ``int()`` of a huge run). The parts
    alternate text and digit runs, so any two keys compare."""
    parts = _DIGIT_RUNS.split(text)
    return tuple(
        part if i % 2 == 0 else (len(part.lstrip("0")), part.lstrip("0"))
        for i, part in enumerate(parts)
    )


def _id_part(oid: Any) -> tuple[int, Any]:
    # Ids are ints or non-empty strings (see _order_key); numbers before text.
    return (1, oid) if _orders_as_number(oid) else (2, _text(oid))


def _column_value(
    column: str, order: Mapping[str, Any], couriers: Mapping[Any, Any]
) -> tuple[Any, ...] | None:
    """What ``column`` sorts ``order`` by, as a type-tagged tuple that orders against every
    other order's; ``None`` when the order has no value there (those go last)."""
    if column == "id":
        return _id_part(order.get("id"))
    if column in ("customer", "address"):
        text = _text(order.get(column)).strip().casefold()
        return (_natural(text),) if text else None
    if column == "phone":
        raw = order.get("phone")
        key = digits_key(raw)  # +972-50-... and 050-... are one number
        if key:
            return (0, key)
        text = _text(raw).strip().casefold()
        return (1, text) if text else None
    if column == "status":
        status = order.get("status")
        if isinstance(status, str) and status in STATUSES:
            return (0, STATUSES.index(status))  # the order of the work, not of the alphabet
        text = _text(status).strip().casefold()
        return (1, text) if text else None
    if column == "courier":
        courier_id = order.get("courier_id")
        if courier_id is None:
            return None
        try:
            name = couriers.get(courier_id)
        except TypeError:  # an unhashable id from a hostile event
            name = None
        name_text = _text(name).strip().casefold()
        if name_text:
            return (0, _natural(name_text))
        return (1, _natural(_text(courier_id).casefold()))  # unknown couriers after named
    raise ValueError(f"unknown sort column {column!r}")


def sort_key(column: str, desc: bool, couriers: Mapping[Any, Any] | None = None) -> SortKey:
    """The index key for a sort: ascending keys in display order when ``desc`` is false,
    reversed when it is true. Ties go by id (the sort is total, so stable whatever the
    order changes came in); orders without a value go last in both directions. The
    creation time's key is :func:`created_key` in both directions (one index for both).

    >>> rows = [{"id": 1, "customer": "b"}, {"id": 2}, {"id": 3, "customer": "a"}]
    >>> [r["id"] for r in sorted(rows, key=sort_key("customer", False))]
    [3, 1, 2]
    >>> [r["id"] for r in sorted(rows, key=sort_key("customer", True), reverse=True)]
    [1, 3, 2]
    """
    if column == DEFAULT_SORT:
        return created_key
    if column not in SORT_COLUMNS:
        raise ValueError(f"unknown sort column {column!r}")
    names: Mapping[Any, Any] = couriers or {}
    present, missing = (1, 0) if desc else (0, 1)

    def key(order: Mapping[str, Any]) -> tuple[Any, ...]:
        value = _column_value(column, order, names)
        oid = _id_part(order.get("id"))
        return (missing, (), oid) if value is None else (present, value, oid)

    return key


# --- search -------------------------------------------------------------------------------
# A query made only of what people type in phone numbers, with at least this many digits,
# is also looked for in the phones (fewer digits would match nearly every phone).
MIN_PHONE_DIGITS = 3
_PHONE_QUERY = re.compile(r"[0-9+\-(). /]+")
_NON_DIGITS = re.compile(r"[^0-9]+")
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2212\u05be", "-"))
_PHONE_KEYS_MAX = 50_000
_phone_keys: dict[str, tuple[str, ...]] = {}


def _phone_needles(query: str) -> tuple[str, ...]:
    """The digit strings a phone-like query looks for: its digits as typed, their national
    form (``+972 50...`` -> ``050...``), also for an international prefix typed so far.
    A number pasted from Hebrew text (LRM marks, no-break spaces, en dashes) counts too."""
    query = clean(query).translate(_DASHES)
    if not _PHONE_QUERY.fullmatch(query):
        return ()
    raw = _NON_DIGITS.sub("", query)
    if len(raw) < MIN_PHONE_DIGITS:
        return ()
    needles = {raw}
    key = digits_key(query)
    if key:
        needles.add(key)
    typed_intl = raw[2:] if query.startswith("00") else raw if query.startswith("+") else ""
    if typed_intl.startswith(COUNTRY_CODE):
        rest = typed_intl[len(COUNTRY_CODE):].lstrip("0")
        if rest:
            needles.add("0" + rest)
    return tuple(needles)


def _phone_hay(phone: Any) -> tuple[str, ...]:
    """A stored phone's digits and their national form (cached: a search runs over every
    order on each change while it is active)."""
    text = phone if isinstance(phone, str) else _text(phone)
    found = _phone_keys.get(text)
    if found is None:
        raw = _NON_DIGITS.sub("", text)
        key = digits_key(text)
        found = (raw, key) if key and key != raw else (raw,)
        if len(_phone_keys) >= _PHONE_KEYS_MAX:
            _phone_keys.clear()
        _phone_keys[text] = found
    return found


class Query:
    """A search, prepared once for a pass over every order: case-insensitive in customer
    and address; ``#12`` or ``12`` also matches the order id; a phone-like query (digits,
    ``+ - ( ) .`` and spaces) also matches phones with the digits normalised, so
    ``050-1234567``, ``0501234567`` and ``+972501234567`` all find ``+972-50-123-4567``.

    >>> Query("+972501234567").matches({"id": 1, "phone": "+972-50-123-4567"})
    True
    """

    __slots__ = ("needles", "text")

    def __init__(self, query: str) -> None:
        self.text = query.strip().lower()
        self.needles = _phone_needles(self.text)

    def matches(self, order: Mapping[str, Any]) -> bool:
        q = self.text
        if not q:
            return True
        if q.lstrip("#") == _text(order.get("id", "")).lower():
            return True
        if q in _text(order.get("customer") or "").lower():
            return True
        if q in _text(order.get("address") or "").lower():
            return True
        if not self.needles:
            return False
        phone = order.get("phone")
        if phone is None or phone == "":
            return False
        hay = _phone_hay(phone)
        return any(n in h for n in self.needles for h in hay)


def matches_query(order: Mapping[str, Any], query: str) -> bool:
    """Does ``order`` match the search ``query``? (See :class:`Query`.)"""
    return Query(query).matches(order)


# --- the list state in the URL -------------------------------------------------------------
LIST_PARAMS: tuple[str, ...] = ("status", "q", "sort", "dir", "page")
MAX_QUERY = 200
MAX_PAGE_PARAM = 7  # digits


@dataclass(frozen=True)
class ListState:
    """What the orders list shows: filter, search, sort and page (0-based)."""

    status: str | None = None
    query: str = ""
    sort: str = DEFAULT_SORT
    desc: bool = True
    page: int = 0


def parse_list_state(search: str) -> ListState:
    """The list state in a URL's query (``?status=&q=&sort=&dir=&page=``, page 1-based);
    anything unknown or malformed is the default.

    >>> parse_list_state("?status=new&q=050&sort=phone&dir=desc&page=3")
    ListState(status='new', query='050', sort='phone', desc=True, page=2)
    >>> parse_list_state("?status=lost&sort=x&page=-1")
    ListState(status=None, query='', sort='created', desc=True, page=0)
    """
    status = routes.query_param(search, "status")
    query = (routes.query_param(search, "q") or "")[:MAX_QUERY]
    sort = routes.query_param(search, "sort")
    sort = sort if sort in SORT_COLUMNS else DEFAULT_SORT
    direction = routes.query_param(search, "dir")
    desc = direction == "desc" if direction in ("asc", "desc") else default_desc(sort)
    raw_page = routes.query_param(search, "page") or ""
    page = (
        int(raw_page) - 1
        if raw_page.isascii() and raw_page.isdigit() and len(raw_page) <= MAX_PAGE_PARAM
        else 0
    )
    return ListState(
        status=status if status in STATUSES else None,
        query=query,
        sort=sort,
        desc=desc,
        page=max(0, page),
    )


def list_state_search(state: ListState, current: str = "") -> str:
    """The URL query for ``state`` (defaults left out), keeping the other parameters of
    ``current`` (``?lang=he``); ``""`` when nothing is left."""
    pairs = [
        (k, v)
        for k, v in parse_qsl(current.lstrip("?"), keep_blank_values=True)
        if k not in LIST_PARAMS
    ]
    if state.status:
        pairs.append(("status", state.status))
    if state.query.strip():
        pairs.append(("q", state.query[:MAX_QUERY]))
    if state.sort != DEFAULT_SORT or state.desc != default_desc(state.sort):
        pairs.append(("sort", state.sort))
        pairs.append(("dir", "desc" if state.desc else "asc"))
    if state.page > 0:
        pairs.append(("page", str(state.page + 1)))
    return "?" + urlencode(pairs) if pairs else ""


__all__ = [
    "DEFAULT_SORT",
    "LIST_PARAMS",
    "MIN_PHONE_DIGITS",
    "SORT_COLUMNS",
    "ListState",
    "Query",
    "SortKey",
    "created_key",
    "default_desc",
    "list_state_search",
    "matches_query",
    "parse_list_state",
    "sort_key",
]
