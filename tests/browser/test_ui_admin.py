"""The admin UI in a real browser against a real server: one stream whatever the pages
do, live rows and modals, remounts, logout/login and token changes, text rendered as text.

Every test waits for facts (``wait_for_function`` on the DOM, the server's metrics), never
for a fixed time. Screenshots land in ``test-artifacts/``.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.browser.conftest import login, screenshot, wait_booted, wait_status
from tests.browser.support import wait_until

OPEN_STREAMS = "zariz_sse_open_streams"
XSS = '<img src=x onerror=alert(1)>"><script>alert(2)</script>'


def open_logged_in(open_tab: Any, server: Any, path: str) -> tuple[Any, Any]:
    page, log = open_tab(server.url)
    page.goto(server.url + path)
    wait_booted(page)
    page.wait_for_url("**/login?next=*")
    login(page)
    page.wait_for_function("p => location.pathname === p", arg=path)
    wait_status(page, "connected")
    return page, log


def row(page: Any, order_id: Any) -> str:
    return f"[data-testid=order-row][data-order-id='{order_id}']"


def wait_row_status(page: Any, order_id: Any, status: str) -> None:
    page.wait_for_function(
        "([id, s]) => document.querySelector(`[data-testid=order-row][data-order-id='${id}']`)"
        "?.dataset.status === s",
        arg=[str(order_id), status],
    )


def settle(page: Any) -> None:
    """Wait until finite CSS animations (modal/toast entrances) have finished."""
    page.wait_for_function(
        "document.getAnimations().every(a => a.playState !== 'running'"
        " || a.effect.getTiming().iterations === Infinity)"
    )


def shot(page: Any, name: str) -> None:
    settle(page)
    screenshot(page, name)


def subscribers(page: Any) -> int:
    return int(page.evaluate("__zarizSSEClient.stats.subscribers"))


def ui_stats(page: Any) -> dict[str, Any]:
    return page.evaluate("__zarizUI()")  # type: ignore[no-any-return]


def no_errors(
    log: Any, expected_http: tuple[int, ...] = (), expected_net: tuple[str, ...] = ()
) -> None:
    """No page error, console error, dialog or outside request. ``expected_http`` /
    ``expected_net``: the browser's own "Failed to load resource" line for statuses or
    network errors (``net::ERR_FAILED``) the test provoked."""
    allowed = tuple(f"status of {code} " for code in expected_http) + expected_net
    errors = [
        c
        for c in log.console
        if c.startswith("error") and not (allowed and any(a in c for a in allowed))
    ]
    assert not log.errors, log.errors
    assert not errors, errors
    assert not log.dialogs, log.dialogs
    assert not log.outside, log.outside


def test_orders_page_one_stream_live_rows_and_modals(live_server: Any, open_tab: Any) -> None:
    page, log = open_logged_in(open_tab, live_server, "/dashboard/orders")
    wait_until(lambda: live_server.metric(OPEN_STREAMS) == 1, 15, "one open stream")
    assert len(log.sse_requests) == 1
    page.wait_for_selector("[data-testid=orders-empty]")

    # Created elsewhere (REST): a toast and a row, without reload.
    token = live_server.login()["access_token"]
    order = live_server.create_order(token, customer="Noa Cohen", address="Dizengoff 50")
    page.wait_for_selector(row(page, order["id"]))
    page.wait_for_selector(f"[data-testid=toast]:has-text('#{order['id']}')")

    # Created here, through the modal: a server 422 is shown in the modal, the form kept.
    page.click("[data-testid=new-order]")
    page.wait_for_selector("[data-testid=create-order-modal]")
    assert page.evaluate("document.activeElement?.dataset.testid") == "field-customer"
    page.fill("[data-testid=field-customer]", "x" * 201)
    page.fill("[data-testid=field-phone]", "+972-3-555-0101")
    page.fill("[data-testid=field-address]", "Rothschild 12, Tel Aviv")
    page.click("[data-testid=modal-submit]")
    page.wait_for_selector("[data-testid=create-order-modal] [data-testid=modal-error]:visible")
    page.wait_for_selector("[data-field-error=customer]:visible")
    assert page.input_value("[data-testid=field-address]") == "Rothschild 12, Tel Aviv"
    page.fill("[data-testid=field-customer]", "Yael Mizrahi")
    page.fill("[data-testid=field-notes]", "Ring twice")
    # The network fails on submit: said in the modal, nothing typed is lost.
    page.route("**/v1/orders", lambda r: r.abort() if r.request.method == "POST" else r.fallback())
    page.click("[data-testid=modal-submit]")
    page.wait_for_function(
        "() => (document.querySelector('[data-testid=create-order-modal] "
        "[data-testid=modal-error]')?.textContent || '').trim().length > 0"
    )
    assert page.input_value("[data-testid=field-customer]") == "Yael Mizrahi"
    assert page.input_value("[data-testid=field-notes]") == "Ring twice"
    page.unroute("**/v1/orders")
    page.click("[data-testid=modal-submit]")
    page.wait_for_selector("[data-testid=create-order-modal]", state="detached")
    page.wait_for_selector("[data-testid=order-row]:has-text('Yael Mizrahi')")
    assert page.locator("[data-testid=order-row]").count() == 2

    # Assign through the modal -> the row follows the event.
    oid = order["id"]
    page.click(f"{row(page, oid)} [data-testid=action-assign]")
    page.wait_for_selector("[data-testid=field-courier]:not([disabled])")
    page.select_option("[data-testid=field-courier]", index=1)
    shot(page, "ui-assign-modal")
    page.click("[data-testid=modal-submit]")
    wait_row_status(page, oid, "assigned")

    # An invalid transition: the 409 is shown in the modal; then a valid one.
    page.click(f"{row(page, oid)} [data-testid=action-status]")
    page.select_option("[data-testid=field-status]", "delivered")
    page.click("[data-testid=modal-submit]")
    error = page.wait_for_selector("[data-testid=status-modal] [data-testid=modal-error]:visible")
    assert "Not allowed" in error.text_content()
    shot(page, "ui-status-409")
    page.select_option("[data-testid=field-status]", "picked_up")
    page.click("[data-testid=modal-submit]")
    wait_row_status(page, oid, "picked_up")

    # Keyboard: the focus stays in the dialog, Esc closes it and gives focus back.
    page.click(f"{row(page, oid)} [data-testid=action-delete]")
    page.wait_for_selector("[data-testid=delete-modal]")
    for _ in range(5):
        page.keyboard.press("Tab")
        assert page.evaluate("!!document.activeElement.closest('[data-testid=delete-modal]')")
    page.keyboard.press("Escape")
    page.wait_for_selector("[data-testid=delete-modal]", state="detached")
    assert page.evaluate("document.activeElement?.dataset.testid") == "action-delete"

    # Delete with confirm -> the row goes.
    page.click(f"{row(page, oid)} [data-testid=action-delete]")
    page.click("[data-testid=delete-modal] [data-testid=modal-submit]")
    page.wait_for_selector(row(page, oid), state="detached")
    page.wait_for_selector(f"[data-testid=toast]:has-text('Order #{oid} deleted')")
    shot(page, "ui-orders")

    # Filter and search.
    page.click("[data-testid=filter-delivered]")
    page.wait_for_selector("[data-testid=orders-empty]")
    page.click("[data-testid=filter-all]")
    page.fill("[data-testid=orders-search]", "rothschild")
    page.wait_for_function("document.querySelectorAll('[data-testid=order-row]').length === 1")

    assert live_server.metric(OPEN_STREAMS) == 1
    assert len(log.sse_requests) == 1
    no_errors(log, expected_http=(409, 422), expected_net=("net::ERR_FAILED",))


def test_routes_and_modals_never_add_a_connection(live_server: Any, open_tab: Any) -> None:
    page, log = open_logged_in(open_tab, live_server, "/dashboard/couriers")
    page.wait_for_selector("[data-testid=courier-card]")
    shot(page, "ui-couriers")
    base_subs, base_ui = subscribers(page), ui_stats(page)
    page.evaluate("window.__sameDocument = true")

    # 200 route changes through the real links (4 pages x 50).
    page.evaluate(
        """() => {
          const names = ['overview', 'orders', 'couriers', 'orders'];
          for (let i = 0; i < 200; i++) {
            document.querySelector(`[data-testid=nav-${names[i % 4]}]`).click();
          }
        }"""
    )
    # The loop ended on "orders"; back/forward work too, without reloading.
    page.wait_for_selector("[data-testid=orders-page]")
    # 20 more, each waiting for its page: loads that finish after the page was left
    # must not touch the DOM or leak (the fast loop above cancels them before they run).
    for name in ["overview", "couriers", "orders", "couriers"] * 5:
        page.click(f"[data-testid=nav-{name}]")
        page.wait_for_selector(f"[data-testid={name}-page]")
    page.click("[data-testid=nav-orders]")
    page.wait_for_selector("[data-testid=orders-page]")
    page.go_back()
    page.wait_for_selector("[data-testid=couriers-page]")
    page.go_forward()
    page.wait_for_selector("[data-testid=orders-page]")
    assert page.evaluate("window.__sameDocument") is True
    assert ui_stats(page)["navigations"] >= 223

    # 50 modal open/close cycles (Esc) on the orders page.
    page.evaluate(
        """() => {
          for (let i = 0; i < 50; i++) {
            document.querySelector('[data-testid=new-order]').click();
            const m = document.querySelector('[data-testid=create-order-modal]');
            m.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true}));
          }
        }"""
    )
    assert page.locator("[data-testid=modal-backdrop]").count() == 0

    # Middle/modified clicks are left to the browser; plain clicks are ours.
    prevented = page.evaluate(
        """() => {
          const a = document.querySelector('[data-testid=nav-couriers]');
          const seen = [];
          const spy = e => { seen.push(e.defaultPrevented); e.preventDefault(); };
          window.addEventListener('click', spy);
          const click = x => new MouseEvent('click', {bubbles: true, cancelable: true, ...x});
          a.dispatchEvent(click({ctrlKey: true}));
          a.dispatchEvent(click({button: 1}));
          window.removeEventListener('click', spy);
          return seen;
        }"""
    )
    assert prevented == [False, False]
    assert page.get_attribute("[data-testid=nav-couriers]", "href") == "/dashboard/couriers"

    # Leaving the orders page returns the subscriber and listener counts to baseline.
    page.click("[data-testid=nav-couriers]")
    page.wait_for_selector("[data-testid=courier-card]")
    assert subscribers(page) == base_subs
    after = ui_stats(page)
    assert (after["listeners"], after["timers"]) == (base_ui["listeners"], base_ui["timers"])
    assert live_server.metric(OPEN_STREAMS) == 1
    assert len(log.sse_requests) == 1, log.sse_requests
    wait_status(page, "connected")

    # Hot reload / double mount: the entry runs again (a second <script type="py"> on
    # the same interpreter); the old UI is disposed first, nothing accumulates.
    page.evaluate(
        """() => {
          document.querySelector('.shell').dataset.old = 'yes';
          const s = document.createElement('script');
          s.type = 'py';
          s.textContent = 'from zariz.boot import main\\nfor _ in range(3):\\n    main()';
          document.body.appendChild(s);
        }"""
    )
    # The three main() calls run in one synchronous Python run: a fresh shell = all done.
    page.wait_for_function(
        "document.querySelector('.shell') && !document.querySelector('.shell').dataset.old"
    )
    assert page.locator(".shell").count() == 1
    page.wait_for_selector("[data-testid=courier-card]")
    assert any("mounted (mount #4)" in line for line in log.console), log.console
    page.wait_for_selector("[data-testid=courier-card]")
    after = ui_stats(page)
    assert (after["listeners"], after["timers"]) == (base_ui["listeners"], base_ui["timers"])
    assert subscribers(page) == base_subs
    assert page.locator("[data-testid=sse-status]").count() == 1
    assert page.evaluate("window.__sameDocument") is True
    assert len(log.sse_requests) == 1

    # A burst of events: a summary toast, not one toast per event; the table pages.
    page.click("[data-testid=nav-orders]")
    page.wait_for_selector("[data-testid=orders-empty]")
    token = live_server.login()["access_token"]
    # Created from 6 threads, so the events come as a burst even on a loaded machine. How
    # many fall into one burst window still depends on the machine's speed: the test asks
    # for the rule (a summary counting more events than the burst limit, few toasts), not
    # for all 60 in one summary (that failed on a loaded CI box).
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda i: live_server.create_order(token, customer=f"Burst customer {i:02d}"),
                      range(60)))
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid=toast]')].some(t => {
             const m = t.textContent.match(/(\\d+) orders updated/);
             return m && Number(m[1]) > 5; })"""
    )
    assert page.locator("[data-testid=toast]").count() <= 5
    page.wait_for_function(
        "document.querySelector('[data-testid=orders-summary]')?.textContent === '1–50 of 60'"
    )
    assert page.locator("[data-testid=order-row]").count() == 50
    page.click("[data-testid=page-next]")
    page.wait_for_function("document.querySelectorAll('[data-testid=order-row]').length === 10")
    shot(page, "ui-burst")
    assert live_server.metric(OPEN_STREAMS) == 1
    assert len(log.sse_requests) == 1
    no_errors(log)


