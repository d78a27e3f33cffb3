"""The UI's string catalogue, one file per area: ``STRINGS = {key: (english, hebrew)}``.

Each area file defines its strings in :mod:`zariz.ui.i18n` when imported (so a hot
reload of one file updates its strings); :func:`zariz.ui.i18n.t` imports this package on
first use. Translators edit these files only; a CPython test fails when a key lacks its
Hebrew or two areas claim one key.
"""

from __future__ import annotations

from zariz.ui.locales import common, forms, orders, pages, shell, toasts

AREAS = (common, shell, orders, forms, toasts, pages)

__all__ = ["AREAS"]
