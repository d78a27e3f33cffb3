from __future__ import annotations

import random
import statistics

import pytest
from zariz.sse.backoff import Backoff
from zariz.sse.client import BACKOFF_BASE_S as BASE

from tests.app.conftest import Tab


def test_ceiling_doubles_to_cap_and_survives_huge_attempts() -> None:
    b = Backoff(base=1.0, cap=30.0, rand=lambda: 0.999999)
    assert [round(b.ceiling(n), 3) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert b.ceiling(5000) == 30.0
    b.attempt = 5000
    assert b.next_delay() <= 30.0


@pytest.mark.parametrize(
    ("kw", "exc"),
    [
        ({"base": 0, "cap": 1}, ValueError),
        ({"base": 2, "cap": 1}, ValueError),
        ({"base": True, "cap": 1}, ValueError),
        ({"base": 1, "cap": "30"}, ValueError),
    ],
)
def test_invalid_arguments(kw: dict[str, object], exc: type[Exception]) -> None:
    with pytest.raises(exc):
        Backoff(rand=random.random, **kw)  # type: ignore[arg-type]


def test_full_jitter_gaps_grow_stay_under_cap_and_reset() -> None:
    per_attempt: list[list[float]] = [[] for _ in range(10)]
    for seed in range(300):
        b = Backoff(base=1.0, cap=30.0, rand=random.Random(seed).random)
        for n in range(10):
            delay = b.next_delay()
            assert 0.0 <= delay <= min(30.0, 2.0**n)
            per_attempt[n].append(delay)
        b.reset()
        assert b.attempt == 0 and b.next_delay() <= 1.0
    means = [statistics.mean(d) for d in per_attempt]
    # the expected delay is ceiling/2: it doubles until the cap, then stays around 15 s
    assert means[0] < means[1] < means[2] < means[3] < means[4] < means[5]
    assert all(13.0 < m < 17.0 for m in means[5:])
    # jitter: draws for one attempt are spread, not a fixed ladder
    assert len({round(d, 6) for d in per_attempt[4]}) > 250


async def _gaps(tab: Tab, n: int) -> list[float]:
    """Fail ``n`` connects in a row (ticket 503) and return the waits the client chose."""
    client = tab.client()
    tab.server.ticket_mode = "500"
    client.connect()
    await tab.platform.settle()
    gaps = []
    for _ in range(n):
        wait = client.retry_in()
        assert wait is not None and client.status == "connecting"
        gaps.append(wait)
        before = tab.ticket_requests
        await tab.platform.advance(wait)
        assert tab.ticket_requests == before + 1, "the retry fired exactly at next_retry_at"
    return gaps


async def test_client_backoff_grows_under_cap_with_jitter_and_resets_after_open(
    make_tab,
) -> None:
    runs = []
    for seed in range(40):
        tab = make_tab(seed=seed)
        gaps = await _gaps(tab, 9)
        assert all(g <= min(30.0, BASE * 2.0**i) + 1e-9 for i, g in enumerate(gaps)), gaps
        assert tab.platform.sources == [], "5xx never opened a source"
        runs.append(gaps)
        # success: open resets the attempt counter, the next failure starts at base again
        tab.server.ticket_mode = "ok"
        client = tab.clients[0]
        await tab.platform.advance(client.retry_in() or 0)
        tab.platform.source.open()
        assert client.stats["attempt"] == 0
        tab.platform.source.error()
        assert client.retry_in() is not None and client.retry_in() <= BASE
    assert statistics.mean(r[0] for r in runs) < statistics.mean(r[3] for r in runs)
    assert statistics.mean(r[3] for r in runs) < statistics.mean(r[8] for r in runs)
    assert len({r[5] for r in runs}) == len(runs), "jitter: no two seeds wait the same"
