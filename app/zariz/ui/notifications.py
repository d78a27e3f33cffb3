"""NotificationProvider: mounted once in the shell; subscribes, never connects.

Order events go to the pure :class:`~zariz.ui.toasts.ToastModel`, which keeps the
recent-events list behind the bell (with its unread count and the mute switch) and decides
which events pop up as toasts (folded, limited, muted). Where things go on screen:

* the **bell** sits in the header band; its panel lists recent events and holds the
  switch that mutes other dispatchers' and demo events (remembered in ``localStorage``);
* **toasts** sit in the bottom inline-start corner (bottom-left, bottom-right in Hebrew):
  the one corner clear of the orders' actions column, the "New order" button and the
  sticky header. While a dialog is open they are hidden (CSS), and on a phone they are
  not drawn at all (the bell's badge says it): a floating card there covers the form or
  a card's actions;
* a visually hidden ``aria-live=polite`` line announces each new toast: a screen reader
  hears it without focus ever moving.

Rendering is keyed by toast id and coalesced to one pass per animation frame; one
delegated click listener handles every dismiss button.
"""

from __future__ import annotations

from typing import Any

from zariz.ui import dom
from zariz.ui.component import Scope, use_sse_events
from zariz.ui.context import Ctx
from zariz.ui.dom import h
from zariz.ui.format import Zone, describe_event, format_clock
from zariz.ui.i18n import t, tn
from zariz.ui.toasts import Entry, Toast, ToastModel

TOAST_EVENTS = (
    "order.created",
    "order.assigned",
    "order.status_changed",
    "order.updated",
    "order.deleted",
)
MUTE_KEY = "zariz.notify.mute"
"""``localStorage`` key of the mute switch (``"1"``: others' events make no toast)."""
PANEL_ID = "notif-panel"


def _toast_node(toast: Toast) -> tuple[Any, Any, Any, Any]:
    title = h("strong", {"class": "toast-title"}, toast.title)
    body = h("span", {"class": "toast-body", "dir": "auto"}, toast.body)
    latest = h("span", {"class": "toast-latest", "dir": "auto"}, toast.latest)
    node = h(
        "div",
        {
            "class": ["toast", f"toast-{toast.kind}", "toast-summary" if toast.summary else None],
            "data-testid": "toast",
            "data-toast-id": toast.id,
            "data-kind": toast.kind,
        },
        h("span", {"class": "toast-accent", "aria-hidden": "true"}),
        h("div", {"class": "toast-text"}, title, body, latest),
        h(
            "button",
            {
                "type": "button",
                "class": "toast-close",
                "aria-label": t("toasts.dismiss"),
                "title": t("toasts.dismiss"),
                "data-dismiss": toast.id,
            },
            "×",
        ),
    )
    return node, title, body, latest


def _entry_node(entry: Entry, clock: str) -> Any:
    return h(
        "li",
        {
            "class": ["notif-item", f"notif-{entry.kind}", "notif-muted" if entry.muted else None],
            "data-testid": "notif-item",
        },
        h("span", {"class": "notif-dot", "aria-hidden": "true"}),
        h(
            "div",
            {"class": "notif-text"},
            h("span", {"class": "notif-title"}, entry.title),
            h("span", {"class": "notif-body muted", "dir": "auto"}, entry.body or None),
        ),
        h("span", {"class": "notif-time muted"}, clock),
    )


_LABELS: dict[str, str] = {}


def entry_clock(at_ms: float | None, *, now_ms: float, zone: Zone) -> str:
    """When a bell entry arrived, as its line shows it (the local clock with the offset in
    force then; a date too when not today); ``""`` when unknown."""
    return "" if at_ms is None else format_clock(at_ms, now_ms=now_ms, zone=zone)


def event_label(name: str) -> str:
    """The stable code an event's kind is counted by (``"status"``), shown in the locale's
    words by the summary: :func:`describe_event`'s, which depends on the event's name
    alone, so it is looked up once per name, not made with each event's texts."""
    label = _LABELS.get(name)
    if label is None:
        text = describe_event(name, None)
        label = str(text.code or text.label)
        if name in TOAST_EVENTS:  # the events subscribed to: a bounded table
            _LABELS[name] = label
    return label


def bell_label(unread: int) -> str:
    """The bell's accessible name: what it is and how many events are new."""
    return tn("toasts.bell.unread", unread) if unread else t("toasts.bell")


