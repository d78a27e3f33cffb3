"""Reading requests safely: body size (413), JSON (400), pydantic validation (422), and
the query string's size (400).

Hostile input is refused here, before any handler or SQL sees it, and never with a 500:

* JSON nested deeper than :data:`MAX_JSON_DEPTH` (Python's parser raises RecursionError
  near 1,000 levels) - found by a scan that costs one regex pass, before parsing;
* ``NaN``/``Infinity`` (not JSON, and not encodable in an answer) and floats that
  overflow to infinity (``1e999``);
* integers outside SQLite's 64 bits (``OverflowError`` at the first query), checked by
  their digit count first, so a 5,000-digit number never reaches ``int()`` (which has a
  limit of 4,300 digits and raises ``ValueError``);
* lone surrogates (``"\\ud800"``), which no UTF-8 answer, log line or SQLite row can hold;
* NUL characters (``"\\u0000"``), which no PostgreSQL text column can hold.

Validation errors never echo the input back (it may be a password, huge, or not
encodable): ``details`` has each error's type, location and message only.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from server.errors import ApiError

ModelT = TypeVar("ModelT", bound=BaseModel)

MAX_JSON_DEPTH = 64
"""Arrays/objects nested deeper than this are refused (ours nest 1 deep); a module
constant rather than a setting: no deployment needs another value."""

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
_INT64_DIGITS = 19  # len(str(INT64_MAX)): more digits is out of range whatever they are

MAX_QUERY_BYTES = 2048
"""A longer query string is refused before it is parsed: ours are a few short values
(a status, numbers, a 43-character ticket)."""

MAX_ECHO = 60
"""At most this many characters of a client's value appear in an error message."""

_ERROR_TEXT = 200  # pydantic messages and locations are cut to this in ``details``

# The characters that matter for nesting: brackets, and quotes/backslashes to skip
# strings (which may hold brackets). One pass over these only, in linear time.
_STRUCTURE = re.compile(r'["\\\[\]{}]')


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"Request body exceeds {limit} bytes.")


def clip(value: str, limit: int = MAX_ECHO) -> str:
    """``value`` safe to put in an error message: at most ``limit`` characters, and
    encodable as UTF-8 (lone surrogates become ``?``)."""
    if len(value) > limit:
        value = value[:limit] + "…"
    return value.encode("utf-8", "replace").decode("utf-8")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing early on ``Content-Length`` and again while streaming
    (a chunked or lying client is cut off at ``limit`` bytes)."""
    declared = request.headers.get("content-length", "")
    # ASCII digits only (``str.isdigit`` accepts "²", which int() refuses), and judged
    # by length first: a 5,000-digit length is too large without converting it.
    if re.fullmatch(r"[0-9]+", declared) and (len(declared) > 18 or int(declared) > limit):
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


class _Refused(Exception):
    """Raised from inside ``json.loads`` hooks; carries the answer."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


def _invalid_json(message: str) -> ApiError:
    return ApiError(400, "invalid_json", message)


def _out_of_range(message: str) -> ApiError:
    return ApiError(422, "number_out_of_range", message)


def _refuse_constant(name: str) -> NoReturn:
    raise _Refused(_invalid_json(f"{name} is not a JSON number; send a finite number."))


