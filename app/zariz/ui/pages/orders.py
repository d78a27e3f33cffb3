"""OrdersPage: REST snapshot, then live events applied incrementally.

* Load: every order, in pages of 2,500, into an :class:`OrdersStore` (events that arrive
  meanwhile are buffered and replayed on top of the snapshot).
* Live: ``use_order_events`` feeds the store; a ``reset`` event or a gap in event ids
  triggers a refetch (:class:`~zariz.ui.refetch.Refetcher`: at most one at a time, not
  more often than once a second, and one asked for during a load runs after it).
* Render: coalesced to one pass per animation frame; only the current page of rows (50)
  is in the DOM, rows are keyed by order id and rebuilt only when their data changed, so
  10,000 orders and bursts of events stay smooth. A new row is a clone of a row built once
  with the widgets, its values filled in (a dozenth of the DOM calls of building it; see
  :mod:`zariz.ui.pages.order_rows`), and
  the table body is only touched where it changed (new rows at the top: one ``prepend``;
  a row that lands mid-page in another sort: one insert).
* Sort by any column (a ``<button>`` in each header, ``aria-sort`` on the sorted one), kept
  by the store's index as orders change; filter, search, sort and page live in the URL
  (``?status=&q=&sort=&dir=&page=``, replaced, not pushed) and come back from it.
* A row that an event inserted or changed is highlighted briefly (CSS, ``row-flash``); the
  ages next to the times ("12 min") are refreshed by one timer.
* Keyboard: j/k or the arrows move a roving row focus, Enter focuses the row's first
  action, Esc goes back to the row; not while typing or with a dialog open.
* One delegated click listener serves every row action (no per-row listeners to leak).
* Below 760 px the same markup is laid out as cards by CSS (static/css/orders.css; the
  cells carry ``data-label``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from zariz.api import ApiClient, ApiError
from zariz.orders import STATUSES, UPSERT_EVENTS
from zariz.ui import dom
from zariz.ui.component import Scope, use_order_events
from zariz.ui.context import Ctx
from zariz.ui.dom import h
from zariz.ui.format import courier_label, error_message, status_label
from zariz.ui.i18n import t
from zariz.ui.orders_store import (
    SORT_COLUMNS,
    OrdersStore,
    list_state_search,
    parse_list_state,
)
from zariz.ui.pages.order_modals import (
    assign_modal,
    create_order_modal,
    delete_modal,
    edit_modal,
    status_modal,
)
from zariz.ui.pages.order_rows import (
    COLUMNS,
    RowFactory,
    Times,
    build_row,
    column_label,
    fill_times,
    order_times,
)
from zariz.ui.refetch import Refetcher
from zariz.ui.widgets import button, empty_state, error_panel, loading_state

log = logging.getLogger("zariz.ui")

FETCH_PAGE = 2500  # the server's maximum page size (server/orders.py MAX_PAGE)
# The maximum of servers before it was raised: a page served by a newer instance may ask an
# older one behind the same load balancer (a rolling upgrade), which refuses 2,500 (422).
OLD_FETCH_PAGE = 500
REFETCH_MIN_INTERVAL_S = 1.0
AGE_REFRESH_S = 15.0  # ages read in minutes: at most this late
FLASH_CLASS = "row-flash"
# More row inserts/removals than this in one render: one replaceChildren is cheaper.
PATCH_LIMIT = 12
# Keys that move the row focus, and by how much.
NAV_KEYS = {"j": 1, "ArrowDown": 1, "k": -1, "ArrowUp": -1}


@dataclass(eq=False)
class _Page:
    """One ``GET /v1/orders`` of a load: asked for with ``before`` (and ``limit``), its
    answer ``task``; ``next_before`` once its headers named the page after it, and the
    request for that page (``successor``) when one was started."""

    before: int | None
    limit: int
    task: asyncio.Future[Any] | None = None
    next_before: int | None = None
    successor: _Page | None = None


def _forget(page: _Page | None) -> None:
    """A page asked for ahead and not used (the body led elsewhere, an error, the load
    cancelled): its request is cancelled - a token refresh it may wait on is shielded, the
    other requests keep it - and its answer or error dropped, never left unretrieved."""
    if page is not None and page.task is not None:
        page.task.cancel()
        page.task.add_done_callback(lambda t: t.cancelled() or t.exception())


async def fetch_all_orders(
    api: ApiClient, status: str | None = None
) -> tuple[list[dict[str, Any]], int | None]:
    """Every order (optionally of one status) and the event id the snapshot stands at.

    Pages follow by key (``before_id``), so a row deleted meanwhile never shifts another
    out of the result. Later pages may be newer than the first; the first page's position
    is the snapshot's, and the events after it bring every row to the same point (an event
    never overwrites a newer ``updated_at``).

    A full page's headers name the next page's ``before_id`` (``list_orders``'
    ``on_next``): that page is asked for at once, while this one's body downloads and is
    parsed, one page ahead at most. Its answer is used only when it is the page this
    body leads to (its smallest id); otherwise it is cancelled and the right page asked
    for. A server that does not say is paged one after another. The snapshot's position
    is the first answered page's ``last_event_id``, whatever later pages say."""
    items: list[dict[str, Any]] = []
    position: int | None = None
    answered = False
    limit = FETCH_PAGE
    current: list[_Page] = []

    def ask(before: int | None) -> _Page:
        page = _Page(before, limit)

        def on_next(next_before: int) -> None:
            page.next_before = next_before
            run_ahead(page)

        page.task = asyncio.ensure_future(
            api.list_orders(status=status, limit=page.limit, before_id=before, on_next=on_next))
        return page

    def run_ahead(page: _Page) -> None:
        # Only the page being waited for runs ahead: at most two requests at a time.
        if current and page is current[0] and page.successor is None \
                and page.next_before is not None:
            page.successor = ask(page.next_before)

    current.append(ask(None))
    try:
        while True:
            page = current[0]
            assert page.task is not None
            try:
                body = await page.task
            except ApiError as exc:
                if exc.status != 422 or limit == OLD_FETCH_PAGE:
                    raise
                limit = OLD_FETCH_PAGE  # an older server: its pages, for the rest of this load
                log.info("[API] a page of %d was refused (422: %s); loading %d at a time",
                         FETCH_PAGE, exc.message, limit)
                current[0] = ask(page.before)  # (a refused page named no next one)
                continue
            if not isinstance(body, dict):
                return items, position
            if not answered:  # the snapshot's place: the first answer's, never a later one's
                answered = True
                raw = body.get("last_event_id")
                position = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
            batch = [o for o in body.get("items", []) if isinstance(o, dict)]
            items.extend(batch)
            ids = [o["id"] for o in batch if isinstance(o.get("id"), int)]
            if len(batch) < page.limit or not ids:
                return items, position
            before = min(ids)
            ahead = page.successor
            page.successor = None
            if ahead is not None and ahead.before == before:
                current[0] = ahead
                run_ahead(ahead)  # its headers may be in already
            else:
                _forget(ahead)
                current[0] = ask(before)
    finally:
        # A page asked ahead of an error, or of the caller's cancel (the page disposed
        # mid-load: the page waited for is cancelled by the await, this one here).
        _forget(current[0].successor)


