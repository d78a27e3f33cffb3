"""OrdersPage: REST snapshot, then live events applied incrementally.

* Load: every order, in pages of 500, into an :class:`OrdersStore` (events that arrive
  meanwhile are buffered and replayed on top of the snapshot).
* Live: ``use_order_events`` feeds the store; a ``reset`` event or a gap in event ids
  triggers a refetch (:class:`~zariz.ui.refetch.Refetcher`: at most one at a time, not
  more often than once a second, and one asked for during a load runs after it).
* Render: coalesced to one pass per animation frame; only the current page of rows (50)
  is in the DOM, rows are keyed by order id and rebuilt only when their data changed, so
  10,000 orders and bursts of events stay smooth. A new row is a clone of a row built once
  with the widgets, its values filled in (a dozenth of the DOM calls of building it), and
  the table body is only touched where it changed (new rows at the top: one ``prepend``).
* One delegated click listener serves every row action (no per-row listeners to leak).
"""

from __future__ import annotations

import logging
from typing import Any

from zariz.api import ApiClient
from zariz.orders import ASSIGNABLE, FINAL, STATUSES
from zariz.ui import dom, routes
from zariz.ui.component import Scope, use_order_events
from zariz.ui.context import Ctx
from zariz.ui.dom import h
from zariz.ui.format import (
    ADDRESS_LIMIT,
    CUSTOMER_LIMIT,
    LABEL_LIMIT,
    NOTES_LIMIT,
    PHONE_LIMIT,
    STATUS_LABELS,
    courier_label,
    display_text,
    display_title,
    error_message,
    format_clock,
    order_ref,
    status_label,
)
from zariz.ui.orders_store import OrdersStore
from zariz.ui.pages.order_modals import assign_modal, create_order_modal, delete_modal, status_modal
from zariz.ui.refetch import Refetcher
from zariz.ui.widgets import (
    button,
    empty_state,
    error_panel,
    loading_state,
    phone_value,
    status_badge,
    text_value,
)

log = logging.getLogger("zariz.ui")

FETCH_PAGE = 500  # the server's maximum page size
REFETCH_MIN_INTERVAL_S = 1.0


async def fetch_all_orders(
    api: ApiClient, status: str | None = None
) -> tuple[list[dict[str, Any]], int | None]:
    """Every order (optionally of one status) and the event id the snapshot stands at.

    Pages follow by key (``before_id``), so a row deleted meanwhile never shifts another
    out of the result. Later pages may be newer than the first; the first page's position
    is the snapshot's, and the events after it bring every row to the same point (an event
    never overwrites a newer ``updated_at``)."""
    items: list[dict[str, Any]] = []
    position: int | None = None
    before: int | None = None
    while True:
        body = await api.list_orders(status=status, limit=FETCH_PAGE, before_id=before)
        if not isinstance(body, dict):
            return items, position
        if position is None:
            raw = body.get("last_event_id")
            position = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
        batch = [o for o in body.get("items", []) if isinstance(o, dict)]
        items.extend(batch)
        ids = [o["id"] for o in batch if isinstance(o.get("id"), int)]
        if len(batch) < FETCH_PAGE or not ids:
            return items, position
        before = min(ids)


HOT_KEY = "orders"
ROW_MODALS = {"assign": assign_modal, "status": status_modal, "delete": delete_modal}
# What the row every other row is cloned from is built for: no notes, no courier (the
# cells whose structure depends on the data), every value empty.
PROTOTYPE_ORDER: dict[str, Any] = {
    "id": 0, "status": "new", "customer": "", "phone": "", "address": "", "notes": None,
    "courier_id": None, "created_at": None,
}


def _lookup_id(raw: Any) -> Any:
    text = str(raw)
    return int(text) if text.isascii() and text.isdigit() else text  # "²".isdigit() is True


def _notes_block(order: dict[str, Any]) -> Any:
    return h(
        "div",
        {"class": "notes muted", "data-testid": "order-notes"},
        text_value(order["notes"], NOTES_LIMIT, lines=3),
    )


