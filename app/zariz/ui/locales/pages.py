"""UI strings: the overview and couriers pages (see zariz.ui.locales)."""

from __future__ import annotations

from zariz.ui.i18n import define

STRINGS: dict[str, tuple[str, str]] = {
    # --- overview (/dashboard) ---------------------------------------------------------------
    "overview.title": ("Overview", "סקירה"),
    "overview.lead": ("Orders by status, updated live.", "הזמנות לפי סטטוס, בעדכון חי."),
    "overview.count.total": ("All orders", "כל ההזמנות"),
    "overview.error.counts": ("Could not load counts: {error}", "לא ניתן לטעון את הספירה: {error}"),
    "overview.feed.title": ("Latest events", "אירועים אחרונים"),
    "overview.feed.empty": (
        "Waiting for the next event… Create or update an order to see it here.",
        "ממתינים לאירוע הבא… צרו או עדכנו הזמנה והוא יופיע כאן.",
    ),
    "overview.stream.title": ("Live stream", "ערוץ העדכונים"),
    "overview.stream.status": ("Status", "מצב"),
    "overview.stream.events": ("Events received", "אירועים שהתקבלו"),
    "overview.stream.reconnects": ("Reconnects", "התחברויות מחדש"),
    "overview.stream.last_id": ("Last event id", "מזהה האירוע האחרון"),
    "overview.stream.note": (
        "One connection per tab, shared by every view.",
        "חיבור אחד לכל לשונית, משותף לכל המסכים.",
    ),
    "overview.stream.state.connected": ("Connected", "מחובר"),
    "overview.stream.state.connecting": ("Connecting", "מתחבר"),
    "overview.stream.state.disconnected": ("Disconnected", "מנותק"),
    # --- couriers (/dashboard/couriers) ------------------------------------------------------
    "couriers.title": ("Couriers", "שליחים"),
    "couriers.lead": ("Who is carrying what, right now.", "מה כל שליח מוביל, ברגע זה."),
    "couriers.loading": ("Loading couriers…", "טוען שליחים…"),
    "couriers.error.load": ("Could not load couriers.", "לא ניתן לטעון את השליחים."),
    "couriers.empty.title": ("No couriers yet.", "אין עדיין שליחים."),
    "couriers.empty.hint": (
        "Couriers appear here once they are registered.",
        "שליחים יופיעו כאן אחרי שיירשמו.",
    ),
    "couriers.badge.active": ("Active", "פעיל"),
    "couriers.badge.inactive": ("Inactive", "לא פעיל"),
    "couriers.load.one": ("1 active order", "הזמנה פעילה אחת"),
    # Hebrew's dual; English has no such form (an empty text: "other" is used).
    "couriers.load.two": ("", "שתי הזמנות פעילות"),
    "couriers.load.other": ("{n} active orders", "{n} הזמנות פעילות"),
    "couriers.free": ("Free for a new delivery.", "אפשר לשבץ משלוח חדש."),
    "couriers.orders": ("Active orders of {name}", "ההזמנות הפעילות של {name}"),
}

define(STRINGS)
