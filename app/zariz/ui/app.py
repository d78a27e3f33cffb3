"""``mount_app``: the UI's single entry point (called by ``zariz.boot``).

Layouts: the login page, or the dashboard shell with one page inside. The router decides
(see :mod:`zariz.ui.routes`), the auth client's subscription re-decides on login/logout
(also from another tab), and every layout/page is a scope that is disposed before the next
is mounted. The SSE client is a singleton that outlives the UI: the UI only subscribes
(boot calls ``client.start()``: connected while logged in; nothing here connects).

Example (what boot does)::

    dispose = mount_app(js.document.getElementById("app"),
                        platform=platform, auth=auth, client=client, api=api)
    ...
    dispose()   # hot reload: every listener, proxy and subscription released
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from zariz.api import ApiClient
from zariz.auth import AuthClient
from zariz.platform import Platform
from zariz.types import EventClient
from zariz.ui import dom, i18n, routes
from zariz.ui.component import Mounted, StrictMode, mount, set_strict
from zariz.ui.context import Ctx
from zariz.ui.hot import HotData
from zariz.ui.login import login_page
from zariz.ui.pages.couriers import couriers_page
from zariz.ui.pages.orders import orders_page
from zariz.ui.pages.overview import overview_page
from zariz.ui.prefs import LANG_KEY
from zariz.ui.router import Router
from zariz.ui.scheduler import FrameScheduler
from zariz.ui.shell import Shell
from zariz.ui.toasts import ToastModel
from zariz.ui.widgets import error_panel

log = logging.getLogger("zariz.ui")

PAGES = {"overview": overview_page, "orders": orders_page, "couriers": couriers_page}
UI_GLOBAL = "__zarizUI"
SCROLL_KEY = "app.scroll"
# A handed-over scroll position waits this long for the page's content to be tall enough.
SCROLL_RESTORE_S = 2.0
SCROLL_RETRY_S = 0.05


class DisposeUI(Protocol):
    """What :func:`mount_app` returns: ``dispose()``, or ``dispose(hand_off)`` to have
    every component save its state into ``hand_off`` first (a hot swap)."""

    def __call__(self, hand_off: dict[str, Any] | None = None) -> None: ...


class App:
    def __init__(
        self, root: Any, *, platform: Platform, auth: AuthClient, client: EventClient,
        api: ApiClient, hot: Mapping[str, Any] | None = None,
        strict: StrictMode | None = None,
    ) -> None:
        self.root = root
        self.strict = strict
        self.auth = auth
        self.client = client
        self.frames = FrameScheduler(dom.request_animation_frame)
        self.router = Router(self.render_route)
        self.ctx = Ctx(
            platform=platform,
            auth=auth,
            client=client,
            api=api,
            frames=self.frames,
            toasts=ToastModel(now=platform.now),
            navigate=self.router.navigate,
            zone=dom.time_zone(),
            timer=dom.set_timeout,
            hot=HotData(hot),
        )
        self.layout_name: str | None = None
        self.layout: Mounted | None = None
        self.shell: Shell | None = None
        self._offs: list[Callable[[], None]] = []
        self._was_authenticated = bool(auth.is_authenticated)
        self._logging_out = False
        self.disposed = False

    # --- lifecycle ----------------------------------------------------------------------
    def mount(self) -> None:
        apply_locale()
        dom.clear(self.root)  # the plain-HTML skeleton goes
        # Strict mode (dev) applies to this UI's mounts, and ends with it.
        self._offs.append(set_strict(self.strict))
        self._offs.append(self.router.start(self.root))
        self._offs.append(self.auth.subscribe(self._on_auth))
        self._offs.append(dom.expose_global(UI_GLOBAL, self.stats))
        self.render_route()
        scroll = self.ctx.hot.take(SCROLL_KEY)
        if isinstance(scroll, (int, float)) and scroll > 0:
            self._restore_scroll(float(scroll))
        self.ctx.hot.settle()
        dom.set_data(self.root, "boot", "ready")

    def _restore_scroll(self, y: float) -> None:
        """Scroll back to where the previous UI was, once the page is tall enough (its
        rows may still be loading); give up after :data:`SCROLL_RESTORE_S`."""
        deadline = self.ctx.platform.now() + SCROLL_RESTORE_S
        cancel: list[Callable[[], None]] = []

        def attempt() -> None:
            cancel.clear()
            if self.disposed:
                return
            if dom.max_scroll_y() >= y or self.ctx.platform.now() >= deadline:
                dom.scroll_to(y)
                return
            cancel.append(self.ctx.schedule(SCROLL_RETRY_S, attempt))

        def stop() -> None:
            for undo in cancel:
                undo()

        attempt()
        self._offs.append(stop)

    def dispose(self, hand_off: dict[str, Any] | None = None) -> None:
        if self.disposed:
            return
        if hand_off is not None:
            hand_off.update(self.ctx.hot.collect())
            hand_off[SCROLL_KEY] = dom.scroll_y()
        self.disposed = True
        try:
            self._dispose_layout()
        finally:
            offs, self._offs = self._offs, []
            for off in reversed(offs):
                try:
                    off()
                except Exception:
                    log.exception("[UI] unmount step failed")
            self.frames.close()
            dom.clear(self.root)
            dom.set_data(self.root, "boot", "disposed")

    def stats(self) -> dict[str, Any]:
        """``__zarizUI()`` in the page: leak and navigation counters for tests."""
        return {
            "listeners": dom.live_listeners(),
            "frames": dom.live_frames(),
            "timers": dom.live_timers(),
            "renders": self.frames.renders,
            "navigations": self.router.navigations,
            "page_mounts": self.shell.page_mounts if self.shell else 0,
            "layout": self.layout_name,
            "route": self.shell.route.name if self.shell and self.shell.route else self.layout_name,
            "toasts": len(self.ctx.toasts.toasts),
        }

    # --- routing --------------------------------------------------------------------------
    def render_route(self) -> None:
        if self.disposed:
            return
        for _ in range(4):  # a redirect chain is at most login <-> dashboard
            path, search = dom.location()
            decision = routes.decide(path, search, authenticated=bool(self.auth.is_authenticated))
            if isinstance(decision, routes.Redirect):
                if decision.to == path + search:
                    break
                self.router.redirect(decision.to)
                continue
            self._show(decision.route)
            return
        log.error("[UI] redirect loop at %s", dom.location())

    def _show(self, route: routes.Route) -> None:
        if route.name == "login":
            if self.layout_name != "login":
                self._set_layout("login", lambda s: login_page(self.ctx, s))
            dom.set_title(i18n.t("shell.doc_title", page=route.title))
            return
        if self.layout_name != "shell" or self.shell is None:
            shell = Shell(self.ctx, PAGES, self._logout)
            self._set_layout("shell", shell.render)
            self.shell = shell
        self.shell.show(route)

    def _set_layout(self, name: str, render: Callable[[Any], Any]) -> None:
        self._dispose_layout()
        self.layout_name = name
        self.layout = mount(
            render,
            attach=self.root.appendChild,
            detach=dom.remove,
            name=f"layout:{name}",
            fallback=lambda exc: error_panel(i18n.t("shell.app_failed"), str(exc)),
        )

    def _dispose_layout(self) -> None:
        layout, self.layout = self.layout, None
        self.shell = None
        self.layout_name = None
        if layout is not None:
            layout.dispose()
        dom.clear(self.root)

    # --- auth -----------------------------------------------------------------------------
    def _on_auth(self, _state: Any) -> None:
        now = bool(self.auth.is_authenticated)
        if now == self._was_authenticated:
            return  # a token refresh: same user, same page
        self._was_authenticated = now
        if not now and self._logging_out:
            self.router.redirect(routes.LOGIN)  # an explicit logout: no "come back" link
        self._logging_out = False
        self.render_route()

    def _logout(self) -> None:
        self._logging_out = True

        async def run() -> None:
            try:
                await self.auth.logout()
            finally:
                self._logging_out = False

        self.ctx.platform.spawn(run())




def apply_locale() -> str:
    """The UI's language: ``?lang=`` in the URL, else the user's switch, else the
    browser's languages; ``<html lang dir>`` follow it."""
    lang = i18n.set_locale(
        i18n.pick_locale(dom.query_param("lang"), dom.storage_get(LANG_KEY), *dom.languages())
    )
    dom.set_document_locale(lang, i18n.direction(lang))
    return lang


def mount_app(
    root: Any, *, platform: Platform, auth: AuthClient, client: EventClient, api: ApiClient,
    hot: Mapping[str, Any] | None = None, strict: StrictMode | None = None,
) -> DisposeUI:
    """Mount the whole UI into ``root`` (the ``#app`` element); returns the disposer.

    Dev mode passes ``hot``, what the previous UI handed over (see
    :mod:`zariz.ui.hot`), and ``strict`` (see :class:`~zariz.ui.component.StrictMode`)."""
    app = App(root, platform=platform, auth=auth, client=client, api=api, hot=hot,
              strict=strict)
    try:
        app.mount()
    except BaseException:
        # Half mounted (router started, auth followed, timers set): undo all of it, or it
        # lives on beside whatever mounts next.
        app.dispose()
        raise
    return app.dispose


__all__ = ["App", "DisposeUI", "mount_app"]