def build_row(ctx: Ctx, order: dict[str, Any], status: str, courier: str | None) -> Any:
    """An order's table row, every cell built with the widgets: the definition of a row
    (:class:`RowFactory` makes the same row faster)."""
    oid = order.get("id")
    final = status in FINAL
    return h(
        "tr",
        {"data-testid": "order-row", "data-order-id": oid, "data-status": status},
        h("td", {"class": "col-id mono"}, order_ref(oid)),
        h(
            "td",
            {"class": "col-customer"},
            h(
                "div",
                {"class": "customer", "data-testid": "order-customer"},
                text_value(order.get("customer"), CUSTOMER_LIMIT),
            ),
            _notes_block(order) if order.get("notes") else None,
        ),
        h(
            "td",
            {"class": "col-phone mono", "data-testid": "order-phone"},
            phone_value(order.get("phone")),
        ),
        h(
            "td",
            {"class": "col-address", "data-testid": "order-address"},
            text_value(order.get("address"), ADDRESS_LIMIT),
        ),
        h("td", {"class": "col-status"}, status_badge(status)),
        h("td", {"class": "col-courier"}, courier or h("span", {"class": "muted"}, "—")),
        h(
            "td",
            {"class": "col-created muted",
             "title": display_text(order.get("created_at") or "", LABEL_LIMIT)},
            format_clock(
                order.get("created_at"), now_ms=ctx.now_ms(), tz_offset_min=ctx.tz_offset_min
            ),
        ),
        h(
            "td",
            {"class": "col-actions"},
            h(
                "div",
                {"class": "row-actions"},
                h(
                    "button",
                    {
                        "type": "button",
                        "class": "btn btn-small",
                        "data-action": "assign",
                        "data-testid": "action-assign",
                        "disabled": status not in ASSIGNABLE,
                    },
                    "Assign",
                ),
                h(
                    "button",
                    {
                        "type": "button",
                        "class": "btn btn-small",
                        "data-action": "status",
                        "data-testid": "action-status",
                        "disabled": final,
                    },
                    "Status",
                ),
                h(
                    "button",
                    {
                        "type": "button",
                        "class": "btn btn-small btn-ghost-danger",
                        "data-action": "delete",
                        "data-testid": "action-delete",
                        "aria-label": f"Delete order {order_ref(oid)}",
                    },
                    "Delete",
                ),
            ),
        ),
    )


