"""The fault matrix, once per fault with short timings (the full run with medians and
the 2-minute outage is ``python -m bench.reliability`` / ``make reliability``).

A real server (ping every 2 s: watchdog window 5 s) behind a fault-injecting TCP proxy on
loopback; chromium loads ``/dashboard/orders`` through the proxy and logs in through the
form; orders are created through the API, on the server directly, before, during and right
after each fault. Each test checks, for its fault: the indicator's status during the fault
and its return to ``connected``, every order in the table exactly once (the table equals
``GET /v1/orders``; no subscriber gets an id twice), the server's stream gauge back to one
per tab, and attempts bounded by the backoff. The measurement code is shared with the
benchmark (``bench/faults.py``, run by ``bench/reliability.py``); run with ``-s`` to see
the numbers.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from bench import faults
from bench.fault_rig import Rig, Timings, rig
from bench.fault_run import FaultResult

TIMINGS = Timings()  # short: every fault lasts a few seconds, the outage 12 s
MEASURED: list[str] = []


@pytest.fixture(scope="module")
def matrix_rig(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """One server + proxy + tab for the faults that leave the tab's session alone (each
    fault heals everything it switched on, whatever happens)."""
    with rig(browser, tmp_path_factory.mktemp("fault-matrix"), TIMINGS) as r:
        yield r
    print("\n[fault matrix]\n" + "\n".join(MEASURED))


def _check(result: FaultResult) -> None:
    MEASURED.append(result.line())
    print("\n" + result.line())
    assert result.ok, result.line()
    assert not result.lost and result.duplicated == 0


@pytest.mark.parametrize("fault", faults.MAIN_FAULTS)
def test_fault_recovers_with_every_order_exactly_once(matrix_rig: Rig, fault: str) -> None:
    try:
        result = faults.MAIN[fault](matrix_rig)
    finally:
        matrix_rig.heal()
    _check(result)
    if fault == "stall":
        # Detected within the watchdog window (2.5 x the announced 2 s ping), plus slack
        # for timers in a busy tab.
        assert result.detection_s is not None
        assert result.detection_s <= TIMINGS.stall_window + TIMINGS.slack_s
    if fault == "latency":
        # Slow is not dead: the indicator was connected when the latency began and never
        # showed anything else until it ended (plus slack for a late timer).
        log = result.status_log
        assert [s for t, s in log if t <= 0][-1:] == ["connected"], log
        left = [(t, s) for t, s in log
                if 0 < t <= result.fault_s + TIMINGS.slack_s and s != "connected"]
        assert left == [], log
        assert result.fault_s >= TIMINGS.latency_s * 0.9, result.fault_s


def test_cut_before_the_first_event_loses_no_order(matrix_rig: Rig) -> None:
    """Regression: a stream opened without Last-Event-ID started "from now" and
    told the client no position, so a reconnect before the tab's first event resumed from
    nothing, and the orders committed meanwhile never reached the table. Each of them must
    now arrive as a replayed event (every log id after the cut dispatched): a refetch of
    the table would hide a client that ignored the stream's ``position`` frame."""
    try:
        result = faults.cut_before_first_event(matrix_rig)
    finally:
        matrix_rig.heal()
    _check(result)


def test_token_expiring_mid_stream_reconnects_once_without_a_401_loop(
    browser: Any, tmp_path: pathlib.Path
) -> None:
    env = {"ZARIZ_ACCESS_TTL": f"{TIMINGS.access_ttl:g}"}
    with rig(browser, tmp_path, TIMINGS, env) as short:
        result = faults.token_expiry(short)
    _check(result)


def test_outage_attempts_stay_within_the_backoff(matrix_rig: Rig) -> None:
    """Every connection refused for 12 s: the attempts follow full-jitter backoff (2 s base
    doubling to a 30 s cap) — a handful, not a loop — and the tab comes back afterwards."""
    try:
        o = faults.outage(matrix_rig, TIMINGS.outage_s)
    finally:
        matrix_rig.heal()
    line = o.line()
    MEASURED.append(line)
    print("\n" + line)
    assert not o.problems, o.problems
    assert 2 <= len(o.ours) <= o.bound
