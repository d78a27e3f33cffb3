"""A tiny run of ``python -m bench.soak`` (its own server and Chromium, 300 orders, 200
events, 4 reconnects, 1 refresh) so the command keeps working. Flatness and table == API
are asserted at a larger size in tests/browser/test_soak.py."""

from __future__ import annotations

import json
import pathlib

import pytest

import bench.soak as soak


@pytest.mark.bench
@pytest.mark.browser
@pytest.mark.timeout(240)
def test_soak_command_smoke(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "soak.json"
    soak.main(["--orders", "300", "--events", "200", "--reconnects", "4", "--refreshes", "1",
               "--warmup-events", "50", "--warmup-reconnects", "2", "--warmup-refreshes", "0",
               "--max-s", "180", "--no-write", "--json", str(out)])
    result = json.loads(out.read_text())
    assert result["complete"] and result["events_sent"] == 200
    assert result["steps"] == {"reconnect": 4, "refresh": 1}
    for key in ("js_heap_used", "wasm_bytes", "py_objects", "dom_nodes", "js_listeners",
                "live_proxies"):
        assert result["start"][key] > 0 and result["end"][key] > 0, key
    assert result["table"]["api_orders"] == result["table"]["store_orders"]
    text = soak.render(result, "python -m bench.soak --events 200")
    assert "## Soak: a day in a tab" in text and "| JS heap used" in text


def test_schedule_spreads_refreshes() -> None:
    steps = soak._schedule(1000, 100)
    assert steps.count("refresh") == 100 and steps.count("reconnect") == 1000
    gaps = [i for i, s in enumerate(steps) if s == "refresh"]
    assert max(b - a for a, b in zip(gaps, gaps[1:], strict=False)) <= 12
