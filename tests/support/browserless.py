"""Import modules that reach the DOM layer (``zariz.ui.dom`` imports ``js`` and
``pyodide``) in CPython, for tests of their pure parts: stand-ins for the browser modules
while the block runs, and every module imported inside it dropped afterwards (so no other
test sees the stand-ins or a module bound to them)."""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator


@contextlib.contextmanager
def browser_stand_ins() -> Iterator[None]:
    before = set(sys.modules)
    js = types.ModuleType("js")
    pyodide = types.ModuleType("pyodide")
    ffi = types.ModuleType("pyodide.ffi")
    ffi.create_proxy = ffi.to_js = lambda *a, **k: None  # type: ignore[attr-defined]
    ffi.jsnull = object()  # type: ignore[attr-defined]
    ffi.JsProxy = type("JsProxy", (), {})  # type: ignore[attr-defined]
    code = types.ModuleType("pyodide.code")
    code.run_js = lambda *a, **k: None  # type: ignore[attr-defined]
    pyodide.ffi = ffi  # type: ignore[attr-defined]
    pyodide.code = code  # type: ignore[attr-defined]
    sys.modules.update({"js": js, "pyodide": pyodide, "pyodide.ffi": ffi, "pyodide.code": code})
    try:
        yield
    finally:
        for name in set(sys.modules) - before:
            del sys.modules[name]
