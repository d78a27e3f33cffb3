"""What a component hands to its next version across a hot swap (Vite's
``import.meta.hot.data`` and ``hot.dispose(data => ...)``, per component).

Before the UI is disposed for a swap, every mounted component that asked for it saves a
small plain value (the filter it shows, the dialog it has open, what was typed in it); the
new version of the component takes it back while it mounts. Nothing is saved when a page
is simply left: the savers go with the scope that registered them.

Example::

    def orders_page(ctx, scope):
        before = ctx.hot.take("orders") or {}
        store.set_filter(before.get("filter"))
        ctx.hot.keep(scope, "orders", lambda: {"filter": store.status_filter})
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from zariz.ui.component import Scope

log = logging.getLogger("zariz.ui")


class HotData:
    """``data``: what the previous UI handed over (empty on a normal page load). It stays
    readable until :meth:`settle` (the app calls it once mounted), so a component mounted
    twice in strict mode gets it both times."""

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = dict(data or {})
        self._savers: dict[str, Callable[[], Any]] = {}

    def take(self, key: str) -> Any:
        """The value the previous version saved under ``key``, or ``None``."""
        return self.data.get(key)

    def keep(self, scope: Scope, key: str, save: Callable[[], Any]) -> None:
        """Call ``save()`` when the UI is disposed for a swap; the value is handed to the
        next version under ``key``. Withdrawn when ``scope`` is disposed first."""
        self._savers[key] = save

        def withdraw() -> None:
            if self._savers.get(key) is save:
                del self._savers[key]

        scope.add_cleanup(withdraw)

    def settle(self) -> None:
        """The new UI is mounted: what was handed over is used up."""
        self.data.clear()

    def collect(self) -> dict[str, Any]:
        """Every saver's value (one that raises is logged and left out)."""
        out: dict[str, Any] = {}
        for key, save in list(self._savers.items()):
            try:
                out[key] = save()
            except Exception:
                log.exception("[UI] hot data %r: saving failed", key)
        return out


__all__ = ["HotData"]
