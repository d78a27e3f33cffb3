from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from zariz.auth import STORAGE_KEY, AuthClient, AuthError, TokenState
from zariz.platform import NetworkError
from zariz.platform.fake import FakePlatform, FakeRequest

from tests.app.conftest import Tab


async def test_login_stores_tokens_and_notifies(make_tab) -> None:
    tab = make_tab(logged_in=False)
    seen: list[Any] = []
    off = tab.auth.subscribe(seen.append)
    state = await tab.auth.login("demo", "demo")
    stored = json.loads(tab.platform.storage[STORAGE_KEY])
    assert stored["access_token"] == "a2" and stored["refresh_token"] == "r2"
    assert stored["expires_at"] == tab.platform.wall_ms() + 900_000
    assert seen == [state] and tab.auth.access_token == "a2" and tab.auth.is_authenticated
    off()
    off()
    await tab.auth.logout()
    assert seen == [state]


async def test_bad_credentials_raise_auth_error_and_store_nothing(make_tab) -> None:
    tab = make_tab(logged_in=False)
    with pytest.raises(AuthError) as info:
        await tab.auth.login("demo", "nope")
    assert (info.value.status, info.value.code) == (401, "invalid_credentials")
    assert STORAGE_KEY not in tab.platform.storage and not tab.auth.is_authenticated


async def test_refresh_is_single_flight(tab: Tab) -> None:
    gate = asyncio.Event()
    original = tab.server.refresh

    async def slow(req: FakeRequest) -> Any:
        await gate.wait()
        return original(req)

    tab.platform.http.route("POST", "/v1/auth/refresh", slow)
    calls = [asyncio.ensure_future(tab.auth.refresh()) for _ in range(5)]
    await tab.platform.settle()
    gate.set()
    assert await asyncio.gather(*calls) == [True] * 5
    assert tab.platform.http.count("POST", "/v1/auth/refresh") == 1
    assert tab.auth.access_token == "a2"
    assert await tab.auth.refresh()  # a later call is a new flight
    assert tab.platform.http.count("POST", "/v1/auth/refresh") == 2


async def test_cancelled_caller_does_not_cancel_the_shared_refresh(tab: Tab) -> None:
    gate = asyncio.Event()
    original = tab.server.refresh

    async def slow(req: FakeRequest) -> Any:
        await gate.wait()
        return original(req)

    tab.platform.http.route("POST", "/v1/auth/refresh", slow)
    first = asyncio.ensure_future(tab.auth.refresh())
    second = asyncio.ensure_future(tab.auth.refresh())
    await tab.platform.settle()
    first.cancel()
    gate.set()
    assert await second is True
    assert first.cancelled() and tab.auth.access_token == "a2"


async def test_reused_refresh_token_logs_out(tab: Tab) -> None:
    seen: list[Any] = []
    tab.auth.subscribe(seen.append)
    tab.server.refresh_token = "rotated-elsewhere"
    assert await tab.auth.refresh() is False
    assert not tab.auth.is_authenticated and seen == [None]
    assert STORAGE_KEY not in tab.platform.storage
    assert await tab.auth.refresh() is False  # no session: no request
    assert tab.platform.http.count("POST", "/v1/auth/refresh") == 1


@pytest.mark.parametrize("mode", ["network", "500"])
async def test_transient_refresh_failure_keeps_session(tab: Tab, mode: str) -> None:
    tab.server.refresh_mode = mode
    assert await tab.auth.refresh() is False
    assert tab.auth.access_token == "a1"


async def test_storage_event_from_another_tab_updates_subscribers(tab: Tab) -> None:
    seen: list[Any] = []
    tab.auth.subscribe(seen.append)
    other = TokenState("a9", "r9", 5)
    tab.platform.other_tab_sets(STORAGE_KEY, other.to_json())
    assert tab.auth.access_token == "a9" and seen == [other]
    tab.platform.other_tab_sets("unrelated", "x")
    tab.platform.other_tab_sets(STORAGE_KEY, other.to_json())  # same state: no event
    tab.platform.other_tab_sets(STORAGE_KEY, None)  # logged out elsewhere
    assert seen == [other, None] and not tab.auth.is_authenticated


