"""The orders page's load (``fetch_all_orders``): every order, in pages as large as the
server gives, following by key; the snapshot's position is the first page's.

The pages are asked of a scripted API that answers as the real server does (newest first,
``before_id`` keyset, ``limit`` validated against the server's own maximum)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError
from zariz.api import ApiClient, ApiError
from zariz.platform import HttpResponse, NetworkError
from zariz.platform.fake import FakeRequest, error_body

from server.orders import MAX_PAGE, ListQuery
from tests.app.conftest import Tab
from tests.support.browserless import browser_stand_ins


@pytest.fixture
def orders_page() -> Iterator[Any]:
    with browser_stand_ins():
        import zariz.ui.pages.orders as orders

        yield orders


class ScriptedApi:
    """``list_orders`` over ``ids`` (newest first); records each call's query, and how
    many answers had been returned when it was made.

    A current server (``max_page`` = ``MAX_PAGE``) names a full page's successor in its
    headers (``on_next``) before the body comes (a turn of the loop later), as the real
    server and platform do; an older one (a lower maximum) does not. ``next_shift`` makes
    it name a wrong one."""

    def __init__(self, ids: list[int], position: int = 7, max_page: int = MAX_PAGE) -> None:
        self.ids = sorted(ids, reverse=True)
        self.max_page = max_page
        self.position = position
        self.calls: list[dict[str, Any]] = []
        self.returned = 0
        self.on_call: Any = None
        self.next_shift = 0
        self.says_next: bool | None = None  # None: as its maximum says (see above)
        self.fail_calls: dict[int, Exception] = {}  # before the headers
        self.fail_bodies: dict[int, Exception] = {}  # after them: the body cut off
        self.positions: dict[int, Any] = {}  # call -> its last_event_id, if not the default
        self.in_flight = 0
        self.most_in_flight = 0
        self.cancelled: list[int] = []

    async def list_orders(self, status: str | None = None, limit: int = 50, offset: int = 0,
                          before_id: int | None = None, *, on_next: Any = None) -> Any:
        query = ListQuery.model_validate(
            {"status": status, "limit": limit, "offset": offset, "before_id": before_id})
        self.calls.append({"limit": query.limit, "before_id": query.before_id,
                           "returned": self.returned})
        call = len(self.calls)
        if self.on_call is not None:
            self.on_call(call)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self._answer(call, query, on_next)
        except asyncio.CancelledError:
            self.cancelled.append(call)
            raise
        finally:
            self.in_flight -= 1

    async def _answer(self, call: int, query: ListQuery, on_next: Any) -> Any:
        offset = query.offset
        says_next = self.max_page >= MAX_PAGE if self.says_next is None else self.says_next
        await asyncio.sleep(0)  # the request's way to the server
        if call in self.fail_calls:
            raise self.fail_calls[call]
        if query.limit > self.max_page:  # a server with a lower maximum: what it answers
            raise ApiError(422, "validation_error", "limit: less than or equal to ...")
        rows = [i for i in self.ids if query.before_id is None or i < query.before_id]
        page = rows[query.offset:query.offset + query.limit]
        if says_next and on_next is not None and len(page) == query.limit and not offset:
            on_next(min(page) + self.next_shift)  # the headers
        for _ in range(3):  # ... then the body, a few turns later (it downloads)
            await asyncio.sleep(0)
        if call in self.fail_bodies:
            raise self.fail_bodies[call]
        self.returned += 1
        return {"items": [{"id": i, "status": "new"} for i in page], "total": len(self.ids),
                "limit": query.limit, "offset": query.offset,
                "last_event_id": self.positions.get(call, self.position + call - 1)}


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


def test_the_next_page_is_asked_for_before_this_one_is_read(orders_page: Any) -> None:
    # The server names the next page in a full page's headers: that request goes out
    # while this page's body is still on its way (one page ahead, no more).
    api = ScriptedApi(list(range(1, 3 * MAX_PAGE + 11)))
    items, position = asyncio.run(orders_page.fetch_all_orders(api))
    assert [o["id"] for o in items] == list(range(3 * MAX_PAGE + 10, 0, -1))
    assert position == 7
    assert [c["before_id"] for c in api.calls] == [None, 2 * MAX_PAGE + 11, MAX_PAGE + 11, 11]
    # Answers returned when each call went out. One after another, call i goes out once i
    # answers are in; asked for on the headers, before its predecessor's answer: the
    # second at once, later ones as soon as their predecessor is the page waited for.
    returned = [c["returned"] for c in api.calls]
    assert returned[:2] == [0, 0], returned
    assert sum(r < i for i, r in enumerate(returned)) >= 2, returned


def test_a_server_that_does_not_say_is_paged_one_after_another(orders_page: Any) -> None:
    api = ScriptedApi(list(range(1, 2 * MAX_PAGE + 11)))
    api.says_next = False
    items, _ = asyncio.run(orders_page.fetch_all_orders(api))
    assert [o["id"] for o in items] == list(range(2 * MAX_PAGE + 10, 0, -1))
    assert [c["returned"] for c in api.calls] == [0, 1, 2]


def test_a_next_page_the_body_does_not_lead_to_is_dropped(orders_page: Any) -> None:
    # Headers that name another page than the body's smallest id: that answer is not
    # used (its orders would be the wrong ones); the right page is asked for.
    api = ScriptedApi(list(range(1, 2 * MAX_PAGE + 11)))
    api.next_shift = 5
    items, _ = asyncio.run(orders_page.fetch_all_orders(api))
    assert [o["id"] for o in items] == list(range(2 * MAX_PAGE + 10, 0, -1))  # none twice
    befores = [c["before_id"] for c in api.calls]
    assert befores[:2] == [None, MAX_PAGE + 16]  # asked ahead on the headers: wrong
    assert MAX_PAGE + 11 in befores and 11 in befores  # the right ones, asked after


def _unheard_errors(orders_page: Any, api: ScriptedApi,
                    monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Run the load to its end (its own error swallowed) and every request it started;
    returns the errors of requests nobody retrieved: what asyncio reports as "Task
    exception was never retrieved" whenever the task happens to be collected."""
    tasks: list[asyncio.Future[Any]] = []
    real = asyncio.ensure_future

    def spy(coro: Any) -> Any:
        task = real(coro)
        tasks.append(task)
        return task

    monkeypatch.setattr(orders_page.asyncio, "ensure_future", spy)

    async def main() -> None:
        try:
            await orders_page.fetch_all_orders(api)
        except Exception:
            pass
        for _ in range(20):  # every request of the load ends
            await asyncio.sleep(0)

    asyncio.run(main())
    monkeypatch.undo()
    assert tasks and all(t.done() for t in tasks)
    # Task._log_traceback: set while a failed task's exception has not been retrieved.
    return [repr(t.exception()) for t in tasks if getattr(t, "_log_traceback", False)]


