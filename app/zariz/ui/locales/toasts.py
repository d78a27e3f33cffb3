"""UI strings: toasts, the bell's list of recent events, and the display preferences
(theme, language) in the header (see zariz.ui.locales)."""

from __future__ import annotations

from zariz.ui.i18n import define

STRINGS: dict[str, tuple[str, str]] = {
    # --- the summary a burst of events folds into ---------------------------------------
    "toasts.summary.one": ("{n} order updated", "{n} הזמנה עודכנה"),
    "toasts.summary.other": ("{n} orders updated", "{n} הזמנות עודכנו"),
    "toasts.list_sep": (", ", ", "),
    "toasts.latest": ("Latest: {title}", "אחרון: {title}"),
    "toasts.count.created.one": ("{n} created", "{n} נוצרה"),
    "toasts.count.created.other": ("{n} created", "{n} נוצרו"),
    "toasts.count.assigned.one": ("{n} assigned", "{n} שובצה"),
    "toasts.count.assigned.other": ("{n} assigned", "{n} שובצו"),
    "toasts.count.status.one": ("{n} status change", "{n} שינוי סטטוס"),
    "toasts.count.status.other": ("{n} status changes", "{n} שינויי סטטוס"),
    "toasts.count.deleted.one": ("{n} deleted", "{n} נמחקה"),
    "toasts.count.deleted.other": ("{n} deleted", "{n} נמחקו"),
    "toasts.count.edits.one": ("{n} edit", "{n} עריכה"),
    "toasts.count.edits.other": ("{n} edits", "{n} עריכות"),
    "toasts.count.resets.one": ("{n} reset", "{n} איפוס"),
    "toasts.count.resets.other": ("{n} resets", "{n} איפוסים"),
    "toasts.count.events.one": ("{n} event", "{n} אירוע"),
    "toasts.count.events.other": ("{n} events", "{n} אירועים"),
    # --- toasts and the bell ------------------------------------------------------------
    "toasts.region": ("Live updates", "עדכונים חיים"),
    "toasts.dismiss": ("Dismiss", "סגירה"),
    "toasts.bell": ("Notifications", "התראות"),
    "toasts.bell.unread.one": ("Notifications: {n} new", "התראות: {n} חדשה"),
    "toasts.bell.unread.other": ("Notifications: {n} new", "התראות: {n} חדשות"),
    "toasts.recent": ("Recent events", "אירועים אחרונים"),
    "toasts.clear": ("Clear", "ניקוי"),
    "toasts.empty": ("No events yet.", "אין עדיין אירועים."),
    "toasts.mute": ("Mute others' and demo events", "השתקת אירועים של אחרים ושל הדמו"),
    "toasts.mute.hint": (
        "The table still updates live; only the pop-ups stop.",
        "הטבלה ממשיכה להתעדכן בזמן אמת; רק ההודעות הקופצות נעצרות.",
    ),
    # --- display preferences (theme, language) ------------------------------------------
    "prefs.button": ("Display and language", "תצוגה ושפה"),
    "prefs.theme": ("Theme", "ערכת צבעים"),
    "prefs.theme.system": ("System", "לפי המערכת"),
    "prefs.theme.light": ("Light", "בהירה"),
    "prefs.theme.dark": ("Dark", "כהה"),
}

define(STRINGS)
