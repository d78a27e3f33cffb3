"""Fixtures shared by all test folders: live servers (see ``tests/support``)."""

from __future__ import annotations

import os
import pathlib
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings

from tests.support.crashes import write_summary
from tests.support.live_server import LiveServer
from tests.support.xdist_browser import is_serial, make_scheduler, sendable

# The machine (and CI) is shared and noisy: a property's speed is not what it tests, so
# no per-example deadline (hypothesis's 200 ms default failed runs at random under load).
settings.register_profile("zariz", deadline=None)
settings.load_profile("zariz")


def pytest_report_header() -> str:
    """The machine, at the top of every run: a renderer crash or a slow suite in CI reads
    differently on 2 cores with 64 MB of /dev/shm than on a roomy box."""
    def gib(n: float) -> str:
        return f"{n / 2**30:.1f} GiB"

    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    shm = shutil.disk_usage("/dev/shm").total if os.path.isdir("/dev/shm") else 0
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"machine: {os.cpu_count()} cpus, load {load}, memory {gib(pages)}, "
            f"/dev/shm {gib(shm)}, uid {os.getuid()}")


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


def pytest_terminal_summary(terminalreporter: Any) -> None:
    write_summary(terminalreporter)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`make test` (-n 2 --dist loadscope): the browser tests and the benchmarks' smoke
    runs on one worker, in order, the CPython tests beside them
    (tests/support/xdist_browser.py). Other --dist modes: xdist's own."""
    return make_scheduler(config, log)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Every report made sendable to an xdist controller (tests/support/xdist_browser.py)."""
    report = yield
    sendable(report)
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser (and bench) tests last: CPython feedback comes first, and no
    asyncio test runs while a Playwright instance owns this thread's loop."""
    # Stable: the order inside each group is kept.
    items.sort(key=lambda item: is_serial(item.nodeid))
