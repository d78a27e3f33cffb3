"""How `make test` spreads the suite over pytest-xdist workers: every test under
``tests/browser/`` and ``tests/bench/`` (the browser tests and the benchmarks' smoke runs)
is one work unit, run by one worker in collection order, so that one Chromium (or one
load test) runs at a time as in a single process; the CPython tests run on the other
worker meanwhile, a module at a time (xdist's ``loadscope``).

Limits: after a worker crash, xdist puts the rest of the serial unit back at the end of
the queue as one unit (still one worker, in order, but possibly the other worker, after
the CPython modules left), and the crashed test is reported failed (pytest-rerunfailures
reruns only in-process failures such as "Target crashed").

Not xdist's own ``--dist loadgroup``: it groups by renaming a test's node id
(``item._nodeid``), which pytest 9 no longer reads, so every test would be its own unit.
"""

from __future__ import annotations

from typing import Any

SERIAL = ("tests/browser/", "tests/bench/")
SERIAL_UNIT = "browser-and-bench"


def is_serial(nodeid: str) -> bool:
    """A browser test or a benchmark's smoke run (by its node id, relative to the project
    root): one of the tests that run one at a time, after the CPython ones."""
    return nodeid.startswith(SERIAL)


def make_scheduler(config: Any, log: Any) -> Any:
    """The scheduler for ``--dist loadscope`` (what `make test` asks for); ``None`` for any
    other mode, which xdist then schedules its own way."""
    if config.getoption("dist", None) != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class OneSerialUnit(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            if is_serial(nodeid):
                return SERIAL_UNIT
            return str(super()._split_scope(nodeid))

    return OneSerialUnit(config, log)


def _utf8(text: str) -> str:
    """``text`` with what UTF-8 cannot encode (lone surrogates) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def sendable(report: Any) -> None:
    """Make a report's text encode as UTF-8: a worker sends its reports to the controller
    through execnet, which refuses lone surrogates, and the hostile-input tests log such
    text; a report that cannot be sent stops the whole run with an INTERNALERROR instead
    of giving the test's result. Done in every process alike (the root conftest's
    ``pytest_runtest_makereport``): the sections (captured output and logs), a skip's
    reason (``longrepr`` is then a (path, line, reason) tuple), an xfail's reason, and a
    failure's text (replaced by the escaped text only when it needs it: the short
    summary line then shows no message for it)."""
    report.sections = [(title, _utf8(text)) for title, text in report.sections]
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):
        report.longrepr = tuple(_utf8(x) if isinstance(x, str) else x for x in longrepr)
    elif longrepr is not None:
        try:
            str(longrepr).encode("utf-8")
        except UnicodeEncodeError:
            report.longrepr = _utf8(str(longrepr))
    if isinstance(getattr(report, "wasxfail", None), str):
        report.wasxfail = _utf8(report.wasxfail)
