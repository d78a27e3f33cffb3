"""The auth client: token state, login/refresh/logout, change notifications.

Tokens live in platform storage (``localStorage`` in the browser) under ``zariz.auth`` as
JSON, so every tab of the origin shares one session; another tab's change arrives through
``platform.on_storage`` and is announced to subscribers like a local one.

Usage::

    auth = AuthClient(platform)
    off = auth.subscribe(lambda state: print("token:", state and state.access_token))
    await auth.login("demo", "demo")
    resp = await auth.authorized_request("GET", "/v1/auth/me")
    await auth.logout()
    off()
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from zariz.listeners import Listeners
from zariz.platform import HeadersHook, HttpResponse, NetworkError, Platform
from zariz.sse.normalize import parse_json
from zariz.types import Undo

MAX_EXPIRES_IN_S = 366 * 24 * 3600
STORAGE_KEY = "zariz.auth"

TokenListener = Callable[["TokenState | None"], Any]


# The Web Lock that serializes refreshes across the tabs of one browser.
REFRESH_LOCK = "zariz-auth-refresh"
# After a 409 refresh_superseded: how long to wait for the winning tab's tokens.
SUPERSEDED_POLLS = 20
SUPERSEDED_POLL_S = 0.1


@dataclass(frozen=True)
class TokenState:
    """One session's tokens. ``expires_at`` is the access token's expiry in epoch ms."""

    # Kept out of repr: a logged state (a traceback, a debug line) must not leak them.
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: int = 0
    token_type: str = "bearer"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> TokenState | None:
        """Parse stored state; anything malformed counts as "no session"."""
        if not text:
            return None
        # Depth-guarded: deep JSON is a fatal stack overflow in Pyodide, not an error.
        return cls.from_mapping(parse_json(text))

    @classmethod
    def from_mapping(cls, raw: Any) -> TokenState | None:
        """Build from a decoded object; anything malformed counts as "no session"."""
        if not isinstance(raw, dict):
            return None
        access, refresh = raw.get("access_token"), raw.get("refresh_token")
        if not (isinstance(access, str) and access and isinstance(refresh, str) and refresh):
            return None
        expires_at = raw.get("expires_at", 0)
        token_type = raw.get("token_type", "bearer")
        return cls(
            access,
            refresh,
            expires_at if isinstance(expires_at, int) else 0,
            token_type if isinstance(token_type, str) else "bearer",
        )


class AuthError(Exception):
    """Login failed (bad credentials, validation) or the server answered unexpectedly."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def error_fields(resp: HttpResponse) -> tuple[str, str, Any]:
    """``(code, message, details)`` from the server's ``{"error": {...}}`` body, with
    fallbacks for bodies that are not in that shape (proxies, HTML error pages)."""
    err = resp.body.get("error") if isinstance(resp.body, dict) else None
    if isinstance(err, dict):
        code = err.get("code")
        message = err.get("message")
        return (
            code if isinstance(code, str) else f"http_{resp.status}",
            message if isinstance(message, str) else (resp.text or f"HTTP {resp.status}"),
            err.get("details"),
        )
    return f"http_{resp.status}", resp.text or f"HTTP {resp.status}", None


