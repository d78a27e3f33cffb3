"""Orders: request models, the status machine, the service (mutation + event + publish),
and the REST routes. The demo traffic goes through the same service."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.auth import authenticated
from server.bodies import INT64_MAX, clip, read_model, read_query
from server.db import (
    Database,
    Event,
    IdempotencyConflict,
    IdempotencyKey,
    NotFound,
    StaleStatus,
    StoredResponse,
)
from server.errors import ApiError
from server.events import EventHub, MemoryHub
from server.phones import EXAMPLE as PHONE_EXAMPLE
from server.phones import RULE as PHONE_RULE
from server.phones import validate_phone
from server.security import Principal
from server.storage import run_db

log = logging.getLogger("zariz.orders")
T = TypeVar("T")

Status = Literal["new", "assigned", "picked_up", "delivered", "cancelled"]
STATUSES: tuple[str, ...] = ("new", "assigned", "picked_up", "delivered", "cancelled")
# new -> assigned -> picked_up -> delivered; cancelled from any non-final state.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"assigned", "cancelled"}),
    "assigned": frozenset({"picked_up", "cancelled"}),
    "picked_up": frozenset({"delivered", "cancelled"}),
    "delivered": frozenset(),
    "cancelled": frozenset(),
}

Customer = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# The length check runs first, so phonenumbers never parses a long string; the value
# is then stored in its canonical form (server.phones says which numbers and why).
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
    AfterValidator(validate_phone),
    Field(
        description="An Israeli mobile, landline or 07X number in any common form "
        "(050-1234567, 0501234567, +972-50-123-4567, +972501234567), stored as "
        f"{PHONE_EXAMPLE}. Anything else is a 422 whose detail has type `invalid_phone` "
        f"and the message: {PHONE_RULE}",
        examples=[PHONE_EXAMPLE, "+972-3-555-0101"],
    ),
]
Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Notes = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer: Customer
    phone: Phone
    address: Address
    notes: Notes | None = None


class OrderPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Defaults are not validated, so an explicit null for a required column is a 422
    # while an absent field means "leave it"; ``model_fields_set`` tells them apart.
    customer: Customer = None  # type: ignore[assignment]
    phone: Phone = None  # type: ignore[assignment]
    address: Address = None  # type: ignore[assignment]
    notes: Notes | None = None


# Ids and offsets are SQLite INTEGERs: signed 64-bit (a larger value made sqlite3 raise
# OverflowError, a 500).
Id64 = Annotated[int, Field(ge=1, le=INT64_MAX)]


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    courier_id: Annotated[int, Field(ge=1, le=INT64_MAX, strict=True)]


class StatusBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Status


MAX_PAGE = 2500
"""The most orders one ``GET /v1/orders`` returns. The admin loads every order at start,
page after page: 10,000 orders took 21 round trips and ~390 ms at 500 a page, five and
~210 ms at 2,500 (``fetch_all_orders`` alone in the page, medians of 4 alternating runs).
A page of 2,500 typical orders is ~580 KB of JSON (~23 MB with every field at its
longest), encoded a slice at a time (``encode_page``); SQLite reads it on the event loop
(~6 ms for 2,500 typical rows), PostgreSQL in a worker thread."""


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: Status | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 50
    offset: Annotated[int, Field(ge=0, le=INT64_MAX)] = 0
    # Keyset paging: orders with a smaller id (the page after one ending at ``before_id``).
    before_id: Id64 | None = None


EVENT_ID_HEADER = "X-Zariz-Event-Id"

NEXT_BEFORE_HEADER = "X-Zariz-Next-Before-Id"
"""On a full page of ``GET /v1/orders`` read by key (no ``offset``): the ``before_id`` of
the page after it (the page's smallest id). In the headers, so a client can ask for that
page as soon as they arrive, while this one's body still downloads and parses. Absent on
a short page (there is no next one) and with an ``offset``."""

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Visible ASCII, as in the IETF draft's examples (UUIDs, random tokens): no spaces or
# control characters reach the database or a log line.
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")


class _IdConvertor(Convertor[str]):
    """Path ids as ASCII digits, left as text for :func:`_order_id` to range-check.

    Starlette's ``int`` convertor converts any length in the router: a 20-digit id then
    overflowed SQLite, and a 5,000-digit one made ``int()`` raise before any handler
    (both 500s)."""

    regex = "[0-9]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("id64", _IdConvertor())


def invalid_transition(current: str, target: str, hint: str = "") -> ApiError:
    message = f"cannot change status from {current!r} to {target!r}" + (f": {hint}" if hint else "")
    return ApiError(409, "invalid_transition", message, {"from": current, "to": target})


def _not_found(order_id: int) -> ApiError:
    return ApiError(404, "not_found", f"Order {order_id} does not exist.")


GAP_TIMEOUT = 1.0
"""Seconds :class:`OrderedPublisher` holds an event whose predecessor has not come before
reading the missing ids from the event log."""


class OrderedPublisher:
    """Hands events to a hub that publishes what it is given (``MemoryHub``) in id order.

    With a store called from worker threads (``in_loop = False``), two commits can return
    out of order: id 8's request may reach ``publish`` before id 7's. Ids are gap-free, so
    an event is held until every smaller id has been published; one that does not come
    within ``gap_timeout`` s (its request thread died after the commit, or another
    instance committed it) is read from the event log (``events_after``), which holds
    every committed event (retried while the log cannot be read). Ids no longer in the
    log (trimmed) are skipped. Runs on the event loop.
    """

    def __init__(
        self, hub: EventHub, db: Database, *, next_id: int, gap_timeout: float = GAP_TIMEOUT
    ) -> None:
        self.hub = hub
        self.db = db
        self.next_id = next_id  # the smallest id not published yet
        self.gap_timeout = gap_timeout
        self._held: dict[int, Event] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._filling: asyncio.Task[None] | None = None

    @property
    def held(self) -> int:
        return len(self._held)

    def add(self, event: Event) -> None:
        if event.id < self.next_id:
            return  # already published (read from the log while its request was late)
        self._held[event.id] = event
        self._drain()

    def _drain(self) -> None:
        while (event := self._held.pop(self.next_id, None)) is not None:
            self.next_id += 1
            self.hub.publish(event)
        if not self._held:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return
        if self._timer is None and self._filling is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a synchronous caller): the next add drains
                return
            self._timer = loop.call_later(self.gap_timeout, self._start_fill)

    def _start_fill(self) -> None:
        self._timer = None
        self._filling = asyncio.get_running_loop().create_task(self._fill())

    async def _fill(self) -> None:
        try:
            upto = min(self._held)
            cursor = self.next_id - 1
            while cursor + 1 < upto:
                batch = await run_db(
                    self.db, self.db.events_after, cursor, min(1000, upto - 1 - cursor)
                )
                if not batch:
                    break
                for event in batch:
                    if self.next_id <= event.id < upto:
                        self._held.setdefault(event.id, event)
                cursor = batch[-1].id
        except Exception:  # the log is unreachable now: try again after gap_timeout
            log.exception("reading missing events from the log failed")
        else:
            if self._held and self.next_id not in self._held:
                # Not in the log either (trimmed meanwhile): nothing can deliver them.
                log.warning("events %d..%d are no longer in the log; publishing from %d",
                            self.next_id, min(self._held) - 1, min(self._held))
                self.next_id = min(self._held)
        finally:
            self._filling = None
        self._drain()


class OrderService:
    """Each method commits one change with its event row, then publishes the event.

    The methods are synchronous. Async code calls them through :meth:`call`: inline on
    the event loop for SQLite (commit and publish then happen in one loop step, so events
    reach the hub in commit = id order), in a worker thread for a store that waits on the
    network (``db.in_loop`` False, see ``server.storage``). Then the publish is handed
    back to the loop, and, for a hub that publishes what it is given (``MemoryHub``),
    through an :class:`OrderedPublisher`, since two threads' commits can return out of
    order. Other hubs read the event log in id order themselves (the outbox).
    """

    def __init__(self, db: Database, hub: EventHub) -> None:
        self.db = db
        self.hub = hub
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ordered: OrderedPublisher | None = None
        if not getattr(db, "in_loop", True) and isinstance(hub, MemoryHub):
            self.ordered = OrderedPublisher(hub, db, next_id=db.event_bounds()[1] + 1)

    async def call(self, fn: Callable[..., T], /, *args: Any) -> T:
        """``fn(*args)`` (a method of this service, or a function using it) through
        ``run_db``; events it commits are published on this loop."""
        self._loop = asyncio.get_running_loop()
        return await run_db(self.db, fn, *args)

    def _publish(self, event: Event) -> None:
        deliver = self.ordered.add if self.ordered is not None else self.hub.publish
        loop = self._loop
        if loop is None or _running_loop() is loop:
            deliver(event)
            return
        try:
            loop.call_soon_threadsafe(deliver, event)
        except RuntimeError:  # the loop is closed (shutdown): the event log still has it
            log.warning("event %d committed after the event loop closed", event.id)

    def get(self, order_id: int) -> dict[str, Any]:
        try:
            return self.db.get_order(order_id)
        except NotFound as exc:
            raise _not_found(order_id) from exc

    def create(
        self, body: OrderCreate, idempotency: IdempotencyKey | None = None
    ) -> dict[str, Any]:
        order, event = self.db.insert_order(body.model_dump(), "order.created", idempotency)
        self._publish(event)
        return order

    def update(self, order_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        order = self.get(order_id)
        if all(order.get(field) == value for field, value in changes.items()):
            # Nothing changes: no write, no event (every tab would re-render for nothing).
            return order
        return self._commit(order_id, changes, "order.updated")

    def assign(
        self, order_id: int, courier_id: int, idempotency: IdempotencyKey | None = None
    ) -> dict[str, Any]:
        order = self.get(order_id)
        if order["status"] not in ("new", "assigned"):
            raise invalid_transition(order["status"], "assigned", "only new or assigned orders")
        courier = self.db.courier(courier_id)
        if courier is None:
            raise ApiError(422, "unknown_courier", f"Courier {courier_id} does not exist.")
        if not courier["active"]:
            raise ApiError(409, "courier_inactive", f"Courier {courier_id} is not active.")
        return self._commit(
            order_id, {"courier_id": courier_id, "status": "assigned"}, "order.assigned",
            expect_status=order["status"], idempotency=idempotency,
        )

    def set_status(
        self, order_id: int, target: str, idempotency: IdempotencyKey | None = None
    ) -> dict[str, Any]:
        order = self.get(order_id)
        current = order["status"]
        if target not in TRANSITIONS[current]:
            raise invalid_transition(current, target)
        if target == "assigned" and order["courier_id"] is None:
            raise invalid_transition(
                current, target, "assign a courier with POST /v1/orders/{id}/assign"
            )
        return self._commit(
            order_id, {"status": target}, "order.status_changed",
            extra={"previous_status": current}, expect_status=current,
            idempotency=idempotency,
        )

    def delete(self, order_id: int) -> dict[str, Any]:
        try:
            order, event = self.db.delete_order(order_id, "order.deleted")
        except NotFound as exc:
            raise _not_found(order_id) from exc
        self._publish(event)
        return order

    def _commit(
        self, order_id: int, changes: dict[str, Any], event_type: str,
        extra: dict[str, Any] | None = None, expect_status: str | None = None,
        idempotency: IdempotencyKey | None = None,
    ) -> dict[str, Any]:
        try:
            order, event = self.db.update_order(
                order_id, changes, event_type, extra=extra, expect_status=expect_status,
                idempotency=idempotency,
            )
        except NotFound as exc:
            raise _not_found(order_id) from exc
        except StaleStatus as exc:  # someone changed it between our read and write
            raise invalid_transition(str(exc), str(changes.get("status"))) from exc
        self._publish(event)
        return order


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def _service(request: Request) -> OrderService:
    await authenticated(request)
    return request.app.state.orders  # type: ignore[no-any-return]


def _order_id(request: Request) -> int:
    raw = str(request.path_params["order_id"])
    if len(raw) <= 19 and int(raw) <= INT64_MAX:
        return int(raw)
    # No row can have it: SQLite ids are signed 64-bit.
    raise ApiError(404, "not_found", f"Order {clip(raw, 25)} does not exist.")


# -- Idempotency-Key -------------------------------------------------------------------


def _idempotency_key(
    request: Request, principal: Principal, body: BaseModel, status: int
) -> IdempotencyKey | None:
    """The request's key (``None`` without the header), or 400 for a malformed one;
    ``status`` is the answer's, stored with the key for the replays."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ApiError(
            400, "invalid_idempotency_key",
            f"{IDEMPOTENCY_HEADER} must be 1 to 200 visible ASCII characters (a UUID, say).",
        )
    # The request as the server understood it: a retry re-serialised by another client
    # library (spaces, key order) is still the same request.
    canonical = json.dumps(
        body.model_dump(mode="json", exclude_unset=True), sort_keys=True,
        separators=(",", ":"), ensure_ascii=False,
    )
    fingerprint = hashlib.sha256(
        f"{request.method} {request.url.path}\n{canonical}".encode()
    ).hexdigest()
    return IdempotencyKey(principal.username, key, fingerprint, status)


