"""A small run of ``python -m bench.asyncio_steps`` (1 pair, 2,000 steps) so the command
keeps working. Sanity only: both loaders booted, the app's took no JSPI and stock took it
where the browser has it, every time is positive. Speed lives in bench/RESULTS.md; the
loader's behaviour is tested in tests/browser/test_boot_snapshot.py."""

from __future__ import annotations

import pytest

import bench.asyncio_steps as bench


@pytest.mark.bench
@pytest.mark.browser
@pytest.mark.timeout(300)
def test_asyncio_steps_smoke() -> None:
    lines: list[str] = []
    result = bench.run(pairs=1, steps=2000, log=lines.append)
    assert result["jspi"]["zariz"] == [False], result["jspi"]
    for loader in bench.LOADERS:
        (got,) = result["samples"][loader]
        assert got["steps"] == 2000 and all(got[k] > 0 for k in bench.KINDS), got
        assert got["restored"] is True, got  # the page has JSPI again, if the browser has it
    # Stock Pyodide takes JSPI exactly where the browser has it (Chromium 137 and later).
    (stock,) = result["samples"]["stock"]
    assert stock["jspi"] is stock["browserJspi"], stock
    assert len(lines) == 2 and lines[0].startswith("[asyncio-steps] pair 1 zariz: jspi=False")
    text = bench.render(result, "python -m bench.asyncio_steps --pairs 1 --steps 2000")
    assert "## Browser: an asyncio step" in text and "| `await asyncio.sleep(0)` |" in text