HOT_KEY = "orders"
ROW_MODALS = {
    "assign": assign_modal,
    "status": status_modal,
    "edit": edit_modal,
    "delete": delete_modal,
}


def _lookup_id(raw: Any) -> Any:
    text = str(raw)
    return int(text) if text.isascii() and text.isdigit() else text  # "²".isdigit() is True


def _is_typing(target: Any) -> bool:
    """Is the key going to a text field (search box, form) rather than the page?"""
    tag = str(getattr(target, "tagName", "") or "").lower()
    return tag in ("input", "textarea", "select") or bool(
        getattr(target, "isContentEditable", False)
    )


def _event_order_id(ev: Any) -> Any:
    data = getattr(ev, "data", None)
    oid = data.get("id") if isinstance(data, dict) else None
    return None if isinstance(oid, bool) or not isinstance(oid, int | str) else oid


def orders_page(ctx: Ctx, scope: Scope) -> Any:
    store = OrdersStore(page_size=50)
    state: dict[str, Any] = {"error": None}
    # The URL says what to show (a deep link from the overview cards, a reload, a link a
    # colleague sent): filter, search, sort; its page once the rows are there.
    initial = parse_list_state(dom.location()[1])
    store.apply_list_state(initial)
    if initial.page > 0:
        state["want_page"] = initial.page
    # A hot swap (dev) hands over the filter, search, sort, page and open dialog.
    before = ctx.hot.take(HOT_KEY)
    before = before if isinstance(before, dict) else {}
    if before.get("filter") in (None, *STATUSES) and "filter" in before:
        store.set_filter(before["filter"])
    if isinstance(before.get("query"), str):
        store.set_query(before["query"])
    if before.get("sort") in SORT_COLUMNS and isinstance(before.get("desc"), bool):
        store.set_sort(before["sort"], before["desc"])
    if isinstance(before.get("page"), int) and before["page"] > 0:
        state["want_page"] = before["page"]  # applied once the rows are there
    rows: dict[Any, tuple[tuple[Any, ...], Any, dict[str, Any]]] = {}
    times: dict[Any, Times] = {}  # what each row on screen shows in its created cell
    couriers: dict[Any, str] = {}
    flash: set[Any] = set()  # orders an event changed since the last render
    state["shown"] = []  # the rows in the table body, in order
    state["render_pending"] = False
    state["url"] = None  # the list state last written to the URL
    state["tab_row"] = None  # the row with tabindex=0 (roving focus)
    state["focus_id"] = None
    state["focus_index"] = 0

    # --- static structure -------------------------------------------------------------
    search = h(
        "input",
        {
            "type": "search",
            "class": "search",
            "placeholder": t("orders.search.placeholder"),
            "aria-label": t("orders.search.label"),
            "data-testid": "orders-search",
            "value": store.query,
        },
    )
    new_btn = button(t("orders.new"), kind="primary", testid="new-order")
    tab_counts: dict[str, Any] = {}
    tab_buttons: list[tuple[str | None, Any]] = []
    tabs = h(
        "div",
        {
            "class": "status-tabs",
            "role": "group",
            "aria-label": t("orders.filter.label"),
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
            t("orders.filter.all") if status is None else status_label(status),
            count,
        )
        tab_buttons.append((status, tab))
        tabs.appendChild(tab)
    headers: dict[str, Any] = {}
    for column, cls in COLUMNS:
        headers[column] = h(
            "th",
            {"scope": "col", "class": cls},
            h(
                "button",
                {"type": "button", "class": "sort-button", "data-sort": column,
                 "data-testid": f"sort-{column}"},
                h("span", {"class": "sort-label"}, column_label(column)),
                h("span", {"class": "sort-icon", "aria-hidden": "true"}),
            ),
        )
    thead = h(
        "thead",
        None,
        h(
            "tr",
            None,
            list(headers.values()),
            h("th", {"scope": "col", "class": "col-actions"},
              h("span", {"class": "sr-only"}, column_label("actions"))),
        ),
    )
    tbody = h("tbody", {"data-testid": "orders-body"})
    table = h(
        "table",
        {"class": "table orders-table", "data-testid": "orders-table"},
        h("caption", {"class": "sr-only"}, t("orders.table.caption")),
        h(
            "colgroup",
            None,
            [h("col", {"data-col": column}) for column, _cls in COLUMNS],
            h("col", {"data-col": "actions"}),
        ),
        thead,
        tbody,
    )
    table_wrap = h("div", {"class": "table-wrap"}, table)
    placeholder = h("div", {"class": "table-placeholder"})
    # Loaded, but a reload the data needs failed: say so instead of showing it as current.
    stale = h("p", {"class": "stale-notice", "role": "status", "data-testid": "orders-stale",
                    "hidden": True})
    summary = h("span", {"class": "pager-summary muted", "data-testid": "orders-summary"})
    prev_btn = button(t("orders.pager.prev"), testid="page-prev")
    next_btn = button(t("orders.pager.next"), testid="page-next")
    page_label = h("span", {"class": "pager-page", "data-testid": "orders-page-label"})
    pager = h(
        "div",
        {"class": "pager"},
        summary,
        h(
            "div",
            {"class": "pager-controls", "role": "group", "aria-label": t("orders.pager.label")},
            prev_btn, page_label, next_btn,
        ),
    )

    # --- rendering ----------------------------------------------------------------------
    factory = RowFactory(ctx)

    def row_for(order: dict[str, Any], now_ms: float) -> Any:
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
        shown_times = order_times(ctx, order.get("created_at"), now_ms)
        tr = factory.row(order, str(order.get("status") or ""), courier, shown_times,
                         cls=FLASH_CLASS if oid in flash else None)  # an event made it
        rows[oid] = (sig, tr, order)
        times[oid] = shown_times
        return tr

    def patch_rows(shown: list[Any], visible: list[Any]) -> bool:
        """Insert and remove single rows where they changed (a row that lands mid-page in
        a sort, one that leaves it); False when the rows kept were reordered or too much
        changed (the caller replaces them all)."""
        keep = {id(node) for node in visible}
        kept = [node for node in shown if id(node) in keep]
        removed = [node for node in shown if id(node) not in keep]
        if len(removed) + len(visible) - len(kept) > PATCH_LIMIT:
            return False
        position = {id(node): i for i, node in enumerate(visible)}
        if any(position[id(a)] > position[id(b)]
               for a, b in zip(kept, kept[1:], strict=False)):
            return False
        for node in removed:
            node.remove()
        j = 0
        for node in visible:
            if j < len(kept) and kept[j] is node:
                j += 1
            elif j < len(kept):
                kept[j].before(node)
            else:
                tbody.append(node)
        return True

    def show_rows(visible: list[Any]) -> bool:
        """Make the table body hold ``visible``, in order, touching only what changed:
        nothing when nothing did; new rows above the ones shown (events, newest first) go
        in with one ``prepend`` and the ones pushed off the page are removed. Returns
        whether the focus was in the table before (a row it was on may have gone)."""
        shown = state["shown"]
        if len(visible) == len(shown) and all(a is b for a, b in zip(visible, shown, strict=True)):
            return False
        had_focus = dom.contains(tbody, dom.active_element())
        head = next((i for i, node in enumerate(visible) if shown and node is shown[0]), None)
        on_screen = {id(node) for node in shown}
        if head is not None and len(visible) - head <= len(shown) and all(
            a is b for a, b in zip(visible[head:], shown, strict=False)
        ) and not any(id(node) in on_screen for node in visible[:head]):
            # Only rows not on screen yet go above: one already shown (a reversed sort
            # brings the last row up) would be moved by the prepend and then removed.
            if head:
                tbody.prepend(*visible[:head])
            for node in shown[len(visible) - head:]:
                node.remove()
        elif not patch_rows(shown, visible):
            tbody.replaceChildren(*visible)
        state["shown"] = list(visible)
        return had_focus

    def set_tab_row(tr: Any) -> None:
        """Roving tabindex: one row (the focused one, else the first) is in the Tab order."""
        old = state["tab_row"]
        if old is tr:
            return
        if old is not None:
            dom.set_attr(old, "tabindex", "-1")
        if tr is not None:
            dom.set_attr(tr, "tabindex", "0")
        state["tab_row"] = tr

    def settle_focus(had_focus: bool) -> None:
        """Keep the row focus on its order across renders (a changed order's row is a new
        node; the focus goes to it, or to the row now in its place)."""
        shown = state["shown"]
        cached = rows.get(state["focus_id"])
        if cached is not None:
            target = cached[1]
        elif shown:
            target = shown[min(state["focus_index"], len(shown) - 1)]
        else:
            target = None
        set_tab_row(target)
        if had_focus and target is not None and not dom.contains(tbody, dom.active_element()):
            dom.focus(target)

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

    def sync_url() -> None:
        """The URL says what the list shows (replaced, so Back leaves the page)."""
        if not store.loaded:
            return  # the page asked for is set once the rows are there
        wanted = store.list_state()
        if wanted == state["url"]:
            return
        state["url"] = wanted
        path, search_part = dom.location()
        target = list_state_search(wanted, search_part)
        if target != search_part:
            dom.replace_state(path + target)

    def render() -> None:
        state["render_pending"] = False
        try:
            render_body()
        finally:
            flash.clear()
        for column, th in headers.items():
            sorted_here = column == store.sort_column
            direction = "descending" if store.sort_desc else "ascending"
            put_attr(th, "aria-sort", direction if sorted_here else None)
        sync_url()

    def render_body() -> None:
        view = store.view()
        counts = view.counts
        outdated = store.loaded and bool(state["error"])
        put_attr(stale, "hidden", not outdated)
        put_text(stale, t("orders.stale", error=state["error"]) if outdated else "")
        put_text(tab_counts["all"], f"{len(store):,}" if store.loaded else "")
        for status in STATUSES:
            put_text(tab_counts[status], f"{counts.get(status, 0):,}" if store.loaded else "")
        for filter_value, btn in tab_buttons:
            put_attr(btn, "aria-pressed",
                     "true" if filter_value == store.status_filter else "false")
        if not store.loaded:
            if state["error"]:
                dom.replace_children(
                    placeholder, error_panel(t("orders.load_failed"), state["error"]), retry_btn
                )
            else:
                dom.replace_children(placeholder, loading_state(t("orders.loading")))
            put_attr(table_wrap, "hidden", True)
            put_attr(placeholder, "hidden", False)
            put_attr(pager, "hidden", True)
            return
        if view.total == 0:
            filtered = bool(store.query.strip() or store.status_filter)
            dom.replace_children(
                placeholder,
                empty_state(
                    t("orders.empty.filtered") if filtered else t("orders.empty.none"),
                    t("orders.empty.filtered_hint") if filtered else t("orders.empty.none_hint"),
                    testid="orders-empty",
                ),
            )
            put_attr(table_wrap, "hidden", True)
            put_attr(placeholder, "hidden", False)
            dom.replace_children(tbody)
            state["shown"] = []
            rows.clear()
            times.clear()
            set_tab_row(None)
            put_attr(pager, "hidden", True)
            return
        put_attr(table_wrap, "hidden", False)
        put_attr(placeholder, "hidden", True)
        now_ms = ctx.now_ms()  # one clock read for the render's new rows
        visible = [row_for(o, now_ms) for o in view.items]
        keep = {o.get("id") for o in view.items}
        for oid in [k for k in rows if k not in keep]:
            del rows[oid]  # only the page on screen is cached
            times.pop(oid, None)
        settle_focus(show_rows(visible))
        put_attr(pager, "hidden", False)
        put_text(summary, t("orders.pager.summary", first=f"{view.first:,}",
                            last=f"{view.last:,}", total=f"{view.total:,}"))
        put_text(page_label, t("orders.pager.page", page=view.page + 1, pages=view.pages))
        put_attr(prev_btn, "disabled", view.page == 0)
        put_attr(next_btn, "disabled", view.page >= view.pages - 1)

    def invalidate() -> None:
        # One render per frame whatever the number of events: once one is pending, a
        # burst's further events only change the store.
        if not state["render_pending"]:
            state["render_pending"] = True
            ctx.later(scope, "orders", render)

    def refresh_times() -> None:
        """The ages (and a clock that crossed midnight) of the rows on screen."""
        for oid, (_sig, tr, order) in rows.items():
            fresh = order_times(ctx, order.get("created_at"))
            old = times.get(oid)
            if fresh != old:
                times[oid] = fresh
                fill_times(tr.cells[6], fresh, old)

    ticker: dict[str, Any] = {"cancel": None}

    def tick() -> None:
        ticker["cancel"] = None
        if scope.disposed:
            return
        ctx.later(scope, "orders-times", refresh_times)
        ticker["cancel"] = ctx.schedule(AGE_REFRESH_S, tick)

    def start_ticker() -> None:
        ticker["cancel"] = ctx.schedule(AGE_REFRESH_S, tick)

    def stop_ticker() -> None:
        if ticker["cancel"] is not None:
            ticker["cancel"]()
            ticker["cancel"] = None

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
        store.set_courier_names(couriers)  # the courier column sorts by name
        rows.clear()
        times.clear()
        invalidate()

    def on_event(ev: Any) -> None:
        changed = store.apply_event(ev)
        if store.needs_refetch and not store.loading:
            refetcher.request()
        if changed:
            if getattr(ev, "event", None) in UPSERT_EVENTS:
                oid = _event_order_id(ev)
                if oid is not None:
                    flash.add(oid)
            invalidate()

    # --- interaction ---------------------------------------------------------------------
    retry_btn = button(t("action.retry"), testid="orders-retry")

    def on_tab(e: Any) -> None:
        btn = dom.closest(e.target, "[data-filter]")
        if btn is not None:
            store.set_filter(dom.attr(btn, "data-filter") or None)
            invalidate()

    def on_sort(e: Any) -> None:
        btn = dom.closest(e.target, "button[data-sort]")
        column = dom.attr(btn, "data-sort")
        if column in SORT_COLUMNS:
            store.toggle_sort(column)
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

    def on_focus_in(e: Any) -> None:
        tr = dom.closest(e.target, "tr[data-order-id]")
        cached = rows.get(_lookup_id(dom.attr(tr, "data-order-id"))) if tr is not None else None
        if cached is None:
            return
        state["focus_id"] = _lookup_id(dom.attr(tr, "data-order-id"))
        node = cached[1]
        state["focus_index"] = next(
            (i for i, shown in enumerate(state["shown"]) if shown is node), 0
        )
        set_tab_row(node)

    def dialog_open() -> bool:
        modal = state.get("modal")
        return (modal is not None and not modal[2].modal.closed) or (
            dom.query("[aria-modal='true']") is not None
        )

    def move_focus(delta: int, row: Any) -> None:
        shown = state["shown"]
        if not shown:
            return
        if row is None:
            # From outside the table, the first key goes to the roving row.
            dom.focus(state["tab_row"] or shown[0])
            return
        cached = rows.get(_lookup_id(dom.attr(row, "data-order-id")))
        here = next((i for i, node in enumerate(shown) if cached and node is cached[1]), 0)
        target = shown[max(0, min(len(shown) - 1, here + delta))]
        set_tab_row(target)
        dom.focus(target)

    def on_key(e: Any) -> None:
        key = str(e.key)
        if key not in NAV_KEYS and key not in ("Enter", "Escape"):
            return
        if e.ctrlKey or e.metaKey or e.altKey or e.defaultPrevented:
            return
        target = dom.opt(e.target)
        if _is_typing(target) or dialog_open():
            return
        in_table = dom.contains(tbody, target)
        row = dom.closest(target, "tr[data-order-id]") if in_table else None
        if key in NAV_KEYS:
            if key.startswith("Arrow") and row is None:
                return  # elsewhere the arrows scroll the page
            e.preventDefault()
            move_focus(NAV_KEYS[key], row)
        elif key == "Enter" and row is not None and row == target:
            first = dom.query("button[data-action]:not([disabled])", row)
            if first is not None:
                e.preventDefault()
                dom.focus(first)
        elif key == "Escape" and row is not None and row != target:
            e.preventDefault()
            dom.focus(row)

    def on_animation_end(e: Any) -> None:
        tr = dom.closest(e.target, f"tr.{FLASH_CLASS}")
        if tr is not None:
            dom.set_attr(tr, "class", None)

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
                "sort": store.sort_column, "desc": store.sort_desc, "modal": open_dialog}

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
    scope.use(dom.on(thead, "click", on_sort))
    scope.use(dom.on(search, "input", on_search))
    scope.use(dom.on(tbody, "click", on_row_action))
    scope.use(dom.on(tbody, "focusin", on_focus_in))
    scope.use(dom.on(tbody, "animationend", on_animation_end))
    scope.use(dom.on(dom.document(), "keydown", on_key))
    scope.use(dom.on(new_btn, "click", lambda _e: open_modal("create")))
    scope.use(dom.on(prev_btn, "click", lambda _e: go(-1)))
    scope.use(dom.on(next_btn, "click", lambda _e: go(+1)))
    scope.use(dom.on(retry_btn, "click", lambda _e: refetcher.start()))

    use_order_events(scope, ctx.client, on_event)
    ctx.hot.keep(scope, HOT_KEY, hand_off)
    scope.effect(reopen)
    scope.effect(refetcher.start)
    scope.effect(lambda: ctx.run(scope, load_couriers()))
    scope.effect(start_ticker)
    scope.add_cleanup(stop_ticker)
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
                h("h1", None, t("orders.title")),
                h("p", {"class": "muted"}, t("orders.subtitle")),
            ),
            new_btn,
        ),
        h("div", {"class": "toolbar"}, tabs, search),
        h("div", {"class": "card"}, stale, table_wrap, placeholder, pager),
    )


__all__ = ["ROW_MODALS", "RowFactory", "build_row", "fetch_all_orders", "orders_page"]