def notification_provider(ctx: Ctx, scope: Scope) -> Any:
    model: ToastModel = ctx.toasts
    model.set_muted(dom.storage_get(MUTE_KEY) == "1")

    # --- the bell and its panel ------------------------------------------------------
    badge = h("span", {"class": "bell-badge", "data-testid": "bell-badge", "hidden": True})
    bell = h(
        "button",
        {
            "type": "button",
            "class": "bell",
            "aria-expanded": "false",
            "aria-controls": PANEL_ID,
            "aria-label": bell_label(0),
            "title": t("toasts.bell"),
            "data-testid": "bell",
        },
        h("span", {"class": "bell-icon", "aria-hidden": "true"}),
        badge,
    )
    mute = h(
        "input",
        {
            "type": "checkbox",
            "role": "switch",
            "id": "notif-mute",
            "class": "switch-input",
            "data-testid": "notify-mute",
            "checked": model.muted,
        },
    )
    clear_btn = h(
        "button",
        {"type": "button", "class": "btn btn-small", "data-testid": "notif-clear"},
        t("toasts.clear"),
    )
    items = h("ol", {"class": "notif-list", "data-testid": "notif-list"})
    empty = h("p", {"class": "notif-empty muted"}, t("toasts.empty"))
    panel = h(
        "div",
        {
            "class": "notif-panel",
            "id": PANEL_ID,
            "role": "group",
            "aria-labelledby": "notif-panel-title",
            "data-testid": "notif-panel",
            "hidden": True,
        },
        h(
            "div",
            {"class": "notif-head"},
            h("strong", {"id": "notif-panel-title"}, t("toasts.recent")),
            clear_btn,
        ),
        h(
            "label",
            {"class": "switch", "for": "notif-mute"},
            mute,
            h("span", {"class": "switch-track", "aria-hidden": "true"}),
            h("span", {"class": "switch-label"}, t("toasts.mute")),
        ),
        h("p", {"class": "notif-hint muted"}, t("toasts.mute.hint")),
        items,
        empty,
    )
    dock = h("div", {"class": "notif-dock"}, bell, panel)

    # --- toasts and the announcer ----------------------------------------------------
    stack = h("div", {"class": "toasts", "data-testid": "toasts"})
    announcer = h(
        "div",
        {
            "class": "sr-only",
            "aria-live": "polite",
            "aria-atomic": "true",
            "data-testid": "toast-announcer",
        },
    )
    region = h(
        "section",
        {
            "class": "notifications",
            "aria-label": t("toasts.region"),
            "data-testid": "notifications",
        },
        dock,
        stack,
        announcer,
    )

    nodes: dict[int, tuple[Any, Any, Any, Any]] = {}  # id -> (node, title, body, latest)
    timer: dict[str, Any] = {"cancel": None, "at": None}  # the expiry it is set for
    rendered = {"version": -1, "history": -1, "announced": 0}
    # A render is asked for at most once until it runs: events come by the hundred a
    # second and each would otherwise hand the frame scheduler a new closure.
    pending = {"render": False}

    def is_open() -> bool:
        return not panel.hasAttribute("hidden")

    def render_toasts() -> None:
        model.expire()
        if rendered["version"] == model.version:
            return
        rendered["version"] = model.version
        alive = {x.id for x in model.toasts}
        for tid in [x for x in nodes if x not in alive]:
            dom.remove(nodes.pop(tid)[0])
        # Existing toasts are never re-inserted: moving a node restarts its CSS entrance
        # animation. New ones are appended (newest nearest the corner's edge).
        newest: Toast | None = None
        for toast in model.toasts:
            entry = nodes.get(toast.id)
            if entry is None:
                entry = _toast_node(toast)
                nodes[toast.id] = entry
                stack.appendChild(entry[0])
            else:
                dom.set_text(entry[1], toast.title)
                dom.set_text(entry[2], toast.body)
                dom.set_text(entry[3], toast.latest)
            if toast.id > rendered["announced"]:
                newest = toast
        if newest is not None:
            rendered["announced"] = newest.id
            text = f"{newest.title}. {newest.body}" if newest.body else newest.title
            dom.set_text(announcer, text)

    def render_history() -> None:
        if rendered["history"] == model.history_version:
            return
        if is_open():
            model.mark_read()  # seen as they arrive while the list is open
        rendered["history"] = model.history_version
        unread = model.unread
        dom.set_attr(badge, "hidden", unread == 0)
        dom.set_text(badge, "99+" if unread > 99 else unread)
        dom.set_attr(bell, "aria-label", bell_label(unread))
        dom.set_attr(bell, "data-unread", unread)
        if not is_open():
            return
        now_ms = ctx.now_ms()
        dom.replace_children(
            items,
            [
                _entry_node(e, entry_clock(e.at_ms, now_ms=now_ms, zone=ctx.zone))
                for e in model.history
            ],
        )
        dom.set_attr(empty, "hidden", bool(model.history))
        dom.set_attr(clear_btn, "disabled", not model.history)

    def render() -> None:
        pending["render"] = False
        render_toasts()
        render_history()
        arm()

    def arm() -> None:
        at = model.next_expiry_at()
        if at is not None and timer["cancel"] is not None and timer["at"] <= at:
            # The timer set fires no later than needed (and arms again then): during a
            # burst the summary's expiry moves later every frame, and a new timer each
            # frame cost a cancel, a setTimeout and a proxy.
            return
        if timer["cancel"] is not None:
            timer["cancel"]()
            timer["cancel"] = None
        wait = model.next_expiry()
        if wait is not None and not scope.disposed:
            timer["at"] = at
            timer["cancel"] = ctx.schedule(wait + 0.05, expired)

    def expired() -> None:
        timer["cancel"] = None
        refresh()

    def refresh() -> None:
        if not pending["render"]:
            pending["render"] = True
            ctx.later(scope, "toasts", render)

    def on_event(ev: Any) -> None:
        data = getattr(ev, "data", None)
        name = ev.event
        key = data.get("id") if isinstance(data, dict) else None

        def describe() -> tuple[str, str, str]:
            text = describe_event(name, data, ctx.courier_names())
            return text.title, text.body, text.kind

        # The texts are made when shown: most events of a burst only count.
        model.notify_event(describe, key=key, label=event_label(name), at_ms=ctx.now_ms())
        refresh()

    def on_stack_click(e: Any) -> None:
        btn = dom.closest(e.target, "[data-dismiss]")
        if btn is not None:
            model.dismiss(int(dom.attr(btn, "data-dismiss") or 0))
            refresh()

    def set_open(open_: bool, *, focus_bell: bool = False) -> None:
        if open_ == is_open():
            return
        dom.set_attr(panel, "hidden", not open_)
        dom.set_attr(bell, "aria-expanded", "true" if open_ else "false")
        if open_:
            model.mark_read()
            rendered["history"] = -1  # draw the list now that it is visible
            render_history()
        elif focus_bell:
            dom.focus(bell)

    def on_bell(_e: Any) -> None:
        set_open(not is_open())

    def on_mute(_e: Any) -> None:
        muted = bool(mute.checked)
        model.set_muted(muted)
        dom.storage_set(MUTE_KEY, "1" if muted else None)
        refresh()

    def on_clear(_e: Any) -> None:
        model.clear_history()
        refresh()

    def on_doc_click(e: Any) -> None:
        if is_open() and not dom.contains(dock, e.target):
            set_open(False)

    def on_key(e: Any) -> None:
        if str(e.key) == "Escape" and is_open():
            e.stopPropagation()
            set_open(False, focus_bell=True)

    use_sse_events(scope, ctx.client, on_event, events=TOAST_EVENTS, keep_open=False)
    scope.use(dom.on(stack, "click", on_stack_click))
    scope.use(dom.on(bell, "click", on_bell))
    scope.use(dom.on(mute, "change", on_mute))
    scope.use(dom.on(clear_btn, "click", on_clear))
    scope.use(dom.on(dock, "keydown", on_key))
    scope.use(dom.on(dom.document(), "click", on_doc_click))
    ctx.refresh_toasts = refresh

    def cleanup() -> None:
        if timer["cancel"] is not None:
            timer["cancel"]()
        ctx.refresh_toasts = lambda: None
        model.clear()

    scope.add_cleanup(cleanup)
    scope.effect(lambda: refresh())
    return region


__all__ = [
    "MUTE_KEY", "TOAST_EVENTS", "bell_label", "entry_clock", "event_label",
    "notification_provider",
]
