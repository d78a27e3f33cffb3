"""A tiny run of the scale-out benchmark (60 streams over two instances on PostgreSQL +
Redis, beside one process; a 60-order burst; 300 orders drained through Redis) so it keeps
working. Only sanity is asserted (every stream got every event once, numbers in range);
the numbers live in bench/RESULTS.md, never in timed unit tests."""

from __future__ import annotations

import math

import pytest

import bench.scaleout as scaleout
from tests.support.postgres import shared_cluster

STREAMS = 60
EVENTS = 2
BURST = 60
DRAIN = 300
SETUPS = ("single", "2x-pg-redis")


@pytest.mark.bench
@pytest.mark.timeout(90)
def test_scaleout_smoke_two_instances_beside_one() -> None:
    result = scaleout.run([STREAMS], runs=1, events=EVENTS, setups=SETUPS, burst=BURST,
                          burst_streams=2, burst_workers=4, drain=DRAIN, log=lambda _line: None,
                          postgres=shared_cluster())
    runs = {r["setup"]: r for r in result["runs"]}
    assert set(runs) == set(SETUPS), [r.get("error") for r in result["runs"]]
    for name, r in runs.items():
        assert "error" not in r, (name, r.get("error"))
        assert r["connected"] == STREAMS and r["failed"] == 0, (name, r["errors"])
        assert r["server_open_streams"] == STREAMS, name
        assert r["closed_after_connect"] == 0 and not r["incomplete_events"], name
        # Every stream received every event, exactly once (the load process drops a
        # second copy of a seq, so "once" is: the count per event equals the streams).
        assert r["received"] == {str(seq): STREAMS for seq in range(1, EVENTS + 1)}, name
        assert 0 < r["p50_ms"] <= r["p99_ms"] <= r["max_ms"] < 10_000, name
        assert math.isfinite(r["kb_per_stream"]) and -500 < r["kb_per_stream"] < 2_000, name
        assert 0 < r["post_ms_median"] < 5_000 and r["server_cpu_us"] >= 0, name
    assert runs["2x-pg-redis"]["instances"] == 2 and runs["single"]["instances"] == 1
    bursts = {b["setup"]: b for b in result["bursts"]}
    assert set(bursts) == set(SETUPS), result["bursts"]
    for name, b in bursts.items():
        assert "error" not in b, (name, b.get("error"))
        assert b["complete_events"] == BURST, name
        assert b["events_per_s"] > 0 and b["posts_per_s"] > 0, name
    drains = result["drains"]
    assert [d["setup"] for d in drains] == ["2x-pg-redis"], drains  # not "single"
    assert drains[0]["complete_events"] == DRAIN and drains[0]["events_per_s"] > 0
    text = scaleout.render(result, "python -m bench.scaleout --quick")
    assert f"| {STREAMS} | 2x-pg-redis |" in text and f"| {STREAMS} | single |" in text
    assert "events/s" in text and "events/s through Redis" in text


def test_streams_split_evenly_over_instances() -> None:
    assert scaleout._split(10_000, 2) == [5000, 5000]
    assert scaleout._split(7, 2) == [4, 3]
    assert scaleout._split(5, 1) == [5]
