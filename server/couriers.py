"""Courier routes. Five demo couriers are seeded idempotently at startup."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from server.auth import require_principal


async def list_couriers(request: Request) -> JSONResponse:
    require_principal(request)
    return JSONResponse({"items": request.app.state.db.list_couriers()})


routes = [Route("/v1/couriers", list_couriers, methods=["GET"])]
