"""Dialogs and the phone rule in a real browser against a real server.

* After a failed submit (the browser's own check, or the server's 422 while the submit
  button was disabled) the focus is on the first invalid field, marked ``aria-invalid``
  and described by its message, the errors are in the dialog's live region, and Esc
  and the Tab trap still work; also with the focus dropped to ``<body>``, and at 390 px.
* A wrong phone number shows the rule next to the field and sends nothing; a right one
  in any form is shown (and stored) as ``050-123-4567``.
* The edit dialog sends only what changed (PATCH) and the row follows the server's event
  without a refetch; an order's old phone (one the rule would refuse, markup even: shown
  as text) is kept through an edit of its address.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from tests.browser.conftest import screenshot, wait_booted
from tests.browser.support import open_authed
from tests.support.live_server import LiveServer

MODAL = "[data-testid=create-order-modal]"
EDIT = "[data-testid=edit-order-modal]"
ACTIVE = "document.activeElement?.dataset.testid"
IN_DIALOG = "sel => !!document.activeElement?.closest(sel)"
OLD_PHONE = "<img src=x onerror=alert(1)>"


def row(order_id: Any) -> str:
    return f"[data-testid=order-row][data-order-id='{order_id}']"


def track_api(page: Any) -> list[tuple[str, str, Any]]:
    """``(method, path, JSON body)`` of every orders API request the page makes."""
    seen: list[tuple[str, str, Any]] = []

    def on_request(req: Any) -> None:
        if "/v1/orders" in req.url:
            body = req.post_data
            path = req.url.split("/v1/", 1)[1]
            seen.append((req.method, path, json.loads(body) if body else None))

    page.on("request", on_request)
    return seen


def wait_focus(page: Any, testid: str) -> None:
    page.wait_for_function(f"t => {ACTIVE} === t", arg=testid)


def assert_invalid(page: Any, name: str, testid: str) -> str:
    """The field is marked invalid and described by its visible message; returns it."""
    control = page.locator(f"[data-testid={testid}]")
    assert control.get_attribute("aria-invalid") == "true"
    described = (control.get_attribute("aria-describedby") or "").split()
    error = page.locator(f"[data-field-error={name}]")
    assert error.get_attribute("id") in described, described
    assert error.is_visible()
    return str(error.text_content())


def tab_stays_inside(page: Any, dialog: str, presses: int = 8, key: str = "Tab") -> None:
    for _ in range(presses):
        page.keyboard.press(key)
        assert page.evaluate(IN_DIALOG, dialog), page.evaluate(ACTIVE)


def insert_legacy_order(server: LiveServer, template: dict[str, Any], phone: str) -> int:
    """A row written before the phone rule (straight into the database)."""
    with sqlite3.connect(server.db_path, timeout=10) as db:
        cursor = db.execute(
            "INSERT INTO orders(customer, phone, address, notes, status, created_at, updated_at)"
            " VALUES ('Old Row', ?, 'Herzl 2', NULL, 'new', ?, ?)",
            (phone, template["created_at"], template["updated_at"]),
        )
        return int(cursor.lastrowid or 0)


def test_failed_submit_focuses_the_first_invalid_field_and_the_keys_keep_working(
    open_tab: Callable[..., Any], live_server: LiveServer
) -> None:
    page, log, _tokens = open_authed(open_tab, live_server, "/dashboard/orders")
    page.click("[data-testid=new-order]")
    page.wait_for_selector(MODAL)

    # Empty submit: the browser's check; the customer is the first invalid field.
    page.click("[data-testid=modal-submit]")
    wait_focus(page, "field-customer")
    assert assert_invalid(page, "customer", "field-customer") == "Required"
    assert_invalid(page, "phone", "field-phone")
    assert_invalid(page, "address", "field-address")
    announced = page.text_content(f"{MODAL} [data-testid=modal-announce]") or ""
    assert "Check the highlighted fields." in announced and "Phone: Required" in announced
    assert page.get_attribute(f"{MODAL} [data-testid=modal-announce]", "aria-live") == "polite"
    tab_stays_inside(page, MODAL)
    tab_stays_inside(page, MODAL, key="Shift+Tab")

    # The server's 422, answered while the submit button was disabled (which drops the
    # focus to <body>): the focus lands on the field the server named.
    page.fill("[data-testid=field-customer]", "x" * 201)
    page.fill("[data-testid=field-phone]", "050-1234567")
    page.fill("[data-testid=field-address]", "Herzl 1")
    page.click("[data-testid=modal-submit]")
    wait_focus(page, "field-customer")
    assert_invalid(page, "customer", "field-customer")
    assert page.get_attribute("[data-testid=field-phone]", "aria-invalid") is None
    tab_stays_inside(page, MODAL)

    # Focus lost to <body> some other way: Tab comes back in, Esc still closes.
    page.evaluate("document.activeElement.blur()")
    assert page.evaluate("document.activeElement === document.body")
    tab_stays_inside(page, MODAL, presses=1)
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("Escape")
    page.wait_for_selector(MODAL, state="detached")
    assert page.evaluate(ACTIVE) == "new-order"

    # At 390 px the dialog fits: no sideways scroll, the buttons on screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.click("[data-testid=new-order]")
    page.wait_for_selector(MODAL)
    page.click("[data-testid=modal-submit]")
    wait_focus(page, "field-customer")
    fits = page.evaluate(
        """sel => {
          const box = document.querySelector(sel).getBoundingClientRect();
          const submit = document.querySelector('[data-testid=modal-submit]')
            .getBoundingClientRect();
          return box.left >= 0 && box.right <= innerWidth && submit.right <= innerWidth
            && document.documentElement.scrollWidth <= innerWidth;
        }""",
        MODAL,
    )
    assert fits
    screenshot(page, "forms-create-390-invalid")
    page.keyboard.press("Escape")
    page.wait_for_selector(MODAL, state="detached")
    assert not log.errors, log.errors


def test_an_invalid_phone_shows_the_rule_and_sends_nothing(
    open_tab: Callable[..., Any], live_server: LiveServer
) -> None:
    page, log, _tokens = open_authed(open_tab, live_server, "/dashboard/orders")
    api = track_api(page)
    page.click("[data-testid=new-order]")
    page.wait_for_selector(MODAL)
    phone = "[data-testid=field-phone]"
    assert page.get_attribute(phone, "placeholder") == "050-123-4567"
    assert page.get_attribute(phone, "dir") == "ltr"
    assert "050-123-4567" in (page.text_content(f"{MODAL} .field-hint") or "")

    page.fill("[data-testid=field-customer]", "Noa Cohen")
    page.fill("[data-testid=field-address]", "Dizengoff 50")
    for wrong in ("abc", "050-123", "+44 20 7946 0958"):
        page.fill(phone, wrong)
        page.click("[data-testid=modal-submit]")
        wait_focus(page, "field-phone")
        message = assert_invalid(page, "phone", "field-phone")
        assert "050-123-4567" in message and "Israeli" in message, message
        assert page.input_value(phone) == wrong  # kept as typed
    assert [r for r in api if r[0] != "GET"] == []

    # Leaving the field checks it too; a right number in another form is shown as stored.
    page.fill(phone, "+972501234567")
    page.focus("[data-testid=field-address]")
    page.wait_for_function("s => document.querySelector(s).value === '050-123-4567'", arg=phone)
    assert page.get_attribute(phone, "aria-invalid") is None
    assert page.locator("[data-field-error=phone]").is_hidden()
    page.click("[data-testid=modal-submit]")
    page.wait_for_selector(MODAL, state="detached")
    page.wait_for_selector("[data-testid=order-row]:has-text('Noa Cohen')")
    posts = [r for r in api if r[0] == "POST"]
    assert len(posts) == 1 and posts[0][2]["phone"] == "050-123-4567"
    created = "[data-testid=order-row]:has-text('Noa Cohen')"
    assert (page.text_content(f"{created} [data-testid=order-phone]") or "").strip() == (
        "050-123-4567"
    )
    assert not log.errors, log.errors


def test_the_hebrew_form_says_everything_in_hebrew(
    open_tab: Callable[..., Any], live_server: LiveServer
) -> None:
    page, log, _tokens = open_authed(open_tab, live_server, "/dashboard/orders?lang=he")
    page.wait_for_function("document.documentElement.dir === 'rtl'")
    page.click("[data-testid=new-order]")
    page.wait_for_selector(MODAL)
    page.fill("[data-testid=field-phone]", "abc")
    page.click("[data-testid=modal-submit]")
    wait_focus(page, "field-customer")
    text = page.inner_text(MODAL)
    for hebrew in ("הזמנה חדשה", "שם הלקוח", "טלפון", "כתובת למשלוח", "שדה חובה",
                   "יש להזין מספר נייד או קווי ישראלי", "יש לתקן את השדות המסומנים", "ביטול"):
        assert hebrew in text, hebrew
    # No English word is left in the dialog (the example number is digits).
    assert not any(ch.isascii() and ch.isalpha() for ch in text), text
    screenshot(page, "forms-create-he-invalid")
    assert not log.errors, log.errors


def test_the_edit_dialog_patches_what_changed_and_the_row_follows_the_event(
    open_tab: Callable[..., Any], live_server: LiveServer
) -> None:
    token = live_server.login()["access_token"]
    order = live_server.create_order(token, customer="Dana Levi", phone="+972-50-123-4567",
                                     address="Herzl 1", notes="Ring twice")
    # An old row's phone, as another system wrote it: markup, to be shown as text.
    legacy = insert_legacy_order(live_server, order, phone=OLD_PHONE)
    page, log, _tokens = open_authed(open_tab, live_server, "/dashboard/orders")
    page.wait_for_selector(row(order["id"]))
    api = track_api(page)

    page.click(f"{row(order['id'])} [data-testid=action-edit]")
    page.wait_for_selector(EDIT)
    assert page.input_value("[data-testid=field-customer]") == "Dana Levi"
    assert page.input_value("[data-testid=field-phone]") == "050-123-4567"
    assert page.input_value("[data-testid=field-address]") == "Herzl 1"
    assert page.input_value("[data-testid=field-notes]") == "Ring twice"

    # A wrong phone: said, nothing sent.
    page.fill("[data-testid=field-phone]", "12")
    page.click("[data-testid=modal-submit]")
    wait_focus(page, "field-phone")
    assert_invalid(page, "phone", "field-phone")
    assert [r for r in api if r[0] == "PATCH"] == []

    # Typed one way, formatted as stored when the field is left.
    page.fill("[data-testid=field-phone]", "03 555 0101")
    page.fill("[data-testid=field-address]", "Rothschild 12, Tel Aviv")
    assert page.input_value("[data-testid=field-phone]") == "03-555-0101"
    page.click("[data-testid=modal-submit]")
    page.wait_for_selector(EDIT, state="detached")
    sel = row(order["id"])
    page.wait_for_function(
        "s => document.querySelector(s + ' [data-testid=order-phone]')?.textContent.trim()"
        " === '03-555-0101'",
        arg=sel,
    )
    assert "Rothschild 12" in (page.text_content(f"{sel} [data-testid=order-address]") or "")
    patches = [r for r in api if r[0] == "PATCH"]
    assert patches == [("PATCH", f"orders/{order['id']}",
                        {"phone": "03-555-0101", "address": "Rothschild 12, Tel Aviv"})]
    # The row followed the event: no list refetch after the PATCH.
    assert [r for r in api[api.index(patches[0]):] if r[0] == "GET"] == []

    # The server's 422 in the edit dialog: the focus on the field it named.
    page.click(f"{sel} [data-testid=action-edit]")
    page.wait_for_selector(EDIT)
    page.fill("[data-testid=field-customer]", "y" * 201)
    page.click("[data-testid=modal-submit]")
    wait_focus(page, "field-customer")
    assert_invalid(page, "customer", "field-customer")
    page.keyboard.press("Escape")
    page.wait_for_selector(EDIT, state="detached")

    # An order from before the rule: its phone is not checked or sent unless changed.
    page.click(f"{row(legacy)} [data-testid=action-edit]")
    page.wait_for_selector(EDIT)
    assert page.input_value("[data-testid=field-phone]") == OLD_PHONE
    page.fill("[data-testid=field-address]", "Herzl 3")
    page.click("[data-testid=modal-submit]")
    page.wait_for_selector(EDIT, state="detached")
    page.wait_for_function(
        "s => document.querySelector(s + ' [data-testid=order-address]')?.textContent"
        ".includes('Herzl 3')",
        arg=row(legacy),
    )
    assert [r[2] for r in api if r[0] == "PATCH"][-1] == {"address": "Herzl 3"}
    assert page.text_content(f"{row(legacy)} [data-testid=order-phone]") == OLD_PHONE
    assert page.evaluate("document.querySelectorAll('#app img, body > div img').length") == 0
    assert not log.errors, log.errors


def test_the_login_form_marks_and_focuses_what_is_wrong(
    open_tab: Callable[..., Any], live_server: LiveServer
) -> None:
    page, log = open_tab(live_server.url)
    page.goto(live_server.url + "/login?lang=he")
    wait_booted(page)
    assert page.text_content("[data-testid=login-submit]") == "כניסה"
    page.fill("[data-testid=login-username]", "demo")
    page.click("[data-testid=login-submit]")
    wait_focus(page, "login-password")
    assert page.get_attribute("[data-testid=login-password]", "aria-invalid") == "true"
    assert page.get_attribute("[data-testid=login-username]", "aria-invalid") is None
    assert page.text_content("[data-testid=login-error]") == "יש להזין שם משתמש וסיסמה."

    page.fill("[data-testid=login-password]", "wrong")
    page.click("[data-testid=login-submit]")
    page.wait_for_function(
        "document.querySelector('[data-testid=login-error]').textContent"
        " === 'שם המשתמש או הסיסמה שגויים.'"
    )
    wait_focus(page, "login-password")
    for field in ("login-username", "login-password"):
        assert page.get_attribute(f"[data-testid={field}]", "aria-invalid") == "true"
        assert page.get_attribute(f"[data-testid={field}]", "aria-describedby") == "login-error"
    assert not log.errors, log.errors
