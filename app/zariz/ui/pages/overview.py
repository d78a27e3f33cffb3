"""Overview (``/dashboard``): live counts per status and a feed of the latest events.

Counts come from ``GET /v1/orders/stats`` (every status read at one event id) and then
follow the events after that id (:class:`StatusCounts`); an event that does not say enough
(an assignment without its previous status, a ``reset``, a gap in the ids) triggers a
throttled recount instead of a guess.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from zariz.orders import ORDER_EVENTS, STATUSES
from zariz.ui import dom, routes
from zariz.ui.component import Scope, event_id, use_order_events
from zariz.ui.context import Ctx
from zariz.ui.dom import h
from zariz.ui.format import (
    LABEL_LIMIT,
    ago,
    describe_event,
    display_text,
    error_message,
    status_label,
)
from zariz.ui.i18n import has, t
from zariz.ui.orders_store import StatusCounts

log = logging.getLogger("zariz.ui")

FEED_SIZE = 12
RECOUNT_DELAY_S = 0.75
FEED_EVENTS = frozenset({*ORDER_EVENTS, "reset"})


def stream_status(status: Any) -> str:
    """The event client's status in words (``connected`` -> "Connected"); anything else
    as cleaned text."""
    key = f"overview.stream.state.{status}"
    if isinstance(status, str) and has(key):
        return t(key)
    return display_text(status, LABEL_LIMIT) if status else t("common.none")


def overview_page(ctx: Ctx, scope: Scope) -> Any:
    counts = StatusCounts()
    feed: deque[tuple[float, str, Any]] = deque(maxlen=FEED_SIZE)  # (received_at ms, name, text)
    state: dict[str, Any] = {"error": None, "recount": None, "loading": False}

    values: dict[str, Any] = {}
    cards = h("div", {"class": "stat-grid"})
    for status in ("total", *STATUSES):
        value = h("span", {"class": "stat-value", "data-testid": f"count-{status}"}, "–")
        values[status] = value
        href = routes.by_name("orders").path + ("" if status == "total" else f"?status={status}")
        cards.appendChild(
            h(
                "a",
                {"class": ["stat-card", f"stat-{status}"], "href": href},
                h(
                    "span",
                    {"class": "stat-label"},
                    t("overview.count.total") if status == "total" else status_label(status),
                ),
                value,
            )
        )
    feed_list = h("ol", {"class": "feed", "data-testid": "event-feed", "aria-live": "polite"})
    feed_empty = h("p", {"class": "muted feed-empty"}, t("overview.feed.empty"))
    error_box = h("div", {"class": "form-error", "role": "alert", "hidden": True})
    stream_stats = h("dl", {"class": "kv"})

    def render() -> None:
        for status in STATUSES:
            dom.set_text(values[status], f"{counts.counts[status]:,}" if counts.loaded else "–")
        dom.set_text(values["total"], f"{counts.total:,}" if counts.loaded else "–")
        dom.set_attr(error_box, "hidden", not state["error"])
        dom.set_text(
            error_box, t("overview.error.counts", error=state["error"]) if state["error"] else ""
        )
        now = ctx.now_ms()
        items = []
        for at, name, text in reversed(feed):
            items.append(
                h(
                    "li",
                    {"class": ["feed-item", f"feed-{text.kind}"], "data-event": name},
                    h("span", {"class": "feed-dot", "aria-hidden": "true"}),
                    h(
                        "div",
                        {"class": "feed-text"},
                        h("strong", None, text.title),
                        # The body holds user text (customer, address): its own direction.
                        h("span", {"class": "muted", "dir": "auto"}, text.body),
                    ),
                    h("time", {"class": "feed-time muted"}, ago((now - at) / 1000)),
                )
            )
        dom.replace_children(feed_list, items)
        dom.set_attr(feed_empty, "hidden", bool(feed))
        stats = ctx.client.stats if hasattr(ctx.client, "stats") else {}
        pairs = (
            (t("overview.stream.status"), stream_status(getattr(ctx.client, "status", None))),
            (t("overview.stream.events"), f"{stats.get('events', 0):,}"),
            (t("overview.stream.reconnects"), f"{stats.get('reconnects', 0):,}"),
            (t("overview.stream.last_id"), str(stats.get("last_event_id") or t("common.none"))),
        )
        dom.replace_children(stream_stats, [(h("dt", None, k), h("dd", None, v)) for k, v in pairs])

    def invalidate() -> None:
        ctx.later(scope, "overview", render)

    async def load_counts() -> None:
        state["loading"] = True
        counts.begin_load()
        exact = True
        try:
            body = await ctx.api.order_stats()
            found = body.get("counts") if isinstance(body, dict) else None
            if not isinstance(found, dict):
                raise ValueError("the server sent no counts")
        except Exception as exc:
            counts.fail_load()
            state["error"] = error_message(exc)
        else:
            position = body.get("last_event_id")
            exact = counts.load(
                {s: int(n) for s, n in found.items() if isinstance(n, int)},
                at=position if isinstance(position, int) else None,
            )
            state["error"] = None
        finally:
            state["loading"] = False
        invalidate()
        if not exact:  # an event buffered during the load did not say enough
            recount()

    def recount() -> None:
        if state["recount"] is not None or scope.disposed:
            return  # one pending recount covers every event until then

        def due() -> None:
            state["recount"] = None
            ctx.run(scope, load_counts())

        state["recount"] = ctx.schedule(RECOUNT_DELAY_S, due)

    def cancel_recount() -> None:
        if state["recount"] is not None:
            state["recount"]()
            state["recount"] = None

    def remember(ev: Any) -> None:
        name = ev.event
        text = describe_event(name, ev.data, ctx.courier_names())
        feed.append((float(getattr(ev, "received_at", 0) or ctx.now_ms()), name, text))

    # Seed with what the tab saw while another page was open.
    for earlier in list(ctx.recent_events):
        remember(earlier)

    def on_event(ev: Any) -> None:
        name = ev.event
        if name in FEED_EVENTS:
            remember(ev)
        exact = counts.apply(name, ev.data, event_id(ev))
        if not exact or (not counts.loaded and not state["loading"]):
            recount()
        if name in FEED_EVENTS:
            invalidate()

    # Every event with an id (not only the feed's), so the counts see gaps in the ids.
    use_order_events(scope, ctx.client, on_event)
    scope.add_cleanup(cancel_recount)
    scope.effect(lambda: ctx.run(scope, load_counts()))

    async def warm_couriers() -> None:
        try:
            await ctx.load_couriers()  # courier names in the feed
        except Exception as exc:
            log.info("[UI] couriers unavailable: %s", exc)

    scope.effect(lambda: ctx.run(scope, warm_couriers()))

    ticker: dict[str, Any] = {"cancel": None}

    def tick() -> None:  # keep "12s ago" and the stream panel current
        ticker["cancel"] = None
        if not scope.disposed:
            invalidate()
            ticker["cancel"] = ctx.schedule(5.0, tick)

    def stop_ticker() -> None:
        if ticker["cancel"] is not None:
            ticker["cancel"]()

    scope.effect(tick)
    scope.add_cleanup(stop_ticker)
    render()
    return h(
        "section",
        {"class": "page overview-page", "data-testid": "overview-page"},
        h(
            "div",
            {"class": "page-header"},
            h(
                "div",
                None,
                h("h1", None, t("overview.title")),
                h("p", {"class": "muted"}, t("overview.lead")),
            ),
        ),
        error_box,
        cards,
        h(
            "div",
            {"class": "overview-grid"},
            h(
                "div",
                {"class": "card"},
                h("h2", {"class": "card-title"}, t("overview.feed.title")),
                feed_list,
                feed_empty,
            ),
            h(
                "div",
                {"class": "card"},
                h("h2", {"class": "card-title"}, t("overview.stream.title")),
                stream_stats,
                h("p", {"class": "muted small"}, t("overview.stream.note")),
            ),
        ),
    )


__all__ = ["overview_page"]