def _replay(stored: StoredResponse, key: IdempotencyKey) -> Response:
    if stored.fingerprint != key.fingerprint:
        raise ApiError(
            422, "idempotency_key_reused",
            f"This {IDEMPOTENCY_HEADER} was already used for a different request (another "
            "path or body); send a new key for a new request.",
        )
    # The first answer's JSON again (the order as it was then, not as it is now).
    return Response(
        stored.body, status_code=stored.status, media_type="application/json",
        headers={REPLAYED_HEADER: "true"},
    )


def _idempotent(
    service: OrderService, status: int, key: IdempotencyKey | None,
    mutate: Callable[[IdempotencyKey | None], dict[str, Any]],
) -> Response:
    """``mutate(key)`` answered with ``status``; or, for a key already used, the stored
    answer (no second change, no second event)."""
    if key is not None:
        stored = service.db.stored_response(key.owner, key.key)
        if stored is not None:
            return _replay(stored, key)
    try:
        return JSONResponse(mutate(key), status_code=status)
    except IdempotencyConflict:  # another request stored it meanwhile: ours rolled back
        assert key is not None
        stored = service.db.stored_response(key.owner, key.key)
        if stored is None:
            raise
        return _replay(stored, key)


# -- routes ----------------------------------------------------------------------------


ENCODE_SLICE = 250
"""Orders encoded to JSON between two turns of the event loop (``list_orders``)."""


