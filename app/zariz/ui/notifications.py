"""NotificationProvider: mounted once in the shell; subscribes, never connects.

Order events become toasts through the pure :class:`~zariz.ui.toasts.ToastModel` (stack,
auto-dismiss, burst summary). Rendering is keyed by toast id and coalesced to one pass per
animation frame; one delegated click listener handles every dismiss button.
"""

from __future__ import annotations

from typing import Any

from zariz.ui import dom
from zariz.ui.component import Scope, use_sse_events
from zariz.ui.context import Ctx
from zariz.ui.dom import h
from zariz.ui.format import describe_event

TOAST_EVENTS = ("order.created", "order.assigned", "order.status_changed", "order.deleted")


def notification_provider(ctx: Ctx, scope: Scope) -> Any:
    model = ctx.toasts
    region = h(
        "section",
        {"class": "toasts", "aria-live": "polite", "aria-label": "Notifications"},
    )
    nodes: dict[int, tuple[Any, Any, Any]] = {}  # toast id -> (node, title, body)
    timer: dict[str, Any] = {"cancel": None}
    rendered = {"version": -1}

    def render() -> None:
        model.expire()
        if rendered["version"] != model.version:
            rendered["version"] = model.version
            alive = {t.id for t in model.toasts}
            for tid in [t for t in nodes if t not in alive]:
                dom.remove(nodes.pop(tid)[0])
            # Existing toasts are never re-inserted: moving a node restarts its CSS
            # entrance animation. New ones are appended (newest next to the corner).
            for toast in model.toasts:
                entry = nodes.get(toast.id)
                if entry is None:
                    title = h("strong", {"class": "toast-title"}, toast.title)
                    body = h("span", {"class": "toast-body"}, toast.body)
                    node = h(
                        "div",
                        {
                            "class": [
                                "toast",
                                f"toast-{toast.kind}",
                                "toast-summary" if toast.summary else None,
                            ],
                            "role": "status",
                            "data-testid": "toast",
                            "data-toast-id": toast.id,
                            "data-kind": toast.kind,
                        },
                        h("span", {"class": "toast-accent", "aria-hidden": "true"}),
                        h("div", {"class": "toast-text"}, title, body),
                        h(
                            "button",
                            {
                                "type": "button",
                                "class": "toast-close",
                                "aria-label": "Dismiss",
                                "data-dismiss": toast.id,
                            },
                            "×",
                        ),
                    )
                    nodes[toast.id] = (node, title, body)
                    region.appendChild(node)
                else:
                    dom.set_text(entry[1], toast.title)
                    dom.set_text(entry[2], toast.body)
        arm()

    def arm() -> None:
        if timer["cancel"] is not None:
            timer["cancel"]()
            timer["cancel"] = None
        wait = model.next_expiry()
        if wait is not None and not scope.disposed:
            timer["cancel"] = ctx.schedule(wait + 0.05, refresh)

    def refresh() -> None:
        ctx.later(scope, "toasts", render)

    def on_event(ev: Any) -> None:
        data = getattr(ev, "data", None)
        text = describe_event(ev.event, data, ctx.courier_names())
        key = data.get("id") if isinstance(data, dict) else None
        model.notify(text.title, text.body, text.kind, key=key, label=text.label)
        refresh()

    def on_click(e: Any) -> None:
        btn = dom.closest(e.target, "[data-dismiss]")
        if btn is not None:
            model.dismiss(int(dom.attr(btn, "data-dismiss") or 0))
            refresh()

    use_sse_events(scope, ctx.client, on_event, events=TOAST_EVENTS)
    scope.use(dom.on(region, "click", on_click))
    ctx.refresh_toasts = refresh

    def cleanup() -> None:
        if timer["cancel"] is not None:
            timer["cancel"]()
        ctx.refresh_toasts = lambda: None
        model.clear()

    scope.add_cleanup(cleanup)
    scope.effect(lambda: refresh())
    return region


__all__ = ["TOAST_EVENTS", "notification_provider"]