def _parse_int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits <= _INT64_DIGITS:
        value = int(text)
        if INT64_MIN <= value <= INT64_MAX:
            return value
    raise _Refused(_out_of_range(
        f"Integers must be between -2^63 and 2^63-1; got one of {digits} digits."
    ))


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(_out_of_range(f"Number out of range: {clip(text)}."))
    return value


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``text`` nests arrays/objects more than ``limit`` deep (brackets inside
    strings do not count). On malformed JSON the answer may be off; json.loads refuses
    such a body anyway."""
    if text.count("[") + text.count("{") <= limit:
        return False  # the common case: not even that many brackets
    depth = 0
    in_string = False
    escaped = -1  # the index of a character escaped by a backslash
    for match in _STRUCTURE.finditer(text):
        index, char = match.start(), match.group()
        if index == escaped:
            continue
        if in_string:
            if char == "\\":
                escaped = index + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _bad_string(data: Any) -> str | None:
    """Why a string of ``data`` (object keys included) cannot be stored: a lone surrogate
    (UTF-8 cannot encode it) or a NUL character (no PostgreSQL text column holds one);
    ``None`` when every string can. Iterative, and the depth is already bounded."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "Strings must not contain NUL characters (\\u0000)."
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return ("Strings must be valid Unicode: the body has a lone surrogate escape "
                        "(\\ud800-\\udfff without its pair).")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def parse_json(raw: bytes) -> Any:
    """``raw`` as JSON, or an :class:`ApiError` (400/422) for anything hostile."""
    try:
        text = raw.decode("utf-8-sig")  # a BOM is tolerated, as RFC 8259 allows
    except UnicodeDecodeError as exc:
        raise _invalid_json(f"The body is not UTF-8 (byte {exc.start}).") from None
    if not text.strip():
        return None
    if json_depth_exceeds(text):
        raise _invalid_json(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
    try:
        data = json.loads(
            text, parse_constant=_refuse_constant, parse_int=_parse_int,
            parse_float=_parse_float,
        )
    except _Refused as refused:
        raise refused.error from None
    except json.JSONDecodeError as exc:
        raise _invalid_json(
            f"Malformed JSON body: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from None
    except (RecursionError, ValueError):  # the depth scan should have caught it first
        raise _invalid_json("Malformed JSON body.") from None
    reason = _bad_string(data)
    if reason is not None:
        raise _invalid_json(reason)
    return data


def _safe_context(ctx: dict[str, Any]) -> dict[str, Any]:
    safe: dict[str, Any] = {}
    for key, value in ctx.items():
        if isinstance(value, bool | int) and INT64_MIN <= value <= INT64_MAX:
            safe[key] = value
        elif isinstance(value, float) and math.isfinite(value):
            safe[key] = value
        else:
            safe[key] = clip(str(value), _ERROR_TEXT)
    return safe


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """pydantic's errors without the input (a password, 60 KB of text, a NaN or a lone
    surrogate must never be echoed or logged) and with client-chosen names clipped:
    always JSON-serialisable."""
    details = []
    for error in exc.errors(include_url=False, include_input=False):
        item: dict[str, Any] = {
            "type": error["type"],
            "loc": [
                part if isinstance(part, int) else clip(str(part), _ERROR_TEXT)
                for part in error["loc"]
            ],
            "msg": clip(error["msg"], _ERROR_TEXT),
        }
        if error.get("ctx"):
            item["ctx"] = _safe_context(error["ctx"])
        details.append(item)
    return details


def validate(model: type[ModelT], data: Any, message: str = "The request is not valid.") -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # ``from None``: a ValidationError's text holds the input (``input_value=...``);
        # chained, it would reach any traceback logged further up.
        raise ApiError(422, "validation_error", message, validation_details(exc)) from None


def read_query(request: Request, model: type[ModelT]) -> ModelT:
    """The query string validated by ``model``; an oversized one is refused unread."""
    check_query_size(request)
    return validate(model, dict(request.query_params), "Invalid query parameters.")


def check_query_size(request: Request) -> None:
    size = len(request.scope.get("query_string", b""))
    if size > MAX_QUERY_BYTES:
        raise ApiError(
            400, "query_too_long",
            f"The query string has {size} bytes; at most {MAX_QUERY_BYTES} are accepted.",
        )


async def read_model(request: Request, model: type[ModelT]) -> ModelT:
    limit: int = request.app.state.settings.max_body
    data = parse_json(await read_body(request, limit))
    if not isinstance(data, dict):
        raise ApiError(422, "validation_error", "The request body must be a JSON object.")
    return validate(model, data)
