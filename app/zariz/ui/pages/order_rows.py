"""The orders table's rows: what a row is (:func:`build_row`) and how rows are made fast
(:class:`RowFactory`, clones of one prototype row with their values filled in).

Each cell carries ``data-label`` (its column's name) for the card layout of small screens;
user text is its own bidi island (``dir="auto"``; phones ``dir="ltr"``); the created cell
holds the local clock, the order's age and the full local time as its tooltip
(:func:`order_times`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from zariz.orders import ASSIGNABLE, FINAL
from zariz.ui import dom
from zariz.ui.context import Ctx
from zariz.ui.dom import APPEND, REPLACE, TEXT, h
from zariz.ui.format import (
    ADDRESS_LIMIT,
    CUSTOMER_LIMIT,
    LABEL_LIMIT,
    NOTES_LIMIT,
    PHONE_LIMIT,
    STATUS_LABELS,
    Zone,
    display_text,
    display_title,
    format_clock,
    local_day,
    order_ref,
    parse_time,
    status_label,
)
from zariz.ui.i18n import locale, t
from zariz.ui.order_time import age_text, full_time
from zariz.ui.widgets import phone_value, status_badge, text_value

# The table's columns, in order: (sort key = catalogue suffix, cell class).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "col-id"),
    ("customer", "col-customer"),
    ("phone", "col-phone"),
    ("address", "col-address"),
    ("status", "col-status"),
    ("courier", "col-courier"),
    ("created", "col-created"),
)
# What the row every other row is cloned from is built for: no notes, no courier (the
# cells whose structure depends on the data), every value empty.
PROTOTYPE_ORDER: dict[str, Any] = {
    "id": 0, "status": "new", "customer": "", "phone": "", "address": "", "notes": None,
    "courier_id": None, "created_at": None,
}
Times = tuple[str, str, str]  # tooltip (full local time), clock, age


def column_label(column: str) -> str:
    return t(f"orders.col.{column}")


# The tooltip and the clock show whole seconds at most, so orders created within one second
# share them: at hundreds of new orders a second they are formatted once a second, not per
# row (they were most of a new row's Python). Keyed by (second, zone, locale, today): a
# zone gives one offset per instant, so a second's texts are fixed once its day is.
_SECOND_TEXTS: dict[tuple[int, Zone, str, date], tuple[str, str]] = {}
_SECOND_TEXTS_MAX = 512
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_SECOND = timedelta(seconds=1)
_today: dict[tuple[float, Zone], date | None] = {}  # the last (now_ms, zone) asked: its day


def _local_today(now_ms: float, zone: Zone) -> date | None:
    """Today in the viewer's zone, as :func:`format_clock` computes it (``None`` when that
    overflows: the caller takes the plain path). A render asks with one ``now_ms``."""
    key = (now_ms, zone)
    if key not in _today:
        try:
            day: date | None = local_day(now_ms, zone)
        except (OverflowError, OSError, ValueError):
            day = None
        _today.clear()
        _today[key] = day
    return _today[key]


def _second_of(created: Any) -> int | None:
    """The whole epoch second of ``created``, when formatting that second (as epoch
    seconds) reads the same as formatting ``created``; else ``None``."""
    dt = parse_time(created)
    if dt is None:
        return None
    whole = (dt - _EPOCH) // _ONE_SECOND  # exact: no float rounding up to the next second
    # parse_time reads numbers above 1e11 as milliseconds: stay below.
    return whole if 0 <= whole < 10**11 else None


def order_times(ctx: Ctx, created: Any, now_ms: float | None = None) -> Times:
    """The created cell's tooltip, clock and age, in the operator's time zone (the offset
    in force at ``created``), at ``now_ms`` (default: the clock now; a render reads it once
    for all its rows)."""
    now = ctx.now_ms() if now_ms is None else now_ms
    zone = ctx.zone
    second = _second_of(created)
    today = _local_today(now, zone) if second is not None else None
    if second is None or today is None:
        return (
            full_time(created, zone=zone),
            format_clock(created, now_ms=now, zone=zone),
            age_text(created, now_ms=now),
        )
    key = (second, zone, locale(), today)
    texts = _SECOND_TEXTS.get(key)
    if texts is None:
        if len(_SECOND_TEXTS) >= _SECOND_TEXTS_MAX:
            _SECOND_TEXTS.clear()
        texts = _SECOND_TEXTS[key] = (
            full_time(second, zone=zone),
            format_clock(second, now_ms=now, zone=zone),
        )
    return (texts[0], texts[1], age_text(created, now_ms=now))


def _notes_block(order: dict[str, Any]) -> Any:
    return h(
        "div",
        {"class": "notes muted", "data-testid": "order-notes"},
        text_value(order["notes"], NOTES_LIMIT, lines=3),
    )


def _courier_content(courier: str | None) -> Any:
    if not courier:
        return h("span", {"class": "muted"}, t("common.none"))
    return h("span", {"class": "value courier-name", "dir": "auto"}, courier)


def _action(action: str, label: str, *, disabled: bool = False, danger: bool = False,
            aria_label: str | None = None) -> Any:
    return h(
        "button",
        {
            "type": "button",
            "class": "btn btn-small btn-ghost-danger" if danger else "btn btn-small",
            "data-action": action,
            "data-testid": f"action-{action}",
            "disabled": disabled,
            "aria-label": aria_label,
        },
        label,
    )


def build_row(
    ctx: Ctx, order: dict[str, Any], status: str, courier: str | None,
    times: Times | None = None,
) -> Any:
    """An order's table row, every cell built with the widgets: the definition of a row
    (:class:`RowFactory` makes the same row faster). ``data-label`` names each cell for
    the card layout of small screens."""
    oid = order.get("id")
    final = status in FINAL
    title, clock, age = times or order_times(ctx, order.get("created_at"))
    return h(
        "tr",
        {"data-testid": "order-row", "data-order-id": oid, "data-status": status,
         "tabindex": "-1"},
        h("td", {"class": "col-id mono", "data-label": column_label("id")}, order_ref(oid)),
        h(
            "td",
            {"class": "col-customer", "data-label": column_label("customer")},
            h(
                "div",
                {"class": "customer", "data-testid": "order-customer"},
                text_value(order.get("customer"), CUSTOMER_LIMIT),
            ),
            _notes_block(order) if order.get("notes") else None,
        ),
        h(
            "td",
            {"class": "col-phone mono", "data-testid": "order-phone",
             "data-label": column_label("phone")},
            phone_value(order.get("phone")),
        ),
        h(
            "td",
            {"class": "col-address", "data-testid": "order-address",
             "data-label": column_label("address")},
            text_value(order.get("address"), ADDRESS_LIMIT),
        ),
        h("td", {"class": "col-status", "data-label": column_label("status")},
          status_badge(status)),
        h("td", {"class": "col-courier", "data-label": column_label("courier")},
          _courier_content(courier)),
        h(
            "td",
            {"class": "col-created muted", "data-label": column_label("created"),
             "title": title or None},
            h("span", {"class": "clock"}, clock),
            h("span", {"class": "age", "data-testid": "order-age"}, age),
        ),
        h(
            "td",
            {"class": "col-actions"},
            h(
                "div",
                {"class": "row-actions"},
                _action("assign", t("orders.action.assign"), disabled=status not in ASSIGNABLE),
                _action("status", t("orders.action.status"), disabled=final),
                _action("edit", t("orders.action.edit")),
                _action("delete", t("orders.action.delete"), danger=True,
                        aria_label=t("orders.action.delete_label", ref=order_ref(oid))),
            ),
        ),
    )


# The prototype row's nodes a row's values are written to (RowFactory's template slots).
(_ROW, _REF, _CUSTOMER_CELL, _CUSTOMER, _PHONE, _ADDRESS, _BADGE, _COURIER, _CREATED,
 _CLOCK, _AGE, _ASSIGN, _STATUS, _DELETE) = range(14)


def _slots(tr: Any) -> list[Any]:
    """The prototype's slots, in the order of the indexes above (walked once)."""
    ref = tr.firstElementChild
    customer = ref.nextElementSibling
    phone = customer.nextElementSibling
    address = phone.nextElementSibling
    status = address.nextElementSibling
    courier = status.nextElementSibling
    created = courier.nextElementSibling
    actions = tr.lastElementChild.firstElementChild
    return [
        tr, ref, customer, customer.firstElementChild.firstElementChild,
        phone.firstElementChild, address.firstElementChild, status.firstElementChild,
        courier, created, created.firstElementChild, created.lastElementChild,
        actions.firstElementChild, actions.children[1], actions.lastElementChild,
    ]


