"""The look in a real browser against a real server: the theme (from the system and from
the toggle, right from the first paint), where toasts go (never over the actions column or
a dialog), muting others' events, the language switch, 390 px without sideways scrolling,
and axe-core's colour-contrast check in light and dark.

Every wait is for a fact in the page, never a fixed sleep. Screenshots land in
``test-artifacts/``.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.app.ui.test_contrast import theme_colors
from tests.browser.conftest import BOOT_TIMEOUT_MS, screenshot, wait_booted
from tests.browser.support import open_authed, wait_client
from tests.browser.test_ui_admin import no_errors, settle
from tests.support.live_server import LiveServer

AXE = pathlib.Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
PHONE = (390, 844)
TOAST = "[data-testid=toast]"
ROW = "[data-testid=order-row]"


def rgb(hex_color: str) -> str:
    """``#0f1421`` -> ``rgb(15, 20, 33)``: how getComputedStyle reports a colour."""
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


COLORS = theme_colors()
LIGHT_BG, DARK_BG = (rgb(c) for c in COLORS["bg"])
NEUTRAL_DOT = rgb(COLORS["dot-neutral"][0])


@pytest.fixture
def contexts(browser: Any) -> Iterator[Callable[..., Any]]:
    """``contexts(**options)``: a browser context (closed at teardown), 1280x800 unless
    ``viewport`` says otherwise."""
    made: list[Any] = []

    def factory(**options: Any) -> Any:
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = browser.new_context(**options)
        made.append(context)
        return context

    yield factory
    for context in made:
        context.close()


def api(server: LiveServer, token: str, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(
        method, server.url + path, json=body, headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def orders_in_every_status(server: LiveServer, token: str) -> None:
    """Two new orders and one in each other status (the table shows every chip)."""
    ids = [server.create_order(token, customer=f"Status {i}")["id"] for i in range(6)]
    for oid in ids[2:]:
        api(server, token, "POST", f"/v1/orders/{oid}/assign", {"courier_id": 1})
    for oid in ids[3:]:
        api(server, token, "POST", f"/v1/orders/{oid}/status", {"status": "picked_up"})
    api(server, token, "POST", f"/v1/orders/{ids[4]}/status", {"status": "delivered"})
    api(server, token, "POST", f"/v1/orders/{ids[5]}/status", {"status": "cancelled"})


def background(page: Any, selector: str = "body") -> str:
    return page.evaluate(  # type: ignore[no-any-return]
        "s => getComputedStyle(document.querySelector(s)).backgroundColor", selector
    )


def boxes(page: Any, selector: str) -> list[dict[str, float]]:
    """Bounding boxes of the rendered (visible, in the viewport) matches of ``selector``."""
    return page.evaluate(  # type: ignore[no-any-return]
        """s => [...document.querySelectorAll(s)].filter(e => e.checkVisibility({
               visibilityProperty: true})).map(e => e.getBoundingClientRect())
             .filter(r => r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < innerHeight)
             .map(r => ({x: r.x, y: r.y, w: r.width, h: r.height}))""",
        selector,
    )


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]
    )


def assert_toasts_clear_of(page: Any, selector: str) -> None:
    toasts, targets = boxes(page, TOAST), boxes(page, selector)
    assert targets, f"nothing on screen matches {selector}"
    hits = [(t, b) for t in toasts for b in targets if overlaps(t, b)]
    assert hits == [], hits


def focused(page: Any) -> str:
    return page.evaluate(  # type: ignore[no-any-return]
        "(document.activeElement?.dataset.testid || document.activeElement?.tagName)"
    )


# --- the theme ------------------------------------------------------------------------------


