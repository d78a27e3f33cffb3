"""The OpenAPI document of the REST API, served at ``GET /openapi.json``."""

from __future__ import annotations

from starlette.routing import Route

routes: list[Route] = []
