"""UI strings: orders (see zariz.ui.locales)."""

from __future__ import annotations

from zariz.ui.i18n import define

STRINGS: dict[str, tuple[str, str]] = {
    # The page
    "orders.title": ("Orders", "הזמנות"),
    "orders.subtitle": (
        "Live: changes from every dispatcher appear here as they happen.",
        "בזמן אמת: שינויים של כל הסדרנים מופיעים כאן ברגע שהם קורים.",
    ),
    "orders.new": ("+ New order", "+ הזמנה חדשה"),
    "orders.search.placeholder": ("Search customer, address or phone",
                                  "חיפוש לפי לקוח, כתובת או טלפון"),
    "orders.search.label": ("Search orders by customer, address or phone",
                            "חיפוש הזמנות לפי לקוח, כתובת או טלפון"),
    "orders.filter.label": ("Filter by status", "סינון לפי סטטוס"),
    "orders.filter.all": ("All", "הכול"),
    # The table
    "orders.table.caption": (
        "Orders. j and k (or the arrow keys) move between rows, Enter opens a row's actions.",
        "הזמנות. j ו־k (או החצים) עוברים בין שורות, Enter פותח את הפעולות של השורה.",
    ),
    "orders.col.id": ("Order", "הזמנה"),
    "orders.col.customer": ("Customer", "לקוח"),
    "orders.col.phone": ("Phone", "טלפון"),
    "orders.col.address": ("Address", "כתובת"),
    "orders.col.status": ("Status", "סטטוס"),
    "orders.col.courier": ("Courier", "שליח"),
    "orders.col.created": ("Created", "נוצרה"),
    "orders.col.actions": ("Actions", "פעולות"),
    # Row actions
    "orders.action.assign": ("Assign", "שיבוץ"),
    "orders.action.status": ("Status", "סטטוס"),
    "orders.action.edit": ("Edit", "עריכה"),
    "orders.action.delete": ("Delete", "מחיקה"),
    # The accessible name starts with the visible label (WCAG 2.5.3, "label in name").
    "orders.action.delete_label": ("Delete order {ref}", "מחיקה: הזמנה {ref}"),
    # States
    "orders.loading": ("Loading orders…", "טוען הזמנות…"),
    "orders.load_failed": ("Could not load orders.", "לא ניתן לטעון את ההזמנות."),
    "orders.stale": ("May be out of date: {error} Retrying…",
                     "ייתכן שהנתונים לא עדכניים: {error} מנסה שוב…"),
    "orders.empty.none": ("No orders yet.", "אין עדיין הזמנות."),
    "orders.empty.none_hint": ("New orders appear here the moment they are created.",
                               "הזמנות חדשות יופיעו כאן ברגע שייווצרו."),
    "orders.empty.filtered": ("No orders match.", "אין הזמנות תואמות."),
    "orders.empty.filtered_hint": ("Try another status or search.",
                                   "נסו סטטוס אחר או חיפוש אחר."),
    # Pagination
    "orders.pager.summary": ("{first}–{last} of {total}", "{first}–{last} מתוך {total}"),
    "orders.pager.page": ("Page {page} of {pages}", "עמוד {page} מתוך {pages}"),
    "orders.pager.prev": ("‹ Previous", "‹ הקודם"),
    "orders.pager.next": ("Next ›", "הבא ›"),
    "orders.pager.label": ("Pages", "עמודים"),
    # Age next to the time, and the full time as its tooltip
    "orders.age.now": ("now", "עכשיו"),
    "orders.age.min.one": ("1 min", "דקה"),
    "orders.age.min.other": ("{n} min", "{n} דק׳"),
    "orders.age.hour.one": ("1 h", "שעה"),
    "orders.age.hour.two": ("2 h", "שעתיים"),
    "orders.age.hour.other": ("{n} h", "{n} שע׳"),
    "orders.age.day.one": ("1 d", "יום"),
    "orders.age.day.two": ("2 d", "יומיים"),
    "orders.age.day.other": ("{n} d", "{n} ימים"),
    "orders.time.full": ("{day} {month} {year}, {time} ({zone})",
                         "{day} ב{month} {year}, {time} ({zone})"),
    "orders.month.1": ("Jan", "ינו׳"),
    "orders.month.2": ("Feb", "פבר׳"),
    "orders.month.3": ("Mar", "מרץ"),
    "orders.month.4": ("Apr", "אפר׳"),
    "orders.month.5": ("May", "מאי"),
    "orders.month.6": ("Jun", "יוני"),
    "orders.month.7": ("Jul", "יולי"),
    "orders.month.8": ("Aug", "אוג׳"),
    "orders.month.9": ("Sep", "ספט׳"),
    "orders.month.10": ("Oct", "אוק׳"),
    "orders.month.11": ("Nov", "נוב׳"),
    "orders.month.12": ("Dec", "דצמ׳"),
}

define(STRINGS)
