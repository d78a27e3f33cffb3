"""A small run of ``python -m bench.latency`` (one sample per contender, 1 s at 40 events/s,
the two table pages' traced) so the command keeps working: every order of
the run was handled by every page and painted by both table pages, the server stamps were
found, the profile read the main thread, the report renders with the goal's verdicts.
Latency itself lives in bench/RESULTS.md."""

from __future__ import annotations

import pytest

import bench.latency as bench


@pytest.mark.bench
@pytest.mark.browser
@pytest.mark.timeout(180)
def test_latency_smoke() -> None:
    lines: list[str] = []
    result = bench.run(runs=1, rate=40, seconds=1.0, warmup=0.5, seed=60, retries=0,
                       profile_apart=False, log=lines.append)
    for who in bench.CONTENDERS:
        (sample,) = result["samples"][who]
        assert sample["orders"] == 40 and sample["errors"] == []
        assert sample["unhandled"] == 0 and sample["unpainted"] == 0, sample
        assert sample["handler"]["n"] == 40 and sample["handler"]["p50"] > 0
        if who == "ours_norows":  # the control makes no row
            assert sample["painted"] is None
            continue
        for metric in ("painted", "next_raf"):
            assert sample[metric]["n"] == 40 and sample[metric]["p50"] > 0
        # A row is painted after its event was handled (same clock, same order).
        assert sample["painted"]["p50"] >= sample["handler"]["p50"]
    assert len(lines) == 3 and result["repeated"] == 0
    profile = result["profile"]
    assert set(profile) == {"js", "ours"}
    for who, p in profile.items():  # the pages' frames and events, on their main thread
        assert p["events"] == 40 and p["cpu_ms"]["frame"] > 0, (who, p)
        assert sum(p["frame_parts_ms"].values()) <= p["cpu_ms"]["frame"] * 1.01
    assert profile["ours"]["sampled_ms"]["batch"].get("python", 0) > 0
    text = bench.render(result, "python -m bench.latency --runs 1")
    assert "## Latency: server publish -> handler and -> row painted" in text
    assert "zariz orders page" in text and "plain JS page (baseline)" in text
    assert "What the new rows cost the events" in text and "What bounds the misses" in text
    # The verdicts: handler, then painted by the goal's definition, the frame probe beside.
    verdicts = [line for line in text.splitlines() if "goal ≤" in line]
    assert [v.split(", p99")[0].lstrip("- ") for v in verdicts] == [
        bench.LABELS["handler"], bench.LABELS["next_raf"], bench.LABELS["painted"]]
    assert "**" in verdicts[1] and "**" not in verdicts[2]
