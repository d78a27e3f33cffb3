"""One client per tab, whatever re-executes: exec of the module, reload, a second entry."""

from __future__ import annotations

import builtins
import importlib
import inspect
from types import SimpleNamespace
from typing import Any

import pytest
import zariz.sse.client as client_module
import zariz.sse.singleton as singleton
from zariz.sse import GLOBAL_NAME, SSEClient, get_client, reset_client

from tests.app.conftest import Tab


class JsFacade:
    """What the browser adapter stores on globalThis: status/stats plus the Python object."""

    def __init__(self, client: Any) -> None:
        self._py = client

    @property
    def status(self) -> str:
        return str(self._py.status)


async def test_reexecuting_modules_and_entry_reuses_one_client(tab: Tab) -> None:
    namespace = SimpleNamespace()  # stands in for js.globalThis
    built: list[SSEClient] = []

    def factory() -> SSEClient:
        built.append(tab.client())
        return built[-1]

    def app_entry(get: Any) -> Any:
        client = get(factory, namespace=namespace, wrap=JsFacade, unwrap=lambda f: f._py)
        client.start()
        client.connect()
        return client

    first = app_entry(get_client)
    source = inspect.getsource(singleton)
    for _ in range(20):
        fresh: dict[str, Any] = {"__name__": "zariz.sse.singleton_copy"}
        exec(compile(source, singleton.__file__, "exec"), fresh)  # a re-executed module
        assert app_entry(fresh["get_client"]) is first
        reloaded = importlib.reload(singleton)
        importlib.reload(client_module)  # the class object changes; the instance must not
        assert app_entry(reloaded.get_client) is first
    await tab.platform.settle()
    assert len(built) == 1 and len(tab.platform.sources) == 1
    # start() + connect() per run, and still a single real connection attempt
    assert first.stats["connect_calls"] == 82 and first.stats["connects"] == 1
    assert namespace.__dict__[GLOBAL_NAME].status == "connecting"
    singleton.reset_client(namespace=namespace, unwrap=lambda f: f._py)
    assert not hasattr(namespace, GLOBAL_NAME) and tab.platform.open_sources == 0
    with pytest.raises(RuntimeError, match="dispose"):
        first.connect()


async def test_default_namespace_is_builtins_and_reset_allows_a_new_client(tab: Tab) -> None:
    try:
        a = get_client(tab.client)
        assert getattr(builtins, GLOBAL_NAME) is a and get_client() is a
        reset_client()
        assert not hasattr(builtins, GLOBAL_NAME)
        b = get_client(tab.client)
        assert b is not a
    finally:
        reset_client()
    reset_client()  # nothing stored: harmless


def test_first_call_without_factory_is_a_lifecycle_error() -> None:
    with pytest.raises(RuntimeError, match="factory"):
        get_client(namespace=SimpleNamespace())


def test_factory_must_build_a_client() -> None:
    with pytest.raises(TypeError):
        get_client(object, namespace=SimpleNamespace())


async def test_disposed_or_foreign_entry_is_replaced(tab: Tab) -> None:
    ns = SimpleNamespace(**{GLOBAL_NAME: "left by someone else"})
    a = get_client(tab.client, namespace=ns)
    a.dispose()
    b = get_client(tab.client, namespace=ns)
    assert b is not a and get_client(namespace=ns) is b
