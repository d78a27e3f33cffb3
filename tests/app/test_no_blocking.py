"""The app never blocks the browser's one thread waiting for something.

Pyodide runs without JSPI here (static/boot/zariz-loader.mjs hides it while Pyodide's
module is created), and without JSPI none of these can wait in a page: ``run_sync`` raises,
``asyncio.run`` / ``loop.run_until_complete`` raise, ``time.sleep`` spins the main thread.
The app's code (``app/``, doctests aside) calls none of them, under any name it imports
them by.
"""

from __future__ import annotations

import ast
import pathlib

APP = pathlib.Path(__file__).resolve().parents[2] / "app"

# Full names, however imported (``import time``, ``import asyncio as a``, ``from time
# import sleep``).
FUNCTIONS = {
    "asyncio.run": "blocks until done: raises on the browser's loop",
    "asyncio.Runner": "runs a loop to completion: raises on the browser's loop",
    "time.sleep": "spins the page's only thread",
    "pyodide.ffi.run_sync": "suspends Python: needs JSPI",
    "pyodide.ffi.syncify": "suspends Python: needs JSPI",
}
# Methods, on any object (a loop, mostly).
METHODS = {
    "run_until_complete": "blocks until a future is done: raises on the browser's loop",
    "run_forever": "blocks: raises on the browser's loop",
    "run_sync": "suspends Python: needs JSPI",
}


def _aliases(tree: ast.AST) -> dict[str, str]:
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return aliases.get(node.id, node.id)
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, aliases)
        return f"{base}.{node.attr}" if base else None
    return None


def blocking_calls(source: str, filename: str = "<source>") -> list[str]:
    """``file:line: call(): why`` for every call in ``source`` that would block (or fail
    without JSPI) in the page."""
    tree = ast.parse(source, filename)
    aliases = _aliases(tree)
    found = []
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    for node in sorted(calls, key=lambda n: (n.lineno, n.col_offset)):
        name = _dotted(node.func, aliases)
        why = FUNCTIONS.get(name or "")
        if why is None and isinstance(node.func, ast.Attribute):
            why = METHODS.get(node.func.attr)
        if why is None and isinstance(node.func, ast.Name):
            why = METHODS.get(node.func.id)
        if why:
            found.append(f"{filename}:{node.lineno}: {name}(): {why}")
    return found


def test_the_app_calls_nothing_that_blocks_or_needs_jspi() -> None:
    found = [hit for path in sorted(APP.rglob("*.py"))
             for hit in blocking_calls(path.read_text(), str(path.relative_to(APP)))]
    assert found == [], "\n".join(found)


def test_the_scan_finds_each_kind_under_any_name() -> None:
    source = (
        "import asyncio, time\n"
        "import asyncio as aio\n"
        "from time import sleep\n"
        "from asyncio import run as go\n"
        "from pyodide.ffi import run_sync\n"
        "run_sync(f())\n"
        "asyncio.run(main())\n"
        "aio.run(main())\n"
        "go(main())\n"
        "asyncio.Runner().run(main())\n"
        "loop.run_until_complete(main())\n"
        "loop.run_forever()\n"
        "time.sleep(1)\n"
        "sleep(1)\n"
        "asyncio.sleep(0)\n"  # a coroutine: fine
        "js.run(x)\n"  # another run: fine
        "self.run(x)\n"
    )
    assert [hit.split(": ")[1] for hit in blocking_calls(source)] == [
        "pyodide.ffi.run_sync()", "asyncio.run()", "asyncio.run()", "asyncio.run()",
        "asyncio.Runner()", "loop.run_until_complete()", "loop.run_forever()",
        "time.sleep()", "time.sleep()"]
