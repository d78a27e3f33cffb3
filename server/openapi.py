"""The OpenAPI document of the REST API, served at ``GET /openapi.json``.

Request bodies and the orders list query come from the pydantic models that validate
them (``server.orders``, ``server.auth``), so the document cannot drift from what the
server accepts. Responses are described by the small models below; nothing on the server
uses them, so ``tests/server/test_schemathesis.py`` checks real answers against them.

Usage::

    document = build_document()          # a plain dict, OpenAPI 3.1
    document["paths"]["/v1/orders"]["get"]["parameters"]
"""

from __future__ import annotations

import functools
import re
from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from server import auth, couriers, orders, sse
from server.auth import LoginBody, RefreshBody
from server.orders import (
    EVENT_ID_HEADER,
    NEXT_BEFORE_HEADER,
    STATUSES,
    AssignBody,
    ListQuery,
    OrderCreate,
    OrderPatch,
    Status,
    StatusBody,
)

OPENAPI_VERSION = "3.1.0"  # pydantic writes JSON Schema 2020-12, the dialect of 3.1
REF = "#/components/schemas/{model}"
# SQLite INTEGER is a signed 64-bit value: no order or event id lies beyond it.
MAX_ID = 2**63 - 1


# -- response models (documentation only; checked against the server by tests) -----------


class Order(BaseModel):
    id: int
    customer: str
    phone: str
    address: str
    notes: str | None
    status: Status
    courier_id: int | None
    created_at: str = Field(description="UTC, ISO 8601 with milliseconds and `Z`.")
    updated_at: str


class OrderList(BaseModel):
    items: list[Order]
    total: int = Field(description="Orders matching the status filter, all pages.")
    limit: int
    offset: int
    last_event_id: int = Field(
        description="The event id this snapshot was read at (also the "
        f"`{EVENT_ID_HEADER}` header): apply only events after it."
    )


class OrderCounts(BaseModel):
    new: int
    assigned: int
    picked_up: int
    delivered: int
    cancelled: int


class OrderStats(BaseModel):
    counts: OrderCounts
    total: int
    last_event_id: int = Field(description="The event id all counts were read at.")


class Deleted(BaseModel):
    ok: Literal[True]
    id: int


class Courier(BaseModel):
    id: int
    name: str
    phone: str
    active: bool


class CourierList(BaseModel):
    items: list[Courier]


class TokenPair(BaseModel):
    access_token: str = Field(description="A JWT for the `Authorization: Bearer` header.")
    refresh_token: str = Field(description="Single use: POST /v1/auth/refresh rotates it.")
    expires_in: int = Field(description="Seconds the access token lives.")
    token_type: Literal["Bearer"]


class Me(BaseModel):
    username: str


class Ok(BaseModel):
    ok: Literal[True]


class Ticket(BaseModel):
    ticket: str = Field(description="Single use, for `GET /v1/events/sse?ticket=`.")
    expires_in: int = Field(description="Seconds until the ticket expires.")
    ping_interval: float = Field(description="Seconds between `ping` events (0 = none).")


class ErrorDetail(BaseModel):
    code: str = Field(pattern=r"^[a-z_]+$", description="Stable, machine-readable.")
    message: str = Field(min_length=1, description="For people: what was wrong.")
    details: Any = Field(None, description="e.g. pydantic's list of field errors.")


class Error(BaseModel):
    error: ErrorDetail


# -- building blocks ---------------------------------------------------------------------


