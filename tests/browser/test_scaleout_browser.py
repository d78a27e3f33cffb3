"""Two server instances (A and B) on one PostgreSQL database and one Redis, and a real
page: what a browser sees of a scaled-out deployment.

* A page streaming from A shows the orders created through B, in id order, each once.
* Behind a balancer, A is killed with SIGKILL and the balancer sends everything to B
  (resetting what was open); orders are created through B while the page has no stream;
  then the page reconnects to B and resumes with its last id.
  Nothing lost (orders created through B while A was dead and after), nothing doubled,
  and the table equals ``GET /v1/orders``.

What the page received is read from a subscriber installed in it (every dispatched event
id and order id, ``tests.browser.support.track_dispatches``) and from its table. The
servers, PostgreSQL and Redis come from tests/server/test_scaleout.py's :class:`Stack`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser.support import dispatches, table_ids, track_dispatches, wait_until
from tests.browser.test_connection_truth import open_at
from tests.server.test_scaleout import Stack, running_stack
from tests.support.balancer import Balancer
from tests.support.live_server import LiveServer


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("scaleout-browser")) as made:
        yield made


def received(page: Any) -> tuple[list[int], list[int]]:
    """``(event ids, order ids)`` of the order.created events the page dispatched."""
    seen = [d for d in dispatches(page) if d["event"] == "order.created"]
    return [int(d["id"]) for d in seen], [int(d["order"]) for d in seen]


def assert_once_in_id_order(page: Any, created: list[int]) -> None:
    """Every created order's event reached the page once, in id order, ids contiguous
    (one log, no gap), and nothing else."""
    ids, orders = received(page)
    assert len(ids) == len(set(ids)), f"an event dispatched twice: {ids}"
    assert ids == list(range(ids[0], ids[0] + len(ids))), f"not in id order or a gap: {ids}"
    assert orders == created, (orders, created)


def wait_table_equals_api(page: Any, server: LiveServer, token: str) -> None:
    api = server.order_ids(token)[:50]  # newest first, the table's first page
    wait_until(lambda: table_ids(page) == api, 15, f"the table to show {api}", page=page)


def test_a_page_streaming_from_a_sees_orders_created_through_b_in_id_order_once(
    stack: Stack, open_tab: Callable[..., Any],
) -> None:
    a, b = stack.instances(2)
    page = open_at(open_tab, a, a.url)
    track_dispatches(page)
    token = b.login()["access_token"]
    created = [b.create_order(token, customer=f"through B {i}")["id"] for i in range(20)]
    wait_until(lambda: len(received(page)[1]) >= 20, 20, "20 events in the page", page=page)
    page.wait_for_timeout(500)  # a duplicate would have arrived by now
    assert_once_in_id_order(page, created)
    wait_table_equals_api(page, b, token)


def test_sigkill_of_a_behind_the_balancer_the_page_resumes_on_b_with_its_last_id(
    stack: Stack, open_tab: Callable[..., Any],
) -> None:
    a, b = stack.instances(2)
    token = b.login()["access_token"]
    with Balancer(a.port) as balancer:
        page = open_at(open_tab, a, balancer.url)
        track_dispatches(page)
        created = [b.create_order(token, customer=f"before {i}")["id"] for i in range(5)]
        wait_until(lambda: len(received(page)[1]) >= 5, 15, "the first events", page=page)

        a.kill()  # SIGKILL
        # The balancer takes A out: open connections reset, new ones go to B - held off
        # (refused) until the orders of the gap are committed, so that only a resume from
        # the page's last id (replayed by B) can bring them.
        balancer.refuse()
        balancer.switch(b.port, cut=True)
        page.wait_for_function("() => window.__zarizSSEClient.status !== 'connected'",
                               timeout=10_000)
        created += [b.create_order(token, customer=f"while A is dead {i}")["id"]
                    for i in range(5)]
        balancer.accept()
        wait_until(lambda: len(received(page)[1]) >= 10, 30, "the events of the gap",
                   page=page)
        created += [b.create_order(token, customer=f"after {i}")["id"] for i in range(5)]
        wait_until(lambda: len(received(page)[1]) >= 15, 15, "the later events", page=page)
        page.wait_for_timeout(500)
        assert_once_in_id_order(page, created)
        wait_table_equals_api(page, b, token)
