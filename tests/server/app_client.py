"""A synchronous in-process client for the ASGI app (httpx ``ASGITransport`` driven
through an anyio blocking portal), with the app's lifespan running.

Starlette's TestClient now warns when used with ``httpx`` (it wants ``httpx2``), and the
suite turns warnings into errors, so this is the small replacement we need.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import httpx
from anyio.from_thread import start_blocking_portal
from starlette.applications import Starlette


class AppClient:
    def __init__(self, app: Starlette, *, raise_server_exceptions: bool = True) -> None:
        self.app = app
        self._stack = contextlib.ExitStack()
        self.portal = self._stack.enter_context(start_blocking_portal())
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_server_exceptions)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        self._lifespan = app.router.lifespan_context(app)
        self.portal.call(self._lifespan.__aenter__)
        self._closed = False

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        call = functools.partial(self._client.request, method, url, **kwargs)
        return self.portal.call(call)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.portal.call(self._lifespan.__aexit__, None, None, None)
            self.portal.call(self._client.aclose)
        finally:
            self._stack.close()