class AuthClient:
    """Session state plus the three auth calls; see the module docstring for usage."""

    def __init__(
        self,
        platform: Platform,
        *,
        base_url: str = "",
        storage_key: str = STORAGE_KEY,
        login_path: str = "/v1/auth/login",
        refresh_path: str = "/v1/auth/refresh",
        logout_path: str = "/v1/auth/logout",
        logger: logging.Logger | None = None,
    ) -> None:
        if not isinstance(base_url, str):
            raise TypeError("base_url must be a str")
        if not isinstance(storage_key, str) or not storage_key:
            raise ValueError("storage_key must be a non-empty str")
        self._platform = platform
        self._base = base_url.rstrip("/")
        self._key = storage_key
        self._login_path = login_path
        self._refresh_path = refresh_path
        self._logout_path = logout_path
        self._log = logger or logging.getLogger("zariz.auth")
        self._listeners = Listeners[TokenState | None](self._log, "[auth] token listener")
        self._refresh_task: asyncio.Task[bool] | None = None
        self.refresh_requests = 0
        self._state = TokenState.from_json(platform.storage_get(storage_key))
        self._storage_off: Undo | None = platform.on_storage(self._on_storage)

    # --- state ------------------------------------------------------------------------
    @property
    def state(self) -> TokenState | None:
        return self._state

    @property
    def access_token(self) -> str | None:
        return self._state.access_token if self._state else None

    @property
    def is_authenticated(self) -> bool:
        return self._state is not None

    @property
    def subscribers(self) -> int:
        """How many token listeners are registered (strict mode counts them)."""
        return len(self._listeners)

    def subscribe(self, fn: TokenListener) -> Undo:
        """Call ``fn(state)`` (``None`` = logged out) on every change, local or from
        another tab. Returns an idempotent unsubscribe."""
        return self._listeners.add(fn)

    def _set(self, state: TokenState | None, *, persist: bool = True) -> None:
        if state == self._state:
            return
        self._state = state
        if persist:
            if state is None:
                self._platform.storage_remove(self._key)
            else:
                self._platform.storage_set(self._key, state.to_json())
        # One broken listener must not keep the others (e.g. the SSE client) stale.
        self._listeners.emit(state)

    def _on_storage(self, key: str | None, value: str | None) -> None:
        if key is None:  # another tab cleared all storage: our tokens went with it
            self._set(TokenState.from_json(self._platform.storage_get(self._key)), persist=False)
        elif key == self._key:
            self._set(TokenState.from_json(value), persist=False)

    def _from_response(self, resp: HttpResponse) -> TokenState | None:
        body = resp.body if isinstance(resp.body, dict) else {}
        expires_in = body.get("expires_in")
        # A lifetime we cannot use (NaN, 1e400 = inf, true, a year+) means "unknown": 0.
        expires_at = 0
        if (
            isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
            and 0 < expires_in <= MAX_EXPIRES_IN_S
        ):
            expires_at = self._platform.wall_ms() + int(expires_in * 1000)
        return TokenState.from_mapping({**body, "expires_at": expires_at})

    # --- calls --------------------------------------------------------------------------
    async def login(self, username: str, password: str) -> TokenState:
        """Log in and store the tokens; raises :class:`AuthError` on any non-2xx and
        :class:`~zariz.platform.NetworkError` when the server is unreachable."""
        resp = await self._platform.request(
            "POST",
            self._base + self._login_path,
            json_body={"username": username, "password": password},
        )
        state = self._from_response(resp) if resp.ok else None
        if state is None:
            code, message, _ = error_fields(resp)
            raise AuthError(resp.status, code, message)
        self._set(state)
        return state

    async def refresh(self) -> bool:
        """Get a new token pair; True when a fresh access token is in place.

        Single-flight: concurrent callers share one request (refresh tokens rotate, so a
        second parallel request with the same token would be a reuse and revoke the session).
        A 401 (expired, revoked, ``refresh_reused``) logs out; a network error or 5xx keeps
        the session and returns False.
        """
        if self._refresh_task is None or self._refresh_task.done():
            self._refresh_task = asyncio.ensure_future(self._do_refresh())
        # shield: a caller that gets cancelled (the SSE client disconnecting mid-refresh)
        # must not cancel the refresh the other callers are waiting for.
        return await asyncio.shield(self._refresh_task)

    async def _do_refresh(self) -> bool:
        asked_with = self._state  # the pair that was stale when the refresh was asked for
        with_lock = getattr(self._platform, "with_lock", None)
        if with_lock is None:
            return await self._refresh_locked(asked_with)
        # One refresh at a time across every tab of the browser: whoever waited finds the
        # pair the lock holder stored and adopts it, without a request of its own.
        return bool(await with_lock(REFRESH_LOCK, lambda: self._refresh_locked(asked_with)))

    async def _refresh_locked(self, asked_with: TokenState | None) -> bool:
        state = self._state
        if state is None or asked_with is None:
            return False
        stored = TokenState.from_json(self._platform.storage_get(self._key))
        if stored is not None and stored.refresh_token != asked_with.refresh_token:
            # Another tab rotated the pair since we asked (its storage event may or may not
            # have reached us): refreshing again would be a wasted rotation, and with our
            # old token a reuse.
            if stored != self._state:
                self._set(stored, persist=False)
            return True
        self.refresh_requests += 1
        try:
            resp = await self._platform.request(
                "POST",
                self._base + self._refresh_path,
                json_body={"refresh_token": state.refresh_token},
            )
        except NetworkError as exc:
            self._log.warning("[auth] refresh failed: %s", exc)
            return False
        if resp.ok:
            fresh = self._from_response(resp)
            if fresh is not None:
                self._set(fresh)
                return True
            self._log.error("[auth] refresh answered %s without tokens", resp.status)
            return False
        code, message, _ = error_fields(resp)
        if resp.status == 409 and code == "refresh_superseded":
            # Another tab rotated the same pair a moment ago; its answer lands in shared
            # storage any time now. Adopt it instead of logging everybody out.
            return await self._adopt_rotated_pair(state)
        if resp.status in (400, 401, 403):
            self._log.warning("[auth] refresh rejected (%s %s): logged out", resp.status, code)
            if self._state == state:
                self._set(None)
            return False
        self._log.warning("[auth] refresh failed: %s %s %s", resp.status, code, message)
        return False

    async def _adopt_rotated_pair(self, state: TokenState) -> bool:
        for _ in range(SUPERSEDED_POLLS):
            stored = TokenState.from_json(self._platform.storage_get(self._key))
            if stored is not None and stored.refresh_token != state.refresh_token:
                self._log.info("[auth] refresh raced another tab: adopting its new tokens")
                self._set(stored, persist=False)
                return True
            await self._sleep(SUPERSEDED_POLL_S)
        self._log.warning("[auth] refresh superseded but no newer tokens appeared")
        return False

    async def _sleep(self, seconds: float) -> None:
        """Sleep on the platform's timers (the virtual clock in tests)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        cancel = self._platform.schedule(seconds, wake)
        try:
            await future
        finally:
            cancel()

    async def logout(self) -> None:
        """Forget the session locally first (subscribers react at once), then tell the
        server; an unreachable server does not keep us logged in."""
        state = self._state
        if state is None:
            return
        self._set(None)
        try:
            resp = await self._platform.request(
                "POST",
                self._base + self._logout_path,
                headers={"Authorization": f"Bearer {state.access_token}"},
            )
        except NetworkError as exc:
            self._log.warning("[auth] logout request failed: %s", exc)
            return
        if not resp.ok:
            self._log.info("[auth] server logout answered %s", resp.status)

    async def authorized_request(
        self, method: str, url: str, json_body: Any = None, *,
        on_headers: HeadersHook | None = None,
    ) -> HttpResponse:
        """``platform.request`` with ``Authorization: Bearer``; on 401 refreshes once and
        retries once. Without a session it answers a local 401 ``not_authenticated``
        (no request is sent). ``url`` is relative to ``base_url``. ``on_headers`` hears
        each answer's status and headers before its body (a 401's too, then the retry's)."""
        token = self.access_token
        if token is None:
            return _not_authenticated()
        resp = await self._send(method, url, token, json_body, on_headers)
        if resp.status != 401:
            return resp
        if self.access_token == token:
            if not await self.refresh():
                return resp
        # else: the token changed while we waited (another request refreshed): just retry.
        fresh = self.access_token
        if fresh is None:
            return resp
        return await self._send(method, url, fresh, json_body, on_headers)

    def _send(
        self, method: str, url: str, token: str, json_body: Any,
        on_headers: HeadersHook | None = None,
    ) -> Awaitable[HttpResponse]:
        return self._platform.request(
            method,
            self._base + url,
            headers={"Authorization": f"Bearer {token}"},
            json_body=json_body,
            on_headers=on_headers,
        )

    def dispose(self) -> None:
        """Stop following other tabs' storage changes and drop every listener."""
        if self._storage_off is not None:
            self._storage_off()
            self._storage_off = None
        self._listeners.clear()


def _not_authenticated() -> HttpResponse:
    body = {"error": {"code": "not_authenticated", "message": "log in first"}}
    return HttpResponse(401, body, json.dumps(body))


__all__ = ["STORAGE_KEY", "AuthClient", "AuthError", "TokenState", "error_fields"]