def test_logout_login_and_token_change_keep_one_stream(
    live_server: Any, open_tab: Any, browser: Any
) -> None:
    page, log = open_logged_in(open_tab, live_server, "/dashboard")
    wait_until(lambda: live_server.metric(OPEN_STREAMS) == 1, 15, "one stream")
    page.wait_for_selector("[data-testid=count-total]:not(:has-text('–'))")
    shot(page, "ui-overview")

    page.click("[data-testid=user-menu]")
    page.click("[data-testid=logout]")
    page.wait_for_url("**/login")
    wait_status_gone = "!document.querySelector('[data-testid=sse-status]')"
    page.wait_for_function(wait_status_gone)
    wait_until(lambda: live_server.metric(OPEN_STREAMS) == 0, 15, "zero streams after logout")
    assert page.evaluate("__zarizSSEClient.status") == "disconnected"

    # Log in again: straight to the dashboard, exactly one stream.
    login(page)
    page.wait_for_url("**/dashboard")
    wait_status(page, "connected")
    wait_until(lambda: live_server.metric(OPEN_STREAMS) == 1, 15, "one stream after login")

    # A token change from another tab of the same origin (shared localStorage): the
    # client reconnects softly; the server never sees two streams from this tab.
    fresh = live_server.login()
    other = page.context.new_page()
    other.goto(live_server.url + "/healthz")
    samples: list[float] = []
    before = page.evaluate("__zarizSSEClient.stats.opens")
    other.evaluate(
        "t => localStorage.setItem('zariz.auth', t)",
        json.dumps(
            {
                "access_token": fresh["access_token"],
                "refresh_token": fresh["refresh_token"],
                "expires_at": int(time.time() * 1000) + fresh["expires_in"] * 1000,
                "token_type": "bearer",
            }
        ),
    )
    deadline = time.monotonic() + 15
    while page.evaluate("__zarizSSEClient.stats.opens") <= before:
        samples.append(live_server.metric(OPEN_STREAMS))
        assert time.monotonic() < deadline, "no reconnect after the token change"
    wait_status(page, "connected")
    for _ in range(10):
        samples.append(live_server.metric(OPEN_STREAMS))
    assert max(samples) <= 1, samples
    wait_until(lambda: live_server.metric(OPEN_STREAMS) == 1, 15, "one stream after rotation")
    assert page.url.endswith("/dashboard")
    other.close()
    no_errors(log)


