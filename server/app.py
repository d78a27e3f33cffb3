"""``create_app(settings)``: wires storage, security, hub, metrics and routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from server import auth, couriers, openapi, orders, sse, web
from server.config import Settings
from server.db import Database
from server.demo import DEMO_USER, run_demo_traffic, seed_orders
from server.dev import DevReloader
from server.errors import EXCEPTION_HANDLERS
from server.events import create_hub
from server.metrics import Metrics, metrics_endpoint
from server.middleware import SecurityHeadersMiddleware
from server.ratelimit import LoginGuard
from server.security import Security
from server.storage import open_database, run_db

log = logging.getLogger("zariz.app")


async def healthz(request: Request) -> JSONResponse:
    db = request.app.state.db
    await run_db(db, db.event_bounds)  # proves the database answers
    return JSONResponse({"status": "ok"})


async def _client_disconnected(request: Request, exc: Exception) -> Response:
    # The client left (or was cut off by a read timeout) while we read its body: nothing
    # to answer and nothing worth a traceback. uvicorn drops this response.
    return Response(status_code=400)


class ZarizApp(Starlette):
    """Starlette with the security headers outermost: also on the 500 answers that
    Starlette's ServerErrorMiddleware (outside any ``middleware=``) writes."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeadersMiddleware(super().build_middleware_stack())


def _setup_demo_user(settings: Settings, db: Database, security: Security) -> None:
    if settings.demo_enabled:
        db.upsert_user(DEMO_USER, security.hash_password(settings.demo_password or "demo"))
    else:
        # A database that once ran in demo mode must not keep a well-known password.
        db.delete_user(DEMO_USER)


def create_app(settings: Settings) -> Starlette:
    """Build the ASGI app. Opening the database, seeding and the demo user happen here,
    so a constructed app is ready; the lifespan runs the demo traffic and closes the DB."""
    settings = settings.validated()
    db = open_database(settings)
    db.seed_couriers()
    secret = settings.jwt_secret or db.get_or_set_meta("jwt_secret", secrets.token_urlsafe(48))
    security = Security(
        db, secret, access_ttl=settings.access_ttl, refresh_ttl=settings.refresh_ttl,
        ticket_ttl=settings.ticket_ttl, reuse_grace=settings.refresh_reuse_grace,
    )
    _setup_demo_user(settings, db, security)
    seed_orders(db, settings.seed_orders)
    metrics = Metrics()
    hub = create_hub(settings.hub_url, db, queue_size=settings.sse_queue, metrics=metrics)
    dev = DevReloader(settings.root, strict=settings.dev_strict) if settings.dev else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        traffic: asyncio.Task[None] | None = None
        if settings.demo_traffic > 0:
            traffic = asyncio.create_task(
                run_demo_traffic(app.state.orders, settings.demo_traffic)
            )
        await hub.start()
        watcher = asyncio.create_task(dev.run()) if dev is not None else None
        try:
            yield
        finally:
            if dev is not None:
                await dev.stop(watcher)
            if traffic is not None:
                traffic.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await traffic
            hub.close_all("shutdown")
            await hub.aclose()
            db.close()

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        *auth.routes,
        *orders.routes,
        *couriers.routes,
        *sse.routes,
        *openapi.routes,
        *web.routes(settings.root),
    ]
    app = ZarizApp(
        routes=routes,
        exception_handlers={**EXCEPTION_HANDLERS, ClientDisconnect: _client_disconnected},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.security = security
    app.state.login_guard = LoginGuard(
        user_limit=settings.login_user_limit, addr_limit=settings.login_addr_limit,
        window=settings.login_window, hash_concurrency=settings.hash_concurrency,
        queue=settings.login_queue,
    )
    app.state.metrics = metrics
    app.state.hub = hub
    app.state.dev = dev
    app.state.orders = orders.OrderService(db, hub)
    app.state.bundle_cache = web.BundleCache()
    app.state.snapshots = web.SnapshotIndex()
    return app