def test_an_error_leaves_no_page_asked_ahead_unheard(orders_page: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Page 2's body is cut off after its headers had page 3 asked for, and page 3 fails
    # too: the load raises page 2's error, and page 3's is heard, not left behind as a
    # task whose exception nobody retrieved.
    def cut(api: ScriptedApi) -> ScriptedApi:
        api.fail_bodies = {2: NetworkError("page 2 cut off"), 3: NetworkError("page 3")}
        return api

    api = cut(ScriptedApi(list(range(1, 4 * MAX_PAGE))))
    with pytest.raises(NetworkError, match="page 2"):
        asyncio.run(orders_page.fetch_all_orders(api))
    assert [c["before_id"] for c in api.calls][:3] == [None, 3 * MAX_PAGE, 2 * MAX_PAGE]
    api = cut(ScriptedApi(list(range(1, 4 * MAX_PAGE))))
    assert _unheard_errors(orders_page, api, monkeypatch) == []
    assert len(api.calls) == 3
    # A page asked ahead that the body does not lead to is dropped; it fails: heard too.
    api = ScriptedApi(list(range(1, 4 * MAX_PAGE)))
    api.next_shift = 1
    api.fail_calls = {2: ApiError(500, "boom", "the dropped page")}
    assert _unheard_errors(orders_page, api, monkeypatch) == []
    assert api.calls[1]["before_id"] == 3 * MAX_PAGE + 1


def test_at_most_two_requests_at_a_time(orders_page: Any) -> None:
    api = ScriptedApi(list(range(1, 6 * MAX_PAGE + 1)))
    items, _ = asyncio.run(orders_page.fetch_all_orders(api))
    assert len(items) == 6 * MAX_PAGE and len(api.calls) == 7
    assert api.most_in_flight == 2 and api.cancelled == []


def test_a_load_cancelled_midway_cancels_the_page_asked_ahead(orders_page: Any) -> None:
    # The orders page disposed mid-load (a route change): the page waited for is cancelled
    # by the await, the one asked ahead by the load; no request outlives the load.
    api = ScriptedApi(list(range(1, 4 * MAX_PAGE)))

    async def main() -> None:
        load = asyncio.ensure_future(orders_page.fetch_all_orders(api))
        while len(api.calls) < 3:  # page 3 asked ahead of page 2
            await asyncio.sleep(0)
        load.cancel()
        with pytest.raises(asyncio.CancelledError):
            await load
        for _ in range(10):
            await asyncio.sleep(0)

    asyncio.run(main())
    # Every request either answered before the cancel or was cancelled with the load.
    assert api.in_flight == 0 and 3 in api.cancelled, api.cancelled
    assert api.returned + len(api.cancelled) == len(api.calls) == 3, api.calls


def test_the_position_is_the_first_answers_whatever_later_pages_say(orders_page: Any) -> None:
    # A first page without a usable position: the snapshot has none (the page then
    # reloads on the first event), never a later page's, which would skip the events
    # between the two.
    api = ScriptedApi(list(range(1, 2 * MAX_PAGE + 11)))
    api.positions = {1: "not an id"}
    items, position = asyncio.run(orders_page.fetch_all_orders(api))
    assert len(items) == 2 * MAX_PAGE + 10 and position is None


def test_the_server_refuses_a_page_above_its_maximum() -> None:
    assert ListQuery.model_validate({"limit": MAX_PAGE}).limit == MAX_PAGE
    with pytest.raises(ValidationError):
        ListQuery.model_validate({"limit": MAX_PAGE + 1})


# The same load through the real REST and auth clients on the fake platform, against a
# scripted route that answers as the server does (the header on a full page).
def serve(tab: Tab, ids: list[int], *, expire_on: frozenset[int] = frozenset(),
          old_on: frozenset[int] = frozenset()) -> list[dict[str, str]]:
    calls: list[dict[str, str]] = []
    newest_first = sorted(ids, reverse=True)

    def handler(req: FakeRequest) -> Any:
        calls.append(dict(req.query))
        n = len(calls)
        if n in expire_on:
            tab.server.expire_access()  # the token expires under the load: 401, refresh
        if req.bearer not in tab.server.valid_access:
            return 401, error_body("invalid_token", "expired")
        limit = int(req.query["limit"])
        if n in old_on and limit > 500:  # an older instance behind the balancer
            return 422, error_body("validation_error", "limit")
        before = int(req.query.get("before_id", 10**12))
        page = [i for i in newest_first if i < before][:limit]
        body = {"items": [{"id": i, "status": "new"} for i in page], "last_event_id": 100 + n}
        headers = {"content-type": "application/json"}
        if page and len(page) == limit:
            headers["X-Zariz-Next-Before-Id"] = str(min(page))
        return HttpResponse(200, body, json.dumps(body), headers)

    tab.platform.http.route("GET", "/v1/orders", handler)
    return calls


@pytest.mark.parametrize(("fetch_page", "expire_on", "old_on"), [
    (3, frozenset({2}), frozenset()),  # a token refresh on the page asked ahead
    (600, frozenset(), frozenset({2})),  # an older instance refuses the page asked ahead
])
async def test_through_the_real_clients(tab: Tab, orders_page: Any,
                                        monkeypatch: pytest.MonkeyPatch, fetch_page: int,
                                        expire_on: frozenset[int],
                                        old_on: frozenset[int]) -> None:
    monkeypatch.setattr(orders_page, "FETCH_PAGE", fetch_page)
    calls = serve(tab, list(range(1, 1500 if old_on else 12)), expire_on=expire_on,
                  old_on=old_on)
    items, position = await orders_page.fetch_all_orders(ApiClient(tab.auth))
    assert [o["id"] for o in items] == list(range(1499 if old_on else 11, 0, -1))
    assert position == 101  # the first answer's
    assert calls[1].get("before_id") == calls[2].get("before_id")  # the refused or 401 one, again
