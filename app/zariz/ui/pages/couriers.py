"""Couriers (``/dashboard/couriers``): every courier with their active orders, live.

Active = ``assigned`` or ``picked_up``. The page loads those orders into an
:class:`OrdersStore` and keeps it current from order events like the orders page does.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from zariz.orders import ACTIVE
from zariz.ui import dom
from zariz.ui.component import Scope, use_order_events
from zariz.ui.context import Ctx
from zariz.ui.dom import h
from zariz.ui.format import (
    ADDRESS_LIMIT,
    CUSTOMER_LIMIT,
    NAME_LIMIT,
    display_text,
    display_title,
    error_message,
    order_ref,
)
from zariz.ui.i18n import t, tn
from zariz.ui.orders_store import OrdersStore
from zariz.ui.pages.orders import fetch_all_orders
from zariz.ui.refetch import Refetcher
from zariz.ui.widgets import (
    empty_state,
    error_panel,
    loading_state,
    phone_value,
    status_badge,
    text_value,
)

log = logging.getLogger("zariz.ui")


def couriers_page(ctx: Ctx, scope: Scope) -> Any:
    store = OrdersStore(page_size=10_000)
    state: dict[str, Any] = {"couriers": None, "error": None, "loading": False}
    grid = h("div", {"class": "courier-grid", "data-testid": "courier-list"})

    def render() -> None:
        couriers = state["couriers"]
        if couriers is None:
            dom.replace_children(
                grid,
                error_panel(t("couriers.error.load"), state["error"])
                if state["error"]
                else loading_state(t("couriers.loading")),
            )
            return
        if not couriers:
            dom.replace_children(
                grid,
                empty_state(t("couriers.empty.title"), t("couriers.empty.hint")),
            )
            return
        by_courier: dict[Any, list[dict[str, Any]]] = {}
        for order in store.all():
            courier_id = order.get("courier_id")
            # int or str only: a list from a hostile event is unhashable (TypeError here),
            # and true would count for courier 1.
            if (order.get("status") in ACTIVE and isinstance(courier_id, int | str)
                    and not isinstance(courier_id, bool)):
                by_courier.setdefault(courier_id, []).append(order)
        cards = []
        for cid, courier in sorted(
            couriers.items(), key=lambda kv: (not kv[1].get("active", True), str(kv[1].get("name")))
        ):
            active = bool(courier.get("active", True))
            orders = by_courier.get(cid, [])
            name = display_text(courier.get("name") or cid, NAME_LIMIT)
            cards.append(
                h(
                    "article",
                    {
                        "class": ["card", "courier-card", None if active else "inactive"],
                        "data-testid": "courier-card",
                        "data-courier-id": cid,
                    },
                    h(
                        "header",
                        {"class": "courier-head"},
                        h(
                            "span",
                            {"class": "avatar large", "aria-hidden": "true"},
                            name[:1].upper(),
                        ),
                        h(
                            "div",
                            None,
                            h("h2", {"dir": "auto",
                                     "title": display_title(courier.get("name"), NAME_LIMIT)},
                              name),
                            h("span", {"class": "muted mono"}, phone_value(courier.get("phone"))),
                        ),
                        h(
                            "span",
                            {"class": ["badge", "courier-on" if active else "courier-off"]},
                            t("couriers.badge.active" if active else "couriers.badge.inactive"),
                        ),
                    ),
                    h(
                        "p",
                        {"class": "courier-load muted"},
                        tn("couriers.load", len(orders)),
                    ),
                    h(
                        "ul",
                        {"class": "courier-orders",
                         "aria-label": t("couriers.orders", name=name)},
                        [
                            h(
                                "li",
                                {"data-order-id": o.get("id")},
                                h("span", {"class": "mono"}, order_ref(o.get("id"))),
                                h(
                                    "span",
                                    {"class": "courier-order-text"},
                                    text_value(o.get("customer"), CUSTOMER_LIMIT),
                                    h("span", {"class": "muted"},
                                      text_value(o.get("address"), ADDRESS_LIMIT)),
                                ),
                                status_badge(o.get("status")),
                            )
                            for o in orders
                        ],
                    )
                    if orders
                    else h("p", {"class": "muted small"}, t("couriers.free")),
                )
            )
        dom.replace_children(grid, cards)

    def invalidate() -> None:
        ctx.later(scope, "couriers", render)

    async def load() -> None:
        state["loading"] = True
        store.begin_load()
        failed = True
        try:
            couriers, *lists = await asyncio.gather(
                ctx.load_couriers(max_age_s=0), *(fetch_all_orders(ctx.api, s) for s in ACTIVE)
            )
        except Exception as exc:
            store.fail_load()
            state["error"] = error_message(exc)
        else:
            # Two snapshots, two positions: the older one is the union's (the events
            # after it bring the newer list's rows no further than they already are).
            positions = [at for _items, at in lists if at is not None]
            store.finish_load(
                [o for items, _at in lists for o in items],
                at=min(positions) if len(positions) == len(lists) else None,
            )
            state["couriers"] = couriers
            state["error"] = None
            failed = False
        finally:
            state["loading"] = False
            # A gap or reset during the load (or one a failed load left): reload, throttled.
            refetcher.finished(again=store.needs_refetch, failed=failed)
        invalidate()

    refetcher = Refetcher(ctx.platform.now, ctx.schedule, lambda: ctx.run(scope, load()))
    scope.add_cleanup(refetcher.dispose)

    def on_event(ev: Any) -> None:
        changed = store.apply_event(ev)
        if store.needs_refetch and not state["loading"]:
            refetcher.request()
        elif changed:
            invalidate()

    use_order_events(scope, ctx.client, on_event)
    scope.effect(refetcher.start)
    render()
    return h(
        "section",
        {"class": "page couriers-page", "data-testid": "couriers-page"},
        h(
            "div",
            {"class": "page-header"},
            h(
                "div",
                None,
                h("h1", None, t("couriers.title")),
                h("p", {"class": "muted"}, t("couriers.lead")),
            ),
        ),
        grid,
    )


__all__ = ["couriers_page"]