class RowFactory:
    """:func:`build_row`'s rows, made as clones of one prototype row: each row is one
    ``cloneNode`` plus the writes where its values differ from the prototype's (~20 JS
    calls instead of ~150). At hundreds of new rows a second, building every cell from
    Python took most of each frame (profiled in the page, bench/RESULTS.md). The cells
    whose structure depends on the data (notes, a courier's name) get it as ``build_row``
    builds it."""

    def __init__(self, ctx: Ctx) -> None:
        self._ctx = ctx
        self._prototype: Any = None
        self._base: dict[str, Any] = {}

    def _values(self, order: dict[str, Any], status: str) -> dict[str, Any]:
        """What a row shows that is not structure, as ``build_row`` computes it."""
        ctx = self._ctx
        oid = order.get("id")
        created = order.get("created_at")
        known = status if status in STATUS_LABELS else "unknown"  # as status_badge
        return {
            "status": status,
            "ref": order_ref(oid),
            "customer": _shown(order.get("customer"), CUSTOMER_LIMIT),
            "phone": _shown(order.get("phone"), PHONE_LIMIT),
            "address": _shown(order.get("address"), ADDRESS_LIMIT),
            "badge": (f"badge status-{known}", display_text(status or "", LABEL_LIMIT),
                      status_label(status)),
            "created": (display_text(created or "", LABEL_LIMIT),
                        format_clock(created, now_ms=ctx.now_ms(),
                                     tz_offset_min=ctx.tz_offset_min)),
            "assign": status not in ASSIGNABLE,
            "final": status in FINAL,
            "delete": f"Delete order {order_ref(oid)}",
        }

    def row(self, order: dict[str, Any], status: str, courier: str | None) -> Any:
        if self._prototype is None:
            self._prototype = build_row(self._ctx, PROTOTYPE_ORDER, "new", None)
            self._base = self._values(PROTOTYPE_ORDER, "new")
        base, new = self._base, self._values(order, status)
        tr = self._prototype.cloneNode(True)
        dom.set_attr(tr, "data-order-id", order.get("id"))
        if new["status"] != base["status"]:
            dom.set_attr(tr, "data-status", status)
        cells = tr.cells
        if new["ref"] != base["ref"]:
            dom.set_text(cells[0], new["ref"])
        customer = cells[1]
        if new["customer"] != base["customer"]:
            _fill_value(customer.firstElementChild.firstElementChild, new["customer"])
        if order.get("notes"):
            customer.appendChild(_notes_block(order))
        if new["phone"] != base["phone"]:
            _fill_value(cells[2].firstElementChild, new["phone"])
        if new["address"] != base["address"]:
            _fill_value(cells[3].firstElementChild, new["address"])
        if new["badge"] != base["badge"]:
            badge = cells[4].firstElementChild
            dom.set_attr(badge, "class", new["badge"][0])
            dom.set_attr(badge, "data-status", new["badge"][1])
            dom.set_text(badge, new["badge"][2])
        if courier:
            dom.set_text(cells[5], courier)
        if new["created"] != base["created"]:
            created = cells[6]
            dom.set_attr(created, "title", new["created"][0])
            dom.set_text(created, new["created"][1])
        actions = cells[7].firstElementChild
        if new["assign"] != base["assign"]:
            dom.set_attr(actions.firstElementChild, "disabled", new["assign"])
        if new["final"] != base["final"]:
            dom.set_attr(actions.children[1], "disabled", new["final"])
        if new["delete"] != base["delete"]:
            dom.set_attr(actions.lastElementChild, "aria-label", new["delete"])
        return tr


def _shown(value: Any, limit: int) -> tuple[str, str | None]:
    """A text_value span's text and tooltip."""
    return display_text(value, limit), display_title(value, limit)


def _fill_value(span: Any, shown: tuple[str, str | None]) -> None:
    dom.set_text(span, shown[0])
    dom.set_attr(span, "title", shown[1])


