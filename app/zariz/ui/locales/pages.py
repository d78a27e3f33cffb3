"""UI strings: pages (see zariz.ui.locales)."""

from __future__ import annotations

from zariz.ui.i18n import define

STRINGS: dict[str, tuple[str, str]] = {
}

define(STRINGS)
