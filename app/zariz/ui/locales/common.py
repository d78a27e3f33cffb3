"""UI strings used across areas: statuses, times, generic actions (see zariz.ui.locales)."""

from __future__ import annotations

from zariz.ui.i18n import define

STRINGS: dict[str, tuple[str, str]] = {
    "lang.switch": ("Language", "שפה"),
    "action.cancel": ("Cancel", "ביטול"),
    "action.close": ("Close", "סגירה"),
    "action.save": ("Save", "שמירה"),
    "action.retry": ("Retry", "ניסיון חוזר"),
    "action.reload": ("Reload", "טעינה מחדש"),
    "common.loading": ("Loading…", "טוען…"),
    "common.none": ("—", "—"),
}

define(STRINGS)
