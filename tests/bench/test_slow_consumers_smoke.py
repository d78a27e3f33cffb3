"""A tiny run of ``bench.slow_consumers`` (20 slow streams, 1 run) so it keeps working.
Only the plumbing is asserted here (streams opened, dropped, every normal stream served,
a report rendered); whether dropped sockets get closed is tests/server/test_slow_consumers.py.
"""

from __future__ import annotations

import pytest

import bench.slow_consumers as slow


@pytest.mark.bench
@pytest.mark.timeout(90)
def test_slow_consumers_smoke() -> None:
    cfg = slow.Config(slow=20, normal=2, events=10, max_events=3_000, max_s=30, settle=1,
                      queue=16)
    result = slow.run(cfg, runs=1, log=lambda _line: None)
    (r,) = result["runs"]
    assert r["dropped"] == 20 and r["normal_closed"] == 0
    assert r["all_delivered"], r["missing"]
    assert r["samples"]["slow_connected"]["fds"] >= r["samples"]["idle"]["fds"] + 20
    assert r["peak"]["rss_kb"] > 0
    for phase in ("baseline", "with_slow", "after_drop"):
        assert 0 < r["latency"][phase]["p50_ms"] < 10_000, phase
    text = slow.render(result, "python -m bench.slow_consumers --slow 20 --runs 1")
    assert "## Slow consumers" in text and "| baseline: no slow streams" in text


def test_socket_stats_parses_proc_net_tcp() -> None:
    stats = slow.socket_stats(1)  # nothing listens on port 1
    assert stats.server_states == {} and stats.server_send_queue == 0
