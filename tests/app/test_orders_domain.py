"""The browser's order domain (``zariz.orders``) mirrors the server's (``server/orders.py``)."""

from __future__ import annotations

import re

from zariz import orders as browser

from server import orders as server
from tests.support.live_server import PROJECT_ROOT


def test_statuses_and_the_status_machine_match_the_server() -> None:
    assert browser.STATUSES == server.STATUSES
    for status in browser.STATUSES:
        # The modal proposes only what POST /status accepts ("assigned" needs /assign).
        assert set(browser.NEXT_STATUS[status]) == set(server.TRANSITIONS[status]) - {
            "assigned"
        }, status
    assert set(browser.FINAL) == {s for s, nxt in server.TRANSITIONS.items() if not nxt}
    assert set(browser.ACTIVE) | {"new"} | set(browser.FINAL) == set(server.STATUSES)


def test_the_order_events_are_the_ones_the_server_writes() -> None:
    source = (PROJECT_ROOT / "server" / "orders.py").read_text(encoding="utf-8")
    written = set(re.findall(r'"(order\.[a-z_]+)"', source))
    assert written == set(browser.ORDER_EVENTS)
    assert browser.UPSERT_EVENTS == set(browser.ORDER_EVENTS) - {"order.deleted"}
