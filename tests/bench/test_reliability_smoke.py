"""A small run of ``python -m bench.reliability`` (one fault, a short outage with the
baseline) so the command keeps working, plus the pieces it is built from. The fault matrix
itself is tested in tests/browser/test_fault_matrix.py; numbers live in the README."""

from __future__ import annotations

import pathlib

import pytest

import bench.reliability as reliability
from bench.fault_rig import Timings
from bench.fault_run import BACKOFF_BASE, max_attempts
from bench.results import write_section


@pytest.mark.bench
@pytest.mark.browser
@pytest.mark.timeout(150)
def test_reliability_smoke_one_fault_and_a_short_outage(tmp_path: pathlib.Path) -> None:
    lines: list[str] = []
    result = reliability.run(rounds=1, outage_s=6, timings=Timings(),
                             log=lines.append, faults=("cut_mid_stream",))
    (cut,) = result["rounds"][0].values()
    assert cut.fault == "cut_mid_stream" and cut.ok, cut.line()
    assert cut.detection_s is not None and cut.recovery_s is not None
    outage = result["outage"]
    assert 1 <= len(outage.ours) <= outage.bound, outage.line()
    assert outage.baseline is not None and len(outage.baseline) >= 1
    text = reliability.render(result)
    assert "| cut every connection mid-stream (after events flowed) |" in text
    assert "plain `EventSource`" in text and "## Reliability" in text
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n## Results\n\nr\n\n## Contracts others rely on\n\nc\n")
    write_section(readme, "reliability", text, before="## Contracts others rely on")
    written = readme.read_text()
    assert written.index("## Reliability") < written.index("## Contracts others rely on")
    assert written.index("## Results") < written.index("<!-- reliability:start -->")
    assert any(line.startswith("[cut_mid_stream]") for line in lines)


def test_write_section_inserts_before_a_heading_once_then_replaces(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "README.md"
    path.write_text("# T\n\nintro\n\n## Contracts\n\nkeep\n")
    write_section(path, "reliability", "first", before="## Contracts")
    write_section(path, "reliability", "second", before="## Contracts")
    text = path.read_text()
    assert text == ("# T\n\nintro\n\n<!-- reliability:start -->\nsecond\n"
                    "<!-- reliability:end -->\n\n## Contracts\n\nkeep\n")
    write_section(path, "other", "appended", before="## Missing")
    assert path.read_text().endswith("<!-- other:start -->\nappended\n<!-- other:end -->\n")


def test_attempt_bound_follows_the_backoff_not_the_clock() -> None:
    # Full jitter, 2 s doubling to 30 s (the client's rule): a handful of attempts in the
    # first 20 s, ~2 a minute later on. A tight loop (one per 100 ms) would be 200 in 20 s.
    from zariz.sse.client import BACKOFF_BASE_S

    assert BACKOFF_BASE == BACKOFF_BASE_S, "the bound is the client's own rule"
    short, minute, two = (max_attempts(s) for s in (20, 60, 120))
    assert 6 <= short <= 12
    assert short < minute < two <= 25
    assert max_attempts(20) == short  # seeded: the bound is fixed
    assert max_attempts(0) == 1
