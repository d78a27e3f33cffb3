"""UI strings: forms and dialogs (the order dialogs, field checks, the login page); see
zariz.ui.locales."""

from __future__ import annotations

from zariz.ui.i18n import define

STRINGS: dict[str, tuple[str, str]] = {
    # --- fields and their checks -------------------------------------------------------
    "forms.field.customer": ("Customer", "שם הלקוח"),
    "forms.field.phone": ("Phone", "טלפון"),
    "forms.field.address": ("Delivery address", "כתובת למשלוח"),
    "forms.field.notes": ("Notes", "הערות"),
    "forms.optional": ("optional", "לא חובה"),
    "forms.required": ("Required", "שדה חובה"),
    "forms.phone.hint": (
        "Israeli mobile or landline, e.g. {example}",
        "נייד או קווי בישראל, למשל {example}",
    ),
    "forms.phone.foreign": (
        "Only Israeli numbers are accepted, such as 050-123-4567.",
        "אפשר להזין רק מספר ישראלי, למשל 050-123-4567.",
    ),
    "forms.phone.shape": (
        "Enter an Israeli mobile or landline number, such as 050-123-4567.",
        "יש להזין מספר נייד או קווי ישראלי, למשל 050-123-4567.",
    ),
    # --- failed submits ---------------------------------------------------------------
    "forms.error.fix": ("Check the highlighted fields.", "יש לתקן את השדות המסומנים."),
    "forms.announce.field": ("{label}: {message}", "{label}: {message}"),
    # --- the order dialogs ------------------------------------------------------------
    "forms.create.title": ("New order", "הזמנה חדשה"),
    "forms.create.submit": ("Create order", "יצירת הזמנה"),
    "forms.edit.title": ("Edit order {ref}", "עריכת הזמנה {ref}"),
    "forms.edit.submit": ("Save changes", "שמירת השינויים"),
    "forms.assign.title": ("Assign order {ref}", "שיבוץ הזמנה {ref}"),
    "forms.assign.submit": ("Assign", "שיבוץ"),
    "forms.assign.courier": ("Courier", "שליח"),
    "forms.assign.loading": ("Loading couriers…", "טוען שליחים…"),
    "forms.assign.choose": ("Choose a courier…", "בחירת שליח…"),
    "forms.assign.inactive": ("{name} (inactive)", "{name} (לא פעיל)"),
    "forms.assign.required": ("Choose a courier.", "יש לבחור שליח."),
    "forms.status.title": ("Change status of {ref}", "שינוי סטטוס להזמנה {ref}"),
    "forms.status.submit": ("Change status", "שינוי סטטוס"),
    "forms.status.new": ("New status", "סטטוס חדש"),
    "forms.status.other": ("Other", "אחר"),
    "forms.delete.title": ("Delete order {ref}?", "למחוק את הזמנה {ref}?"),
    "forms.delete.submit": ("Delete order", "מחיקת ההזמנה"),
    "forms.delete.warning": (
        "This removes the order for everyone. It cannot be undone.",
        "ההזמנה תימחק אצל כולם, ואי אפשר לבטל את זה.",
    ),
    # --- the login page ---------------------------------------------------------------
    "forms.login.title": ("Sign in", "כניסה"),
    "forms.login.tagline": (
        "Dispatch console for live deliveries.",
        "מסוף סידור משלוחים בזמן אמת.",
    ),
    "forms.login.continue_to": (
        "Sign in to continue to {page}.",
        "יש להיכנס כדי להמשיך אל {page}.",
    ),
    "forms.login.username": ("Username", "שם משתמש"),
    "forms.login.password": ("Password", "סיסמה"),
    "forms.login.submit": ("Sign in", "כניסה"),
    "forms.login.busy": ("Signing in…", "נכנסים…"),
    "forms.login.wrong": ("Wrong username or password.", "שם המשתמש או הסיסמה שגויים."),
    "forms.login.missing": ("Enter a username and a password.", "יש להזין שם משתמש וסיסמה."),
    "forms.login.too_many": (
        "Too many attempts. Wait a moment and try again.",
        "יותר מדי ניסיונות. המתינו רגע ונסו שוב.",
    ),
    "forms.login.network": (
        "The server could not be reached. Check the connection and try again.",
        "אין תקשורת עם השרת. בדקו את החיבור ונסו שוב.",
    ),
    "forms.login.failed": ("Sign-in failed ({name}).", "הכניסה נכשלה ({name})."),
}

define(STRINGS)
