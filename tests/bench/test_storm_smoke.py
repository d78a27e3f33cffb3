"""A small reconnect storm (40 streams, one round of ``jitter`` and one of ``no-jitter``;
``jitter-1s`` differs only in its base, which the rule test covers) so ``bench.storm`` keeps
working: every stream comes back after the restart and resumes by id without a loss or a
duplicate, and the no-jitter client, by construction, reconnects all at once. The storm's
figures at 1,000 streams live in bench/RESULTS.md, never in timed unit tests."""

from __future__ import annotations

import functools
import random

import pytest

import bench.storm as storm

STREAMS = 40


def test_delay_is_the_browser_clients_full_jitter_rule() -> None:
    from zariz.sse.backoff import Backoff  # the app's own rule, importable in CPython

    for attempt in range(8):
        for r in (0.0, 0.25, 0.5, 0.999):
            draw = functools.partial(float, r)
            backoff = Backoff(base=storm.BASE_S, cap=storm.CAP_S, rand=draw)
            backoff.attempt = attempt
            assert storm.delay("jitter", attempt, rand=draw) == pytest.approx(
                backoff.next_delay())
    assert [storm.delay("no-jitter", a) for a in range(7)] == [2, 4, 8, 16, 30, 30, 30]
    from zariz.sse.client import BACKOFF_BASE_S

    assert storm.BASE_S == BACKOFF_BASE_S, "the bench runs the client's own rule"


def test_peak_share_counts_the_busiest_window() -> None:
    assert storm.peak_share([], 10) == 0.0
    assert storm.peak_share([0.0, 0.099, 0.1, 0.3], 4) == 0.5  # [0, 0.1) holds two
    rng = random.Random(1)
    spread = [rng.random() for _ in range(1000)]
    assert 0.08 < storm.peak_share(spread, 1000) < 0.2


@pytest.mark.bench
@pytest.mark.timeout(60)
def test_storm_smoke_both_policies_lose_nothing() -> None:
    result = storm.run(STREAMS, runs=1, max_s=40, log=lambda _line: None,
                       policies=("jitter", "no-jitter"))
    rounds = result["rounds"]
    assert sorted(r["policy"] for r in rounds) == ["jitter", "no-jitter"]
    for r in rounds:
        name = r["policy"]
        assert r["lost"] == 0 and r["duplicated"] == 0 and r["bad_streams"] == 0, r
        assert r["events_during_storm"] >= 4, r  # published while they came back, and after
        assert 0 < r["down_s"] < r["all_back_s"] < 40, (name, r)
        assert r["attempts_per_stream"] >= 1, r
        assert 0 < r["peak_attempt_share"] <= 1 and 0 < r["peak_open_share"] <= 1, r
        assert r["http_errors"] == 0, r
    flat = next(r for r in rounds if r["policy"] == "no-jitter")
    assert flat["peak_attempt_share"] == 1.0  # every stream retries at the same instant
    text = storm.render(result, "python -m bench.storm --streams 40 --runs 1")
    assert "| jitter |" in text and "| no-jitter |" in text
