"""Renderer crashes ("Target crashed") of a session, for its terminal summary.

pytest shows a report's sections only when the test fails, and a crash that passes on its
rerun (pytest-rerunfailures) would leave its evidence in test-artifacts/ alone: the browser
tests' report hook (tests/browser/conftest.py) records each crash's sections on the report
as a user property, which travels with the report from a pytest-xdist worker, and the root
conftest's summary lists them all from the reports the terminal holds (failed and rerun).
"""

from __future__ import annotations

from typing import Any

CRASH_PROPERTY = "renderer_crash"


def record(report: Any, sections: list[tuple[str, str]]) -> None:
    """Keep a crash's sections on its report: shown with a failure, and listed by
    :func:`write_summary` whatever the outcome (a property travels with the report from
    an xdist worker to the controller, which writes the summary)."""
    report.sections.extend(sections)
    report.user_properties.append((CRASH_PROPERTY, sections))


def crashes(stats: dict[str, list[Any]]) -> list[tuple[str, list[tuple[str, str]]]]:
    """(test id, sections) of every report in ``stats`` that recorded a renderer crash."""
    found = []
    for reports in stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", None) or ():
                if name == CRASH_PROPERTY:
                    found.append((report.nodeid, [(str(t), str(x)) for t, x in value]))
    return found


def write_summary(terminalreporter: Any) -> None:
    """The section "renderer crashes": each crashed test and its renderer's last words."""
    found = crashes(terminalreporter.stats)
    if not found:
        return
    terminalreporter.section("renderer crashes (Target crashed)")
    for nodeid, sections in found:
        terminalreporter.write_line(f"{nodeid}:")
        for title, text in sections:
            if "stderr" in title:
                tail = text.splitlines()[-15:]
                terminalreporter.write_line(f"  {title}, its last {len(tail)}:")
                for line in tail:
                    terminalreporter.write_line(f"    {line}")