def _json(value: Any) -> bytes:
    # Starlette's JSONResponse.render, byte for byte.
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode("utf-8")


async def encode_page(items: list[Any], rest: dict[str, Any]) -> bytes:
    """``{"items": items, **rest}`` as JSONResponse would encode it, ENCODE_SLICE orders at
    a time with the event loop let run between slices: a page of 2,500 orders took ~5 ms
    to encode (~25 ms with every field at its longest), which every stream of the process
    would otherwise wait out at once."""
    parts = [b'{"items":[']
    for start in range(0, len(items), ENCODE_SLICE):
        if start:
            parts.append(b",")
            await asyncio.sleep(0)
        parts.append(_json(items[start:start + ENCODE_SLICE])[1:-1])
    tail = _json(rest)
    parts.append(b"]" + (b"," + tail[1:] if len(tail) > 2 else b"}"))
    return b"".join(parts)


async def list_orders(request: Request) -> Response:
    service = await _service(request)
    query = read_query(request, ListQuery)
    items, total, position = await service.call(
        service.db.list_orders, query.status, query.limit, query.offset, query.before_id
    )
    # The snapshot's place in the event log: a client applies only events after it.
    body = await encode_page(items, {"total": total, "limit": query.limit,
                                     "offset": query.offset, "last_event_id": position})
    headers = {EVENT_ID_HEADER: str(position)}
    if items and len(items) == query.limit and query.offset == 0:
        headers[NEXT_BEFORE_HEADER] = str(min(int(o["id"]) for o in items))
    return Response(body, media_type="application/json", headers=headers)


