"""The soak's section of bench/RESULTS.md, from what :func:`bench.soak.run_soak` returns."""

from __future__ import annotations

import datetime as dt
import os
import platform as pyplatform
from collections.abc import Callable
from typing import Any

from bench.soak_probe import Tolerances

ROWS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("js_heap_used", "JS heap used (CDP `Runtime.getHeapUsage`, after GC)",
     lambda v: f"{v / 1e6:.2f} MB"),
    ("wasm_bytes", "Pyodide WASM linear memory", lambda v: f"{v / 2**20:.1f} MiB"),
    ("py_objects", "Python GC-tracked objects (after `gc.collect()`)", lambda v: f"{v:,}"),
    ("live_proxies", "live JS<->Python proxies (`stats.live_proxies`)", lambda v: f"{v}"),
    ("dom_nodes", "DOM nodes (CDP `Memory.getDOMCounters`)", lambda v: f"{v:,}"),
    ("js_listeners", "JS event listeners (CDP)", lambda v: f"{v}"),
    ("documents", "documents (CDP)", lambda v: f"{v}"),
    ("ui_listeners", "the app's own listener count (`__zarizUI().listeners`)", lambda v: f"{v}"),
    ("elements", "elements in the document", lambda v: f"{v:,}"),
]


def render(result: dict[str, Any], command: str) -> str:
    cfg = result["config"]
    start, end, boot = result["start"], result["end"], result["boot"]
    table = result["table"]
    flat = not result["flat_problems"]
    lines = [
        "## Soak: a day in a tab",
        "",
        f"Run {dt.date.today().isoformat()} on {pyplatform.node() or 'this machine'} "
        f"({os.cpu_count()} cores, shared with other work), Chromium headless, one tab on "
        f"`/dashboard/orders` with {cfg['orders']:,} orders against `python -m server`. "
        f"After a warm-up ({cfg['warmup_events']:,} events, {cfg['warmup_reconnects']} "
        f"reconnects, {cfg['warmup_refreshes']} refresh): **{result['events_sent']:,} events, "
        f"{result['steps'].get('reconnect', 0):,} forced reconnects and "
        f"{result['steps'].get('refresh', 0)} token refreshes** in {result['run_s']:.0f} s "
        f"({result['events_per_s']:,.0f} events/s through the REST API, the tab caught up "
        f"{result['catch_up_s']:.1f} s after the last one)"
        + ("" if result["complete"] else " - **INCOMPLETE: "
           + "; ".join(result.get("incomplete") or ["stopped at the deadline"]) + "**")
        + ".",
        "",
        f"Rerun: `{command}`",
        "",
        "| measure | after boot | start | end | end - start | flat |",
        "|---|---:|---:|---:|---:|:---:|",
    ]
    problems = " ".join(result["flat_problems"])
    for key, label, fmt in ROWS:
        delta = end[key] - start[key]
        sign = "+" if delta >= 0 else "-"
        verdict = "NO" if problems.startswith(key) or f" {key}:" in problems else "yes"
        if key == "elements":
            verdict = "-"
        lines.append(f"| {label} | {fmt(boot[key])} | {fmt(start[key])} | {fmt(end[key])} "
                     f"| {sign}{fmt(abs(delta))} | {verdict} |")
    c0, c1 = start["client"], end["client"]
    dups = c1["duplicates_dropped"] - c0["duplicates_dropped"]
    lines += [
        "",
        f"**Complete: {'yes' if result['complete'] else 'NO'}**"
        + ("" if result["complete"] else " - " + "; ".join(result.get("incomplete") or []))
        + ".",
        "",
        f"**Flat: {'yes' if flat else 'NO'}**"
        + ("" if flat else " - " + "; ".join(result["flat_problems"])) + ". Tolerances: "
        + "; ".join(cfg_tol for cfg_tol in Tolerances(**cfg["tolerances"]).describe()) + ".",
        "",
        f"**Table == API: {'yes' if table['ok'] else 'NO'}** - {table['api_orders']:,} "
        f"orders from `GET /v1/orders`, {table['store_orders']:,} in the page's store "
        f"(missing {table['n_missing']}, extra {table['n_extra']}, status/`updated_at` "
        f"differing {table['n_stale']}, duplicates {table['duplicates']}); first page of 50 "
        f"rows as rendered: {'equal' if table['first_page_equal'] else 'DIFFERENT'}; the "
        f"`{table['filtered_status']}` filter's first page: "
        f"{'equal' if table['filtered_page_equal'] else 'DIFFERENT'}; per-status counts "
        f"shown: {'equal' if not table['counts_mismatch'] else table['counts_mismatch']}.",
        "",
        f"Client counters over the run: {c1['opens'] - c0['opens']:,} stream opens, "
        f"{c1['events'] - c0['events']:,} events (each stream's `position` frame counts as "
        f"one), {dups:,} duplicates dropped, "
        f"{c1['errors'] - c0['errors']} stream errors, "
        f"{c1['stalls'] - c0['stalls']} stalls, {c1['handler_errors'] - c0['handler_errors']} "
        f"handler errors; REST: {result['requests'].get('orders_list', 0)} order-list requests "
        f"(refetches), {result['requests'].get('ticket', 0):,} tickets, "
        f"{result['requests'].get('refresh', 0)} refreshes. Events by kind: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(result["event_kinds"].items()))
        + (f"; failed requests: {result['failed_requests']}" if result["failed_requests"]
           else "") + ".",
    ]
    if result["type_growth"]:
        lines += ["", "Python object types that grew most (end - start): "
                  + ", ".join(result["type_growth"]) + "."]
    lines += [
        "",
        "Snapshots are taken with the tab quiet (caught up with the server's newest event "
        "id, no load in flight, no toast or frame pending), after `gc.collect()` in the page "
        "and two CDP `HeapProfiler.collectGarbage`. WASM linear memory never shrinks, so it "
        "shows the peak need; growth after the warm-up is what a leak would look like.",
    ]
    return "\n".join(lines)
