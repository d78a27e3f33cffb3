"""A renderer that dies says why where a failing test's report shows it.

Chromium's renderers write their last words (the signal, a V8 fatal error, a CHECK) to
stderr, never to ``--log-file``; the browser fixture has Playwright's driver keep its
processes' stderr (``DEBUG=pw:browser``, ``DEBUG_FILE``), and a "Target crashed" failure
gets its tail (:func:`conftest.crash_sections`).
"""

from __future__ import annotations

import pathlib
from typing import Any

from tests.browser.conftest import crash_sections

MODULE = pathlib.Path(__file__).stem


def test_a_crashed_renderers_last_words_reach_the_failure_report(browser: Any) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto("about:blank")
        with page.expect_event("crash", timeout=10_000):
            try:
                page.goto("chrome://crash", timeout=10_000)
            except Exception:  # noqa: BLE001 - the navigation dies with its renderer
                pass

        # Read at once, as the report hook does: crash_sections waits for the file to settle.
        sections = dict(crash_sections(MODULE))
        # The renderer's own line, from its own process: not the browser's account of it.
        assert "Intentionally crashing" in sections[
            "chromium stderr (last 200 lines, D-Bus left out)"], sections
        assert "chromium log (last 200 lines, D-Bus left out)" in sections
    finally:
        context.close()
