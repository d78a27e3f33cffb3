"""A small run of every benchmark so they keep working (numbers are not asserted here:
speed goals live in bench/RESULTS.md, never in timed unit tests)."""

from __future__ import annotations

import pytest

import bench.__main__ as bench


@pytest.mark.bench
@pytest.mark.browser
def test_bench_smoke_runs_every_contender() -> None:
    result = bench.run(runs=1, events=300)
    for table in ("open_ms", "events_per_s"):
        assert set(result[table]) == set(bench.CONTENDERS)
        for values in result[table].values():
            assert len(values) == 1 and values[0] > 0
    text = bench.render(result)
    assert "zariz app" in text and "stock PyScript" in text