async def order_stats(request: Request) -> JSONResponse:
    """Counts per status, all read at one log position (``last_event_id``)."""
    service = await _service(request)
    found, position = await service.call(service.db.order_counts)
    counts = {status: found.get(status, 0) for status in STATUSES}
    return JSONResponse(
        {"counts": counts, "total": sum(counts.values()), "last_event_id": position},
        headers={EVENT_ID_HEADER: str(position)},
    )


async def create_order(request: Request) -> Response:
    principal = await authenticated(request)
    service: OrderService = request.app.state.orders
    body = await read_model(request, OrderCreate)
    key = _idempotency_key(request, principal, body, 201)
    return await service.call(
        _idempotent, service, 201, key, lambda k: service.create(body, k)
    )


async def get_order(request: Request) -> JSONResponse:
    service = await _service(request)
    return JSONResponse(await service.call(service.get, _order_id(request)))


async def patch_order(request: Request) -> JSONResponse:
    service = await _service(request)
    body = await read_model(request, OrderPatch)
    changes = body.model_dump(include=body.model_fields_set)
    if not changes:
        raise ApiError(422, "validation_error", "The patch is empty: send at least one field.")
    return JSONResponse(await service.call(service.update, _order_id(request), changes))


async def delete_order(request: Request) -> JSONResponse:
    service = await _service(request)
    order = await service.call(service.delete, _order_id(request))
    return JSONResponse({"ok": True, "id": order["id"]})


async def assign_order(request: Request) -> Response:
    principal = await authenticated(request)
    service: OrderService = request.app.state.orders
    order_id = _order_id(request)
    body = await read_model(request, AssignBody)
    key = _idempotency_key(request, principal, body, 200)
    return await service.call(
        _idempotent, service, 200, key,
        lambda k: service.assign(order_id, body.courier_id, k),
    )


async def change_status(request: Request) -> Response:
    principal = await authenticated(request)
    service: OrderService = request.app.state.orders
    order_id = _order_id(request)
    body = await read_model(request, StatusBody)
    key = _idempotency_key(request, principal, body, 200)
    return await service.call(
        _idempotent, service, 200, key,
        lambda k: service.set_status(order_id, body.status, k),
    )


routes = [
    Route("/v1/orders", list_orders, methods=["GET"]),
    Route("/v1/orders", create_order, methods=["POST"]),
    Route("/v1/orders/stats", order_stats, methods=["GET"]),
    Route("/v1/orders/{order_id:id64}", get_order, methods=["GET"]),
    Route("/v1/orders/{order_id:id64}", patch_order, methods=["PATCH"]),
    Route("/v1/orders/{order_id:id64}", delete_order, methods=["DELETE"]),
    Route("/v1/orders/{order_id:id64}/assign", assign_order, methods=["POST"]),
    Route("/v1/orders/{order_id:id64}/status", change_status, methods=["POST"]),
]
