"""A small run of every benchmark so they keep working (numbers are not asserted here:
speed goals live in bench/RESULTS.md, never in timed unit tests)."""

from __future__ import annotations

import pytest

import bench.__main__ as bench


@pytest.mark.bench
@pytest.mark.browser
@pytest.mark.timeout(300)
def test_bench_smoke_runs_every_contender() -> None:
    result = bench.run(runs=1, events=300)
    assert set(result["open_ms"]) == set(bench.CONTENDERS)
    for values in result["open_ms"].values():
        assert len(values) == 1 and values[0] > 0
    assert set(result["events_per_s"]) == {str(k) for k in bench.SUBSCRIBERS}
    for table in result["events_per_s"].values():
        assert set(table) == set(bench.CONTENDERS)
        for values in table.values():
            assert len(values) == 1 and values[0] > 0
    for details in result["ours_python"].values():  # the client's own time, measured
        assert len(details) == 1 and details[0]["python_us_per_event"] > 0
        assert 0 < details[0]["python_share"]
    text = bench.render(result)
    assert "zariz app" in text and "stock PyScript" in text
    assert "| 10 | zariz app" in text and "µs per event" in text