def test_user_text_is_rendered_as_text(live_server: Any, open_tab: Any) -> None:
    page, log = open_logged_in(open_tab, live_server, "/dashboard/orders")
    token = live_server.login()["access_token"]
    order = live_server.create_order(token, customer=XSS, address=XSS, notes=XSS)
    sel = row(page, order["id"])
    page.wait_for_selector(sel)
    page.wait_for_selector("[data-testid=toast]")
    assert page.text_content(f"{sel} [data-testid=order-customer]") == XSS
    assert page.text_content(f"{sel} [data-testid=order-address]") == XSS
    assert page.text_content(f"{sel} [data-testid=order-notes]") == XSS
    # Phones are validated now; markup in an old row's phone: tests/browser/test_forms.py.
    assert page.text_content(f"{sel} [data-testid=order-phone]") == "050-123-4567"
    # Nothing was parsed as markup anywhere in the app (rows, toasts, modals, feed).
    page.click(f"{sel} [data-testid=action-assign]")
    page.wait_for_selector("[data-testid=assign-modal]")
    assert (
        page.evaluate("document.querySelectorAll('#app img, #app script, body > div img').length")
        == 0
    )
    shot(page, "ui-xss")
    page.keyboard.press("Escape")
    page.click("[data-testid=nav-overview]")
    page.wait_for_selector("[data-testid=overview-page]")
    # Regression: the feed shows what the tab saw while another page was open.
    page.wait_for_selector("[data-testid=event-feed] li")
    assert page.locator("[data-testid=event-feed] li").count() == 1
    live_server.create_order(token, customer=XSS, address=XSS)
    page.wait_for_function(
        "document.querySelectorAll('[data-testid=event-feed] li').length === 2"
    )
    assert XSS in page.text_content("[data-testid=event-feed]")
    assert page.evaluate("document.querySelectorAll('img, #app script').length") == 0
    assert log.dialogs == []
    no_errors(log)
