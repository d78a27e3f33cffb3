"""Reading request bodies: size limit (413), JSON (400) and pydantic validation (422)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from server.errors import ApiError

ModelT = TypeVar("ModelT", bound=BaseModel)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"Request body exceeds {limit} bytes.")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing early on ``Content-Length`` and again while streaming
    (a chunked or lying client is cut off at ``limit`` bytes)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """pydantic's error list, guaranteed JSON-serialisable (no exception objects)."""
    return json.loads(exc.json(include_url=False))  # type: ignore[no-any-return]


def validate(model: type[ModelT], data: Any) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(
            422, "validation_error", "The request is not valid.", validation_details(exc)
        ) from exc


async def read_model(request: Request, model: type[ModelT]) -> ModelT:
    limit: int = request.app.state.settings.max_body
    raw = await read_body(request, limit)
    try:
        data = json.loads(raw) if raw.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"Malformed JSON body: {exc}.") from exc
    if not isinstance(data, dict):
        raise ApiError(422, "validation_error", "The request body must be a JSON object.")
    return validate(model, data)
