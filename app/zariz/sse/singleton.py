"""The one-client-per-tab guard (``globalThis.__zarizSSEClient``, the name other scripts
and the tests look the client up by).

Module-level state does not survive hot reload, ``importlib.reload``, a second
``<script type="py">`` or running the app entry twice: each re-execution would build a new
client and a second EventSource. So the instance lives on a *namespace* that outlives
modules: ``js.globalThis`` in the browser (the adapter passes it), the ``builtins`` module in
CPython. This module imports no ``js``; the browser adapter supplies ``wrap``/``unwrap`` to
store a JS facade (``status``/``stats`` readable from JS) that holds the Python object.

Usage::

    client = get_client(lambda: SSEClient(platform, auth))   # builds once
    assert get_client() is client                            # reused ever after
    reset_client()                                           # tests: dispose and forget
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

GLOBAL_NAME = "__zarizSSEClient"


def _identity(value: Any) -> Any:
    return value


def _is_client(obj: Any) -> bool:
    # Duck-typed on purpose: a reloaded client module defines a new SSEClient class, and
    # the live instance belongs to the old one.
    return getattr(obj, "__zariz_sse_client__", False) is True


def _lookup(namespace: Any, unwrap: Callable[[Any], Any]) -> Any:
    stored = getattr(namespace, GLOBAL_NAME, None)
    if stored is None:
        return None
    client = unwrap(stored)
    if client is None or not _is_client(client) or getattr(client, "_disposed", False):
        return None
    return client


def get_client(
    factory: Callable[[], Any] | None = None,
    *,
    namespace: Any = None,
    wrap: Callable[[Any], Any] = _identity,
    unwrap: Callable[[Any], Any] = _identity,
) -> Any:
    """Return the tab's client, building it with ``factory()`` only when none is alive.

    ``namespace`` defaults to ``builtins`` (CPython); the browser passes ``js.globalThis``
    with ``wrap(client) -> facade`` and ``unwrap(facade) -> client``.

    >>> c = get_client(lambda: object())  # doctest: +SKIP
    """
    ns = builtins if namespace is None else namespace
    client = _lookup(ns, unwrap)
    if client is not None:
        return client
    if factory is None:
        raise RuntimeError(
            "no SSE client yet: the app entry must call get_client(factory) once before "
            "other code calls get_client()"
        )
    client = factory()
    if not _is_client(client):
        raise TypeError("factory() must return an SSEClient")
    setattr(ns, GLOBAL_NAME, wrap(client))
    return client


def reset_client(*, namespace: Any = None, unwrap: Callable[[Any], Any] = _identity) -> None:
    """Dispose the stored client (disconnect, stop, drop listeners) and forget it."""
    ns = builtins if namespace is None else namespace
    stored = getattr(ns, GLOBAL_NAME, None)
    if stored is None:
        return
    client = unwrap(stored)
    try:
        if client is not None and _is_client(client):
            client.dispose()
    finally:
        # Forget it even if dispose raised: a reset must leave room for a fresh client.
        try:
            delattr(ns, GLOBAL_NAME)
        except AttributeError:
            setattr(ns, GLOBAL_NAME, None)


__all__ = ["GLOBAL_NAME", "get_client", "reset_client"]