def test_dark_theme_follows_the_system_and_the_toggle_from_the_first_paint(
    live_server: LiveServer, open_tab: Any, contexts: Any
) -> None:
    # The system says dark, nothing is stored: the page is dark.
    page, log, _tokens = open_authed(
        open_tab, live_server, "/dashboard/orders", context=contexts(color_scheme="dark")
    )
    wait_booted(page)
    assert page.evaluate("document.documentElement.dataset.theme") is None
    assert background(page) == DARK_BG
    # The toggle pins light over the system's dark, at once and for the next visit.
    page.click("[data-testid=prefs-toggle]")
    page.click("[data-testid=theme-light]")
    page.wait_for_function("document.documentElement.dataset.theme === 'light'")
    assert background(page) == LIGHT_BG
    assert page.evaluate("localStorage.getItem('zariz.theme')") == "light"
    assert page.get_attribute("[data-testid=theme-light]", "aria-pressed") == "true"
    assert page.get_attribute("[data-testid=theme-system]", "aria-pressed") == "false"
    # "System" forgets the choice: dark again, as the system says.
    page.click("[data-testid=theme-system]")
    page.wait_for_function("document.documentElement.dataset.theme === undefined")
    assert background(page) == DARK_BG
    assert page.evaluate("localStorage.getItem('zariz.theme')") is None
    # Esc closes the panel and gives the focus back to its button.
    page.keyboard.press("Escape")
    page.wait_for_selector("[data-testid=prefs-panel]", state="hidden")
    assert focused(page) == "prefs-toggle"
    no_errors(log)


def test_a_stored_dark_theme_paints_the_skeleton_dark_before_python_mounts(
    live_server: LiveServer, open_tab: Any, contexts: Any
) -> None:
    page, log = open_tab(live_server.url, context=contexts(color_scheme="light"))
    page.add_init_script("localStorage.setItem('zariz.theme', 'dark')")
    held: list[Any] = []
    # PyScript waits until the test has looked at the skeleton: Python cannot have
    # mounted, so whatever is dark was made dark by early.js and the stylesheet alone.
    page.route("**/static/vendor/pyscript/core.js", lambda route: held.append(route))
    page.goto(live_server.url + "/dashboard/orders", wait_until="commit")
    page.wait_for_selector(".skeleton")
    page.wait_for_function("getComputedStyle(document.body).backgroundColor !== 'rgba(0, 0, 0, 0)'")
    assert page.evaluate("document.getElementById('app').dataset.boot") == "loading"
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert background(page) == DARK_BG
    # The skeleton's indicator says "starting…": a neutral dot, not the offline red.
    assert background(page, ".sse-indicator .dot") == NEUTRAL_DOT
    screenshot(page, "look-skeleton-dark")
    page.wait_for_function("() => true")  # let Playwright deliver the held request
    assert held, "the PyScript request was never made"
    held[0].continue_()
    wait_booted(page)
    assert background(page) == DARK_BG
    no_errors(log, expected_http=(401,))


# --- toasts -------------------------------------------------------------------------------