async def test_other_tab_logout_disconnects_sse_and_token_change_reconnects(tab: Tab) -> None:
    client = await tab.connected()
    tab.server.valid_access, tab.server.refresh_token = {"a1b"}, "r1b"  # the other tab's pair
    tab.platform.other_tab_sets(STORAGE_KEY, TokenState("a1b", "r1b").to_json())
    await tab.platform.settle()
    assert len(tab.platform.sources) == 2 and tab.platform.max_open_sources == 1
    assert tab.platform.http.requests[-1].bearer == "a1b"
    tab.platform.other_tab_sets(STORAGE_KEY, None)
    assert client.status == "disconnected" and tab.platform.open_sources == 0


async def test_refresh_adopts_pair_rotated_by_another_tab_without_request(tab: Tab) -> None:
    # The other tab's write landed in storage but its storage event has not arrived yet.
    tab.platform.storage[STORAGE_KEY] = TokenState("a7", "r7").to_json()
    assert await tab.auth.refresh() is True
    assert tab.auth.access_token == "a7"
    assert tab.platform.http.count("POST", "/v1/auth/refresh") == 0


async def test_authorized_request_refreshes_once_and_retries_once(tab: Tab) -> None:
    tab.platform.http.route(
        "GET", "/v1/auth/me",
        lambda req: (200, {"username": "demo"}) if req.bearer in tab.server.valid_access
        else (401, {"error": {"code": "invalid_token", "message": "expired"}}),
    )
    tab.server.expire_access()
    resp = await tab.auth.authorized_request("GET", "/v1/auth/me")
    assert resp.status == 200 and resp.body == {"username": "demo"}
    assert [r.path for r in tab.platform.http.requests] == [
        "/v1/auth/me", "/v1/auth/refresh", "/v1/auth/me"]
    # a server that keeps saying 401: one refresh, one retry, then the 401 comes back
    tab.platform.http.route("GET", "/v1/auth/me", lambda req: (401, None))
    n = len(tab.platform.http.requests)
    resp = await tab.auth.authorized_request("GET", "/v1/auth/me")
    assert resp.status == 401 and len(tab.platform.http.requests) == n + 3


async def test_authorized_request_without_session_sends_nothing(make_tab) -> None:
    tab = make_tab(logged_in=False)
    resp = await tab.auth.authorized_request("GET", "/v1/orders")
    assert resp.status == 401 and resp.body["error"]["code"] == "not_authenticated"
    assert tab.platform.http.requests == []


async def test_logout_is_local_first_even_when_server_unreachable(tab: Tab) -> None:
    def down(req: FakeRequest) -> Any:
        raise NetworkError("down")

    tab.platform.http.route("POST", "/v1/auth/logout", down)
    await tab.auth.logout()
    assert not tab.auth.is_authenticated and STORAGE_KEY not in tab.platform.storage
    assert tab.platform.http.requests[-1].bearer == "a1"
    await tab.auth.logout()  # already out: no request
    assert tab.platform.http.count("POST", "/v1/auth/logout") == 1


@pytest.mark.parametrize(
    "text",
    [None, "", "{", "[]", '{"access_token": "a"}', '{"access_token": 1, "refresh_token": "r"}'],
)
def test_malformed_stored_state_means_logged_out(text: str | None) -> None:
    platform = FakePlatform(storage={} if text is None else {STORAGE_KEY: text})
    assert AuthClient(platform).is_authenticated is False


async def test_raising_token_listener_is_isolated(tab: Tab, caplog) -> None:
    seen: list[Any] = []
    tab.auth.subscribe(lambda s: 1 / 0)
    tab.auth.subscribe(seen.append)
    await tab.auth.logout()
    assert seen == [None] and "token listener failed" in caplog.text


def test_dispose_releases_storage_listener() -> None:
    platform = FakePlatform()
    auth = AuthClient(platform)
    assert platform.live_proxies() == 1
    auth.dispose()
    auth.dispose()
    assert platform.live_proxies() == 0
    with pytest.raises(ValueError):
        AuthClient(platform, storage_key="")