class _Components:
    """Collects ``components.schemas`` while the paths refer to models."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def ref(self, model: type[BaseModel]) -> dict[str, Any]:
        name = model.__name__
        if name not in self.schemas:
            schema = model.model_json_schema(ref_template=REF)
            self.schemas.update(schema.pop("$defs", {}))
            self.schemas[name] = schema
        return {"$ref": REF.format(model=name)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """One query parameter per field; ``X | None`` becomes an optional ``X`` (a query
    string cannot say null: the parameter is simply left out)."""
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", ()))
    parameters = []
    for name, field in schema["properties"].items():
        field = dict(field)
        field.pop("title", None)
        branches = [b for b in field.pop("anyOf", []) if b.get("type") != "null"]
        if len(branches) == 1:
            field.update(branches[0])
        elif branches:
            field["anyOf"] = branches
        if field.get("default", 0) is None:
            del field["default"]
        parameters.append(
            {"name": name, "in": "query", "required": name in required, "schema": field}
        )
    return parameters


ORDER_ID = {
    "name": "order_id", "in": "path", "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Retry-safe POST: a retry with the same key and body gets the stored "
                   "answer (no second change); the same key with another body is 422. "
                   "Per user, kept 24 h.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]+$"},
}
REPLAYED_RESPONSE_HEADER = {
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request.",
        "schema": {"type": "string", "enum": ["true"]},
    }
}

EVENT_ID_RESPONSE_HEADER = {
    EVENT_ID_HEADER: {
        "description": "Same as the body's `last_event_id`.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}

LIST_RESPONSE_HEADERS = {
    **EVENT_ID_RESPONSE_HEADER,
    NEXT_BEFORE_HEADER: {
        "description": "On a full page read by key (no `offset`): the `before_id` of the "
                       "next page, so a client can ask for it before this body is read.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
}

RETRY_AFTER = {
    "Retry-After": {"required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}
}
ERRORS: dict[str, tuple[str, dict[str, Any]]] = {
    "400": ("Malformed request: the body is not JSON, or a header/query value is unusable.", {}),
    "401": (
        "Missing, invalid or expired credentials.",
        {"WWW-Authenticate": {"schema": {"type": "string"}}},
    ),
    "404": ("No such order.", {}),
    "409": ("Conflicts with the current state (e.g. a status transition not allowed).", {}),
    "413": ("The body is larger than the server's limit.", {}),
    "422": ("The body or query does not match the schema; `details` lists the fields.", {}),
    "429": ("Too many failed attempts; retry after `Retry-After` seconds.", RETRY_AFTER),
    "503": ("Busy (too many logins hashing); retry after `Retry-After` seconds.", RETRY_AFTER),
}


def _operation(
    components: _Components, summary: str, ok: tuple[str, dict[str, Any]],
    errors: tuple[str, ...], *, body: type[BaseModel] | None = None,
    parameters: list[dict[str, Any]] | None = None, public: bool = False,
    ok_headers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    status, content = ok
    responses: dict[str, Any] = {status: {"description": "Success.", "content": content}}
    if ok_headers:
        responses[status]["headers"] = ok_headers
    for code in errors:
        responses[code] = {"$ref": f"#/components/responses/E{code}"}
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(components.ref(body))}
        # Every body is read the same way (server.bodies.read_model).
        for code in ("400", "413", "422"):
            responses.setdefault(code, {"$ref": f"#/components/responses/E{code}"})
    if public:
        operation["security"] = []
    else:
        responses.setdefault("401", {"$ref": "#/components/responses/E401"})
    operation["responses"] = dict(sorted(responses.items()))
    return operation


@functools.cache
def build_document() -> dict[str, Any]:
    """The OpenAPI document (built once; callers must not mutate it)."""
    c = _Components()

    def ok(model: type[BaseModel], status: str = "200") -> tuple[str, dict[str, Any]]:
        return status, _json(c.ref(model))

    by_id = [ORDER_ID]
    paths: dict[str, dict[str, Any]] = {
        "/v1/auth/login": {"post": _operation(
            c, "Log in: an access and a refresh token.", ok(TokenPair), ("401", "429", "503"),
            body=LoginBody, public=True,
        )},
        "/v1/auth/refresh": {"post": _operation(
            c, "Rotate the refresh token (single use) for a new pair.", ok(TokenPair),
            ("401", "409"), body=RefreshBody, public=True,
        )},
        "/v1/auth/logout": {"post": _operation(
            c, "Revoke this session and close its event streams.", ok(Ok), (),
        )},
        "/v1/auth/me": {"get": _operation(c, "Who the token belongs to.", ok(Me), ())},
        "/v1/orders": {
            "get": _operation(
                c, "A page of orders, newest first, with its event-log position.",
                ok(OrderList), ("400", "422"), parameters=_query_parameters(ListQuery),
                ok_headers=LIST_RESPONSE_HEADERS,
            ),
            "post": _operation(
                c, "Create an order (status `new`).", ok(Order, "201"), (), body=OrderCreate,
                parameters=[IDEMPOTENCY_KEY], ok_headers=REPLAYED_RESPONSE_HEADER,
            ),
        },
        "/v1/orders/stats": {"get": _operation(
            c, "Order counts per status, read at one event-log position.", ok(OrderStats), (),
            ok_headers=EVENT_ID_RESPONSE_HEADER,
        )},
        "/v1/orders/{order_id}": {
            "get": _operation(c, "One order.", ok(Order), ("404",), parameters=by_id),
            "patch": _operation(
                c, "Change customer, phone, address or notes (absent fields are kept).",
                ok(Order), ("404",), body=OrderPatch, parameters=by_id,
            ),
            "delete": _operation(c, "Delete an order.", ok(Deleted), ("404",), parameters=by_id),
        },
        "/v1/orders/{order_id}/assign": {"post": _operation(
            c, "Assign an active courier (order `new` or `assigned`).", ok(Order),
            ("404", "409"), body=AssignBody, parameters=[*by_id, IDEMPOTENCY_KEY],
            ok_headers=REPLAYED_RESPONSE_HEADER,
        )},
        "/v1/orders/{order_id}/status": {"post": _operation(
            c, "Move the order along " + " -> ".join(STATUSES[:4]) + ", or cancel it.",
            ok(Order), ("404", "409"), body=StatusBody, parameters=[*by_id, IDEMPOTENCY_KEY],
            ok_headers=REPLAYED_RESPONSE_HEADER,
        )},
        "/v1/couriers": {"get": _operation(c, "All couriers.", ok(CourierList), ())},
        "/v1/events/ticket": {"post": _operation(
            c, "A short-lived single-use ticket for opening an event stream.", ok(Ticket), (),
        )},
        "/v1/events/sse": {"get": _sse_operation()},
    }
    names = _endpoint_names()
    for path, item in paths.items():
        for method, operation in item.items():
            # The handler's name: unique, stable, and greppable from the document.
            operation["operationId"] = names.get((method, path), f"{method}_{path}")
    # An answer that is an order links to the operations on that order (OpenAPI links:
    # tools such as schemathesis follow them from a create to real orders).
    on_order = [
        paths[path][method]["operationId"]
        for path in ("/v1/orders/{order_id}", "/v1/orders/{order_id}/assign",
                     "/v1/orders/{order_id}/status")
        for method in paths[path]
    ]
    order_ref = _json(c.ref(Order))
    for item in paths.values():
        for operation in item.values():
            for answer in operation["responses"].values():
                if answer.get("content") == order_ref:
                    answer["links"] = {
                        name: {"operationId": name,
                               "parameters": {"order_id": "$response.body#/id"}}
                        for name in on_order
                    }
    error_responses = {
        f"E{code}": {
            "description": text,
            "content": _json(c.ref(Error)),
            **({"headers": headers} if headers else {}),
        }
        for code, (text, headers) in ERRORS.items()
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Zariz admin API",
            "version": "1",
            "description": "Errors are always JSON: "
            '`{"error": {"code": ..., "message": ..., "details": ...}}`.',
        },
        "paths": paths,
        "security": [{"bearer": []}],
        "components": {
            "schemas": dict(sorted(c.schemas.items())),
            "responses": error_responses,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "ticket": {
                    "type": "apiKey", "in": "query", "name": "ticket",
                    "description": "From POST /v1/events/ticket; single use, seconds long.",
                },
            },
        },
    }


def openapi_path(route: Route) -> str:
    """``/v1/orders/{order_id:int}`` -> ``/v1/orders/{order_id}``."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)


