"""Courier routes. Five demo couriers are seeded idempotently at startup."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from server.auth import authenticated
from server.storage import run_db


async def list_couriers(request: Request) -> JSONResponse:
    await authenticated(request)
    db = request.app.state.db
    return JSONResponse({"items": await run_db(db, db.list_couriers)})


routes = [Route("/v1/couriers", list_couriers, methods=["GET"])]
