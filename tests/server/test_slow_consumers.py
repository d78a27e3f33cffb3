"""Streams that never read (issue 7, sections 4 and 5): against a real server, 100 raw
sockets open ``GET /v1/events/sse`` and never ``recv`` while 3 normal streams read.

The server must drop the slow ones (its per-stream queue overflows), **close their
sockets** within a few seconds (kernel send queues freed, fds released), keep its memory
bounded, and the normal streams must get every event. The run is
``bench.slow_consumers.run_once`` at a small size (a short queue and ~1.3 KB events so
the slow streams fill up after a few hundred events).
"""

from __future__ import annotations

import pathlib

import pytest

from bench.slow_consumers import Config, raise_nofile, run_once

SLOW = 100
NORMAL = 3
CLOSE_WITHIN_S = 5.0


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    raise_nofile()
    cfg = Config(slow=SLOW, normal=NORMAL, events=30, max_events=4_000, max_s=40,
                 settle=CLOSE_WITHIN_S, queue=16, notes_bytes=1000, mss=1448)
    workdir: pathlib.Path = tmp_path_factory.mktemp("slow")
    return run_once(cfg, workdir, log=lambda _line: None)


@pytest.mark.timeout(110)
def test_slow_streams_are_dropped_and_normal_ones_get_every_event(
    outcome: dict[str, object],
) -> None:
    r = outcome
    assert r["dropped"] == SLOW, r["dropped"]
    assert r["normal_closed"] == 0  # no reading stream was mistaken for a slow one
    assert r["all_delivered"], r["missing"]
    latency = r["latency"]
    assert isinstance(latency, dict)
    for phase in ("baseline", "with_slow", "after_drop"):
        assert latency[phase]["n"] > 0, phase


@pytest.mark.timeout(110)
def test_dropped_streams_sockets_are_closed_by_the_server(outcome: dict[str, object]) -> None:
    """The issue: dropped streams kept their sockets (ESTABLISHED, fds, MBs in kernel
    send queues) until the clients went away. The clients here never close."""
    r = outcome
    samples = r["samples"]
    assert isinstance(samples, dict)
    before, after = samples["before_slow"], samples["after_drop"]
    assert r["closed_after_s"] is not None, (
        f"{after['server_established']} server-side ESTABLISHED connections "
        f"{CLOSE_WITHIN_S:g} s after the drop (before the slow ones: "
        f"{before['server_established']}); states {after['server_states']}"
    )
    assert after["server_established"] <= before["server_established"]
    assert after["fds"] <= before["fds"] + 3, (before["fds"], after["fds"])
    # Closed means freed: an orphaned socket still holding its unsent data (a graceful
    # close behind a zero window) would keep the kernel memory as long as before.
    assert after["server_send_queue"] < 2_000_000, after["server_send_queue"]


@pytest.mark.timeout(110)
def test_memory_stays_bounded(outcome: dict[str, object]) -> None:
    r = outcome
    samples, peak = r["samples"], r["peak"]
    assert isinstance(samples, dict) and isinstance(peak, dict)
    # User-space cost of 100 blocked streams: uvicorn's 64 KB write buffer and a queue of
    # 16 events each, well under 100 MB over the idle server.
    assert peak["rss_kb"] - samples["idle"]["rss_kb"] < 100 * 1024, peak
    # Kernel: what the slow sockets can hold before they are dropped, then nothing.
    assert peak["server_send_queue"] < SLOW * 4_500_000, peak
