"""Accessibility: axe-core (npm, node_modules/axe-core) on every page - sign-in, overview,
orders with rows, the edit-order and create-order dialogs open, the bell's panel open with
an event in it, couriers, the not-found page - in the light theme, the dark one
(``prefers-color-scheme: dark``), Hebrew (right to left) and a phone; and on the boot
failure overlay. No ``serious`` or ``critical`` violation may remain.

axe is injected as a script, which the page's Content-Security-Policy forbids: these
contexts bypass the CSP (test_security_browser checks the CSP itself). Each variant walks
all pages in one tab (one Python boot), collects every violation, then fails listing them
all; the full results go to test-artifacts/a11y-<variant>.json.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, login, wait_booted
from tests.browser.support import run_py
from tests.support.demo_data import ORDERS, seed_demo_orders
from tests.support.dev_tree import copy_tree
from tests.support.live_server import PROJECT_ROOT, LiveServer

ROW = "[data-testid=order-row]"
AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
VARIANTS = {
    "light": {"color_scheme": "light", "query": ""},
    "dark": {"color_scheme": "dark", "query": ""},
    "hebrew": {"color_scheme": "light", "query": "?lang=he", "locale": "he-IL"},
    # A phone: the header hides words there (the user menu must keep its name).
    "phone": {"color_scheme": "light", "query": "", "viewport": {"width": 390, "height": 844}},
}

pytestmark = pytest.mark.timeout(240)


def settle(page: Any) -> None:
    """Finite CSS animations (dialog and toast entrances, row highlights) have ended: axe
    must measure the colours at rest, not half-way through a fade."""
    page.wait_for_function(
        "document.getAnimations().every(a => a.playState !== 'running'"
        " || a.effect.getTiming().iterations === Infinity)"
    )


def run_axe(page: Any) -> list[dict[str, Any]]:
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    settle(page)
    result = page.evaluate(
        """async () => {
          const r = await axe.run(document, { resultTypes: ['violations'] });
          return r.violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({
              target: n.target.join(' '), html: n.html.slice(0, 240),
              summary: (n.failureSummary || '').slice(0, 400),
            })),
          }));
        }"""
    )
    return result  # type: ignore[no-any-return]


@pytest.fixture
def seeded(live_server_factory: Callable[..., LiveServer]) -> LiveServer:
    server = live_server_factory()
    seed_demo_orders(server.url)
    return server


@pytest.fixture
def contexts(browser: Any) -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def make(**options: Any) -> Any:
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = browser.new_context(bypass_csp=True, **options)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


def goto_path(page: Any, path: str) -> None:
    """In-app navigation (the router follows history): no second Python boot."""
    page.evaluate("p => { history.pushState({}, '', p); dispatchEvent(new PopStateEvent("
                  "'popstate', { state: {} })); }", path)


def goto_nav(page: Any, name: str, ready: str) -> None:
    page.click(f"[data-testid=nav-{name}]")
    page.wait_for_selector(ready)


def format_violations(found: list[tuple[str, dict[str, Any]]]) -> str:
    lines = []
    for where, v in found:
        lines.append(f"[{where}] {v['impact']} {v['id']}: {v['help']}")
        for node in v["nodes"][:4]:
            lines.append(f"    {node['target']}  {node['html'][:120]}")
            if node["summary"]:
                lines.append("      " + node["summary"].replace("\n", " | ")[:300])
        if len(v["nodes"]) > 4:
            lines.append(f"    ... {len(v['nodes']) - 4} more")
    return "\n".join(lines)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_no_serious_violations_on_any_page(
    seeded: LiveServer, open_tab: Callable[..., Any], contexts: Callable[..., Any],
    variant: str,
) -> None:
    options = dict(VARIANTS[variant])
    query = options.pop("query")
    page, log = open_tab(seeded.url, context=contexts(**options))
    checked: dict[str, list[dict[str, Any]]] = {}

    def check(name: str) -> None:
        checked[name] = run_axe(page)

    page.goto(seeded.url + "/login" + query)
    wait_booted(page)
    page.wait_for_selector("[data-testid=login-username]")
    if variant == "hebrew":
        assert page.evaluate("document.documentElement.dir") == "rtl"
    if variant == "dark":
        assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    check("login")

    login(page)
    page.wait_for_selector("[data-testid=overview-page]")
    page.wait_for_function(
        "n => document.querySelector('[data-testid=count-total]')?.textContent.trim() === n",
        arg=str(len(ORDERS)),
    )
    check("overview")

    goto_nav(page, "orders", "[data-testid=order-row]")
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=order-row]').length >= n",
        arg=min(len(ORDERS), 10),
    )
    check("orders")

    page.click(f"{ROW} [data-testid=action-edit]")
    page.wait_for_selector("[data-testid=edit-order-modal]")
    check("edit-dialog")
    page.keyboard.press("Escape")
    page.wait_for_selector("[data-testid=edit-order-modal]", state="detached")

    # The bell's panel with an event in it (another dispatcher creates an order).
    seeded.create_order(seeded.login()["access_token"], customer="Axe", phone="050-111-2233",
                        address="Herzl 1")
    page.wait_for_function(
        "Number(document.querySelector('[data-testid=bell]')?.dataset.unread) > 0")
    page.click("[data-testid=bell]")
    page.wait_for_selector("[data-testid=notif-panel] [data-testid=notif-item]")
    check("bell-panel")
    page.keyboard.press("Escape")
    page.wait_for_selector("[data-testid=notif-panel]", state="hidden")

    page.click("[data-testid=new-order]")
    page.wait_for_selector("[data-testid=create-order-modal]")
    check("create-dialog")
    page.keyboard.press("Escape")
    page.wait_for_selector("[data-testid=create-order-modal]", state="detached")

    goto_nav(page, "couriers", "[data-testid=courier-card]")
    page.wait_for_selector("[data-testid=courier-card] [data-order-id]")
    check("couriers")

    goto_path(page, "/dashboard/nope" + query)
    page.wait_for_function(
        "t => Array.from(document.querySelectorAll('h1'), h => h.textContent).includes(t)",
        arg="הדף לא נמצא" if variant == "hebrew" else "Page not found",
    )
    check("not-found")

    if variant == "hebrew":
        # Every string the walk asked for (pages, dialog, header, toasts of the seeding,
        # times, counts) has its Hebrew: a key without it is shown in English and recorded.
        run_py(page, "import js, json\nfrom zariz.ui import i18n\n"
                     "js.window.__missing = json.dumps(sorted(k for l, k in i18n.MISSING"
                     " if l == 'he'))")
        assert json.loads(page.evaluate("window.__missing")) == []

    ARTIFACTS.mkdir(exist_ok=True)
    report = pathlib.Path(ARTIFACTS) / f"a11y-{variant}.json"
    report.write_text(json.dumps(checked, indent=2, ensure_ascii=False))
    blocking = [
        (f"{variant}/{name}", v)
        for name, violations in checked.items()
        for v in violations
        if v["impact"] in BLOCKING
    ]
    assert log.errors == [], log.errors
    if blocking:
        pytest.fail(
            f"{len(blocking)} serious/critical axe violations (all results: {report}):\n"
            + format_violations(blocking),
            pytrace=False,
        )


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_boot_failure_overlay_has_no_serious_violations(
    tmp_path: pathlib.Path, live_server_factory: Callable[..., LiveServer],
    open_tab: Callable[..., Any], contexts: Callable[..., Any], variant: str,
) -> None:
    server = live_server_factory(root=copy_tree(tmp_path / "root", vendor=False))
    options = dict(VARIANTS[variant])
    query = options.pop("query")
    page, _log = open_tab(server.url, context=contexts(**options))
    page.goto(server.url + "/login" + query)
    page.wait_for_selector("[data-testid=boot-error]", state="visible", timeout=20_000)
    blocking = [(f"{variant}/boot-error", v) for v in run_axe(page) if v["impact"] in BLOCKING]
    if blocking:
        pytest.fail(format_violations(blocking), pytrace=False)
