"""Playwright fixtures: Debian's chromium, offline except for our own loopback server.

Every page gets a route that aborts any request leaving 127.0.0.1 (and records it, so a
test can assert the app never reaches for a CDN), a console log, and a log of requests
to the SSE endpoint.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.crashes import record

CHROMIUM = os.environ.get("ZARIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    # Shared memory in /tmp, not /dev/shm: a container's /dev/shm is 64 MB by default, and
    # a renderer that cannot map there dies ("Target crashed"), as Puppeteer's and
    # Playwright's Docker guides warn. (Playwright passes it too, by default.)
    "--disable-dev-shm-usage",
]
ARTIFACTS = pathlib.Path(__file__).resolve().parents[2] / "test-artifacts"
BOOT_TIMEOUT_MS = 90_000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@dataclass
class TabLog:
    outside: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sse_requests: list[str] = field(default_factory=list)
    # (monotonic time, "start" | "end", url) for every SSE request: proves no overlap.
    sse_timeline: list[tuple[float, str, str]] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


def _chromium_log(module: str) -> pathlib.Path:
    return ARTIFACTS / f"chromium-{module}.log"


def _chromium_stderr(module: str) -> pathlib.Path:
    """What Chromium's processes wrote to stderr, through Playwright's own debug log
    (``DEBUG=pw:browser``, ``DEBUG_FILE``): a renderer's last words (a V8 fatal error, a
    CHECK, the signal) go there, never to ``--log-file``."""
    return ARTIFACTS / f"chromium-{module}.stderr.log"


def _tail(path: pathlib.Path, lines: int = 200) -> str:
    noise = ("dbus/", "D-Bus", "idle_linux")
    kept = [line for line in path.read_text(errors="replace").splitlines()
            if not any(n in line for n in noise)]
    return "\n".join(kept[-lines:])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A renderer that crashed ("Target crashed": seen in well under 1 % of boots on a
    loaded machine, never reproduced on purpose) gets Chromium's own last words attached
    to the failure, from the module's log file (``--log-file``)."""
    report = yield
    if report.failed and "Target crashed" in str(report.longrepr):
        record(report, crash_sections(item.module.__name__.rsplit(".", 1)[-1]))
    return report


def crash_sections(module: str, settle_s: float = 0.5, within_s: float = 3.0
                   ) -> list[tuple[str, str]]:
    """The report sections of a renderer crash in ``module``: the tails of Chromium's log
    and of its processes' stderr. The driver writes the stderr file as the lines arrive,
    on a pipe of their own, in no set order with the crash event: the file is read once
    it has not grown for ``settle_s`` (``within_s`` at most)."""
    stderr = _chromium_stderr(module)
    deadline = time.monotonic() + within_s
    size, still_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = stderr.stat().st_size if stderr.exists() else -1
        if now != size:
            size, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= settle_s:
            break
        time.sleep(0.05)
    return [(f"{title} (last 200 lines, D-Bus left out)", _tail(path))
            for title, path in (("chromium log", _chromium_log(module)),
                                ("chromium stderr", stderr))
            if path.exists()]


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    # Module scope, not session: Playwright's sync API keeps an event loop running in
    # this thread while it is alive, and asyncio tests collected after a browser module
    # would fail with "Cannot run the event loop while another loop is running".
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found: run `make test` (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    module = request.module.__name__.rsplit(".", 1)[-1]
    ARTIFACTS.mkdir(exist_ok=True)
    # For Playwright's driver alone (it reads them when it starts): not for the servers
    # and tools the tests start later.
    saved = {name: os.environ.get(name) for name in ("DEBUG", "DEBUG_FILE")}
    os.environ.update(DEBUG=",".join(filter(None, [saved["DEBUG"], "pw:browser"])),
                      DEBUG_FILE=str(_chromium_stderr(module)))
    try:
        pw = sync_playwright().start()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    try:
        log_file = _chromium_log(module)
        b = pw.chromium.launch(executable_path=CHROMIUM, args=[
            *CHROMIUM_ARGS, "--enable-logging", "--v=0", f"--log-file={log_file}"])
        try:
            yield b
        finally:
            b.close()
    finally:
        pw.stop()


@pytest.fixture
def open_tab(browser: Any) -> Iterator[Callable[..., tuple[Any, TabLog]]]:
    """``open_tab(base_url, context=None) -> (page, log)``: a fresh tab (own context
    unless one is given) that may only talk to ``base_url``'s loopback origin."""
    contexts: list[Any] = []

    def factory(base_url: str, context: Any = None) -> tuple[Any, TabLog]:
        if context is None:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            contexts.append(context)
        page = context.new_page()
        log = TabLog()
        origin = base_url.rstrip("/") + "/"

        def route(r: Any) -> None:
            if r.request.url.startswith(origin):
                r.continue_()
            else:
                log.outside.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.on("console", lambda m: log.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: log.errors.append(str(e)))

        def on_request(req: Any) -> None:
            if "/v1/events/sse" in req.url:
                log.sse_requests.append(req.url)
                log.sse_timeline.append((time.monotonic(), "start", req.url))

        def on_request_end(req: Any) -> None:
            if "/v1/events/sse" in req.url:
                log.sse_timeline.append((time.monotonic(), "end", req.url))

        page.on("request", on_request)
        page.on("requestfailed", on_request_end)  # EventSource.close() aborts the request
        page.on("requestfinished", on_request_end)

        def on_dialog(d: Any) -> None:
            log.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", on_dialog)
        page.on("crash", lambda: log.errors.append(
            f"renderer crashed (see {ARTIFACTS.name}/chromium-*.log)"))
        return page, log

    try:
        yield factory
    finally:
        for ctx in contexts:
            ctx.close()


def max_concurrent_streams(log: TabLog) -> int:
    """The most SSE requests this tab had in flight at once (from Playwright's own
    request events, so no overlap can slip between samples)."""
    open_now = peak = 0
    for _t, kind, _url in sorted(log.sse_timeline, key=lambda e: (e[0], e[1] == "start")):
        open_now += 1 if kind == "start" else -1
        peak = max(peak, open_now)
    return peak


def screenshot(page: Any, name: str) -> pathlib.Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_booted(page: Any) -> None:
    """Wait until the Python app has mounted (the shell sets data-boot=ready)."""
    page.wait_for_function(
        "document.getElementById('app')?.dataset.boot === 'ready'", timeout=BOOT_TIMEOUT_MS
    )


def login(page: Any, username: str = "demo", password: str = "demo") -> None:
    page.fill("[data-testid=login-username]", username)
    page.fill("[data-testid=login-password]", password)
    page.click("[data-testid=login-submit]")


def wait_status(page: Any, status: str, timeout: float = 30_000) -> None:
    page.wait_for_function(
        "s => document.querySelector('[data-testid=sse-status]')?.dataset.status === s",
        arg=status,
        timeout=timeout,
    )
