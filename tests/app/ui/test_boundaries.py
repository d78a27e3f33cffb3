"""The UI's own boundaries: the pure core imports no browser code; only dom.py does."""

from __future__ import annotations

import ast
import pathlib

UI = pathlib.Path(__file__).resolve().parents[3] / "app" / "zariz" / "ui"
PURE = ["component", "routes", "orders_store", "orders_query", "order_time", "toasts", "format",
        "scheduler", "context", "i18n", "liveness"]


def _imports(path: pathlib.Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_pure_modules_import_neither_js_nor_the_dom_layer() -> None:
    for name in PURE:
        imported = _imports(UI / f"{name}.py")
        bad = {
            i
            for i in imported
            if i.split(".")[0] in ("js", "pyodide", "pyscript") or i.startswith("zariz.ui.dom")
        }
        assert not bad, (name, bad)


def test_only_dom_py_touches_js() -> None:
    offenders = [
        str(p.relative_to(UI))
        for p in UI.rglob("*.py")
        if p.name != "dom.py" and {i.split(".")[0] for i in _imports(p)} & {"js", "pyodide"}
    ]
    assert offenders == []


def test_no_markup_injection_anywhere_in_the_ui() -> None:
    for p in UI.rglob("*.py"):
        text = p.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
            assert sink not in text.replace(f"never ``{sink}``", ""), (p.name, sink)