def test_toasts_never_cover_the_actions_column_or_an_open_dialog(
    live_server_factory: Any, open_tab: Any, contexts: Any
) -> None:
    server = live_server_factory(ZARIZ_SEED_ORDERS="45")
    page, log, tokens = open_authed(open_tab, server, "/dashboard/orders", context=contexts())
    token = tokens["access_token"]
    page.wait_for_selector(ROW)
    actions = f"{ROW} button, [data-testid=new-order], [data-testid^=page-]"

    # At the top of the table and scrolled into the middle: the toasts' corner never
    # holds an action button.
    first = server.create_order(token, customer="Toast one")
    page.wait_for_selector(f"{TOAST}:has-text('#{first['id']}')")
    settle(page)
    assert_toasts_clear_of(page, actions)
    page.mouse.wheel(0, 900)
    page.wait_for_function("scrollY > 600")
    second = server.create_order(token, customer="Toast two")
    page.wait_for_selector(f"{TOAST}:has-text('#{second['id']}')")
    settle(page)
    assert_toasts_clear_of(page, actions)
    screenshot(page, "look-toasts-1280")

    # A dialog is open: an event's toast waits under the backdrop, off the dialog.
    page.evaluate("scrollTo(0, 0)")
    page.click("[data-testid=new-order]")
    page.wait_for_selector("[data-testid=create-order-modal]")
    third = server.create_order(token, customer="Toast three")
    page.wait_for_selector(f"{TOAST}:has-text('#{third['id']}')", state="attached")
    assert boxes(page, TOAST) == []
    assert_toasts_clear_of(page, "[role=dialog]")
    assert focused(page) == "field-customer"  # a toast never takes the focus
    page.keyboard.press("Escape")
    page.wait_for_selector("[data-testid=create-order-modal]", state="detached")
    page.wait_for_function("n => document.querySelectorAll(n).length > 0", arg=TOAST)

    # 390 px: no floating card at all (it would cover the form or a card's actions); the
    # bell counts the events and the create form is whole.
    page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
    page.click("[data-testid=new-order]")
    page.wait_for_selector("[data-testid=create-order-modal]")
    unread = int(page.get_attribute("[data-testid=bell]", "data-unread") or 0)
    fourth = server.create_order(token, customer="Toast four")
    page.wait_for_selector(f"{TOAST}:has-text('#{fourth['id']}')", state="attached")
    page.wait_for_function(
        "n => Number(document.querySelector('[data-testid=bell]').dataset.unread) > n",
        arg=unread,
    )
    assert boxes(page, TOAST) == []
    submit = page.locator("[data-testid=create-order-modal] [data-testid=modal-submit]")
    submit.scroll_into_view_if_needed()
    box = submit.bounding_box()
    assert box is not None
    hit = page.evaluate(
        "([x, y]) => !!document.elementFromPoint(x, y)?.closest('[data-testid=modal-submit]')",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert hit, "something covers the create form's submit button"
    dialog = page.locator("[role=dialog]").bounding_box()
    assert dialog is not None and dialog["x"] >= 0 and dialog["x"] + dialog["width"] <= PHONE[0]
    screenshot(page, "look-create-390")
    no_errors(log)


def test_muting_others_events_keeps_the_table_live_and_shows_no_toast(
    live_server: LiveServer, open_tab: Any, contexts: Any
) -> None:
    page, log, tokens = open_authed(open_tab, live_server, "/dashboard/orders",
                                    context=contexts())
    token = tokens["access_token"]
    page.wait_for_selector("[data-testid=orders-empty]")

    # Not muted: a toast, announced politely, the focus left where it was.
    page.click("[data-testid=bell]")
    page.wait_for_selector("[data-testid=notif-panel]")
    assert page.get_attribute("[data-testid=toast-announcer]", "aria-live") == "polite"
    loud = live_server.create_order(token, customer="Loud")
    page.wait_for_selector(f"{TOAST}:has-text('#{loud['id']}')")
    page.wait_for_function(
        "id => document.querySelector('[data-testid=toast-announcer]').textContent"
        ".includes('#' + id)", arg=loud["id"],
    )
    assert focused(page) == "bell"

    # Muted: the row comes, the event is in the bell's list, and no toast shows it.
    page.click("[data-testid=notify-mute] + .switch-track")
    page.wait_for_function("localStorage.getItem('zariz.notify.mute') === '1'")
    assert page.locator(TOAST).count() == 0  # the switch also cleared those showing
    quiet = live_server.create_order(token, customer="Quiet")
    page.wait_for_selector(f"{ROW}[data-order-id='{quiet['id']}']")
    page.wait_for_selector(f"[data-testid=notif-item]:has-text('#{quiet['id']}')")
    assert page.locator(TOAST).count() == 0
    assert f"#{quiet['id']}" not in page.text_content("[data-testid=toast-announcer]")

    # Remembered: after a reload the switch is still on, and the table still live.
    page.reload()
    wait_client(page, "connected")  # the next event comes by the stream, not a snapshot
    assert page.is_checked("[data-testid=notify-mute]")
    api(live_server, token, "POST", f"/v1/orders/{quiet['id']}/assign", {"courier_id": 1})
    page.wait_for_selector(f"{ROW}[data-order-id='{quiet['id']}'][data-status=assigned]")
    page.click("[data-testid=bell]")
    page.wait_for_selector(f"[data-testid=notif-item]:has-text('#{quiet['id']} ')")
    assert page.locator(TOAST).count() == 0
    assert page.get_attribute("[data-testid=bell]", "data-unread") == "0"  # muted: not unread

    # Unmuted: toasts again.
    page.click("[data-testid=notify-mute] + .switch-track")
    page.wait_for_function("localStorage.getItem('zariz.notify.mute') === null")
    again = live_server.create_order(token, customer="Again")
    page.wait_for_selector(f"{TOAST}:has-text('#{again['id']}')")
    no_errors(log)


# --- the language switch ------------------------------------------------------------------


def test_the_language_switch_drops_lang_from_the_address_and_is_remembered(
    live_server: LiveServer, open_tab: Any, contexts: Any
) -> None:
    page, log, _tokens = open_authed(open_tab, live_server, "/dashboard/orders?lang=he",
                                     context=contexts())
    wait_booted(page)
    assert page.evaluate("[document.documentElement.lang, document.documentElement.dir]") == [
        "he", "rtl"
    ]
    assert page.get_attribute("[data-testid=lang-he]", "aria-pressed") == "true"
    page.click("[data-testid=prefs-toggle]")
    page.click("[data-testid=lang-en]")
    page.wait_for_function("document.documentElement.lang === 'en'", timeout=BOOT_TIMEOUT_MS)
    wait_booted(page)
    assert "lang=" not in page.url
    assert page.evaluate("localStorage.getItem('zariz.lang')") == "en"
    assert page.evaluate("document.documentElement.dir") == "ltr"
    assert page.get_attribute("[data-testid=lang-en]", "aria-pressed") == "true"
    # And back: Hebrew stays after a plain reload (the address has no ?lang= to win).
    page.click("[data-testid=prefs-toggle]")
    page.click("[data-testid=lang-he]")
    page.wait_for_function("document.documentElement.lang === 'he'", timeout=BOOT_TIMEOUT_MS)
    page.reload()
    wait_booted(page)
    assert page.evaluate("document.documentElement.dir") == "rtl"
    no_errors(log)


# --- 390 px ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "he"])
def test_overview_and_couriers_fit_390_px(
    live_server: LiveServer, open_tab: Any, contexts: Any, lang: str
) -> None:
    token = live_server.login()["access_token"]
    orders_in_every_status(live_server, token)
    context = contexts(viewport={"width": PHONE[0], "height": PHONE[1]}, locale="he-IL"
                       if lang == "he" else "en-US")
    page, log, _tokens = open_authed(open_tab, live_server, "/dashboard", context=context)
    wait_booted(page)
    assert page.evaluate("document.documentElement.lang") == lang
    for path, ready in [("/dashboard", ".stat-card"), ("/dashboard/couriers", ".courier-card")]:
        if path != "/dashboard":
            page.click("[data-testid=nav-couriers]")
        page.wait_for_selector(ready)
        settle(page)
        width = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        assert width[0] <= width[1], (path, width)
        # The header's controls are on screen.
        for control in ("bell", "prefs-toggle", "user-menu", "sse-status"):
            box = page.locator(f"[data-testid={control}]").bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0]
        screenshot(page, f"look-390-{lang}-{path.rsplit('/', 1)[-1]}")
    # The bell's and the preferences' panels fit too.
    for toggle, panel in (("bell", "notif-panel"), ("prefs-toggle", "prefs-panel")):
        page.click(f"[data-testid={toggle}]")
        box = page.locator(f"[data-testid={panel}]").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0]
        page.keyboard.press("Escape")
    no_errors(log)


