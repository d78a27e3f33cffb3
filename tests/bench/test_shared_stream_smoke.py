"""A small run of ``python -m bench.shared_stream`` (2 tabs per mode, 2 hand-overs of a
2-tab profile and the per-tab baseline) so the command keeps working. Sanity only: one
stream per profile in shared mode, one per tab in per-tab mode, every hand-over completed,
nothing lost or doubled. The hand-over itself is tested in
tests/browser/test_shared_stream.py; numbers live in bench/RESULTS.md."""

from __future__ import annotations

import pytest

import bench.shared_stream as bench


@pytest.mark.bench
@pytest.mark.browser
@pytest.mark.timeout(300)  # ~1.5 min alone; Pyodide boots slower on a busy machine
def test_shared_stream_smoke_matrix_handovers_and_baseline() -> None:
    lines: list[str] = []
    result = bench.run(handovers=2, runs=1, tab_counts=(2,), flow_interval=0.5,
                       series_tabs=2, max_s=240, log=lines.append)
    rows = {r["mode"]: r for r in result["matrix"]}
    assert set(rows) == set(bench.MODES)
    assert rows["shared"]["gauge"] == 1 and rows["per-tab"]["gauge"] == 2, rows
    for row in rows.values():
        assert row["connected_now"] == 2 and row["problem"] is None, row
        assert len(row["open_s"]) == 2 and row["all_connected_s"] is not None, row
    assert sorted(rows["shared"]["roles"]) == ["follower", "leader"]

    shared, per_tab = result["series"]["shared"], result["series"]["per-tab"]
    for series in (shared, per_tab):
        assert series["stopped"] is None and not series["problems"], series
        assert len(series["rounds"]) == 2
        for r in series["rounds"]:
            assert not r["problems"], r
            assert r["gauge_s"] is not None and r["all_tabs_s"] is not None, r
            assert 0 < r["new_tab_s"], r
        checked = series["exactly_once"]
        assert checked["expected"] > 0, checked
        assert (checked["lost"], checked["duplicated"], checked["unknown"]) == (0, 0, 0), checked
    for r in shared["rounds"]:
        assert r["leader_s"] is not None and r["streaming_s"] is not None, r
        assert r["new_tab_role"] == "follower"
    assert all(r["others_dropped"] == 0 for r in per_tab["rounds"])

    text = bench.render(result, "python -m bench.shared_stream --handovers 2")
    assert "| 2 | shared | 1 | 2/2 |" in text and "| 2 | per-tab | 2 | 2/2 |" in text
    assert "## One stream per browser" in text and "No problems recorded" in text
    assert any(line.startswith("[shared] round 2") for line in lines)