def orders_page(ctx: Ctx, scope: Scope) -> Any:
    store = OrdersStore(page_size=50)
    initial = routes.query_param(dom.location()[1], "status")
    if initial in STATUSES:
        store.set_filter(initial)  # deep link from the overview cards
    state: dict[str, Any] = {"error": None}
    # A hot swap (dev) hands over the filter, search, page and open dialog.
    before = ctx.hot.take(HOT_KEY)
    before = before if isinstance(before, dict) else {}
    if before.get("filter") in (None, *STATUSES) and "filter" in before:
        store.set_filter(before["filter"])
    if isinstance(before.get("query"), str):
        store.set_query(before["query"])
    if isinstance(before.get("page"), int) and before["page"] > 0:
        state["want_page"] = before["page"]  # applied once the rows are there
    rows: dict[Any, tuple[tuple[Any, ...], Any, dict[str, Any]]] = {}
    couriers: dict[Any, str] = {}
    state["shown"] = []  # the rows in the table body, in order
    state["render_pending"] = False

    # --- static structure -------------------------------------------------------------
    search = h(
        "input",
        {
            "type": "search",
            "class": "search",
            "placeholder": "Search customer or address",
            "aria-label": "Search orders by customer or address",
            "data-testid": "orders-search",
            "value": store.query,
        },
    )
    new_btn = button("+ New order", kind="primary", testid="new-order")
    tab_counts: dict[str, Any] = {}
    tab_buttons: list[tuple[str | None, Any]] = []
    tabs = h(
        "div",
        {
            "class": "status-tabs",
            "role": "group",
            "aria-label": "Filter by status",
            "data-testid": "orders-filter",
        },
    )
    for status in (None, *STATUSES):
        key = status or "all"
        count = h("span", {"class": "tab-count"}, "")
        tab_counts[key] = count
        tab = h(
            "button",
            {
                "type": "button",
                "class": ["tab", f"tab-{key}"],
                "data-filter": status or "",
                "data-testid": f"filter-{key}",
                "aria-pressed": "true" if status == store.status_filter else "false",
            },
            "All" if status is None else status_label(status),
            count,
        )
        tab_buttons.append((status, tab))
        tabs.appendChild(tab)
    tbody = h("tbody", {"data-testid": "orders-body"})
    table = h(
        "table",
        {"class": "table orders-table", "data-testid": "orders-table"},
        h(
            "thead",
            None,
            h(
                "tr",
                None,
                [
                    h("th", {"scope": "col", "class": cls}, text)
                    for text, cls in (
                        ("Order", "col-id"),
                        ("Customer", "col-customer"),
                        ("Phone", "col-phone"),
                        ("Address", "col-address"),
                        ("Status", "col-status"),
                        ("Courier", "col-courier"),
                        ("Created", "col-created"),
                        ("", "col-actions"),
                    )
                ],
            ),
        ),
        tbody,
    )
    table_wrap = h("div", {"class": "table-wrap"}, table)
    placeholder = h("div", {"class": "table-placeholder"})
    # Loaded, but a reload the data needs failed: say so instead of showing it as current.
    stale = h("p", {"class": "stale-notice", "role": "status", "data-testid": "orders-stale",
                    "hidden": True})
    summary = h("span", {"class": "pager-summary muted", "data-testid": "orders-summary"})
    prev_btn = button("‹ Previous", testid="page-prev")
    next_btn = button("Next ›", testid="page-next")
    page_label = h("span", {"class": "pager-page"})
    pager = h(
        "div",
        {"class": "pager"},
        summary,
        h("div", {"class": "pager-controls"}, prev_btn, page_label, next_btn),
    )

    # --- rendering ----------------------------------------------------------------------
    factory = RowFactory(ctx)

    def row_for(order: dict[str, Any]) -> Any:
        oid = order.get("id")
        cached = rows.get(oid)
        if cached is not None and cached[2] is order:
            # The store replaces an order's dict on every change (and the courier names'
            # change clears ``rows``): the same dict is the same row.
            return cached[1]
        courier_id = order.get("courier_id")
        courier = courier_label(courier_id, couriers)
        sig = (
            order.get("status"),
            order.get("customer"),
            order.get("phone"),
            order.get("address"),
            order.get("notes"),
            courier,
            order.get("created_at"),
            order.get("updated_at"),
        )
        if cached is not None and cached[0] == sig:
            rows[oid] = (sig, cached[1], order)
            return cached[1]
        tr = factory.row(order, str(order.get("status") or ""), courier)
        rows[oid] = (sig, tr, order)
        return tr

    def show_rows(visible: list[Any]) -> None:
        """Make the table body hold ``visible``, in order, touching only what changed:
        nothing when nothing did; new rows above the ones shown (events, newest first) go
        in with one ``prepend`` and the ones pushed off the page are removed."""
        shown = state["shown"]
        if len(visible) == len(shown) and all(a is b for a, b in zip(visible, shown, strict=True)):
            return
        head = next((i for i, node in enumerate(visible) if shown and node is shown[0]), None)
        if head is not None and len(visible) - head <= len(shown) and all(
            a is b for a, b in zip(visible[head:], shown, strict=False)
        ):
            if head:
                tbody.prepend(*visible[:head])
            for node in shown[len(visible) - head:]:
                node.remove()
        else:
            tbody.replaceChildren(*visible)
        state["shown"] = list(visible)

    # The page's own fixed nodes (counts, pager, notices) are written only when their value
    # changes: a render per frame during a burst would otherwise rewrite them all.
    written: dict[tuple[int, str], Any] = {}

    def put_text(node: Any, text: str) -> None:
        if written.get((id(node), "")) != text:
            written[(id(node), "")] = text
            dom.set_text(node, text)

    def put_attr(node: Any, name: str, value: Any) -> None:
        key = (id(node), name)
        if key not in written or written[key] != value:
            written[key] = value
            dom.set_attr(node, name, value)

    def render() -> None:
        state["render_pending"] = False
        view = store.view()
        counts = view.counts
        outdated = store.loaded and bool(state["error"])
        put_attr(stale, "hidden", not outdated)
        put_text(stale, f"May be out of date: {state['error']} Retrying…" if outdated else "")
        put_text(tab_counts["all"], f"{len(store):,}" if store.loaded else "")
        for status in STATUSES:
            put_text(tab_counts[status], f"{counts.get(status, 0):,}" if store.loaded else "")
        for filter_value, btn in tab_buttons:
            put_attr(btn, "aria-pressed",
                     "true" if filter_value == store.status_filter else "false")
        if not store.loaded:
            if state["error"]:
                dom.replace_children(
                    placeholder, error_panel("Could not load orders.", state["error"]), retry_btn
                )
            else:
                dom.replace_children(placeholder, loading_state("Loading orders…"))
            put_attr(table_wrap, "hidden", True)
            put_attr(placeholder, "hidden", False)
            put_attr(pager, "hidden", True)
            return
        if view.total == 0:
            filtered = bool(store.query.strip() or store.status_filter)
            dom.replace_children(
                placeholder,
                empty_state(
                    "No orders match." if filtered else "No orders yet.",
                    "Try another status or search."
                    if filtered
                    else "New orders appear here the moment they are created.",
                    testid="orders-empty",
                ),
            )
            put_attr(table_wrap, "hidden", True)
            put_attr(placeholder, "hidden", False)
            dom.replace_children(tbody)
            state["shown"] = []
            rows.clear()
            put_attr(pager, "hidden", True)
            return
        put_attr(table_wrap, "hidden", False)
        put_attr(placeholder, "hidden", True)
        visible = [row_for(o) for o in view.items]
        keep = {o.get("id") for o in view.items}
        for oid in [k for k in rows if k not in keep]:
            del rows[oid]  # only the page on screen is cached
        show_rows(visible)
        put_attr(pager, "hidden", False)
        put_text(summary, f"{view.first:,}–{view.last:,} of {view.total:,}")
        put_text(page_label, f"Page {view.page + 1} of {view.pages}")
        put_attr(prev_btn, "disabled", view.page == 0)
        put_attr(next_btn, "disabled", view.page >= view.pages - 1)

    def invalidate() -> None:
        # One render per frame whatever the number of events: once one is pending, a
        # burst's further events only change the store.
        if not state["render_pending"]:
            state["render_pending"] = True
            ctx.later(scope, "orders", render)

    # --- data ----------------------------------------------------------------------------
    async def load() -> None:
        store.begin_load()
        failed = True
        try:
            items, position = await fetch_all_orders(ctx.api)
        except Exception as exc:
            log.warning("[UI] orders load failed: %s", exc)
            store.fail_load()
            state["error"] = error_message(exc)
        else:
            store.finish_load(items, at=position)
            if "want_page" in state:
                store.set_page(state.pop("want_page"))
            state["error"] = None
            failed = False
        finally:
            # A reset or a gap seen while this load ran, or one a failed load could not
            # mend, still needs a reload (with backoff while loads fail).
            refetcher.finished(again=store.needs_refetch, failed=failed)
        invalidate()

    refetcher = Refetcher(
        ctx.platform.now, ctx.schedule, lambda: ctx.run(scope, load()),
        min_interval=REFETCH_MIN_INTERVAL_S,
    )
    scope.add_cleanup(refetcher.dispose)

    async def load_couriers() -> None:
        try:
            found = await ctx.load_couriers()
        except Exception as exc:  # names are a nicety: ids are shown instead
            log.info("[UI] couriers unavailable: %s", exc)
            return
        couriers.clear()
        couriers.update({cid: str(c.get("name") or cid) for cid, c in found.items()})
        rows.clear()
        invalidate()

    def on_event(ev: Any) -> None:
        changed = store.apply_event(ev)
        if store.needs_refetch and not store.loading:
            refetcher.request()
        if changed:
            invalidate()

    # --- interaction ---------------------------------------------------------------------
    retry_btn = button("Retry", testid="orders-retry")

    def on_tab(e: Any) -> None:
        btn = dom.closest(e.target, "[data-filter]")
        if btn is not None:
            store.set_filter(dom.attr(btn, "data-filter") or None)
            invalidate()

    def on_search(_e: Any) -> None:
        store.set_query(dom.input_value(search))
        invalidate()

    def on_row_action(e: Any) -> None:
        btn = dom.closest(e.target, "button[data-action]")
        tr = dom.closest(btn, "tr[data-order-id]")
        if btn is None or tr is None or btn.disabled:
            return
        order = store.get(_lookup_id(dom.attr(tr, "data-order-id")))
        if order is None:
            return
        open_modal(str(dom.attr(btn, "data-action")), dict(order))

    def open_modal(
        kind: str, order: dict[str, Any] | None = None, values: dict[str, Any] | None = None
    ) -> None:
        if kind == "create":
            fm = create_order_modal(ctx, scope)
        elif order is not None and kind in ROW_MODALS:
            fm = ROW_MODALS[kind](ctx, scope, order)
        else:
            return
        if values:
            fm.fill(values)
        state["modal"] = (kind, order, fm)

        def forget() -> None:
            if state.get("modal", (None, None, None))[2] is fm:
                state.pop("modal")

        fm.modal.scope.add_cleanup(forget)

    def hand_off() -> dict[str, Any]:
        modal = state.get("modal")
        open_dialog = None
        if modal is not None and not modal[2].modal.closed:
            open_dialog = {"kind": modal[0], "order": modal[1], "values": modal[2].values()}
        return {"filter": store.status_filter, "query": store.query, "page": store.page,
                "modal": open_dialog}

    def reopen() -> None:
        dialog = before.get("modal")
        if isinstance(dialog, dict) and isinstance(dialog.get("kind"), str):
            order = dialog.get("order")
            values = dialog.get("values")
            open_modal(dialog["kind"], order if isinstance(order, dict) else None,
                       values if isinstance(values, dict) else None)

    def go(delta: int) -> None:
        store.set_page(store.page + delta)
        invalidate()
        dom.window().scrollTo(0, 0)

    scope.use(dom.on(tabs, "click", on_tab))
    scope.use(dom.on(search, "input", on_search))
    scope.use(dom.on(tbody, "click", on_row_action))
    scope.use(dom.on(new_btn, "click", lambda _e: open_modal("create")))
    scope.use(dom.on(prev_btn, "click", lambda _e: go(-1)))
    scope.use(dom.on(next_btn, "click", lambda _e: go(+1)))
    scope.use(dom.on(retry_btn, "click", lambda _e: refetcher.start()))

    use_order_events(scope, ctx.client, on_event)
    ctx.hot.keep(scope, HOT_KEY, hand_off)
    scope.effect(reopen)
    scope.effect(refetcher.start)
    scope.effect(lambda: ctx.run(scope, load_couriers()))
    render()

    return h(
        "section",
        {"class": "page orders-page", "data-testid": "orders-page"},
        h(
            "div",
            {"class": "page-header"},
            h(
                "div",
                None,
                h("h1", None, "Orders"),
                h(
                    "p",
                    {"class": "muted"},
                    "Live: changes from every dispatcher appear here as they happen.",
                ),
            ),
            new_btn,
        ),
        h("div", {"class": "toolbar"}, tabs, search),
        h("div", {"class": "card"}, stale, table_wrap, placeholder, pager),
    )


__all__ = ["RowFactory", "build_row", "fetch_all_orders", "orders_page"]
