"""The orders page's load (``fetch_all_orders``): every order, in pages as large as the
server gives, following by key; the snapshot's position is the first page's.

The pages are asked of a scripted API that answers as the real server does (newest first,
``before_id`` keyset, ``limit`` validated against the server's own maximum)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError
from zariz.api import ApiError

from server.orders import MAX_PAGE, ListQuery
from tests.support.browserless import browser_stand_ins


@pytest.fixture
def orders_page() -> Iterator[Any]:
    with browser_stand_ins():
        import zariz.ui.pages.orders as orders

        yield orders


class ScriptedApi:
    """``list_orders`` over ``ids`` (newest first); records each call's query."""

    def __init__(self, ids: list[int], position: int = 7, max_page: int = MAX_PAGE) -> None:
        self.ids = sorted(ids, reverse=True)
        self.max_page = max_page
        self.position = position
        self.calls: list[dict[str, Any]] = []
        self.on_call: Any = None

    async def list_orders(self, status: str | None = None, limit: int = 50, offset: int = 0,
                          before_id: int | None = None) -> Any:
        query = ListQuery.model_validate(
            {"status": status, "limit": limit, "offset": offset, "before_id": before_id})
        self.calls.append({"limit": query.limit, "before_id": query.before_id})
        if self.on_call is not None:
            self.on_call(len(self.calls))
        if query.limit > self.max_page:  # a server with a lower maximum: what it answers
            raise ApiError(422, "validation_error", "limit: less than or equal to ...")
        rows = [i for i in self.ids if query.before_id is None or i < query.before_id]
        page = rows[query.offset:query.offset + query.limit]
        return {"items": [{"id": i, "status": "new"} for i in page], "total": len(self.ids),
                "limit": query.limit, "offset": query.offset,
                "last_event_id": self.position + len(self.calls) - 1}


def test_pages_are_the_servers_largest(orders_page: Any) -> None:
    # One round trip per MAX_PAGE orders: 10,000 orders at 500 a page were 21 requests.
    assert orders_page.FETCH_PAGE == MAX_PAGE
    api = ScriptedApi(list(range(1, 2 * MAX_PAGE + 11)))
    items, position = asyncio.run(orders_page.fetch_all_orders(api))
    assert [o["id"] for o in items] == list(range(2 * MAX_PAGE + 10, 0, -1))
    assert [c["limit"] for c in api.calls] == [MAX_PAGE] * 3
    assert [c["before_id"] for c in api.calls] == [None, MAX_PAGE + 11, 11]
    assert position == 7  # the first page's: the events after it bring the rest up to date


def test_a_row_deleted_between_pages_shifts_nothing(orders_page: Any) -> None:
    api = ScriptedApi(list(range(1, MAX_PAGE + 6)))

    def delete_during_the_load(call: int) -> None:
        if call == 2:  # after the first page: the oldest row of that page goes
            api.ids.remove(6)

    api.on_call = delete_during_the_load
    items, _ = asyncio.run(orders_page.fetch_all_orders(api))
    assert [o["id"] for o in items] == list(range(MAX_PAGE + 5, 0, -1))


def test_an_exact_multiple_ends_on_an_empty_page(orders_page: Any) -> None:
    api = ScriptedApi(list(range(1, MAX_PAGE + 1)))
    items, _ = asyncio.run(orders_page.fetch_all_orders(api))
    assert len(items) == MAX_PAGE and [c["before_id"] for c in api.calls] == [None, 1]


def test_no_orders_is_one_request(orders_page: Any) -> None:
    api = ScriptedApi([])
    assert asyncio.run(orders_page.fetch_all_orders(api)) == ([], 7)
    assert len(api.calls) == 1


def test_an_older_server_gets_the_pages_it_takes(orders_page: Any) -> None:
    # Behind one load balancer during a rolling upgrade: an instance still on the old
    # maximum (500) refuses 2,500 with a 422; the load goes on at 500 a page.
    api = ScriptedApi(list(range(1, 1201)), max_page=500)
    items, position = asyncio.run(orders_page.fetch_all_orders(api))
    assert [o["id"] for o in items] == list(range(1200, 0, -1))
    assert position == 8  # the first page it answered (its second call)
    assert [(c["limit"], c["before_id"]) for c in api.calls] == [
        (MAX_PAGE, None), (500, None), (500, 701), (500, 201)]


def test_a_refusal_on_a_later_page_goes_on_from_that_page(orders_page: Any) -> None:
    # The balancer sends the first page to a new instance and the next to an old one.
    api = ScriptedApi(list(range(1, 3001)))

    def old_instance_from_the_second_call(call: int) -> None:
        api.max_page = 500 if call >= 2 else MAX_PAGE

    api.on_call = old_instance_from_the_second_call
    items, position = asyncio.run(orders_page.fetch_all_orders(api))
    assert [o["id"] for o in items] == list(range(3000, 0, -1))  # none twice, none lost
    assert position == 7  # the first page's: the snapshot's place stays the first answer
    assert [(c["limit"], c["before_id"]) for c in api.calls] == [
        (MAX_PAGE, None), (MAX_PAGE, 501), (500, 501), (500, 1)]


def test_other_refusals_are_not_retried(orders_page: Any) -> None:
    api = ScriptedApi(list(range(1, 10)), max_page=100)  # refuses 500 too
    with pytest.raises(ApiError):
        asyncio.run(orders_page.fetch_all_orders(api))
    assert [c["limit"] for c in api.calls] == [MAX_PAGE, 500]


def test_the_server_refuses_a_page_above_its_maximum() -> None:
    assert ListQuery.model_validate({"limit": MAX_PAGE}).limit == MAX_PAGE
    with pytest.raises(ValidationError):
        ListQuery.model_validate({"limit": MAX_PAGE + 1})
