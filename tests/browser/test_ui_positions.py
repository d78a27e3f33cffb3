"""Snapshot at N, then events after N — in a real browser against a real server.

The race the position protocol closes: the orders page loads its REST snapshot, an order is
committed, and only then does the stream subscribe. The stream's opening ``position`` frame
tells the page it is past the snapshot, so the page refetches instead of never showing the
order. The ticket request is held back by a Playwright route to make the order of events
certain (no sleeps).
"""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import login, wait_booted, wait_status
from tests.browser.support import wait_until


def test_an_order_committed_between_the_snapshot_and_the_subscription_is_shown(
    live_server: Any, open_tab: Any
) -> None:
    token = live_server.login()["access_token"]
    before = live_server.create_order(token, customer="before-the-page")
    page, log = open_tab(live_server.url)
    held: list[Any] = []
    list_requests: list[str] = []

    def hold_ticket(route: Any) -> None:
        if not held:
            held.append(route)  # released below, once the snapshot is on screen
        else:
            route.continue_()

    page.route("**/v1/events/ticket", hold_ticket)
    page.on("request", lambda r: list_requests.append(r.url) if "/v1/orders?" in r.url else None)
    page.goto(live_server.url + "/dashboard/orders")
    wait_booted(page)
    page.wait_for_url("**/login?next=*")
    login(page)
    page.wait_for_selector(f"[data-testid=order-row][data-order-id='{before['id']}']")
    wait_until(lambda: bool(held), 15, "the held ticket request")
    loads = len(list_requests)
    # Committed after the snapshot, before the stream exists.
    between = live_server.create_order(token, customer="between")
    held[0].continue_()
    wait_status(page, "connected")
    page.wait_for_selector(f"[data-testid=order-row][data-order-id='{between['id']}']")
    assert len(list_requests) > loads, "the page refetched because of the position gap"
    after = live_server.create_order(token, customer="after")
    page.wait_for_selector(f"[data-testid=order-row][data-order-id='{after['id']}']")
    shown = page.eval_on_selector_all(
        "[data-testid=order-row]", "rows => rows.map(r => Number(r.dataset.orderId))"
    )
    assert sorted(shown) == sorted([before["id"], between["id"], after["id"]])
    assert not log.errors and not log.outside
