"""The OpenAPI document: served, valid OpenAPI 3.1, and the same API as the routes."""

from __future__ import annotations

import copy
import pathlib
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from pydantic import BaseModel
from starlette.routing import Route

from server.app import create_app
from server.auth import LoginBody, RefreshBody
from server.config import Settings
from server.openapi import REF, build_document, openapi_path
from server.orders import AssignBody, ListQuery, OrderCreate, OrderPatch, StatusBody
from tests.server.app_client import AppClient

METHODS = {"get", "post", "put", "patch", "delete"}
BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("post", "/v1/auth/login"): LoginBody,
    ("post", "/v1/auth/refresh"): RefreshBody,
    ("post", "/v1/orders"): OrderCreate,
    ("patch", "/v1/orders/{order_id}"): OrderPatch,
    ("post", "/v1/orders/{order_id}/assign"): AssignBody,
    ("post", "/v1/orders/{order_id}/status"): StatusBody,
}


@pytest.fixture
def client(tmp_path: pathlib.Path) -> Iterator[AppClient]:
    client = AppClient(create_app(Settings(db_path=tmp_path / "zariz.db", root=tmp_path)))
    yield client
    client.close()


def route_operations(client: AppClient) -> set[tuple[str, str]]:
    """``(method, OpenAPI path)`` of every Starlette route under /v1."""
    found = set()
    for route in client.app.routes:
        if isinstance(route, Route) and route.path.startswith("/v1/"):
            path = openapi_path(route)
            found |= {(m.lower(), path) for m in route.methods or () if m != "HEAD"}
    return found


def document_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def assert_valid_openapi(document: dict[str, Any]) -> None:
    # Schemathesis validates the document against the OpenAPI 3.1 meta-schema (that one
    # leaves the JSON Schemas inside unchecked: each is checked against 2020-12 below).
    schemathesis.openapi.from_dict(copy.deepcopy(document)).validate()
    for schema in document["components"]["schemas"].values():
        jsonschema_rs.meta.validate(schema)  # raises jsonschema_rs.ValidationError


def test_openapi_json_is_served_and_valid(client: AppClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document == build_document()
    assert document["openapi"].startswith("3.1")
    assert_valid_openapi(document)


def test_an_invalid_document_is_refused() -> None:
    """The validity check above can fail: a broken document does not pass it."""
    broken = copy.deepcopy(build_document())
    broken["paths"]["/v1/couriers"]["get"]["responses"] = "none"
    with pytest.raises(jsonschema_rs.ValidationError):
        assert_valid_openapi(broken)
    broken = copy.deepcopy(build_document())
    broken["components"]["schemas"]["Order"]["type"] = "record"
    with pytest.raises(jsonschema_rs.ValidationError):
        assert_valid_openapi(broken)


def test_every_v1_route_is_documented_and_nothing_else(client: AppClient) -> None:
    routes = route_operations(client)
    documented = document_operations(build_document())
    assert routes - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routes == set(), "documented operations without a route"


def test_request_schemas_are_the_validating_models() -> None:
    """Bodies and the list query come from the pydantic models that validate them."""
    document = build_document()
    schemas = document["components"]["schemas"]
    for (method, path), model in BODIES.items():
        body = document["paths"][path][method]["requestBody"]["content"]["application/json"]
        assert body["schema"] == {"$ref": REF.format(model=model.__name__)}
        assert schemas[model.__name__] == model.model_json_schema(ref_template=REF)
    with_body = {
        (method, path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS and "requestBody" in operation
    }
    assert with_body == set(BODIES)
    parameters = document["paths"]["/v1/orders"]["get"]["parameters"]
    assert [p["name"] for p in parameters] == list(ListQuery.model_fields)
    limit = next(p for p in parameters if p["name"] == "limit")["schema"]
    assert (limit["minimum"], limit["maximum"]) == (1, 2500)


def test_real_errors_match_the_documented_error_shape(client: AppClient) -> None:
    document = build_document()
    validator = jsonschema_rs.validator_for(
        {"$ref": "#/components/schemas/Error", "components": document["components"]}
    )
    token = client.post("/v1/auth/login", json={"username": "demo", "password": "demo"})
    auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
    answers = [
        client.get("/v1/orders"),  # 401
        client.get("/v1/orders/999", headers=auth),  # 404
        client.post("/v1/orders", headers=auth, json={"customer": ""}),  # 422 with details
        client.post("/v1/orders", headers=auth, content=b"{"),  # 400
    ]
    assert [a.status_code for a in answers] == [401, 404, 422, 400]
    for answer in answers:
        validator.validate(answer.json())
        assert answer.headers["content-type"] == "application/json"
    assert answers[0].headers["www-authenticate"] == "Bearer"
    # A body that lacks the envelope is refused, so the validation above means something.
    assert not validator.is_valid({"code": "x", "message": "y"})


def test_every_operation_documents_its_errors_and_security() -> None:
    document = build_document()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert any(code.startswith("2") for code in responses), (method, path)
            public = operation.get("security") == []
            assert public or "401" in responses, f"{method} {path}: no 401 documented"
            if "requestBody" in operation:
                assert {"400", "413", "422"} <= set(responses), f"{method} {path}"
            if "{order_id}" in path:
                assert "404" in responses, f"{method} {path}: no 404 documented"
    public = {
        (method, path) for path, item in document["paths"].items()
        for method, operation in item.items() if operation.get("security") == []
    }
    assert public == {("post", "/v1/auth/login"), ("post", "/v1/auth/refresh")}
    operation_ids = [
        operation["operationId"] for item in document["paths"].values()
        for operation in item.values()
    ]
    assert len(set(operation_ids)) == len(operation_ids), "operationIds must be unique"
    links = document["paths"]["/v1/orders"]["post"]["responses"]["201"]["links"]
    assert {link["operationId"] for link in links.values()} == {
        "get_order", "patch_order", "delete_order", "assign_order", "change_status"
    } <= set(operation_ids)
    sse = document["paths"]["/v1/events/sse"]["get"]
    assert "text/event-stream" in sse["responses"]["200"]["content"]
    assert {p["name"] for p in sse["parameters"]} == {"lastEventId", "Last-Event-ID"}
    assert document["components"]["securitySchemes"]["ticket"]["name"] == "ticket"
