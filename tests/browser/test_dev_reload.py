"""Dev mode in a real browser against a real ``--dev`` server watching a copy of the tree:
hot reload in place, the overlay, hand-over of page state, CSS, strict mode, and what is
never swapped live. The connection is kept through all of it."""

from __future__ import annotations

import pathlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser.conftest import BOOT_TIMEOUT_MS, TabLog, max_concurrent_streams
from tests.browser.support import GaugeSampler, open_authed, run_py, stats, wait_until
from tests.support.dev_tree import copy_tree
from tests.support.live_server import LiveServer

ORDERS = "app/zariz/ui/pages/orders.py"
SUBTITLE = "Live: changes from every dispatcher appear here as they happen."
SUBTITLE_CODE = 't("orders.subtitle")'  # where the page shows SUBTITLE (the catalogue's)
SWAP_TIMEOUT_MS = 20_000


class Tree:
    """The copy the dev server watches; every edit is undone at the end of the test."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = root
        self._originals: dict[str, str] = {}

    def read(self, path: str) -> str:
        return (self.root / path).read_text(encoding="utf-8")

    def write(self, path: str, text: str) -> None:
        self._originals.setdefault(path, self.read(path))
        (self.root / path).write_text(text, encoding="utf-8")

    def replace(self, path: str, old: str, new: str) -> None:
        text = self._originals.get(path) or self.read(path)
        assert old in text, f"{old!r} not in {path}"
        self.write(path, text.replace(old, new, 1))

    def restore(self) -> None:
        for path, text in self._originals.items():
            (self.root / path).write_text(text, encoding="utf-8")
        self._originals.clear()


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    base = tmp_path_factory.mktemp("dev")
    root = copy_tree(base / "tree", vendor=True)
    with LiveServer(base, env={"ZARIZ_DEV": "1"}, root=root) as server:
        yield server


@pytest.fixture
def tree(dev_server: LiveServer) -> Iterator[Tree]:
    t = Tree(dev_server.root)
    try:
        yield t
    finally:
        t.restore()


def dev_stats(page: Any) -> dict[str, Any]:
    return page.evaluate("JSON.parse(JSON.stringify(window.__zarizDev()))")  # type: ignore[no-any-return]


def ui_stats(page: Any) -> dict[str, Any]:
    return page.evaluate("JSON.parse(JSON.stringify(window.__zarizUI()))")  # type: ignore[no-any-return]


def wait_text(page: Any, selector: str, text: str, timeout: float = SWAP_TIMEOUT_MS) -> None:
    page.wait_for_function(
        "([s, t]) => [...document.querySelectorAll(s)].some(n => n.textContent.includes(t))",
        arg=[selector, text], timeout=timeout,
    )


def wait_swaps(page: Any, n: int) -> None:
    page.wait_for_function(
        "n => window.__zarizDev && window.__zarizDev().swaps >= n && !window.__zarizDev().busy",
        arg=n, timeout=SWAP_TIMEOUT_MS,
    )


def wait_overlay(page: Any, kind: str | None) -> None:
    if kind is None:
        page.wait_for_function("!document.querySelector('[data-testid=dev-overlay]')",
                               timeout=SWAP_TIMEOUT_MS)
    else:
        page.wait_for_function(
            "k => document.querySelector('[data-testid=dev-overlay]')?.dataset.kind === k",
            arg=kind, timeout=SWAP_TIMEOUT_MS,
        )


def open_orders(open_tab: Callable[..., Any], server: LiveServer,
                path: str = "/dashboard/orders", context: Any = None) -> tuple[Any, TabLog]:
    page, log, _tokens = open_authed(open_tab, server, path, context=context)
    page.wait_for_selector("[data-testid=orders-page]", timeout=BOOT_TIMEOUT_MS)
    page.wait_for_function("window.__zarizDev !== undefined", timeout=BOOT_TIMEOUT_MS)
    # The notice the server sends on connect has been compared: the reloader is idle.
    # and the import graph is parsed (its timer is gone).
    page.wait_for_function(
        "(d => d.version !== null && !d.busy && d.warmed)(window.__zarizDev())",
        timeout=BOOT_TIMEOUT_MS,
    )
    page.evaluate("window.__sameWindow = 'yes'")
    return page, log


def settled_counts(page: Any) -> dict[str, Any]:
    """The counts once the page is quiet (two samples 250 ms apart agree): a request or
    a timer in flight holds a proxy for a moment."""
    previous = leak_counts(page)
    for _ in range(40):
        page.wait_for_timeout(250)
        now = leak_counts(page)
        if now == previous:
            return now
        previous = now
    raise AssertionError(f"the counts never settled: {previous}")


def leak_counts(page: Any) -> dict[str, Any]:
    client = stats(page)
    ui = ui_stats(page)
    return {
        "subscribers": client["subscribers"],
        "status_listeners": client["status_listeners"],
        "client_proxies": client["live_proxies"],
        "listeners": ui["listeners"],
        "timers": ui["timers"],
    }


def test_thirty_edits_of_a_page_swap_in_place_on_the_one_connection(
    open_tab: Callable[..., Any], dev_server: LiveServer, tree: Tree
) -> None:
    page, log = open_orders(open_tab, dev_server)
    first: dict[str, Any] | None = None
    with GaugeSampler(dev_server) as gauge:
        for n in range(1, 31):
            tree.replace(ORDERS, SUBTITLE_CODE, f'"Edit number {n}."')
            wait_text(page, ".orders-page .page-header p", f"Edit number {n}.")
            wait_swaps(page, n)
            page.wait_for_selector("[data-testid=order-row], [data-testid=orders-empty]")
            if n == 1:
                first = settled_counts(page)
        gauge.wait_samples(2)
    assert first is not None
    assert set(gauge.samples) == {1}, sorted(set(gauge.samples))  # 1 all along
    assert settled_counts(page) == first
    assert page.evaluate("window.__sameWindow") == "yes"  # no navigation, no reload
    assert len(log.sse_requests) == 1, log.sse_requests
    assert max_concurrent_streams(log) == 1
    assert dev_server.metric("zariz_sse_open_streams") == 1
    lines = [line for line in log.console if "[dev] hot reload:" in line]
    assert len(lines) >= 30
    assert re.search(r"\[dev\] hot reload: .*zariz\.ui\.pages\.orders.* in \d+ ms", lines[-1])
    assert dev_stats(page).get("overlay") is None
    assert log.errors == []


def create_order(server: LiveServer, customer: str) -> int:
    token = server.login()["access_token"]
    return int(server.create_order(token, customer=customer)["id"])


def wait_row(page: Any, order_id: int) -> None:
    page.wait_for_selector(f"[data-testid=order-row][data-order-id='{order_id}']",
                           timeout=SWAP_TIMEOUT_MS)


def test_a_broken_edit_shows_the_overlay_and_the_old_ui_keeps_working(
    open_tab: Callable[..., Any], dev_server: LiveServer, tree: Tree
) -> None:
    page, log = open_orders(open_tab, dev_server)
    swaps = dev_stats(page)["swaps"]
    source = tree.read(ORDERS)
    line = source[: source.index(SUBTITLE_CODE)].count("\n") + 1
    # A syntax error on the subtitle's line.
    tree.replace(ORDERS, SUBTITLE_CODE, '"Broken" +')
    wait_overlay(page, "syntax")
    where = page.text_content("[data-testid=dev-overlay-where]")
    assert where is not None and where.startswith(f"{ORDERS}:")
    assert abs(int(where.rsplit(":", 1)[1]) - line) <= 1, (where, line)
    assert "SyntaxError" in (page.text_content("[data-testid=dev-overlay-detail]") or "")
    # The old UI is live under it: a new order still arrives as a row.
    wait_row(page, create_order(dev_server, "Under the overlay"))
    assert page.is_visible(f"text={SUBTITLE}")
    # The fix: overlay gone, new UI shown.
    tree.replace(ORDERS, SUBTITLE_CODE, '"Fixed subtitle."')
    wait_overlay(page, None)
    wait_text(page, ".orders-page .page-header p", "Fixed subtitle.")
    assert dev_stats(page)["swaps"] == swaps + 1
    # An exception while mounting: the previous code runs again, under the overlay.
    tree.replace(ORDERS, "    store = OrdersStore(page_size=50)\n",
                 "    store = OrdersStore(page_size=50)\n    raise RuntimeError('mount boom')\n")
    wait_overlay(page, "mount")
    assert "mount boom" in (page.text_content("[data-testid=dev-overlay-detail]") or "")
    where = page.text_content("[data-testid=dev-overlay-where]") or ""
    assert where.startswith(f"{ORDERS}:"), where
    page.wait_for_selector("[data-testid=orders-table]")
    assert page.is_visible("text=Fixed subtitle.")  # the last good code
    wait_row(page, create_order(dev_server, "After the failed mount"))
    tree.replace(ORDERS, SUBTITLE_CODE, '"Fixed again."')
    wait_overlay(page, None)
    wait_text(page, ".orders-page .page-header p", "Fixed again.")
    assert len(log.sse_requests) == 1
    assert log.errors == []


def test_route_filter_search_scroll_and_the_open_dialog_survive_a_swap(
    open_tab: Callable[..., Any], dev_server: LiveServer, tree: Tree
) -> None:
    for n in range(60):  # enough rows to scroll
        create_order(dev_server, f"Scroll {n}")
    page, _log = open_orders(open_tab, dev_server, "/dashboard/orders?from=test")
    page.click("[data-testid=filter-new]")
    page.fill("[data-testid=orders-search]", "Scroll")
    page.wait_for_function("document.querySelectorAll('[data-testid=order-row]').length >= 40")
    page.click("[data-testid=new-order]")
    page.fill("[data-testid=field-customer]", "Typed before the swap")
    page.fill("[data-testid=field-notes]", "ring twice")
    # Scrolled last: Playwright's click scrolls its target (the button on top) into view.
    page.evaluate("window.scrollTo(0, 600)")
    page.wait_for_function("window.scrollY >= 590")
    swaps = dev_stats(page)["swaps"]
    tree.replace(ORDERS, SUBTITLE_CODE, '"Swapped with state."')
    wait_swaps(page, swaps + 1)
    wait_text(page, ".orders-page .page-header p", "Swapped with state.")
    # The list's state lives in the URL too (replaceState, never a navigation).
    assert page.evaluate("location.pathname + location.search") == (
        "/dashboard/orders?from=test&status=new&q=Scroll")
    assert page.get_attribute("[data-testid=filter-new]", "aria-pressed") == "true"
    assert page.input_value("[data-testid=orders-search]") == "Scroll"
    page.wait_for_selector("[data-testid=create-order-modal]")
    assert page.input_value("[data-testid=field-customer]") == "Typed before the swap"
    assert page.input_value("[data-testid=field-notes]") == "ring twice"
    assert page.locator("[data-testid=create-order-modal]").count() == 1
    page.wait_for_function("Math.abs(window.scrollY - 600) <= 10")
    assert page.evaluate("window.__sameWindow") == "yes"


def test_a_css_edit_applies_without_a_page_reload(
    open_tab: Callable[..., Any], dev_server: LiveServer, tree: Tree
) -> None:
    page, log = open_orders(open_tab, dev_server)
    css = "static/css/app.css"
    tree.write(css, tree.read(css) + "\n.page-header h1 { letter-spacing: 7px; }\n")
    page.wait_for_function(
        "getComputedStyle(document.querySelector('.page-header h1')).letterSpacing === '7px'",
        timeout=SWAP_TIMEOUT_MS,
    )
    assert page.evaluate("window.__sameWindow") == "yes"
    # The old sheet went (the page links several; each once).
    assert page.locator("link[rel=stylesheet][href*='/static/css/app.css']").count() == 1
    assert dev_stats(page)["swaps"] == 0  # no Python ran again
    assert len(log.sse_requests) == 1


def test_strict_mode_names_a_component_that_forgets_its_cleanup(
    open_tab: Callable[..., Any], dev_server: LiveServer, tree: Tree
) -> None:
    page, log = open_orders(open_tab, dev_server)
    assert dev_stats(page)["strict"] is True
    assert dev_stats(page)["leaks"] == []  # the app's own components clean up
    # A fixture component: the orders page subscribes without keeping the undo.
    tree.replace(ORDERS, "    use_order_events(scope, ctx.client, on_event)\n",
                 "    use_order_events(scope, ctx.client, on_event)\n"
                 "    ctx.client.subscribe(lambda ev: None)  # leaks: no undo\n")
    page.wait_for_function("window.__zarizDev().leaks.includes('page:orders')",
                           timeout=SWAP_TIMEOUT_MS)
    wait_overlay(page, "strict")
    detail = page.text_content("[data-testid=dev-overlay-detail]") or ""
    assert "page:orders" in detail and "subscriptions" in detail
    assert any("strict mode: page:orders" in line for line in log.console if "warn" in line)


def test_an_edit_under_zariz_sse_offers_a_reload_and_swaps_nothing(
    open_tab: Callable[..., Any], dev_server: LiveServer, tree: Tree
) -> None:
    page, log = open_orders(open_tab, dev_server)
    swaps = dev_stats(page)["swaps"]
    client = "app/zariz/sse/backoff.py"
    tree.write(client, tree.read(client) + "\nHOT_MARKER = 'reloaded'\n")
    wait_overlay(page, "reload")
    title = page.text_content("[data-testid=dev-overlay-title]") or ""
    assert client in title
    assert page.is_visible("[data-testid=dev-overlay-reload]")
    assert dev_stats(page)["swaps"] == swaps
    assert page.evaluate("window.__sameWindow") == "yes"
    # The reload button does a full reload: the new module runs.
    page.click("[data-testid=dev-overlay-reload]")
    page.wait_for_function("window.__sameWindow === undefined", timeout=BOOT_TIMEOUT_MS)
    page.wait_for_selector("[data-testid=orders-page]", timeout=BOOT_TIMEOUT_MS)
    page.wait_for_function("window.__zarizDev && window.__zarizDev().version !== null",
                           timeout=BOOT_TIMEOUT_MS)
    assert dev_stats(page).get("overlay") is None
    # One stream per page load: the new page's may start after its dev version is known
    # (a loaded machine showed it), so wait for it, then check there is no third.
    wait_until(lambda: len(log.sse_requests) >= 2, 30, "the new page's stream", page=page)
    assert len(log.sse_requests) == 2


def test_a_mount_error_outside_any_component_leaves_nothing_behind_and_a_revert_clears_it(
    open_tab: Callable[..., Any], dev_server: LiveServer, tree: Tree
) -> None:
    """The shell's code raises after the app started its router and followed the session:
    the half-mounted UI is disposed, the last good one runs again, and saving the file
    back as it was clears the overlay."""
    page, log = open_orders(open_tab, dev_server)
    before = settled_counts(page)
    tree.replace("app/zariz/ui/shell.py", "dom.set_title(", "dom.set_titel(")
    wait_overlay(page, "mount")
    assert "set_titel" in (page.text_content("[data-testid=dev-overlay-detail]") or "")
    during = settled_counts(page)
    # No second router, auth listener, subscription or timer; one listener more: the
    # overlay's Dismiss button.
    assert during == {**before, "listeners": before["listeners"] + 1}, (before, during)
    page.click("[data-testid=nav-couriers]")  # the last good UI navigates
    page.wait_for_selector("[data-testid=couriers-page]", timeout=SWAP_TIMEOUT_MS)
    page.click("[data-testid=nav-orders]")
    page.wait_for_selector("[data-testid=orders-page]", timeout=SWAP_TIMEOUT_MS)
    tree.restore()  # Ctrl+Z, save
    wait_overlay(page, None)
    assert settled_counts(page) == before
    assert log.errors == []


def test_an_api_module_swap_rebuilds_the_rest_client(
    open_tab: Callable[..., Any], dev_server: LiveServer, tree: Tree
) -> None:
    page, _log = open_orders(open_tab, dev_server)
    order_id = create_order(dev_server, "Before the api swap")
    wait_row(page, order_id)
    swaps = dev_stats(page)["swaps"]
    api = "app/zariz/api.py"
    tree.write(api, tree.read(api) + "\nHOT_API_MARKER = 1\n")
    wait_swaps(page, swaps + 1)
    last = dev_stats(page)["last"][-1]
    assert "zariz.api" in last["swapped"] and "zariz.ui.app" in last["swapped"]
    # The remounted page (a new table) loaded its rows through the new ApiClient.
    wait_row(page, order_id)
    run_py(page, "import sys, js\nfrom zariz.boot import runtime\n"
                 "js.window.__apiIsNew = type(runtime().api) is sys.modules['zariz.api'].ApiClient")
    assert page.evaluate("window.__apiIsNew") is True


def test_every_tab_of_the_browser_swaps_on_the_leaders_one_stream(
    open_tab: Callable[..., Any], dev_server: LiveServer, tree: Tree, browser: Any
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        leader, leader_log = open_orders(open_tab, dev_server, context=context)
        follower, follower_log = open_orders(open_tab, dev_server, context=context)
        follower.wait_for_function(
            "window.__zarizSSEClient.stats.role === 'follower'", timeout=BOOT_TIMEOUT_MS)
        tree.replace(ORDERS, SUBTITLE_CODE, '"Both tabs."')
        for page in (leader, follower):
            wait_text(page, ".orders-page .page-header p", "Both tabs.")
        css = "static/css/app.css"
        tree.write(css, tree.read(css) + "\n.page-header h1 { letter-spacing: 5px; }\n")
        for page in (leader, follower):
            page.wait_for_function(
                "getComputedStyle(document.querySelector('.page-header h1')).letterSpacing"
                " === '5px'", timeout=SWAP_TIMEOUT_MS)
        # (The leader may reconnect once: the follower's login changed the shared token.)
        assert max_concurrent_streams(leader_log) == 1 and follower_log.sse_requests == []
        assert dev_server.metric("zariz_sse_open_streams") == 1
    finally:
        context.close()


def test_a_production_page_does_not_load_the_dev_package(
    open_tab: Callable[..., Any], tmp_path: pathlib.Path
) -> None:
    with LiveServer(tmp_path) as server:
        page, _log, _tokens = open_authed(open_tab, server, "/dashboard/orders")
        run_py(page, "import sys, js\njs.window.__devLoaded = "
                     "any(m.startswith('zariz.dev') for m in sys.modules)")
        assert page.evaluate("window.__devLoaded") is False
        assert page.evaluate("window.__zarizDev === undefined") is True
