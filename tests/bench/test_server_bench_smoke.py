"""A tiny run of the server fan-out benchmark (50 streams, 1 run, both servers) so it keeps
working. Only sanity is asserted (every stream got every event, numbers in range); speed
goals live in bench/RESULTS.md, never in timed unit tests."""

from __future__ import annotations

import math
import pathlib

import pytest

import bench.server_fanout as fanout
from bench.results import write_section

STREAMS = 50
EVENTS = 3


@pytest.mark.bench
@pytest.mark.timeout(60)
def test_server_fanout_smoke_both_contenders() -> None:
    result = fanout.run([STREAMS], runs=1, events=EVENTS, log=lambda _line: None)
    runs = result["runs"]
    assert {r["contender"] for r in runs} == set(fanout.CONTENDERS)
    for r in runs:
        name = r["contender"]
        assert r["connected"] == STREAMS and r["failed"] == 0, (name, r["errors"])
        assert r["server_open_streams"] == STREAMS, name
        assert r["closed_after_connect"] == 0 and not r["incomplete_events"], name
        # Every stream received every event, exactly once.
        assert r["received"] == {str(seq): STREAMS for seq in range(1, EVENTS + 1)}, name
        assert 0 < r["p50_ms"] <= r["p99_ms"] <= r["max_ms"] < 5_000, name
        assert len(r["per_event_max_ms"]) == EVENTS
        assert 0 < r["connect_s"] < 20, name
        assert r["rss_idle_kb"] > 0 and r["rss_after_kb"] > 0, name
        # RSS can shift by a page or two per stream at this size; it must be plausible.
        assert math.isfinite(r["kb_per_stream"]) and -200 < r["kb_per_stream"] < 2_000, name
        assert 0 < r["post_ms_median"] < 5_000, name
    text = fanout.render(result, "python -m bench.server_fanout --streams 50 --runs 1")
    assert "| 50 | baseline |" in text and "| 50 | zariz |" in text
    assert "Ratios zariz / baseline" in text


def test_write_section_keeps_other_text(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n<!-- browser:start -->\nB\n<!-- browser:end -->\n")
    write_section(path, "server-fanout", "first")
    write_section(path, "server-fanout", "second")
    text = path.read_text()
    assert "<!-- browser:start -->\nB\n<!-- browser:end -->" in text
    assert text.count("<!-- server-fanout:start -->") == 1
    assert "second" in text and "first" not in text
