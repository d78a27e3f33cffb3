"""The page side of dev mode: notices in, the overlay, stylesheets and strict mode out.

:func:`dev_flags` reads what the server put in the page (``<meta name="zariz-dev"
content="strict">``, only under ``python -m server --dev``); :class:`DevPage` is the
:class:`~zariz.dev.reloader.DevHost` the reloader runs against. It listens for
``dev.reload`` on the tab's event client - the stream the page already has, so dev mode
costs no connection (a browser allows 6 per origin over HTTP/1.1) - and the server sends
one on every connect, so a page whose stream was down catches up when it is back.

The overlay is a panel docked at the bottom of the window: the last good UI keeps running
above it (events, navigation, dialogs), as the issue asks, instead of being covered.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import zariz
from zariz.dev.reloader import HotReloader
from zariz.dev.swap import Problem
from zariz.platform import Platform
from zariz.types import EventClient, Undo
from zariz.ui import dom
from zariz.ui.component import StrictMode

log = logging.getLogger("zariz.dev")

META_NAME = "zariz-dev"
DEV_GLOBAL = "__zarizDev"
OVERLAY_ID = "zariz-dev-overlay"
# The import graph is parsed this long after boot, off the first swap's path.
WARM_AFTER_S = 1.0


def dev_flags() -> dict[str, bool] | None:
    """``None`` outside dev mode; else ``{"strict": bool}``."""
    content = dom.meta_content(META_NAME)
    if content is None:
        return None
    return {"strict": content.strip() != "no-strict"}


class DevPage:
    def __init__(
        self,
        *,
        platform: Platform,
        client: EventClient,
        auth_subscribers: Callable[[], int],
        mount_ui: Callable[[dict[str, Any]], None],
        dispose_ui: Callable[[], dict[str, Any]],
        strict: bool,
    ) -> None:
        self._platform = platform
        self._client = client
        self._auth_subscribers = auth_subscribers
        self._mount_ui = mount_ui
        self._dispose_ui = dispose_ui
        self.strict = StrictMode(self._probe, self._warn) if strict else None
        self.warnings: list[str] = []
        self._overlay_offs: list[Undo] = []
        self._overlay: Any = None
        self._shown: Problem | None = None
        app_dir = os.path.dirname(os.path.dirname(os.path.abspath(zariz.__file__)))
        self.reloader = HotReloader(self, app_dir=app_dir, baseline=dom.stylesheet_versions())
        self._offs: list[Undo] = [
            # keep_open: hot reload needs the stream, so under --dev the client's lazy mode
            # keeps it open on every page (the README says so); `make serve` is where
            # lazy mode's idle close is seen.
            client.subscribe(
                lambda ev: self.reloader.notice(ev.data), events=["dev.reload"], keep_open=True
            ),
            dom.expose_global(DEV_GLOBAL, self.stats),
        ]
        self._offs.append(platform.schedule(WARM_AFTER_S, self.reloader.warm))
        log.info("[dev] hot reload on (strict mode %s)", "on" if strict else "off")

    # --- DevHost ---------------------------------------------------------------------------
    async def fetch_text(self, path: str) -> str:
        # The hash in the URL: no cache (browser or proxy) answers with an older file.
        resp = await self._platform.request("GET", f"/{path}?dev={self._platform.wall_ms()}")
        if not resp.ok:
            raise RuntimeError(f"GET /{path} answered {resp.status}")
        return resp.text

    async def fetch_manifest(self) -> Mapping[str, Any]:
        resp = await self._platform.request(
            "GET", f"/__dev/manifest?t={self._platform.wall_ms()}"
        )
        if not resp.ok or not isinstance(resp.body, dict):
            raise RuntimeError(f"GET /__dev/manifest answered {resp.status}")
        return resp.body

    def swap_css(self, path: str, digest: str) -> None:
        if not dom.swap_stylesheet(path, digest):
            log.info("[dev] %s changed; this page does not use it", path)

    def dispose_ui(self) -> dict[str, Any]:
        return self._dispose_ui()

    def mount_ui(self, hand_off: dict[str, Any]) -> None:
        warned = len(self.warnings)
        self._mount_ui(hand_off)
        if self._shown is not None and self._shown.kind == "strict" and (
            len(self.warnings) == warned
        ):
            self._render(None)  # the remount found no missing cleanup: the leak is fixed

    def show(self, problem: Problem | None) -> None:
        if problem is None and self._shown is not None and self._shown.kind == "strict":
            return  # hidden by a clean remount (mount_ui) or Dismiss, not by any notice
        self._render(problem)

    # --- strict mode ---------------------------------------------------------------------
    def _probe(self) -> dict[str, int]:
        from zariz.ui import dom as current_dom  # the DOM layer may have been swapped

        stats = self._client.stats
        return {
            "subscriptions": int(stats.get("subscribers", 0))
            + int(stats.get("status_listeners", 0)) + self._auth_subscribers(),
            "listeners": current_dom.live_listeners(),
            "timers": current_dom.live_timers(),
            "proxies": self._platform.live_proxies(),
        }

    def _warn(self, message: str) -> None:
        log.warning("[dev] %s", message)
        self.warnings.append(message)
        del self.warnings[:-20]
        if self._shown is None or self._shown.kind == "strict":
            self._render(Problem("strict", "Strict mode found a missing cleanup", None, None,
                                 "\n\n".join(self.warnings[-5:])))

    # --- the overlay ---------------------------------------------------------------------
    def _clear_overlay(self) -> None:
        offs, self._overlay_offs = self._overlay_offs, []
        for off in offs:
            off()
        if self._overlay is not None:
            dom.remove(self._overlay)
            self._overlay = None

    def _render(self, problem: Problem | None) -> None:
        self._clear_overlay()
        self._shown = problem
        if problem is None:
            return
        h = dom.h
        buttons = []
        if problem.kind == "reload":
            reload_btn = h("button", {"type": "button", "class": "primary",
                                      "data-testid": "dev-overlay-reload"}, "Reload page")
            self._overlay_offs.append(dom.on(reload_btn, "click", lambda _e: dom.reload_page()))
            buttons.append(reload_btn)
        dismiss = h("button", {"type": "button", "data-testid": "dev-overlay-dismiss"}, "Dismiss")
        self._overlay_offs.append(dom.on(dismiss, "click", lambda _e: self._render(None)))
        buttons.append(dismiss)
        note = {
            "syntax": "Nothing was swapped: the page runs the code it had.",
            "import": "Nothing was swapped: the page runs the code it had.",
            "mount": "The previous code runs again.",
            "reload": "Nothing was swapped.",
            "strict": "Each component is mounted, disposed and mounted again in dev mode.",
        }.get(problem.kind, "")
        self._overlay = h(
            "section",
            {"id": OVERLAY_ID, "class": ["dev-overlay", f"dev-{problem.kind}"],
             "role": "alert", "data-testid": "dev-overlay", "data-kind": problem.kind},
            h("header", {"class": "dev-overlay-head"},
              h("strong", {"data-testid": "dev-overlay-title"}, problem.title),
              h("span", {"class": "dev-overlay-actions"}, buttons)),
            h("p", {"class": "dev-overlay-where", "data-testid": "dev-overlay-where"},
              problem.where),
            h("p", {"class": "dev-overlay-note"}, note),
            h("pre", {"class": "dev-overlay-detail", "data-testid": "dev-overlay-detail"},
              problem.detail),
        )
        dom.body().appendChild(self._overlay)

    def stats(self) -> dict[str, Any]:
        """``__zarizDev()`` in the page (tests, and a developer in the console)."""
        out = self.reloader.stats()
        out.update(
            strict=self.strict is not None,
            strict_checked=self.strict.checked if self.strict else 0,
            leaks=list(self.strict.leaks) if self.strict else [],
            warnings=list(self.warnings),
            overlay=None if self._shown is None else self._shown.kind,
        )
        return out


__all__ = ["DEV_GLOBAL", "DevPage", "dev_flags"]
