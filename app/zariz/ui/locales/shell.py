"""UI strings: the shell (header, navigation, user menu, connection indicator and stale
banner, page titles) and the shared formatters of ``zariz.ui.format`` (statuses, times,
event descriptions, request errors). See zariz.ui.locales."""

from __future__ import annotations

from zariz.ui.i18n import define

STRINGS: dict[str, tuple[str, str]] = {
    # --- order statuses (every view shows them through format.status_label) ---------------
    "status.new": ("New", "חדשה"),
    "status.assigned": ("Assigned", "שובצה"),
    "status.picked_up": ("Picked up", "נאספה"),
    "status.delivered": ("Delivered", "נמסרה"),
    "status.cancelled": ("Cancelled", "בוטלה"),
    # --- times ------------------------------------------------------------------------------
    "time.just_now": ("just now", "עכשיו"),
    "time.ago.s": ("{n}s ago", "לפני {n} שנ׳"),
    "time.ago.min": ("{n} min ago", "לפני {n} דק׳"),
    "time.ago.h": ("{n} h ago", "לפני {n} שע׳"),
    "time.ago.d": ("{n} d ago", "לפני {n} ימ׳"),
    "time.retry_now": ("retrying now", "מנסה שוב עכשיו"),
    "time.retry_in": ("retry in {n}s", "ניסיון נוסף בעוד {n} שנ׳"),
    "time.day_month": ("{day} {month} {time}", "{day} ב{month} {time}"),
    "time.month.1": ("Jan", "ינו׳"),
    "time.month.2": ("Feb", "פבר׳"),
    "time.month.3": ("Mar", "מרץ"),
    "time.month.4": ("Apr", "אפר׳"),
    "time.month.5": ("May", "מאי"),
    "time.month.6": ("Jun", "יוני"),
    "time.month.7": ("Jul", "יולי"),
    "time.month.8": ("Aug", "אוג׳"),
    "time.month.9": ("Sep", "ספט׳"),
    "time.month.10": ("Oct", "אוק׳"),
    "time.month.11": ("Nov", "נוב׳"),
    "time.month.12": ("Dec", "דצמ׳"),
    # --- event descriptions (toasts, the overview's feed) ----------------------------------
    "event.created.title": ("New order {ref}", "הזמנה חדשה {ref}"),
    "event.assigned.title": ("Order {ref} assigned", "הזמנה {ref} שובצה"),
    "event.assigned.body": ("to {courier}", "ל־{courier}"),
    "event.courier.any": ("a courier", "שליח"),
    "event.courier.id": ("courier {id}", "שליח {id}"),
    "event.status.title": ("Order {ref} {status}", "הזמנה {ref} {status}"),
    "event.transition": ("{before} → {after}", "{before} ← {after}"),
    "event.deleted.title": ("Order {ref} deleted", "הזמנה {ref} נמחקה"),
    "event.updated.title": ("Order {ref} updated", "הזמנה {ref} עודכנה"),
    "event.reset.title": ("Event stream reset", "זרם העדכונים אופס"),
    "event.reset.body": ("reloading data", "טוען נתונים מחדש"),
    "event.label.created": ("created", "נוצרו"),
    "event.label.assigned": ("assigned", "שובצו"),
    "event.label.status": ("status changes", "שינויי סטטוס"),
    "event.label.deleted": ("deleted", "נמחקו"),
    "event.label.edits": ("edits", "עריכות"),
    "event.label.resets": ("resets", "איפוסים"),
    "event.label.events": ("events", "אירועים"),
    # --- request errors ----------------------------------------------------------------------
    "error.not_allowed": ("Not allowed: {text}", "לא ניתן: {text}"),
    "error.network": (
        "The server could not be reached. Check the connection and try again.",
        "אין תקשורת עם השרת. בדקו את החיבור ונסו שוב.",
    ),
    "error.unexpected": ("Something went wrong ({name}).", "משהו השתבש ({name})."),
    "field.invalid": ("invalid", "ערך לא תקין"),
    "field.required": ("Required", "שדה חובה"),
    "field.too_short": ("At least {n} characters", "לפחות {n} תווים"),
    "field.too_long": ("At most {n} characters", "עד {n} תווים"),
    # --- the connection indicator and the stale banner ---------------------------------------
    "conn.phase.live": ("Live", "מחובר"),
    "conn.phase.connecting": ("Connecting…", "מתחבר…"),
    "conn.phase.reconnecting": ("Reconnecting", "מתחבר מחדש"),
    "conn.phase.offline": ("Offline", "מנותק"),
    "conn.phase.idle": ("Paused", "מושהה"),
    "conn.detail.idle": ("opens when a page shows live data", "ייפתח כשדף יציג נתונים חיים"),
    "conn.detail.no_events": ("no events yet", "עדיין אין עדכונים"),
    "conn.detail.last_event": ("last event {ago}", "עדכון אחרון {ago}"),
    "conn.detail.via_tab": ("via another tab · {detail}", "דרך לשונית אחרת · {detail}"),
    "conn.detail.opening": ("opening stream", "פותח ערוץ עדכונים"),
    "conn.detail.click": ("click to reconnect", "לחצו להתחברות מחדש"),
    "conn.detail.no_network": ("no network", "אין רשת"),
    "conn.detail.waiting_connection": (
        "waiting for a connection — too many tabs open?",
        "ממתין לחיבור — יותר מדי לשוניות פתוחות?",
    ),
    "error.code.invalid_transition": (
        "Not allowed: an order cannot go from {from} to {to}.",
        "לא ניתן: הזמנה לא עוברת מ\"{from}\" ל\"{to}\".",
    ),
    "error.code.not_found": (
        "This order no longer exists (deleted meanwhile?).",
        "ההזמנה כבר לא קיימת (אולי נמחקה בינתיים?).",
    ),
    "error.code.unknown_courier": ("That courier does not exist.", "השליח הזה לא קיים."),
    "error.code.courier_inactive": ("That courier is not active.", "השליח הזה לא פעיל."),
    "error.code.payload_too_large": ("The request is too large.", "הבקשה גדולה מדי."),
    "shell.app_failed": ("The app failed to render.", "האפליקציה לא הצליחה להציג את המסך."),
    "conn.prefix": ("Connection: ", "חיבור: "),
    "conn.title": (
        "Live updates: click to reconnect now", "עדכונים בזמן אמת: לחצו להתחברות מחדש עכשיו"
    ),
    "conn.stale": ("Not live — data as of {time}", "לא בזמן אמת — הנתונים נכונים ל־{time}"),
    "conn.stale.reconnect": ("Reconnect now", "התחברות מחדש"),
    # --- the shell ---------------------------------------------------------------------------
    "shell.brand": ("Zariz", "זריז"),
    "shell.brand_sub": ("admin", "ניהול"),
    "shell.home": ("Zariz admin home", "דף הבית של זריז"),
    "shell.doc_title": ("{page} · Zariz admin", "{page} · זריז ניהול"),
    "shell.nav": ("Main", "ראשי"),
    "shell.user": ("Signed in", "משתמש מחובר"),
    "shell.signed_in_as": ("Signed in as", "מחובר/ת בתור"),
    "shell.logout": ("Log out", "התנתקות"),
    "shell.page_failed": ("This page failed to load.", "טעינת הדף נכשלה."),
    "shell.not_found.title": ("Page not found", "הדף לא נמצא"),
    "shell.not_found.body": ("There is nothing at this address.", "אין כלום בכתובת הזאת."),
    "shell.not_found.home": ("Go to the overview", "למסך הסקירה"),
    # --- page titles (zariz.ui.routes) -------------------------------------------------------
    "route.login": ("Sign in", "כניסה"),
    "route.overview": ("Overview", "סקירה"),
    "route.orders": ("Orders", "הזמנות"),
    "route.couriers": ("Couriers", "שליחים"),
    "route.not_found": ("Not found", "לא נמצא"),
}

define(STRINGS)