def _endpoint_names() -> dict[tuple[str, str], str]:
    """``(method, OpenAPI path) -> handler name`` for every route under /v1."""
    names = {}
    for route in (*auth.routes, *orders.routes, *couriers.routes, *sse.routes):
        for method in route.methods or ():
            if method != "HEAD":
                names[(method.lower(), openapi_path(route))] = route.name
    return names


def _sse_operation() -> dict[str, Any]:
    event_id = {"type": "string", "pattern": "^[0-9]*$", "maxLength": 18}
    return {
        "summary": "The event stream (Server-Sent Events).",
        "description": (
            "The first frame is `retry:`, then `event: position` with `id: N` and "
            '`data: {"last_id": N}`: the log position the stream continues after. Then one '
            "frame per order event (`id:` = event id, `data:` = "
            '`{"type", "data", "ts"}`), `event: ping` keep-alives and `event: reset` when '
            "the resume id is unusable. Resume with `Last-Event-ID` (the header wins) or "
            "`?lastEventId=`. Access tokens in the URL are refused."
        ),
        # A ticket (browsers' EventSource cannot send headers) or a Bearer header.
        "security": [{"ticket": []}, {"bearer": []}],
        "parameters": [
            {"name": "lastEventId", "in": "query", "required": False, "schema": event_id},
            {"name": "Last-Event-ID", "in": "header", "required": False, "schema": event_id},
        ],
        "responses": {
            "200": {
                "description": "The stream; it ends when the credential expires, the "
                "session is revoked, the client reads too slowly or the server stops.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            "400": {"$ref": "#/components/responses/E400"},
            "401": {"$ref": "#/components/responses/E401"},
        },
    }


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(build_document())


routes: list[Route] = [Route("/openapi.json", openapi_json, methods=["GET"])]
