"""Factory fixtures for the pure-core tests: a fake tab, a scripted server, a client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from zariz.auth import STORAGE_KEY, AuthClient, TokenState
from zariz.platform import NetworkError
from zariz.platform.fake import FakePlatform, FakeRequest, error_body
from zariz.sse import SSEClient


class FakeServer:
    """The server's auth and ticket contract, scripted: rotating refresh tokens (reuse -> 401
    ``refresh_reused``), single-use tickets, a switchable ticket ``mode``."""

    def __init__(self, platform: FakePlatform) -> None:
        self.platform = platform
        self.generation = 1
        self.valid_access = {"a1"}
        self.refresh_token: str | None = "r1"
        self.ticket_mode = "ok"  # ok | 401 | 500 | network | gate
        self.gate = asyncio.Event()
        self.tickets = 0
        self.refresh_mode = "ok"  # ok | network | 500
        self.ping_interval: float | None = None  # what the ticket answer announces
        http = platform.http
        http.route("POST", "/v1/auth/login", self.login)
        http.route("POST", "/v1/auth/refresh", self.refresh)
        http.route("POST", "/v1/auth/logout", lambda req: (200, {"ok": True}))
        http.route("POST", "/v1/events/ticket", self.ticket)

    def _pair(self) -> dict[str, Any]:
        self.generation += 1
        access, refresh = f"a{self.generation}", f"r{self.generation}"
        self.valid_access = {access}
        self.refresh_token = refresh
        return {"access_token": access, "refresh_token": refresh, "expires_in": 900,
                "token_type": "bearer"}

    def login(self, req: FakeRequest) -> Any:
        body = req.json_body or {}
        if body.get("username") == "demo" and body.get("password") == "demo":
            return 200, self._pair()
        return 401, error_body("invalid_credentials", "wrong username or password")

    def refresh(self, req: FakeRequest) -> Any:
        if self.refresh_mode == "network":
            raise NetworkError("refused")
        if self.refresh_mode == "500":
            return 500, error_body("internal")
        token = (req.json_body or {}).get("refresh_token")
        if token != self.refresh_token:
            self.refresh_token = None  # reuse revokes the session
            self.valid_access = set()
            return 401, error_body("refresh_reused", "refresh token reused")
        return 200, self._pair()

    def expire_access(self) -> None:
        self.valid_access = set()

    async def ticket(self, req: FakeRequest) -> Any:
        if self.ticket_mode == "network":
            raise NetworkError("connection refused")
        if self.ticket_mode == "500":
            return 503, error_body("unavailable")
        if self.ticket_mode == "gate":
            await self.gate.wait()
        if self.ticket_mode == "401" or req.bearer not in self.valid_access:
            return 401, error_body("invalid_token", "access token expired")
        self.tickets += 1
        body: dict[str, Any] = {"ticket": f"t{self.tickets}", "expires_in": 30}
        if self.ping_interval is not None:
            body["ping_interval"] = self.ping_interval
        return 200, body


def logged_in_storage() -> dict[str, str]:
    return {STORAGE_KEY: TokenState("a1", "r1", 0).to_json()}


class Tab:
    """One fake browser tab: platform, server, auth and (lazily) the SSE client."""

    def __init__(self, *, logged_in: bool = True, seed: int = 0, **platform_kw: Any) -> None:
        storage = logged_in_storage() if logged_in else {}
        self.platform = FakePlatform(seed=seed, storage=storage, **platform_kw)
        self.server = FakeServer(self.platform)
        self.auth = AuthClient(self.platform)
        self.clients: list[SSEClient] = []

    def client(self, **kw: Any) -> SSEClient:
        c = SSEClient(self.platform, self.auth, **kw)
        self.clients.append(c)
        return c

    async def connected(self, **kw: Any) -> SSEClient:
        """A client whose source is open (status connected)."""
        c = self.client(**kw)
        c.connect()
        await self.platform.settle()
        self.platform.source.open()
        assert c.status == "connected"
        return c

    @property
    def ticket_requests(self) -> int:
        return self.platform.http.count("POST", "/v1/events/ticket")


@pytest.fixture
async def make_tab() -> AsyncIterator[Callable[..., Tab]]:
    tabs: list[Tab] = []

    def factory(**kw: Any) -> Tab:
        tab = Tab(**kw)
        tabs.append(tab)
        return tab

    yield factory
    for tab in tabs:
        for c in tab.clients:
            c.dispose()
        await tab.platform.settle()
        assert tab.platform.crashes == [], "a spawned task raised"


@pytest.fixture
async def tab(make_tab: Callable[..., Tab]) -> Tab:
    return make_tab()


@pytest.fixture(autouse=True)
def _sse_debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="zariz")