async def test_refresh_superseded_by_another_tab_adopts_its_pair_and_stays_logged_in(
    tab: Tab,
) -> None:
    """Regression: two tabs refreshed the same token at once; the loser used to log out
    (and the server revoked the session). Now the server answers 409 and the loser waits
    for the winner's pair in shared storage."""
    from tests.app.conftest import error_body

    seen: list[Any] = []
    tab.auth.subscribe(seen.append)
    tab.platform.http.route(
        "POST", "/v1/auth/refresh",
        lambda req: (409, error_body("refresh_superseded", "rotated concurrently")),
    )
    pending = asyncio.ensure_future(tab.auth.refresh())
    await tab.platform.settle()
    assert not pending.done()  # waiting for the other tab's write
    await tab.platform.advance(0.25)
    winner = TokenState("a-won", "r-won")
    tab.platform.storage[STORAGE_KEY] = winner.to_json()  # its storage event comes later
    await tab.platform.advance(0.2)
    assert await pending is True
    assert tab.auth.access_token == "a-won" and tab.auth.is_authenticated
    assert seen == [winner] and None not in seen


async def test_refresh_superseded_without_a_newer_pair_keeps_the_session(tab: Tab) -> None:
    from tests.app.conftest import error_body

    tab.platform.http.route(
        "POST", "/v1/auth/refresh",
        lambda req: (409, error_body("refresh_superseded", "rotated concurrently")),
    )
    pending = asyncio.ensure_future(tab.auth.refresh())
    await tab.platform.advance(5)
    assert await pending is False
    assert tab.auth.access_token == "a1"  # not logged out: a later refresh may still work


async def test_storage_cleared_in_another_tab_logs_out_here(tab: Tab) -> None:
    client = await tab.connected()
    seen: list[Any] = []
    tab.auth.subscribe(seen.append)
    tab.platform.other_tab_clears()
    assert seen == [None] and not tab.auth.is_authenticated
    assert client.status == "disconnected" and tab.platform.open_sources == 0


async def test_two_tabs_refreshing_at_once_send_one_request(make_tab) -> None:
    """With the shared refresh lock the second tab waits, re-reads storage and adopts the
    pair the first tab stored: one refresh request for the whole browser, no 409."""
    first = make_tab()
    second = make_tab()
    shared_storage, shared_locks = first.platform.storage, first.platform.locks
    second.platform.storage = shared_storage
    second.platform.locks = shared_locks
    second.auth = AuthClient(second.platform)
    # Like a browser: the first tab's write reaches the second as a storage event (before
    # the second gets the lock). Regression: it then refreshed its freshly adopted pair.
    first.auth.subscribe(
        lambda st: second.platform.other_tab_sets(STORAGE_KEY, st.to_json()) if st else None
    )
    a = asyncio.ensure_future(first.auth.refresh())
    b = asyncio.ensure_future(second.auth.refresh())
    assert await a is True and await b is True
    assert first.platform.http.count("POST", "/v1/auth/refresh") == 1
    assert second.platform.http.count("POST", "/v1/auth/refresh") == 0
    assert second.auth.access_token == first.auth.access_token != "a1"
    assert first.platform.lock_log == second.platform.lock_log == ["zariz-auth-refresh"]


@pytest.mark.parametrize("expires_in", [float("inf"), float("nan"), True, -5, 10**12, "900"])
async def test_an_unusable_expires_in_is_unknown_not_a_crash(make_tab, expires_in: Any) -> None:
    """Regression: ``"expires_in": 1e400`` (inf after json) raised OverflowError in login."""
    tab = make_tab(logged_in=False)
    pair = {"access_token": "ax", "refresh_token": "rx", "expires_in": expires_in}
    tab.platform.http.route("POST", "/v1/auth/login", lambda req: (200, pair))
    state = await tab.auth.login("demo", "demo")
    assert state.access_token == "ax" and state.expires_at == 0


def test_stored_state_nested_too_deep_is_no_session_not_a_crash() -> None:
    """Another tab (or anything with storage access) can write any text there; in Pyodide
    json.loads of ~10,000 levels is a fatal stack overflow, so it is never attempted."""
    deep = '{"access_token": "a", "refresh_token": "r", "x": ' + "[" * 20_000 + "]" * 20_000 + "}"
    assert TokenState.from_json(deep) is None
    assert TokenState.from_json('{"access_token": "a", "refresh_token": "r"}') is not None
