"""Fixtures shared by all test folders: live servers (see ``tests/support``)."""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator

import pytest
from hypothesis import settings

from tests.support.live_server import LiveServer

# The machine (and CI) is shared and noisy: a property's speed is not what it tests, so
# no per-example deadline (hypothesis's 200 ms default failed runs at random under load).
settings.register_profile("zariz", deadline=None)
settings.load_profile("zariz")


@pytest.fixture
def live_server_factory(tmp_path: pathlib.Path) -> Iterator[Callable[..., LiveServer]]:
    """``factory(**env) -> started LiveServer``; every server is stopped at teardown.

    ``root=`` (a path) is passed to LiveServer instead of the environment.
    """
    servers: list[LiveServer] = []

    def factory(root: pathlib.Path | None = None, **env: str) -> LiveServer:
        folder = tmp_path / f"server{len(servers)}"
        folder.mkdir()
        server = LiveServer(folder, env={k: str(v) for k, v in env.items()}, root=root)
        servers.append(server)
        server.start()
        return server

    yield factory
    for server in servers:
        try:
            server.stop()
        finally:
            server.kill()


@pytest.fixture
def live_server(live_server_factory: Callable[..., LiveServer]) -> LiveServer:
    return live_server_factory()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser (and bench) tests last: CPython feedback comes first, and no
    asyncio test runs while a Playwright instance owns this thread's loop."""
    def slow(item: pytest.Item) -> bool:
        path = str(item.fspath).replace("\\", "/")
        return "/tests/browser/" in path or "/tests/bench/" in path

    items.sort(key=slow)  # stable: the order inside each group is kept
