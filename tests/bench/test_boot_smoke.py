"""A small run of ``python -m bench.boot`` (1 run; the default boot, the stock PyScript page
and the plain JS page; 300 seeded orders; one traced mode) so the command keeps working and
every row of its report is produced. Speed lives in bench/RESULTS.md, not here."""

from __future__ import annotations

import pytest

import bench.boot as bench


@pytest.mark.bench
@pytest.mark.browser
@pytest.mark.timeout(420)
def test_boot_smoke_produces_every_row() -> None:
    lines: list[str] = []
    result = bench.run(runs=1, contenders=("zariz", "stock", "js"),
                       orders_contenders=("zariz",), seed_orders=300, trace_modes=("zariz",),
                       max_s=360, log=lines.append)
    assert result["problems"] == [], result["problems"]
    assert result["rounds"] == 1 and result["orders_total"] == 300
    # 1. navigation -> stream open, cold and warm, every contender
    for who in ("zariz", "stock", "js"):
        for load in ("cold", "warm"):
            (s,) = result["open"][who][load]
            assert s["open_ms"] > 0
            # 3. first paint and the longest block, from the same loads
            assert s["fp_ms"] is not None and s["fcp_ms"] is not None
            assert s["block_ms"] >= 0
    app = result["open"]["zariz"]["warm"][0]
    assert app["marks"]["zariz:app-mounted"] <= app["marks"]["zariz:sse-open"]
    # Restoring or initialising Pyodide blocks the main thread at least once.
    assert app["block_ms"] > bench.BLOCK_MS
    # 2. the orders table, rendered after its rows are in the DOM
    (orders,) = result["orders"]["zariz"]["warm"]
    assert orders["rendered_ms"] >= orders["rows_ms"] > 0
    # 4. memory per tab: the renderer process was found and read
    for who in ("zariz", "stock", "js"):
        (mem,) = result["memory"][who]
        assert mem["pid"] is not None and mem["uss_mb"] > 0 and mem["js_heap_total_mb"] > 0
    assert result["memory"]["zariz"][0]["uss_mb"] > result["memory"]["js"][0]["uss_mb"]
    # 3. the trace names the longest task
    assert {(t["who"], t["load"]) for t in result["traces"]} == {("zariz", "cold"),
                                                                 ("zariz", "warm")}
    for t in result["traces"]:
        assert "error" not in t, t
        assert t["task_ms"] > 0 and t["phases"] and t["boot_phases"]
    text = bench.render(result, "python -m bench.boot --runs 1")
    for heading in ("### 1. Navigation -> stream open", "### 2. Navigation -> orders table",
                    "### 3. Main thread during boot", "### 4. Memory per tab"):
        assert heading in text
    assert "snapshot: " in text and "No problems recorded." in text
    assert lines == ["[boot] round 1/1 done in " + lines[0].split(" in ", 1)[1],
                     "[boot] traced zariz"]
