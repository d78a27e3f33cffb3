"""The app never blocks the browser's one thread waiting for something.

Pyodide runs without JSPI here (static/boot/zariz-loader.mjs hides it while Pyodide's
module is created), and without JSPI none of these can wait in a page: ``run_sync`` raises,
``asyncio.run`` / ``loop.run_until_complete`` raise, ``time.sleep`` spins the main thread.
The app's code (``app/``, doctests aside) calls none of them.
"""

from __future__ import annotations

import ast
import pathlib

APP = pathlib.Path(__file__).resolve().parents[2] / "app"

BLOCKING = {
    "run_sync": "pyodide.ffi.run_sync suspends Python: it needs JSPI",
    "run_until_complete": "blocks until a future is done: raises on the browser's loop",
    "syncify": "suspends Python: it needs JSPI",
}
QUALIFIED = {
    ("asyncio", "run"): "asyncio.run blocks: raises on the browser's loop",
    ("time", "sleep"): "time.sleep spins the page's only thread",
}


def blocking_calls(source: str, filename: str = "<source>") -> list[str]:
    """``file:line: call: why`` for every call in ``source`` that would block (or fail
    without JSPI) in the page."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        owner = func.value.id if (isinstance(func, ast.Attribute)
                                  and isinstance(func.value, ast.Name)) else None
        why = BLOCKING.get(name or "") or QUALIFIED.get((owner or "", name or ""))
        if why:
            call = f"{owner}.{name}" if owner else str(name)
            found.append(f"{filename}:{node.lineno}: {call}(): {why}")
    return found


def test_the_app_calls_nothing_that_blocks_or_needs_jspi() -> None:
    found = [hit for path in sorted(APP.rglob("*.py"))
             for hit in blocking_calls(path.read_text(), str(path.relative_to(APP)))]
    assert found == [], "\n".join(found)


def test_the_scan_finds_each_kind() -> None:
    source = (
        "import asyncio, time\n"
        "from pyodide.ffi import run_sync\n"
        "run_sync(f())\n"
        "asyncio.run(main())\n"
        "loop.run_until_complete(main())\n"
        "time.sleep(1)\n"
        "asyncio.sleep(0)\n"  # a coroutine: fine
        "js.run(x)\n"  # another run: fine
    )
    assert [hit.split(": ")[1] for hit in blocking_calls(source)] == [
        "run_sync()", "asyncio.run()", "loop.run_until_complete()", "time.sleep()"]
