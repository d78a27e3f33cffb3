"""The orders page with 10,000 orders stays smooth."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.browser.conftest import screenshot
from tests.browser.support import open_authed
from tests.support.live_server import LiveServer

N = 10_000


def test_ten_thousand_orders_page_search_and_live_updates(
    open_tab: Callable[..., Any], live_server_factory: Callable[..., LiveServer]
) -> None:
    server = live_server_factory(ZARIZ_SEED_ORDERS=str(N))
    t0 = time.monotonic()
    page, log, tokens = open_authed(open_tab, server, "/dashboard/orders")
    page.wait_for_function(
        "n => (document.querySelector('[data-testid=orders-summary]')?.textContent || '')"
        ".replace(/[,\\u202f\\s]/g, '').includes('of' + n)",
        arg=N, timeout=60_000,
    )
    loaded = time.monotonic() - t0
    # Paginated: the DOM holds one page of rows, not ten thousand.
    assert page.locator("[data-testid=order-row]").count() == 50
    page.click("[data-testid=page-next]")
    page.wait_for_function(
        "(document.querySelector('[data-testid=orders-summary]')?.textContent || '')"
        ".startsWith('51')"
    )
    # Search narrows the whole set, not just the visible page.
    page.fill("[data-testid=orders-search]", "Dizengoff St 17,")
    page.wait_for_function(
        "() => { const rows = document.querySelectorAll('[data-testid=order-row]');"
        " return rows.length > 0 && rows.length < 50 && Array.from(rows).every("
        "r => r.textContent.includes('Dizengoff St 17,')); }"
    )
    page.fill("[data-testid=orders-search]", "")
    # A live event on top of 10,000 rows: applied without a refetch of everything.
    requests_before = len([m for m in log.console if "orders load" in m])
    t1 = time.monotonic()
    created = server.create_order(tokens["access_token"], customer="Scale Check")
    page.click("[data-testid=filter-all]")
    page.wait_for_selector(f"[data-testid=order-row][data-order-id='{created['id']}']")
    applied = time.monotonic() - t1
    assert page.locator("[data-testid=order-row]").count() == 50
    assert len([m for m in log.console if "orders load" in m]) == requests_before
    screenshot(page, "ui-10k-orders")
    print(f"\n[10k] navigation -> {N:,} orders listed {loaded:.2f} s; "
          f"event -> row {applied * 1000:.0f} ms")
    assert log.errors == []
