"""History API router over real links.

Links are ordinary ``<a href="/dashboard/orders">``: a plain left click is intercepted
(one delegated listener on the app root) and becomes ``pushState`` + a re-render, so the
page never reloads; a middle click or a modified click (new tab, new window, download)
is left to the browser. ``popstate`` (back/forward) re-renders too. The decisions - which
route, redirect to login and back - live in :mod:`zariz.ui.routes` (pure, unit-tested).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from zariz.ui import dom, routes

log = logging.getLogger("zariz.ui")


class Router:
    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self._offs: list[Callable[[], None]] = []
        self.navigations = 0

    def start(self, root: Any) -> Callable[[], None]:
        """Listen for link clicks under ``root`` and for back/forward. Returns the undo."""
        self._offs.append(dom.on(root, "click", self._on_click))
        self._offs.append(dom.on(dom.window(), "popstate", lambda _e: self._changed()))
        return self.stop

    def stop(self) -> None:
        offs, self._offs = self._offs, []
        for off in offs:
            off()

    @staticmethod
    def current() -> tuple[str, str]:
        return dom.location()

    def navigate(self, url: str, *, replace: bool = False) -> None:
        path, search = dom.location()
        if url == path + search and not replace:
            return  # already there: no duplicate history entry
        (dom.replace_state if replace else dom.push_state)(url)
        self._changed()

    def redirect(self, url: str) -> None:
        """Replace the current entry without notifying (the caller is rendering)."""
        dom.replace_state(url)

    def _changed(self) -> None:
        self.navigations += 1
        self._on_change()

    def _on_click(self, e: Any) -> None:
        if e.defaultPrevented:
            return
        anchor = dom.closest(e.target, "a[href]")
        if anchor is None or anchor.hasAttribute("download"):
            return
        href = dom.attr(anchor, "href")
        if not routes.is_internal_href(href):
            return
        if not routes.is_plain_left_click(
            button=int(e.button),
            meta=bool(e.metaKey),
            ctrl=bool(e.ctrlKey),
            shift=bool(e.shiftKey),
            alt=bool(e.altKey),
            target=dom.attr(anchor, "target"),
        ):
            return  # new tab / window: the browser's job
        e.preventDefault()
        self.navigate(str(href))


__all__ = ["Router"]
