"""Smoke test: the page boots from our origin with the outside network cut,
logs in through the form and shows a live event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.browser.conftest import login, screenshot, wait_booted, wait_status
from tests.support.live_server import LiveServer


def test_boots_offline_logs_in_and_receives_a_live_event(
    open_tab: Callable[..., Any], live_server: LiveServer
) -> None:
    page, log = open_tab(live_server.url)
    page.goto(live_server.url + "/dashboard/orders")
    wait_booted(page)
    # Unauthenticated: the login form, and no stream yet.
    page.wait_for_selector("[data-testid=login-username]")
    assert log.sse_requests == []
    login(page)
    wait_status(page, "connected")
    page.wait_for_url("**/dashboard/orders")

    tokens = live_server.login()
    order = live_server.create_order(tokens["access_token"], customer="Smoke Test Customer")
    row = page.wait_for_selector(f"[data-testid=order-row][data-order-id='{order['id']}']")
    assert "Smoke Test Customer" in row.inner_text()
    screenshot(page, "smoke-live-event")

    # Everything came from our own origin; exactly one stream; nothing broke.
    assert log.outside == []
    assert len(log.sse_requests) == 1
    assert live_server.metric("zariz_sse_open_streams") == 1
    assert log.errors == []
