"""A small run of ``python -m bench`` so it keeps working (numbers are not asserted here:
speed goals live in bench/RESULTS.md, never in timed unit tests), and its trace arithmetic
on a hand-made trace."""

from __future__ import annotations

from typing import Any

import pytest

import bench.__main__ as bench


def _mark(name: str, ts: float, tts: float) -> dict[str, Any]:
    return {"name": name, "cat": "blink.user_timing", "ph": "I", "pid": 1, "tid": 1,
            "ts": ts, "tts": tts}


def _task(ts: float, dur: float) -> dict[str, Any]:
    return {"name": "ThreadControllerImpl::RunTask", "ph": "X", "pid": 1, "tid": 1,
            "ts": ts, "dur": dur}


def test_drains_read_cpu_wall_and_idle_from_the_trace() -> None:
    events = [
        _mark("bench:release", 1000, 50), _mark("bench:last", 11_000, 4050),
        _mark("bench:release", 20_000, 5000), _mark("bench:last", 22_000, 6000),
        _task(0, 3000), _task(2000, 1000),  # overlapping: counted once
        _task(8000, 5000), _task(19_000, 4000),
        {**_task(1000, 9000), "tid": 2},  # another thread's task: not this page's
    ]
    first, second = bench.drains(events)
    assert first["wall_ms"] == 10 and first["cpu_ms"] == 4
    assert first["busy_ms"] == 5  # [1000, 3000] + [8000, 11000]
    assert second["wall_ms"] == 2 and second["cpu_ms"] == 1 and second["busy_ms"] == 2
    with pytest.raises(RuntimeError, match="1 release marks and 0"):
        bench.drains([_mark("bench:release", 0, 0)])


def test_sampled_splits_the_window_by_innermost_frame() -> None:
    nodes = [
        {"id": 1, "callFrame": {"functionName": "(root)"}},
        {"id": 2, "parent": 1, "callFrame": {"functionName": "(program)"}},
        {"id": 3, "parent": 1, "callFrame": {"functionName": "flush"}},
        {"id": 4, "parent": 3, "callFrame": {"functionName": "wasm-function[12]",
                                             "url": "http://x/pyodide.asm.wasm"}},
        {"id": 5, "parent": 1, "callFrame": {"functionName": "(idle)"}},
    ]
    events = [
        {"name": "Profile", "pid": 1, "tid": 1, "id": "0x1", "args": {"data": {"startTime": 0}}},
        # samples at 100, 200, 300 (out of order in the chunk), 400, 500
        {"name": "ProfileChunk", "pid": 1, "tid": 9, "id": "0x1", "args": {"data": {
            "cpuProfile": {"nodes": nodes, "samples": [2, 4, 3, 5, 2]},
            "timeDeltas": [100, 200, -100, 200, 100]}}},
    ]
    got = bench.sampled(events, 1, 1, 100, 450)
    assert got == {"native": 0.1, "js": 0.1, "python": 0.1, "idle": 0.05}


@pytest.mark.bench
@pytest.mark.browser
@pytest.mark.timeout(180)
def test_bench_smoke_runs_every_contender() -> None:
    lines: list[str] = []
    # One page per contender (the zariz one boots the whole app): 10 subscribers, one drain
    # timed and one profiled, then the client's stages; the open part on the JS page only.
    result = bench.run(runs=1, events=300, rounds=1, subscribers=(10,),
                       open_contenders=("js",), log=lines.append)
    assert len(result["open_ms"]["js"]) == 1 and result["open_ms"]["js"][0] > 0
    (table,) = result["stream"].values()
    assert set(table) == set(bench.CONTENDERS)
    for (got,) in table.values():  # every drain timed, and traced
        assert got["events_per_s"] > 0 and got["cpu_us_per_event"] > 0
        assert got["idle_share"] is not None and 0 <= got["idle_share"] <= 1
    (profile,) = result["profile"].values()  # the JS page's 2 ms drain may miss the sampler
    assert set(profile) == set(bench.CONTENDERS) and profile["js"]["cpu_ms"] > 0
    for who in ("stock", "ours"):
        assert profile[who]["ms"].get("python", 0) > 0
    assert "python" not in profile["js"]["ms"]
    stages = result["stages"]
    assert all(isinstance(stages[k], float) for k in bench.STAGE_NAMES), stages
    assert stages["full_1"] > stages["dispatch_1"] > 0 and stages["parse_json"] > 0
    text = bench.render(result)
    assert "| 10 | zariz app" in text and "events/s by CPU" in text and len(lines) == 3
    assert "### 3. Where the main thread's time goes" in text and "the whole path" in text
