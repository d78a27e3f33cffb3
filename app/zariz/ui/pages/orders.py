"""OrdersPage: REST snapshot, then live events applied incrementally.

* Load: every order, in pages of 500, into an :class:`OrdersStore` (events that arrive
  meanwhile are buffered and replayed on top of the snapshot).
* Live: ``use_order_events`` feeds the store; a ``reset`` event or a gap in event ids
  triggers a refetch (:class:`~zariz.ui.refetch.Refetcher`: at most one at a time, not
  more often than once a second, and one asked for during a load runs after it).
* Render: coalesced to one pass per animation frame; only the current page of rows (50)
  is in the DOM, rows are keyed by order id and rebuilt only when their data changed, so
  10,000 orders and bursts of events stay smooth.
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
    courier_label,
    display_text,
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


def _lookup_id(raw: Any) -> Any:
    text = str(raw)
    return int(text) if text.isascii() and text.isdigit() else text  # "²".isdigit() is True


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
    rows: dict[Any, tuple[tuple[Any, ...], Any]] = {}
    couriers: dict[Any, str] = {}

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
        tabs.appendChild(
            h(
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
        )
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
    def row_for(order: dict[str, Any]) -> Any:
        oid = order.get("id")
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
        cached = rows.get(oid)
        if cached is not None and cached[0] == sig:
            return cached[1]
        status = str(order.get("status") or "")
        final = status in FINAL
        tr = h(
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
                h(
                    "div",
                    {"class": "notes muted", "data-testid": "order-notes"},
                    text_value(order["notes"], NOTES_LIMIT, lines=3),
                )
                if order.get("notes")
                else None,
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
        rows[oid] = (sig, tr)
        return tr

    def render() -> None:
        view = store.view()
        counts = view.counts
        outdated = store.loaded and bool(state["error"])
        dom.set_attr(stale, "hidden", not outdated)
        dom.set_text(
            stale, f"May be out of date: {state['error']} Retrying…" if outdated else ""
        )
        dom.set_text(tab_counts["all"], f"{len(store):,}" if store.loaded else "")
        for status in STATUSES:
            dom.set_text(tab_counts[status], f"{counts.get(status, 0):,}" if store.loaded else "")
        for btn in tabs.children:
            dom.set_attr(
                btn,
                "aria-pressed",
                "true"
                if (dom.attr(btn, "data-filter") or None) == store.status_filter
                else "false",
            )
        if not store.loaded:
            if state["error"]:
                dom.replace_children(
                    placeholder, error_panel("Could not load orders.", state["error"]), retry_btn
                )
            else:
                dom.replace_children(placeholder, loading_state("Loading orders…"))
            dom.set_attr(table_wrap, "hidden", True)
            dom.set_attr(placeholder, "hidden", False)
            dom.set_attr(pager, "hidden", True)
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
            dom.set_attr(table_wrap, "hidden", True)
            dom.set_attr(placeholder, "hidden", False)
            dom.replace_children(tbody)
            rows.clear()
            dom.set_attr(pager, "hidden", True)
            return
        dom.set_attr(table_wrap, "hidden", False)
        dom.set_attr(placeholder, "hidden", True)
        visible = [row_for(o) for o in view.items]
        keep = {o.get("id") for o in view.items}
        for oid in [k for k in rows if k not in keep]:
            del rows[oid]  # only the page on screen is cached
        dom.replace_children(tbody, visible)
        dom.set_attr(pager, "hidden", False)
        dom.set_text(summary, f"{view.first:,}–{view.last:,} of {view.total:,}")
        dom.set_text(page_label, f"Page {view.page + 1} of {view.pages}")
        dom.set_attr(prev_btn, "disabled", view.page == 0)
        dom.set_attr(next_btn, "disabled", view.page >= view.pages - 1)

    def invalidate() -> None:
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


__all__ = ["fetch_all_orders", "orders_page"]
