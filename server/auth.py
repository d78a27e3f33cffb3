"""Auth routes (login, refresh, logout, me) and the Bearer-token guard used by all APIs."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from server.bodies import read_model
from server.errors import ApiError, unauthorized
from server.ratelimit import LoginBusy, LoginGuard, LoginThrottled, address_key
from server.security import AuthError, Principal, Security
from server.storage import run_db


# hide_input_in_errors: a ValidationError's text (a traceback, a log line, a debugger)
# must never carry the password or token it refused; ``read_model`` already answers
# without the input, this keeps it out of every other place the error might reach.
class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    username: Annotated[str, Field(min_length=1, max_length=100)]
    password: Annotated[str, Field(min_length=1, max_length=1000)]


class RefreshBody(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    refresh_token: Annotated[str, Field(min_length=1, max_length=200)]


def count_auth_failure(request: Request, endpoint: str) -> None:
    request.app.state.metrics.auth_failures.labels(endpoint=endpoint).inc()


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def require_principal(request: Request, endpoint: str = "api") -> Principal:
    """The caller of a Bearer-authenticated route, or a 401 ``unauthorized``.

    Synchronous: it reads the session from the database on the calling thread. Async
    routes use :func:`authenticated`, which keeps that read off the event loop."""
    token = bearer_token(request)
    security: Security = request.app.state.security
    try:
        if token is None:
            raise AuthError("unauthorized", "Missing Bearer token.")
        return security.authenticate(token)
    except AuthError as exc:
        count_auth_failure(request, endpoint)
        raise unauthorized(exc.message) from exc


async def authenticated(request: Request, endpoint: str = "api") -> Principal:
    """:func:`require_principal` for async routes: the token check and the session read
    go through ``run_db`` (inline for SQLite, a worker thread for PostgreSQL)."""
    token = bearer_token(request)
    security: Security = request.app.state.security
    try:
        if token is None:
            raise AuthError("unauthorized", "Missing Bearer token.")
        return await run_db(request.app.state.db, security.authenticate, token)
    except AuthError as exc:
        count_auth_failure(request, endpoint)
        raise unauthorized(exc.message) from exc


async def login(request: Request) -> JSONResponse:
    """Throttled before any hashing (see ``server.ratelimit``): 429 + ``Retry-After`` per
    username and per address, 503 + ``Retry-After`` when the hashing queue is full."""
    body = await read_model(request, LoginBody)
    security: Security = request.app.state.security
    guard: LoginGuard = request.app.state.login_guard
    address = address_key(request.client.host if request.client else None)
    try:
        guard.reserve(body.username, address)
    except LoginThrottled as exc:
        count_auth_failure(request, "login_throttled")
        raise ApiError(
            429, "too_many_attempts",
            f"Too many failed logins; try again in {exc.retry_after_header} s.",
            headers={"Retry-After": exc.retry_after_header},
        ) from exc
    try:
        # argon2 is deliberately slow and memory-hungry: a bounded number of worker
        # threads, never the event loop.
        pair = await guard.run(security.login, body.username, body.password)
    except LoginBusy as exc:
        guard.forgive(body.username, address)  # the server's limit, not the user's fault
        raise ApiError(
            503, "login_busy", "Too many logins in progress; try again shortly.",
            headers={"Retry-After": "1"},
        ) from exc
    except AuthError as exc:
        count_auth_failure(request, "login")
        raise ApiError(401, exc.code, exc.message) from exc
    guard.forgive(body.username, address)
    return JSONResponse(pair)


async def refresh(request: Request) -> JSONResponse:
    body = await read_model(request, RefreshBody)
    security: Security = request.app.state.security
    try:
        pair = await run_db(request.app.state.db, security.refresh, body.refresh_token)
    except AuthError as exc:
        if exc.code != "refresh_superseded":  # a benign race between tabs, not a failure
            count_auth_failure(request, "refresh")
        if exc.revoked_session is not None:
            request.app.state.hub.disconnect_session(exc.revoked_session)
        status = 409 if exc.code == "refresh_superseded" else 401
        raise ApiError(status, exc.code, exc.message) from exc
    return JSONResponse(pair)


async def logout(request: Request) -> JSONResponse:
    principal = await authenticated(request)
    await run_db(request.app.state.db, request.app.state.security.logout, principal)
    request.app.state.hub.disconnect_session(principal.session_id)
    return JSONResponse({"ok": True})


async def me(request: Request) -> JSONResponse:
    principal = await authenticated(request)
    return JSONResponse({"username": principal.username})


routes = [
    Route("/v1/auth/login", login, methods=["POST"]),
    Route("/v1/auth/refresh", refresh, methods=["POST"]),
    Route("/v1/auth/logout", logout, methods=["POST"]),
    Route("/v1/auth/me", me, methods=["GET"]),
]