# --- contrast (axe-core) --------------------------------------------------------------------


def contrast_violations(page: Any) -> list[dict[str, Any]]:
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async () => {
             const r = await axe.run(document, {runOnly: ['color-contrast']});
             return r.violations.flatMap(v => v.nodes.map(n => ({
               target: n.target.join(' '), summary: n.failureSummary})));
           }"""
    )
    return result  # type: ignore[no-any-return]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_finds_no_contrast_violations_on_the_orders_page(
    live_server: LiveServer, open_tab: Any, contexts: Any, theme: str
) -> None:
    token = live_server.login()["access_token"]
    orders_in_every_status(live_server, token)
    # axe is injected as an inline script: the page's CSP would refuse it.
    context = contexts(bypass_csp=True, color_scheme=theme, reduced_motion="reduce")
    page, log, _tokens = open_authed(open_tab, live_server, "/dashboard/orders", context=context)
    page.wait_for_selector(f"{ROW}[data-status=cancelled]")
    assert background(page) == (LIGHT_BG if theme == "light" else DARK_BG)
    live_server.create_order(token, customer="Toast for axe")
    page.wait_for_selector(TOAST)
    settle(page)
    found = contrast_violations(page)
    assert found == [], json.dumps(found, indent=1, ensure_ascii=False)
    # The bell's list (with its switch) and the preferences' panel, open.
    page.click("[data-testid=bell]")
    page.wait_for_selector("[data-testid=notif-item]")
    found = contrast_violations(page)
    assert found == [], json.dumps(found, indent=1, ensure_ascii=False)
    page.click("[data-testid=prefs-toggle]")
    page.wait_for_selector("[data-testid=prefs-panel]")
    found = contrast_violations(page)
    assert found == [], json.dumps(found, indent=1, ensure_ascii=False)
    screenshot(page, f"look-orders-{theme}")
    no_errors(log)
