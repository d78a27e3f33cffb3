"""Which modules a change reaches (CPython, on made-up sources and on the real app)."""

from __future__ import annotations

import pathlib

import pytest
from zariz.dev.graph import ImportGraph, imports_of, module_name
from zariz.dev.reloader import ENTRY, HOLDS_STATE

APP = pathlib.Path(__file__).resolve().parents[3] / "app"


def test_module_names_from_paths() -> None:
    assert module_name("app/zariz/ui/app.py") == "zariz.ui.app"
    assert module_name("app/zariz/ui/__init__.py") == "zariz.ui"
    assert module_name("zariz/types.py") == "zariz.types"
    assert module_name("app/main.py") is None
    assert module_name("static/css/app.css") is None
    assert module_name("app/zariz/ui/my-page.py") is None


def test_only_imports_that_run_with_the_module_count() -> None:
    source = """
from __future__ import annotations
from typing import TYPE_CHECKING
import zariz.types
from zariz.ui import dom, routes
from zariz.ui.format import label
from . import widgets
from .pages.orders import orders_page
if TYPE_CHECKING:
    from zariz.sse.client import SSEClient
try:
    from zariz.api import ApiClient
except ImportError:
    pass
class Thing:
    from zariz.orders import STATUSES
def later():
    from zariz.boot import main
"""
    known = {"zariz.types", "zariz.ui.dom", "zariz.ui.routes", "zariz.ui.format",
             "zariz.ui.widgets", "zariz.ui.pages.orders", "zariz.api", "zariz.orders"}
    found = imports_of(source, "zariz.ui.app", is_package=False, known=known)
    assert found == {"zariz.types", "zariz.ui.dom", "zariz.ui.routes", "zariz.ui.format",
                     "zariz.ui.widgets", "zariz.ui.pages.orders", "zariz.api", "zariz.orders"}


def test_relative_imports_of_a_package() -> None:
    found = imports_of("from . import a\nfrom .b import c\n", "zariz.ui", is_package=True,
                       known={"zariz.ui.a", "zariz.ui.b"})
    assert found == {"zariz.ui.a", "zariz.ui.b"}


def test_order_puts_every_module_after_what_it_imports() -> None:
    graph = ImportGraph.from_sources({
        "zariz.app": "import zariz.page\nimport zariz.widgets",
        "zariz.page": "import zariz.widgets",
        "zariz.widgets": "",
        "zariz.other": "",
    })
    assert graph.reach(["zariz.widgets"]) == {"zariz.widgets", "zariz.page", "zariz.app"}
    assert graph.order(graph.reach(["zariz.widgets"])) == [
        "zariz.widgets", "zariz.page", "zariz.app"
    ]
    assert graph.reach(["zariz.widgets"], stop=["zariz.page"]) == {
        "zariz.widgets", "zariz.page", "zariz.app"  # app imports widgets itself
    }
    assert graph.reach(["zariz.page"], stop=["zariz.page"]) == {"zariz.page"}
    assert graph.path_to("zariz.widgets", "zariz.app") in (
        ["zariz.app", "zariz.widgets"], ["zariz.app", "zariz.page", "zariz.widgets"]
    )


def test_a_cycle_still_gives_every_module_once() -> None:
    graph = ImportGraph.from_sources({"zariz.a": "import zariz.b", "zariz.b": "import zariz.a"})
    assert sorted(graph.order(["zariz.a", "zariz.b"])) == ["zariz.a", "zariz.b"]


def _real_graph() -> ImportGraph:
    sources = {}
    for path in APP.rglob("*.py"):
        name = module_name(str(path.relative_to(APP.parent)))
        if name is not None and "__pycache__" not in path.parts:
            sources[name] = path.read_text(encoding="utf-8")
    return ImportGraph.from_sources(
        sources, packages=[m for m in sources if (APP / m.replace(".", "/")).is_dir()]
    )


def _holds(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in HOLDS_STATE)


@pytest.mark.parametrize(
    ("changed", "live"),
    [
        ("zariz.ui.pages.orders", True),
        ("zariz.ui.pages.order_modals", True),
        ("zariz.ui.dom", True),
        ("zariz.ui.component", True),
        ("zariz.api", True),
        ("zariz.orders", True),
        ("zariz.types", False),  # zariz.sse.client builds SSEEvent from it
        ("zariz.listeners", False),  # the auth client and the fan-out hold Listeners
    ],
)
def test_the_real_app_swaps_the_ui_and_api_live_and_declines_what_the_connection_uses(
    changed: str, live: bool
) -> None:
    graph = _real_graph()
    stops = [m for m in graph.imports if any(m == e or m.startswith(e + ".") for e in ENTRY)]
    reached = graph.reach([changed], stop=stops)
    assert (not any(_holds(m) for m in reached)) is live, sorted(reached)


def test_a_page_change_reaches_the_app_and_not_the_entry_beyond() -> None:
    graph = _real_graph()
    reached = graph.reach(["zariz.ui.pages.orders"], stop=["zariz.boot", "zariz.dev.page"])
    assert "zariz.ui.app" in reached
    assert "zariz.ui.pages.couriers" in reached  # it imports the orders page's helper
    order = graph.order(reached - {"zariz.boot", "zariz.dev.page"})
    assert order.index("zariz.ui.pages.orders") < order.index("zariz.ui.app")
