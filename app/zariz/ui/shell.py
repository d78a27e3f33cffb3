"""The dashboard shell: header (navigation, connection indicator, preferences, user menu),
the stale banner, the page outlet and the NotificationProvider. Mounted once while the
user is on ``/dashboard``; pages come and go inside it, each with its own scope.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from zariz.orders import ORDER_EVENTS
from zariz.types import EventClient
from zariz.ui import dom, routes
from zariz.ui.component import Mounted, Scope, mount, use_sse_events
from zariz.ui.context import Ctx
from zariz.ui.dom import h
from zariz.ui.format import Zone, format_clock, indicator, token_subject
from zariz.ui.i18n import t
from zariz.ui.liveness import Liveness
from zariz.ui.notifications import notification_provider
from zariz.ui.prefs import preference_controls
from zariz.ui.widgets import error_panel

log = logging.getLogger("zariz.ui")

PageRender = Callable[[Ctx, Scope], Any]


@dataclass(frozen=True)
class ConnectionViews:
    indicator: Any
    banner: Any
    liveness: Liveness


def stale_text(as_of_ms: float | None, *, now_ms: float, zone: Zone) -> str | None:
    """The stale banner's words ("Not live — data as of 14:05": the local time the data
    stopped being live, with the offset in force then), ``None`` while the data is live."""
    if as_of_ms is None:
        return None
    return t("conn.stale", time=format_clock(as_of_ms, now_ms=now_ms, zone=zone))


def _caught_up(client: EventClient) -> bool:
    return bool(client.caught_up)


def connection_views(ctx: Ctx, scope: Scope) -> ConnectionViews:
    """The connection indicator (``data-testid=sse-status``: ``data-status`` is the
    client's status, ``data-phase`` what the label says, see :mod:`zariz.ui.liveness`) and
    the stale banner (``data-testid=stale-banner``, ``data-stale``: "Not live — data as
    of 14:05" while the data is not current). A click on either reconnects now, skipping
    a backoff wait and starting it over; a REST answer (the server is reachable) makes a
    waiting client retry at once."""
    client, platform = ctx.client, ctx.platform
    live = Liveness(platform.now, platform.wall_ms, status=str(client.status),
                    caught_up=_caught_up(client))
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
            "title": t("conn.title"),
        },
        dot,
        # The accessible name is "Connection: <the visible text>": it contains what is
        # shown (WCAG 2.5.3, label in name), unlike an aria-label that rewords it.
        h("span", {"class": "sr-only"}, t("conn.prefix")),
        h("span", {"class": "sse-text"}, label, " ", detail),
    )
    # Always in the document (an empty live region), so that screen readers announce
    # its text when it appears.
    banner = h("div", {"class": "stale-banner", "role": "status",
                       "data-testid": "stale-banner", "data-stale": "false"})
    banner_text = h("span", {"class": "stale-text"})
    banner_button = h("button", {"type": "button", "class": "btn btn-small stale-reconnect",
                                 "data-testid": "stale-reconnect"}, t("conn.stale.reconnect"))
    last: dict[str, Any] = {"at": None, "banner": None}

    def render() -> None:
        status = str(client.status)
        idle = client.idle
        if idle:
            live.rest()
        else:
            live.observe(status, _caught_up(client))
        stats = client.stats
        since = None if last["at"] is None else platform.now() - last["at"]
        retry = client.retry_in()
        attempt = stats.get("attempt")
        failed = retry is not None or (isinstance(attempt, int) and attempt > 0)
        phase = "idle" if idle else live.phase(status, failed=failed)
        waiting = stats.get("waiting_for") if status == "connecting" else None
        text, sub = indicator(
            status, since_last_s=since, retry_in_s=retry,
            via_other_tab=client.role == "follower",
            waiting_for=waiting if isinstance(waiting, str) else None,
            phase=phase, network=platform.is_online(),
        )
        dom.set_attr(node, "data-status", status)
        dom.set_attr(node, "data-phase", phase)
        dom.set_text(label, text)
        dom.set_text(detail, sub)
        render_banner()

    def render_banner() -> None:
        shown = stale_text(live.banner_as_of(), now_ms=ctx.now_ms(), zone=ctx.zone)
        before = last["banner"]
        if shown == before:
            return
        last["banner"] = shown
        dom.set_attr(banner, "data-stale", "false" if shown is None else "true")
        if shown is None:
            dom.clear(banner)
            return
        dom.set_text(banner_text, shown)
        if before is None:
            dom.replace_children(banner, banner_text, banner_button)

    def later() -> None:
        ctx.later(scope, "connection", render)

    def on_event(ev: Any) -> None:
        last["at"] = platform.now()
        if ev.event in ORDER_EVENTS:
            ctx.recent_events.append(ev)
        later()

    def on_status(status: Any) -> None:
        # Now, not in the next frame: the moment the data stopped being current is the
        # banner's "as of" time.
        if client.idle:
            live.rest()
        else:
            live.observe(str(status), _caught_up(client))
        later()

    def on_click(_e: Any) -> None:
        # reconnect_now() tries at once and starts the backoff over; when the client has
        # given up (idle and disconnected) a user's click is an explicit request to try
        # again.
        if (
            not client.reconnect_now()
            and client.status == "disconnected"
            and ctx.auth.is_authenticated
        ):
            client.reconnect("user clicked the indicator")
        later()

    def on_answer() -> None:
        # The server answered a REST call: if the stream is waiting out a backoff, the
        # stream is likely possible again too.
        if client.status != "connected":
            client.nudge("a REST call was answered")

    sub = use_sse_events(scope, client, on_event, keep_open=False)
    scope.effect(lambda: sub.on_status(on_status))
    scope.effect(lambda: ctx.api.on_answer(on_answer))
    scope.use(dom.on(node, "click", on_click))
    scope.use(dom.on(banner_button, "click", on_click))

    ticker: dict[str, Any] = {"cancel": None}

    def tick() -> None:
        ticker["cancel"] = None
        if scope.disposed:
            return
        later()
        ticker["cancel"] = ctx.schedule(1.0, tick)

    def stop_ticker() -> None:
        if ticker["cancel"] is not None:
            ticker["cancel"]()
            ticker["cancel"] = None

    scope.effect(tick)
    scope.add_cleanup(stop_ticker)
    render()
    return ConnectionViews(node, banner, live)


def connection_indicator(ctx: Ctx, scope: Scope) -> Any:
    """The indicator alone (see :func:`connection_views`)."""
    return connection_views(ctx, scope).indicator


def user_menu(ctx: Ctx, scope: Scope, on_logout: Callable[[], None]) -> Any:
    name = token_subject(ctx.auth.access_token) or t("shell.user")
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
        h("span", {"class": "user-name", "dir": "auto"}, name),
        h("span", {"class": "caret", "aria-hidden": "true"}, "▾"),
    )
    logout = h(
        "button", {"type": "button", "role": "menuitem", "data-testid": "logout"},
        t("shell.logout"),
    )
    menu = h(
        "div",
        {"class": "menu", "role": "menu", "hidden": True},
        h("div", {"class": "menu-header muted"}, t("shell.signed_in_as"), " ",
          h("strong", {"dir": "auto"}, name)),
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
        nav = h("nav", {"class": "nav", "aria-label": t("shell.nav")})
        for route in routes.ROUTES:
            if route.nav:
                link = h(
                    "a",
                    {"href": route.path, "class": "nav-link", "data-testid": f"nav-{route.name}"},
                    route.title,
                )
                self.nav_links[route.name] = link
                nav.appendChild(link)
        brand = t("shell.brand")
        connection = connection_views(ctx, scope.child("connection"))
        header = h(
            "header",
            {"class": "topbar"},
            h(
                "a",
                # No aria-label: the link's name is its visible text ("Zariz admin"), so
                # voice control users can say what they see.
                {"href": routes.HOME, "class": "brand", "title": t("shell.home")},
                h("span", {"class": "brand-mark", "aria-hidden": "true"}, brand[:1]),
                brand,
                " ",
                h("span", {"class": "brand-sub"}, t("shell.brand_sub")),
            ),
            nav,
            h("div", {"class": "topbar-spacer"}),
            connection.indicator,
            preference_controls(ctx, scope.child("prefs")),
            user_menu(ctx, scope.child("user-menu"), self.on_logout),
        )
        self.outlet = h("main", {"class": "content", "id": "main", "tabindex": "-1"})
        toasts = mount(lambda s: notification_provider(ctx, s), parent=scope, name="notifications")
        scope.add_cleanup(self._dispose_page)
        return h("div", {"class": "shell"}, header, connection.banner, self.outlet, toasts.node)

    def show(self, route: routes.Route) -> None:
        # A page reads its state (filter, sort, search, page) from the query string when it
        # mounts, then keeps the URL in step itself (replaceState, which calls no one). So a
        # show of the page already shown - only a navigation that changed the URL gets here:
        # a nav link to the bare page, back/forward between two list states - mounts it
        # again from the new URL, or the URL and the page would disagree.
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
            fallback=lambda exc: error_panel(t("shell.page_failed"), str(exc)),
        )
        dom.set_title(t("shell.doc_title", page=route.title))

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
        h("h1", None, t("shell.not_found.title")),
        h("p", {"class": "muted"}, t("shell.not_found.body")),
        h("a", {"href": routes.HOME, "class": "btn btn-primary"}, t("shell.not_found.home")),
    )


__all__ = [
    "ConnectionViews", "Shell", "connection_indicator", "connection_views", "stale_text",
    "user_menu",
]
