"""The dashboard shell: header (navigation, connection indicator, user menu), the page
outlet and the NotificationProvider. Mounted once while the user is on ``/dashboard``;
pages come and go inside it, each with its own scope.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from zariz.orders import ORDER_EVENTS
from zariz.ui import dom, routes
from zariz.ui.component import Mounted, Scope, mount, use_sse_events
from zariz.ui.context import Ctx
from zariz.ui.dom import h
from zariz.ui.format import indicator, token_subject
from zariz.ui.notifications import notification_provider
from zariz.ui.widgets import error_panel

log = logging.getLogger("zariz.ui")

PageRender = Callable[[Ctx, Scope], Any]


def connection_indicator(ctx: Ctx, scope: Scope) -> Any:
    """``data-testid=sse-status`` with ``data-status``; shows the time since the last event
    and the retry countdown; a click reconnects now (skipping a backoff wait)."""
    client, platform = ctx.client, ctx.platform
    dot = h("span", {"class": "dot", "aria-hidden": "true"})
    label = h("span", {"class": "label"})
    detail = h("span", {"class": "detail"})
    node = h(
        "button",
        {
            "type": "button",
            "class": "sse-indicator",
            "data-testid": "sse-status",
            "data-status": client.status,
            "title": "Live updates: click to reconnect now",
        },
        dot,
        h("span", {"class": "sse-text"}, label, detail),
    )
    last: dict[str, float | None] = {"at": None}

    def render() -> None:
        status = str(client.status)
        since = None if last["at"] is None else platform.now() - last["at"]
        retry = client.retry_in() if hasattr(client, "retry_in") else None
        via = client.role == "follower"
        waiting = client.stats.get("waiting_for") if status == "connecting" else None
        text, sub = indicator(
            status, since_last_s=since, retry_in_s=retry, via_other_tab=via,
            waiting_for=waiting if isinstance(waiting, str) else None,
        )
        dom.set_attr(node, "data-status", status)
        dom.set_attr(node, "aria-label", f"Connection: {text}, {sub}")
        dom.set_text(label, text)
        dom.set_text(detail, sub)

    def on_event(ev: Any) -> None:
        last["at"] = platform.now()
        if ev.event in ORDER_EVENTS:
            ctx.recent_events.append(ev)
        ctx.later(scope, "indicator", render)

    def on_click(_e: Any) -> None:
        # reconnect_now() skips a pending backoff; when the client has given up (idle and
        # disconnected) a user's click is an explicit request to try again.
        if (
            not client.reconnect_now()
            and client.status == "disconnected"
            and ctx.auth.is_authenticated
        ):
            client.reconnect("user clicked the indicator")
        ctx.later(scope, "indicator", render)

    sub = use_sse_events(scope, client, on_event)
    scope.effect(lambda: sub.on_status(lambda _s: ctx.later(scope, "indicator", render)))
    scope.use(dom.on(node, "click", on_click))

    ticker: dict[str, Any] = {"cancel": None}

    def tick() -> None:
        ticker["cancel"] = None
        if scope.disposed:
            return
        ctx.later(scope, "indicator", render)
        ticker["cancel"] = ctx.schedule(1.0, tick)

    def stop_ticker() -> None:
        if ticker["cancel"] is not None:
            ticker["cancel"]()
            ticker["cancel"] = None

    scope.effect(tick)
    scope.add_cleanup(stop_ticker)
    render()
    return node


def user_menu(ctx: Ctx, scope: Scope, on_logout: Callable[[], None]) -> Any:
    name = token_subject(ctx.auth.access_token) or "Signed in"
    toggle = h(
        "button",
        {
            "type": "button",
            "class": "user-button",
            "aria-haspopup": "menu",
            "aria-expanded": "false",
            "data-testid": "user-menu",
        },
        h("span", {"class": "avatar", "aria-hidden": "true"}, name[:1].upper()),
        h("span", {"class": "user-name"}, name),
        h("span", {"class": "caret", "aria-hidden": "true"}, "▾"),
    )
    logout = h("button", {"type": "button", "role": "menuitem", "data-testid": "logout"}, "Log out")
    menu = h(
        "div",
        {"class": "menu", "role": "menu", "hidden": True},
        h("div", {"class": "menu-header muted"}, "Signed in as ", h("strong", None, name)),
        logout,
    )
    wrapper = h("div", {"class": "user-menu"}, toggle, menu)

    def set_open(open_: bool) -> None:
        dom.set_attr(menu, "hidden", not open_)
        dom.set_attr(toggle, "aria-expanded", "true" if open_ else "false")
        if open_:
            dom.focus(logout)

    def on_toggle(_e: Any) -> None:
        set_open(menu.hasAttribute("hidden"))

    def on_doc_click(e: Any) -> None:
        if not dom.contains(wrapper, e.target):
            set_open(False)

    def on_key(e: Any) -> None:
        if str(e.key) == "Escape" and not menu.hasAttribute("hidden"):
            set_open(False)
            dom.focus(toggle)

    scope.use(dom.on(toggle, "click", on_toggle))
    scope.use(dom.on(logout, "click", lambda _e: on_logout()))
    scope.use(dom.on(dom.document(), "click", on_doc_click))
    scope.use(dom.on(wrapper, "keydown", on_key))
    return wrapper


class Shell:
    """Header + outlet + toasts. :meth:`show` swaps the page (dispose old, mount new)."""

    def __init__(
        self, ctx: Ctx, pages: Mapping[str, PageRender], on_logout: Callable[[], None]
    ) -> None:
        self.ctx = ctx
        self.pages = pages
        self.on_logout = on_logout
        self.route: routes.Route | None = None
        self.page: Mounted | None = None
        self.outlet: Any = None
        self.nav_links: dict[str, Any] = {}
        self.page_mounts = 0

    def render(self, scope: Scope) -> Any:
        ctx = self.ctx
        nav = h("nav", {"class": "nav", "aria-label": "Main"})
        for route in routes.ROUTES:
            if route.nav:
                link = h(
                    "a",
                    {"href": route.path, "class": "nav-link", "data-testid": f"nav-{route.name}"},
                    route.title,
                )
                self.nav_links[route.name] = link
                nav.appendChild(link)
        header = h(
            "header",
            {"class": "topbar"},
            h(
                "a",
                {"href": routes.HOME, "class": "brand", "aria-label": "Zariz admin home"},
                h("span", {"class": "brand-mark", "aria-hidden": "true"}, "Z"),
                "Zariz",
                h("span", {"class": "brand-sub"}, "admin"),
            ),
            nav,
            h("div", {"class": "topbar-spacer"}),
            connection_indicator(ctx, scope.child("indicator")),
            user_menu(ctx, scope.child("user-menu"), self.on_logout),
        )
        self.outlet = h("main", {"class": "content", "id": "main", "tabindex": "-1"})
        toasts = mount(lambda s: notification_provider(ctx, s), parent=scope, name="notifications")
        scope.add_cleanup(self._dispose_page)
        return h("div", {"class": "shell"}, header, self.outlet, toasts.node)

    def show(self, route: routes.Route) -> None:
        if self.route == route and self.page is not None:
            return
        self._dispose_page()
        self.route = route
        for name, link in self.nav_links.items():
            dom.set_attr(link, "aria-current", "page" if name == route.name else None)
        render = self.pages.get(route.name)
        self.page_mounts += 1
        outlet = self.outlet
        self.page = mount(
            (lambda s: render(self.ctx, s)) if render else _not_found,
            attach=outlet.appendChild,
            detach=dom.remove,
            name=f"page:{route.name}",
            fallback=lambda exc: error_panel("This page failed to load.", str(exc)),
        )
        dom.set_title(f"{route.title} · Zariz admin")

    def _dispose_page(self) -> None:
        page, self.page = self.page, None
        if page is not None:
            page.dispose()
        if self.outlet is not None:
            dom.clear(self.outlet)  # a fallback panel has no scope to remove it


def _not_found(scope: Scope) -> Any:
    return h(
        "section",
        {"class": "page"},
        h("h1", None, "Page not found"),
        h("p", {"class": "muted"}, "There is nothing at this address."),
        h("a", {"href": routes.HOME, "class": "btn btn-primary"}, "Go to the overview"),
    )


__all__ = ["Shell", "connection_indicator", "user_menu"]
