"""A tiny run of the server fan-out benchmark (50 streams, 1 run, every contender, the
streams split over two load processes as 20,000 are) so it keeps working. Only sanity is
asserted (every stream got every event, numbers in range); speed goals live in
bench/RESULTS.md, never in timed unit tests."""

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
def test_server_fanout_smoke_every_contender(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout, "STREAMS_PER_LOADGEN", 30)  # 50 streams -> 2 processes
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
        assert r["server_cpu_us"] >= 0 and r["load_cpu_us"] >= 0, name
        assert r["stack"] == "+".join(fanout.STACKS[name]), name
    text = fanout.render(result, "python -m bench.server_fanout --streams 50 --runs 1")
    for name in fanout.CONTENDERS:
        assert f"| 50 | {name} | {'+'.join(fanout.STACKS[name])} |" in text
    assert "Ratios zariz / baseline" in text and "Ratios zariz / zariz-h11" in text


def test_load_processes_results_are_merged() -> None:
    connected = fanout.merge("connected", [
        {"phase": "connected", "ok": 3, "failed": 1, "connect_s": 0.5, "errors": {"x": 1}},
        {"phase": "connected", "ok": 2, "failed": 0, "connect_s": 0.7, "errors": {"x": 2}},
    ])
    assert connected == {"phase": "connected", "ok": 5, "failed": 1, "connect_s": 0.7,
                         "errors": {"x": 3}}
    result = fanout.merge("result", [
        {"phase": "result", "latency_ms": {"1": [1.0]}, "received": {"1": 1}, "open": 1,
         "closed_after_connect": 0},
        {"phase": "result", "latency_ms": {"1": [2.0], "2": [3.0]},
         "received": {"1": 1, "2": 1}, "open": 1, "closed_after_connect": 1},
    ])
    assert result["latency_ms"] == {"1": [1.0, 2.0], "2": [3.0]}
    assert result["received"] == {"1": 2, "2": 1}
    assert (result["open"], result["closed_after_connect"]) == (2, 1)


def test_write_section_keeps_other_text(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n<!-- browser:start -->\nB\n<!-- browser:end -->\n")
    write_section(path, "server-fanout", "first")
    write_section(path, "server-fanout", "second")
    text = path.read_text()
    assert "<!-- browser:start -->\nB\n<!-- browser:end -->" in text
    assert text.count("<!-- server-fanout:start -->") == 1
    assert "second" in text and "first" not in text


def test_runs_of_several_result_files_are_summarized_together() -> None:
    def run(n: int, contender: str, p99: float) -> dict[str, object]:
        return {"contender": contender, "streams": n, "connected": n, "failed": 0,
                "errors": {}, "incomplete_events": [], "received": {"1": n},
                "expected_per_event": n, "load_before": 1.0,
                **{m: p99 for m in fanout.METRICS}}

    first = {"runs": [run(10, "zariz", 1.0), run(10, "zariz", 3.0)], "events": 1,
             "runs_per_cell": 2, "contenders": ["zariz"]}
    second = {"runs": [run(10, "zariz", 2.0), run(20, "baseline", 5.0)], "events": 1,
              "runs_per_cell": 1, "contenders": ["baseline", "zariz"],
              "clamped": {"20": 25}}
    merged = fanout.merge_results([first, second])
    assert merged["summary"]["10"]["zariz"]["p99_ms"] == 2.0  # the median of all three
    assert merged["summary"]["10"]["zariz"]["runs"] == 3
    assert merged["summary"]["20"]["baseline"]["all_delivered"] is True
    assert merged["contenders"] == ["zariz", "baseline"] and merged["clamped"] == {"20": 25}
    assert "| 20 (25 asked) | baseline |" in fanout.render(merged, "cmd")