class RowFactory:
    """:func:`build_row`'s rows, made as clones of one prototype row with the values that
    differ from the prototype's written in, all in one JS call (:class:`dom.Template`):
    at hundreds of new rows a second, building every cell from Python took most of each
    frame, and walking a clone's cells from Python still paid a JS call per step (profiled
    in the page, bench/RESULTS.md). The cells whose structure depends on the data (notes,
    a courier's name) get it as ``build_row`` builds it."""

    def __init__(self, ctx: Ctx) -> None:
        self._ctx = ctx
        self._template: dom.Template | None = None
        self._base: dict[str, Any] = {}

    def _values(self, order: dict[str, Any], status: str, times: Times | None) -> dict[str, Any]:
        """What a row shows that is not structure, as ``build_row`` computes it."""
        oid = order.get("id")
        known = status if status in STATUS_LABELS else "unknown"  # as status_badge
        return {
            "status": status,
            "ref": order_ref(oid),
            "customer": _shown(order.get("customer"), CUSTOMER_LIMIT),
            "phone": _shown(order.get("phone"), PHONE_LIMIT),
            "address": _shown(order.get("address"), ADDRESS_LIMIT),
            "badge": (f"badge status-{known}", display_text(status or "", LABEL_LIMIT),
                      status_label(status)),
            "times": times or order_times(self._ctx, order.get("created_at")),
            "assign": status not in ASSIGNABLE,
            "final": status in FINAL,
            "delete": t("orders.action.delete_label", ref=order_ref(oid)),
        }

    def row(
        self, order: dict[str, Any], status: str, courier: str | None,
        times: Times | None = None, *, cls: str | None = None,
    ) -> Any:
        """The row of ``order``; ``cls``: a class for the row (the flash of a new one)."""
        template = self._template
        if template is None:
            prototype = build_row(self._ctx, PROTOTYPE_ORDER, "new", None)
            template = self._template = dom.Template(prototype, _slots(prototype))
            self._base = self._values(PROTOTYPE_ORDER, "new", None)
        base, new = self._base, self._values(order, status, times)
        oid = order.get("id")
        # As dom.set_attr writes it (None/False: absent, True: empty).
        shown_id = oid if oid is None or isinstance(oid, bool) else str(oid)
        writes: list[Any] = [_ROW, "data-order-id", shown_id]
        if cls:
            writes += (_ROW, "class", cls)
        if status != base["status"]:
            writes += (_ROW, "data-status", status)
        if new["ref"] != base["ref"]:
            writes += (_REF, TEXT, new["ref"])
        _value_writes(writes, _CUSTOMER, new["customer"], base["customer"])
        if order.get("notes"):
            writes += (_CUSTOMER_CELL, APPEND, _notes_block(order))
        _value_writes(writes, _PHONE, new["phone"], base["phone"])
        _value_writes(writes, _ADDRESS, new["address"], base["address"])
        if new["badge"] != base["badge"]:
            badge_class, badge_status, badge_text = new["badge"]
            writes += (_BADGE, "class", badge_class, _BADGE, "data-status", badge_status,
                       _BADGE, TEXT, badge_text)
        if courier:
            writes += (_COURIER, REPLACE, _courier_content(courier))
        title, clock, age = new["times"]
        base_title, base_clock, base_age = base["times"]
        if title != base_title:
            writes += (_CREATED, "title", title or None)
        if clock != base_clock:
            writes += (_CLOCK, TEXT, clock)
        if age != base_age:
            writes += (_AGE, TEXT, age)
        if new["assign"] != base["assign"]:
            writes += (_ASSIGN, "disabled", new["assign"])
        if new["final"] != base["final"]:
            writes += (_STATUS, "disabled", new["final"])
        if new["delete"] != base["delete"]:
            writes += (_DELETE, "aria-label", new["delete"])
        return template.clone(writes)


def _value_writes(
    writes: list[Any], slot: int, shown: tuple[str, str | None], base: tuple[str, str | None]
) -> None:
    """A text_value span's text and tooltip, where they differ from the prototype's
    (``base``): most values are short, so no tooltip to remove."""
    if shown[0] != base[0]:
        writes += (slot, TEXT, shown[0])
    if shown[1] != base[1]:
        writes += (slot, "title", shown[1])


def _shown(value: Any, limit: int) -> tuple[str, str | None]:
    """A text_value span's text and tooltip."""
    return display_text(value, limit), display_title(value, limit)


def fill_times(cell: Any, new: Times, old: Times | None) -> None:
    """Write the created cell's tooltip, clock and age where they differ from ``old``."""
    if old is None or new[0] != old[0]:
        dom.set_attr(cell, "title", new[0] or None)
    if old is None or new[1] != old[1]:
        dom.set_text(cell.firstElementChild, new[1])
    if old is None or new[2] != old[2]:
        dom.set_text(cell.lastElementChild, new[2])


__all__ = [
    "COLUMNS",
    "PROTOTYPE_ORDER",
    "RowFactory",
    "Times",
    "build_row",
    "column_label",
    "fill_times",
    "order_times",
]
