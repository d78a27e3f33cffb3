"""A small run of ``python -m bench.dev_reload`` (2 page swaps, 1 shared-module swap, 1 F5)
so the command keeps working. Sanity only: every sample completed and the run's own checks
held (one SSE request per page load, gauge 1, leak counters unchanged). Speed lives in
bench/RESULTS.md, not here; the behaviour is tested in tests/browser/test_dev_reload.py."""

from __future__ import annotations

import pytest

import bench.dev_reload as bench


@pytest.mark.bench
@pytest.mark.browser
@pytest.mark.timeout(300)
def test_dev_reload_smoke() -> None:
    lines: list[str] = []
    result = bench.run(swaps=2, deep_swaps=1, reloads=1, rounds=1, max_s=240, log=lines.append)
    assert result["problems"] == [], result["problems"]
    assert (result["hot"]["n"], result["shared"]["n"], result["f5"]["n"]) == (2, 1, 1)
    assert all(v > 0 for v in result["samples"]["hot"] + result["samples"]["f5"])
    assert result["sse_requests"] == 2 and result["gauge"] == 1
    assert result["modules"]["page"] >= 2  # the page and the app that imports it
    assert result["modules"]["shared"] > result["modules"]["page"]
    assert {"fetch", "compile", "run", "mount"} <= set(result["phases"])
    text = bench.render(result, "python -m bench.dev_reload --swaps 2")
    assert "## Dev mode: hot reload vs F5" in text and "No problems recorded." in text
    assert lines == ["[dev-reload] round 1: 2 hot, 1 shared, 1 F5 so far"]
