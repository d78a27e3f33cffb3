"""The "renderer crashes" summary lists a crash recorded in a pytest-xdist worker: the
controller that writes the summary never ran the test (tests/support/crashes.py)."""

from __future__ import annotations

import os
import pathlib
from types import SimpleNamespace

import pytest

from tests.support.crashes import CRASH_PROPERTY, crashes

pytest_plugins = ["pytester"]

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECTIONS = [("chromium log (last 200 lines)", "log line"),
            ("chromium stderr (last 200 lines)", "Received signal 11 SEGV_MAPERR")]


def test_crashes_are_read_from_failed_and_rerun_reports() -> None:
    def report(nodeid: str, props: list[tuple[str, object]]) -> SimpleNamespace:
        return SimpleNamespace(nodeid=nodeid, user_properties=props)

    stats = {
        "rerun": [report("t.py::a", [(CRASH_PROPERTY, SECTIONS)])],
        "passed": [report("t.py::a", []), report("t.py::b", [("other", 1)])],
        "failed": [report("t.py::c", [("other", 1), (CRASH_PROPERTY, SECTIONS)])],
        "warnings": [SimpleNamespace(message="no nodeid, no properties")],
    }
    assert crashes(stats) == [("t.py::a", SECTIONS), ("t.py::c", SECTIONS)]


@pytest.mark.parametrize("workers", ["0", "2"])
def test_the_summary_names_a_crash_recorded_in_a_worker(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    # The real hooks: the browser conftest's report hook (it records the crash with the
    # sections it finds: none here, no Chromium ran) and the root conftest's summary.
    pytester.makeconftest(
        "from tests.browser.conftest import pytest_runtest_makereport\n"
        "from tests.conftest import pytest_terminal_summary\n")
    pytester.makepyfile(test_inner="""
def test_crashes():
    raise RuntimeError("Page.goto: Target crashed")

def test_fine():
    pass
""")
    result = pytester.runpytest_subprocess("-n", workers, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*renderer crashes (Target crashed)*",
        "test_inner.py::test_crashes:",
    ])
    assert "test_inner.py::test_fine:" not in result.stdout.str()
