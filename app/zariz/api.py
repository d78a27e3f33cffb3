"""A thin REST client for orders and couriers over :meth:`AuthClient.authorized_request`.

Every method returns the decoded JSON body, or raises :class:`ApiError` for a non-2xx
answer (``NetworkError`` passes through untouched). :meth:`ApiClient.on_answer` hears of
every answer the server itself gave (a status below 500): the SSE client takes it as a
sign that the server is reachable again and stops waiting out its backoff.

Usage::

    api = ApiClient(auth)
    order = await api.create_order({"customer": "Ada", "phone": "1", "address": "x"})
    await api.assign(order["id"], courier_id=2)
    page = await api.list_orders(status="assigned", limit=20)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from zariz.auth import AuthClient, error_fields
from zariz.platform import HeadersHook, HttpResponse
from zariz.types import Undo

log = logging.getLogger("zariz.api")


class ApiError(Exception):
    """A non-2xx answer, with the server's ``{"error": {"code", "message"}}`` unpacked."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    @classmethod
    def from_response(cls, resp: HttpResponse) -> ApiError:
        code, message, details = error_fields(resp)
        return cls(resp.status, code, message, details)


NEXT_BEFORE_HEADER = "x-zariz-next-before-id"
"""The header a full page of ``GET /v1/orders`` names the next page's ``before_id`` in
(server/orders.py ``NEXT_BEFORE_HEADER``; header names in lower case, as the platform gives
them)."""


def _next_page_hook(on_next: Callable[[int], Any]) -> HeadersHook:
    def hook(status: int, headers: Mapping[str, str]) -> None:
        raw = headers.get(NEXT_BEFORE_HEADER, "")
        if 200 <= status < 300 and raw.isascii() and raw.isdigit() and len(raw) <= 18 \
                and int(raw) > 0:
            on_next(int(raw))

    return hook


def _id(value: int | str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or value == "":
        raise TypeError(f"an order id must be an int or a non-empty str, got {value!r}")
    return quote(str(value), safe="")


class ApiClient:
    """Orders and couriers; ``prefix`` is the API root (``/v1``)."""

    def __init__(self, auth: AuthClient, *, prefix: str = "/v1") -> None:
        if not isinstance(prefix, str):
            raise TypeError("prefix must be a str")
        self._auth = auth
        self._prefix = prefix.rstrip("/")
        self._answer_listeners: dict[object, Callable[[], Any]] = {}

    def on_answer(self, fn: Callable[[], Any]) -> Undo:
        """Call ``fn()`` after each request the server answered (any status below 500: a
        4xx is an answer too; a 5xx may be a proxy whose upstream is down). Returns an
        idempotent ``off``.

        >>> off = api.on_answer(lambda: client.nudge("rest"))  # doctest: +SKIP
        """
        if not callable(fn):
            raise TypeError("on_answer() takes a callable")
        key = object()  # one fn registered twice is two listeners, each with its off
        self._answer_listeners[key] = fn

        def off() -> None:
            self._answer_listeners.pop(key, None)

        return off

    def _answered(self) -> None:
        for fn in list(self._answer_listeners.values()):
            try:
                fn()
            except Exception:  # a listener's bug must not fail the request it heard of
                log.exception("[API] answer listener failed")

    async def _call(self, method: str, path: str, json_body: Any = None, *,
                    on_headers: HeadersHook | None = None) -> Any:
        resp = await self._auth.authorized_request(method, self._prefix + path, json_body,
                                                   on_headers=on_headers)
        if resp.status < 500:
            self._answered()
        if not resp.ok:
            raise ApiError.from_response(resp)
        return resp.body

    async def list_orders(
        self, status: str | None = None, limit: int = 50, offset: int = 0,
        before_id: int | None = None, *, on_next: Callable[[int], Any] | None = None,
    ) -> Any:
        """One page, newest first; ``before_id`` pages by key (ids below it). The body's
        ``last_event_id`` is the event id the page was read at.

        ``on_next(before_id)`` is called with the next page's ``before_id`` as soon as a
        full page's headers say it (``X-Zariz-Next-Before-Id``), before this body is read:
        the caller can ask for that page meanwhile. Not called for a short page, an error,
        or a server that does not say."""
        if limit < 1 or offset < 0:
            raise ValueError("limit must be >= 1 and offset >= 0")
        query: dict[str, Any] = {"limit": limit, "offset": offset}
        if status is not None:
            query["status"] = status
        if before_id is not None:
            query["before_id"] = before_id
        hook = None if on_next is None else _next_page_hook(on_next)
        return await self._call("GET", "/orders?" + urlencode(query), on_headers=hook)

    async def order_stats(self) -> Any:
        """``{"counts": {status: n}, "total": n, "last_event_id": N}``, read at once."""
        return await self._call("GET", "/orders/stats")

    async def create_order(self, fields: dict[str, Any]) -> Any:
        return await self._call("POST", "/orders", fields)

    async def get_order(self, order_id: int | str) -> Any:
        return await self._call("GET", f"/orders/{_id(order_id)}")

    async def update_order(self, order_id: int | str, fields: dict[str, Any]) -> Any:
        return await self._call("PATCH", f"/orders/{_id(order_id)}", fields)

    async def delete_order(self, order_id: int | str) -> Any:
        return await self._call("DELETE", f"/orders/{_id(order_id)}")

    async def assign(self, order_id: int | str, courier_id: int | str) -> Any:
        return await self._call(
            "POST", f"/orders/{_id(order_id)}/assign", {"courier_id": courier_id}
        )

    async def set_status(self, order_id: int | str, status: str) -> Any:
        return await self._call("POST", f"/orders/{_id(order_id)}/status", {"status": status})

    async def list_couriers(self) -> Any:
        return await self._call("GET", "/couriers")


__all__ = ["ApiClient", "ApiError"]
