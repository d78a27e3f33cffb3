"""Boot failures are said on the page (static/boot/boot-error.js): a runtime file that is
missing or unreachable, and a Python error while the app imports or mounts - with the
file to blame, the repository's paths and what to run - within a bounded time, never an
endless skeleton. A normal boot shows none of it.

Each scenario serves its own copy of the page's files (``copy_tree``) and breaks the copy.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import screenshot, wait_booted
from tests.support.dev_tree import copy_tree
from tests.support.live_server import LiveServer

OVERLAY = "[data-testid=boot-error]"
# A missing file is found from the page's own requests: seconds, far below the boot timeout.
LOAD_FAILURE_MS = 20_000
# A Python error needs Pyodide up first (a plain boot on a busy machine).
PYTHON_FAILURE_MS = 90_000
BROKEN = "def broken(:"


def overlay(page: Any, timeout_ms: float) -> dict[str, Any]:
    page.wait_for_selector(OVERLAY, state="visible", timeout=timeout_ms)
    return page.evaluate(  # type: ignore[no-any-return]
        """() => {
          const o = document.querySelector('[data-testid=boot-error]');
          const text = (id) => o.querySelector(`[data-testid=${id}]`)?.textContent ?? null;
          return {
            kind: o.dataset.kind, role: o.getAttribute('role'), text: o.innerText,
            lang: o.getAttribute('lang'), dir: o.getAttribute('dir'),
            file: text('boot-error-file'), where: text('boot-error-where'),
            type: text('boot-error-type'), message: text('boot-error-message'),
            traceback: text('boot-error-traceback'),
            boot: document.getElementById('app').dataset.boot,
            covers: (() => {
              const r = o.getBoundingClientRect();
              return r.width >= innerWidth && r.height >= innerHeight
                && getComputedStyle(o).position === 'fixed';
            })(),
            pyErrorsShown: [...document.querySelectorAll('.py-error')]
              .filter(e => e.getClientRects().length > 0).length,
          };
        }"""
    )


def csp_violations(log: Any) -> list[str]:
    return [c for c in log.console if "Content Security Policy" in c]


def break_module(path: pathlib.Path) -> int:
    """Appends a syntax error to ``path``; returns its line."""
    source = path.read_text().rstrip("\n") + "\n\n" + BROKEN + "\n"
    path.write_text(source)
    return source.splitlines().index(BROKEN) + 1


def serve(live_server_factory: Callable[..., LiveServer], root: pathlib.Path) -> LiveServer:
    return live_server_factory(root=root)


def test_without_static_vendor_the_overlay_names_the_missing_file(
    tmp_path: pathlib.Path, open_tab: Callable[..., Any],
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = serve(live_server_factory, copy_tree(tmp_path / "root", vendor=False))
    page, log = open_tab(server.url)
    page.goto(server.url + "/login")
    shown = overlay(page, LOAD_FAILURE_MS)
    screenshot(page, "boot-error-no-vendor")
    assert shown["kind"] == "load" and shown["role"] == "alert", shown
    assert shown["file"] == "/static/vendor/pyscript/core.js", shown
    assert "HTTP 404" in shown["text"]
    assert "static/vendor is missing" in shown["text"]
    assert "make serve" in shown["text"] and "scripts/setup.sh vendor" in shown["text"]
    assert shown["covers"] and shown["boot"] == "error", shown
    # The skeleton behind is out of reach: the overlay holds the focus.
    assert page.evaluate("document.activeElement.closest('[data-testid=boot-error]') !== null")
    assert page.locator("#app").get_attribute("inert") is not None
    assert csp_violations(log) == [] and log.outside == []


@pytest.mark.parametrize("name", ["pyodide.mjs", "pyodide.asm.wasm", "pyodide-lock.json"])
def test_a_missing_pyodide_file_is_named(
    tmp_path: pathlib.Path, open_tab: Callable[..., Any],
    live_server_factory: Callable[..., LiveServer], name: str,
) -> None:
    root = copy_tree(tmp_path / "root", vendor=True)
    (root / "static" / "vendor" / "pyodide" / name).unlink()
    server = serve(live_server_factory, root)
    page, log = open_tab(server.url)
    page.goto(server.url + "/login")
    shown = overlay(page, LOAD_FAILURE_MS)
    assert shown["kind"] == "load", shown
    assert shown["file"] == f"/static/vendor/pyodide/{name}", shown
    assert "HTTP 404" in shown["text"] and "scripts/setup.sh vendor" in shown["text"]
    assert "static/vendor is missing" not in shown["text"]
    assert csp_violations(log) == []


# The wasm is Pyodide's own load; the app's bundle the boot loader's (a plain boot).
@pytest.mark.parametrize("path", ["/static/vendor/pyodide/pyodide.asm.wasm", "/app/bundle.zip"])
def test_a_network_error_on_a_runtime_file_is_named(
    open_tab: Callable[..., Any], live_server_factory: Callable[..., LiveServer],
    tmp_path: pathlib.Path, path: str,
) -> None:
    server = serve(live_server_factory, copy_tree(tmp_path / "root", vendor=True))
    page, log = open_tab(server.url)
    # The page's own load of the file dies (connection reset); the server is fine.
    page.route(re.compile(re.escape(path) + "$"), lambda route: route.abort("connectionreset"))
    page.goto(server.url + "/login")
    shown = overlay(page, LOAD_FAILURE_MS)
    assert shown["kind"] == "load", shown
    assert shown["file"] == path, shown
    assert "connection to the server failed" in shown["text"] and "make serve" in shown["text"]
    assert "HTTP" not in shown["text"]


def test_the_overlay_speaks_hebrew_when_the_page_does(
    tmp_path: pathlib.Path, open_tab: Callable[..., Any],
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = serve(live_server_factory, copy_tree(tmp_path / "root", vendor=False))
    page, _log = open_tab(server.url)
    page.goto(server.url + "/login?lang=he")
    shown = overlay(page, LOAD_FAILURE_MS)
    screenshot(page, "boot-error-no-vendor-he")
    assert (shown["lang"], shown["dir"]) == ("he", "rtl"), shown
    assert "לא עלה" in shown["text"] and "טעינה מחדש" in shown["text"], shown["text"]
    assert shown["file"] == "/static/vendor/pyscript/core.js"
    # Paths and commands stay left-to-right inside the right-to-left text.
    assert page.evaluate(
        "[...document.querySelectorAll('[data-testid=boot-error] code')]"
        ".every(c => c.getAttribute('dir') === 'ltr')"
    )


@pytest.mark.parametrize("module", ["types.py", "ui/pages/couriers.py"])
def test_a_syntax_error_in_an_app_module_names_the_repository_file_and_line(
    tmp_path: pathlib.Path, open_tab: Callable[..., Any],
    live_server_factory: Callable[..., LiveServer], module: str,
) -> None:
    root = copy_tree(tmp_path / "root", vendor=True)
    line = break_module(root / "app" / "zariz" / module)
    server = serve(live_server_factory, root)
    page, log = open_tab(server.url)
    page.goto(server.url + "/login")
    shown = overlay(page, PYTHON_FAILURE_MS)
    screenshot(page, f"boot-error-syntax-{module.replace('/', '-')}")
    assert shown["kind"] == "python" and shown["type"] == "SyntaxError", shown
    assert shown["where"] == f"app/zariz/{module}:{line}", shown
    traceback = shown["traceback"]
    assert f"app/zariz/{module}:{line}" in traceback and BROKEN in traceback
    assert "app/zariz/boot.py:" in traceback  # the import chain, in the repository's terms
    assert "/home/pyodide" not in traceback and "_pyodide/_base.py" not in traceback
    assert shown["pyErrorsShown"] == 0 and shown["covers"], shown
    assert csp_violations(log) == []
    # On a phone the traceback scrolls inside its box; the card stays on screen.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate(
        "() => { const r = document.querySelector('.boot-error-card').getBoundingClientRect();"
        " return r.left >= 0 && r.right <= innerWidth"
        " && document.documentElement.scrollWidth <= innerWidth; }"
    )


def test_a_syntax_error_in_the_entry_replaces_pyscripts_error_box(
    tmp_path: pathlib.Path, open_tab: Callable[..., Any],
    live_server_factory: Callable[..., LiveServer],
) -> None:
    # app/main.py cannot catch its own SyntaxError: PyScript shows it in its box, and the
    # overlay takes it over.
    root = copy_tree(tmp_path / "root", vendor=True)
    line = break_module(root / "app" / "main.py")
    server = serve(live_server_factory, root)
    page, _log = open_tab(server.url)
    page.goto(server.url + "/login")
    shown = overlay(page, PYTHON_FAILURE_MS)
    assert shown["kind"] == "python" and shown["type"] == "SyntaxError", shown
    assert shown["where"] == f"app/main.py:{line}", shown
    page.wait_for_function("document.querySelectorAll('.py-error').length > 0")
    assert overlay(page, 1_000)["pyErrorsShown"] == 0


def test_an_exception_while_mounting_names_the_module(
    tmp_path: pathlib.Path, open_tab: Callable[..., Any],
    live_server_factory: Callable[..., LiveServer],
) -> None:
    root = copy_tree(tmp_path / "root", vendor=True)
    app = root / "app" / "zariz" / "ui" / "app.py"
    source = app.read_text().rstrip("\n") + "\n\nraise RuntimeError('the shell is broken')\n"
    app.write_text(source)
    line = source.splitlines().index("raise RuntimeError('the shell is broken')") + 1
    server = serve(live_server_factory, root)
    page, _log = open_tab(server.url)
    page.goto(server.url + "/login")
    shown = overlay(page, PYTHON_FAILURE_MS)
    assert (shown["type"], shown["message"]) == ("RuntimeError", "the shell is broken"), shown
    assert shown["where"] == f"app/zariz/ui/app.py:{line}", shown
    assert "app/zariz/boot.py:" in shown["traceback"], shown["traceback"]


def test_a_normal_boot_shows_no_overlay(
    open_tab: Callable[..., Any], live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory()
    page, log = open_tab(server.url)
    # A timeout shorter than any boot: the "still starting" notice shows, then goes.
    page.goto(server.url + "/login?boot_timeout=0.2")
    page.wait_for_selector(f"{OVERLAY}[data-kind=slow]", timeout=LOAD_FAILURE_MS)
    wait_booted(page)
    page.wait_for_selector(OVERLAY, state="detached", timeout=5_000)
    assert page.evaluate("__zarizBootError.current()") is None
    assert page.locator("#app").get_attribute("inert") is None
    page.wait_for_selector("[data-testid=login-username]")
    page.reload()
    wait_booted(page)
    assert page.locator(OVERLAY).count() == 0
    assert page.evaluate("__zarizBootError.current()") is None
    assert [c for c in log.console if "[boot] runtime" in c or "Python error" in c] == []
    assert log.errors == [] and csp_violations(log) == []
