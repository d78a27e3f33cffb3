"""Boundaries from architecture.md, checked on the source tree.

* Nothing but the platform adapter creates an EventSource (and only the SSE client uses
  the adapter's ``open_event_source``).
* Only the platform adapter and the DOM layer import ``js`` / ``pyodide`` (with the FFI
  toolkit both use, ``platform/jsffi.py``), and only the toolkit makes proxies or knows
  ``jsnull``.
* No CDN address anywhere in what the browser loads.
"""

from __future__ import annotations

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
APP = ROOT / "app"
JSFFI = APP / "zariz" / "platform" / "jsffi.py"
BROWSER_MODULES = {
    JSFFI,  # the FFI toolkit the two adapters below share
    APP / "zariz" / "platform" / "browser.py",
    APP / "zariz" / "ui" / "dom.py",
    APP / "zariz" / "boot.py",  # the entry wiring: builds the adapter, passes globalThis
}


def _py_files() -> list[pathlib.Path]:
    return sorted(p for p in APP.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_platform_adapter_constructs_an_event_source() -> None:
    # A real construction: ``EventSource.new(`` (Pyodide) or ``new EventSource(`` (JS).
    pattern = re.compile(r"(\bEventSource\.new\s*\(|\bnew\s+EventSource\s*\()")
    offenders = [
        str(p.relative_to(ROOT))
        for p in _py_files()
        if p.name != "browser.py" and pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []
    assert "js.EventSource.new(" in (APP / "zariz" / "platform" / "browser.py").read_text()
    for page in [ROOT / "index.html"]:
        assert "EventSource" not in page.read_text()


def test_only_the_sse_client_opens_event_sources() -> None:
    users = [
        str(p.relative_to(APP))
        for p in _py_files()
        if "open_event_source(" in p.read_text(encoding="utf-8")
        and p.parent.name not in {"platform"}
    ]
    assert users == ["zariz/sse/client.py"]


def test_js_and_pyodide_are_imported_only_by_the_adapters() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & {"js", "pyodide", "pyscript"})
        for p in _py_files()
        if p not in BROWSER_MODULES and p != APP / "main.py"
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_ffi_toolkit_makes_proxies_or_checks_jsnull() -> None:
    # One place resolves the boundary: a second create_proxy would be a proxy no pool
    # counts, a second jsnull check a second copy of the version difference.
    offenders = {}
    for p in _py_files():
        if p == JSFFI:
            continue
        tree = ast.parse(p.read_text(encoding="utf-8"))
        names = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "pyodide.ffi"
            for alias in node.names
        }
        if names:
            offenders[str(p.relative_to(ROOT))] = sorted(names)
    assert offenders == {}


def test_no_cdn_in_the_shell() -> None:
    for path in [ROOT / "index.html", ROOT / "pyscript.toml"]:
        text = path.read_text()
        assert "http://" not in text and "https://" not in text, path
