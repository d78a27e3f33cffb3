"""An asyncio step in the browser: Pyodide through the app's boot loader (JSPI hidden while
it loads) against stock ``loadPyodide`` (JSPI on, where Chromium has it), in one run.

    python -m bench.asyncio_steps                  # 7 pairs; writes bench/RESULTS.md
    python -m bench.asyncio_steps --pairs 1 --steps 2000 --no-write

Every asyncio callback on Pyodide's WebLoop is a browser task (``setTimeout`` or a message
channel, Pyodide's ``scheduleCallback``). Where JSPI exists and Pyodide took it, each of
those callbacks is called as a promising call (``callPyObjectKwargsPromising``): one more
macrotask first, then a fresh wasm stack. ``bench/pages/asyncio_steps.html`` loads Pyodide
one way or the other in a fresh browser context and times, in Python, ``--steps`` of:

* **sleep0**: ``await asyncio.sleep(0)`` (one step of a task);
* **future**: a future resolved by ``loop.call_soon`` and awaited (a callback, then the
  task's step).

Pairs alternate which loader goes first; the report gives each loader's median.
"""

from __future__ import annotations

import argparse
import pathlib
import platform as pyplatform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.__main__ import BenchServer, Tab, chrome
from bench.results import report

SECTION = "asyncio-steps"
LOADERS = ("zariz", "stock")
KINDS = ("sleep0", "future")
TIMEOUT_S = 180.0


def sample(browser: Any, server: BenchServer, loader: str, steps: int) -> dict[str, Any]:
    tab = Tab(browser)
    try:
        tab.goto(f"{server.url}/bench/pages/asyncio_steps.html?loader={loader}&steps={steps}")
        got: dict[str, Any] = tab.wait("window.__bench", timeout=TIMEOUT_S)
    finally:
        tab.close()
    if "error" in got:
        raise RuntimeError(f"{loader}: {got['error']}")
    return got


def run(pairs: int, steps: int, log: Callable[[str], None] = print) -> dict[str, Any]:
    samples: dict[str, list[dict[str, Any]]] = {loader: [] for loader in LOADERS}
    with BenchServer(0) as server, chrome() as browser:
        version = f"Chromium {browser.version}"
        for i in range(pairs):
            for loader in (LOADERS if i % 2 == 0 else LOADERS[::-1]):
                got = sample(browser, server, loader, steps)
                samples[loader].append(got)
                log(f"[asyncio-steps] pair {i + 1} {loader}: jspi={got['jspi']}, "
                    + ", ".join(f"{k} {got[k]:.1f} us" for k in KINDS))
    medians = {loader: {k: statistics.median(s[k] for s in samples[loader]) for k in KINDS}
               for loader in LOADERS}
    return {"pairs": pairs, "steps": steps, "chromium": version, "samples": samples,
            "medians": medians,
            "jspi": {loader: sorted({s["jspi"] for s in samples[loader]}) for loader in LOADERS},
            "measured": time.strftime("%Y-%m-%d")}


def render(result: dict[str, Any], command: str) -> str:
    med = result["medians"]
    lines = [
        "## Browser: an asyncio step, without JSPI (the app's loader) vs with it (stock)",
        "",
        f"Measured {result['measured']} on this project's machine (2 cores, "
        f"{pyplatform.machine()}, {result['chromium']} headless), shared with other work: "
        f"compare within this run. Rerun: `{command}`. {result['pairs']} pairs, the loaders' "
        f"order alternating; each sample a fresh browser context timing {result['steps']:,} "
        "steps of each kind in Python (`bench/pages/asyncio_steps.html`). µs per step, "
        "each loader's median over the pairs (lower is better); the ratio is of the medians.",
        "",
        "| step | the app's loader (JSPI hidden) | stock `loadPyodide` (JSPI) | ratio |",
        "|---|---:|---:|---:|",
    ]
    names = {"sleep0": "`await asyncio.sleep(0)`",
             "future": "a future set by `call_soon`, awaited"}
    for kind in KINDS:
        ours, stock = med["zariz"][kind], med["stock"][kind]
        lines.append(f"| {names[kind]} | {ours:.1f} | {stock:.1f} | {ours / stock:.2f}x |")
    lines += [
        "",
        f"Pyodide took JSPI: the app's loader {result['jspi']['zariz']}, stock "
        f"{result['jspi']['stock']}. Runs (µs, sleep0 / future): "
        + "; ".join(f"{loader} " + ", ".join(f"{s['sleep0']:.0f}/{s['future']:.0f}"
                                               for s in result["samples"][loader])
                    for loader in LOADERS) + ".",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20000, help="steps of each kind")
    parser.add_argument("--no-write", action="store_true",
                        help="print only; don't rewrite bench/RESULTS.md")
    parser.add_argument("--raw", type=pathlib.Path, default=None,
                        help="also save the raw result as JSON here")
    args = parser.parse_args(argv)
    result = run(args.pairs, args.steps,
                 log=lambda line: print(line, file=sys.stderr, flush=True))
    command = "python -m bench.asyncio_steps"
    if (args.pairs, args.steps) != (7, 20000):
        command += f" --pairs {args.pairs} --steps {args.steps}"
    report(render(result, command), SECTION, write=not args.no_write, raw=result,
           raw_path=args.raw)


if __name__ == "__main__":
    main()
