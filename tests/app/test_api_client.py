from __future__ import annotations

from typing import Any

import pytest
from zariz.api import ApiClient, ApiError
from zariz.platform import HttpResponse, NetworkError
from zariz.platform.fake import FakeRequest

from tests.app.conftest import Tab


@pytest.fixture
def api(tab: Tab) -> ApiClient:
    return ApiClient(tab.auth)


async def test_calls_build_paths_and_bodies(tab: Tab, api: ApiClient) -> None:
    seen: list[FakeRequest] = []

    def echo(req: FakeRequest) -> Any:
        seen.append(req)
        return 200, {"ok": req.path}

    for method in ("GET", "POST", "PATCH", "DELETE"):
        tab.platform.http.route(method, "/v1/", echo)
    assert await api.list_orders(status="new", limit=20, offset=40) == {"ok": "/v1/orders"}
    assert seen[-1].query == {"status": "new", "limit": "20", "offset": "40"}
    await api.list_orders()
    assert seen[-1].query == {"limit": "50", "offset": "0"}
    await api.create_order({"customer": "Ada"})
    assert (seen[-1].method, seen[-1].json_body) == ("POST", {"customer": "Ada"})
    await api.get_order(7)
    await api.update_order("7", {"notes": "x"})
    await api.delete_order(7)
    await api.assign(7, 3)
    await api.set_status(7, "picked_up")
    await api.list_couriers()
    assert [(r.method, r.path) for r in seen[2:]] == [
        ("POST", "/v1/orders"), ("GET", "/v1/orders/7"), ("PATCH", "/v1/orders/7"),
        ("DELETE", "/v1/orders/7"), ("POST", "/v1/orders/7/assign"),
        ("POST", "/v1/orders/7/status"), ("GET", "/v1/couriers")]
    assert seen[-3].json_body == {"courier_id": 3} and seen[-2].json_body == {"status": "picked_up"}
    assert all(r.bearer == "a1" for r in seen)
    await api.get_order("a/b")
    assert seen[-1].url.endswith("/v1/orders/a%2Fb")


async def test_errors_are_mapped_to_api_error(tab: Tab, api: ApiClient) -> None:
    tab.platform.http.route(
        "POST", "/v1/orders/1/status",
        lambda req: (409, {"error": {"code": "invalid_transition",
                                     "message": "new -> delivered is not allowed",
                                     "details": {"from": "new"}}}),
    )
    tab.platform.http.route(
        "GET", "/v1/orders/2", lambda req: HttpResponse(502, None, "<html>bad gateway</html>")
    )
    with pytest.raises(ApiError) as info:
        await api.set_status(1, "delivered")
    err = info.value
    assert (err.status, err.code, err.details) == (409, "invalid_transition", {"from": "new"})
    assert "not allowed" in err.message
    with pytest.raises(ApiError) as info:
        await api.get_order(2)
    assert (info.value.status, info.value.code) == (502, "http_502")
    assert info.value.message == "<html>bad gateway</html>"
    with pytest.raises(ApiError) as info:
        await api.get_order(404)  # unrouted in the fake: the 404 error shape
    assert (info.value.status, info.value.code) == (404, "not_found")


async def test_not_logged_in_and_network_errors(make_tab) -> None:
    tab = make_tab(logged_in=False)
    api = ApiClient(tab.auth)
    with pytest.raises(ApiError) as info:
        await api.list_couriers()
    assert (info.value.status, info.value.code) == (401, "not_authenticated")
    await tab.auth.login("demo", "demo")

    def down(req: FakeRequest) -> Any:
        raise NetworkError("refused")

    tab.platform.http.route("GET", "/v1/couriers", down)
    with pytest.raises(NetworkError):
        await api.list_couriers()


async def test_misuse_is_rejected_before_any_request(tab: Tab, api: ApiClient) -> None:
    with pytest.raises(ValueError):
        await api.list_orders(limit=0)
    with pytest.raises(TypeError):
        await api.get_order(True)
    with pytest.raises(TypeError):
        await api.get_order("")
    assert tab.platform.http.requests == []


async def test_a_full_pages_headers_name_the_next_page_before_its_body(
    tab: Tab, api: ApiClient,
) -> None:
    """``list_orders(on_next=...)`` hears ``X-Zariz-Next-Before-Id`` from the headers,
    before ``list_orders`` returns; nothing from an error, a bad value, or no header."""
    answers: list[HttpResponse] = []
    tab.platform.http.route("GET", "/v1/orders", lambda req: answers.pop(0))
    heard: list[tuple[int, bool]] = []
    returned = [False]

    async def page(*headers: tuple[str, str], status: int = 200) -> Any:
        answers.append(HttpResponse(status, {"items": []}, "{}", dict(headers)))
        returned[0] = False
        body = await api.list_orders(limit=2, on_next=lambda n: heard.append((n, returned[0])))
        returned[0] = True
        return body

    await page(("X-Zariz-Next-Before-Id", "41"))
    assert heard == [(41, False)]  # before the call returned
    for bad in ("", "0", "-3", "4a", "²", "1" * 19):
        await page(("x-zariz-next-before-id", bad))
    await page()
    with pytest.raises(ApiError):
        await page(("x-zariz-next-before-id", "9"), status=503)
    assert heard == [(41, False)]
    # A bug in the caller's hook is logged; the page still comes back.
    answers.append(HttpResponse(200, {"items": [1]}, "{}", {"x-zariz-next-before-id": "5"}))
    assert await api.list_orders(limit=2, on_next=lambda n: 1 / 0) == {"items": [1]}


async def test_the_hook_hears_the_retry_after_a_token_refresh(tab: Tab, api: ApiClient) -> None:
    answers = [HttpResponse(401, {"error": {"code": "token_expired", "message": "x"}}, "{}",
                            {"x-zariz-next-before-id": "7"}),
               HttpResponse(200, {"items": []}, "{}", {"x-zariz-next-before-id": "8"})]
    tab.platform.http.route("GET", "/v1/orders", lambda req: answers.pop(0))
    heard: list[int] = []
    assert await api.list_orders(on_next=heard.append) == {"items": []}
    assert heard == [8]  # not the 401's


def test_the_client_and_the_server_name_the_same_header() -> None:
    from zariz import api as api_module

    from server.orders import NEXT_BEFORE_HEADER

    assert api_module.NEXT_BEFORE_HEADER == NEXT_BEFORE_HEADER.lower()
