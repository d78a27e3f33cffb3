"""`make test`'s workers: the browser tests and the benchmarks' smoke runs all on one
worker, in collection order; the CPython tests on the other (tests/support/xdist_browser.py).
Run as `make test` runs it, in an inner pytest with two workers."""

from __future__ import annotations

import os
import pathlib

import pytest

pytest_plugins = ["pytester"]

ROOT = pathlib.Path(__file__).resolve().parents[2]
RECORDER = """
import os, pathlib, time
def _ran(name):
    time.sleep(0.05)
    with open(pathlib.Path(__file__).parents[2] / "ran.txt", "a") as f:
        f.write(f"{os.environ['PYTEST_XDIST_WORKER']} {name}\\n")
"""


def test_serial_tests_share_one_worker_in_order(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    # The root conftest's own hooks, as `make test` has them.
    pytester.makeconftest(
        "from tests.conftest import pytest_xdist_make_scheduler, pytest_runtest_makereport\n")
    serial = []
    for folder, count in (("browser", 3), ("bench", 2)):
        for m in range(count):
            name = f"test_{folder}{m}"
            serial += [f"{name}_{t}" for t in range(4)]
            pytester.makepyfile(**{f"tests/{folder}/{name}": RECORDER + "".join(
                f"def {name}_{t}(): _ran('{name}_{t}')\n" for t in range(4))})
    cpython = []
    for m in range(6):
        name = f"test_cpython{m}"
        cpython += [f"{name}_{t}" for t in range(4)]
        pytester.makepyfile(**{f"tests/app/{name}": RECORDER + "".join(
            f"def {name}_{t}(): _ran('{name}_{t}')\n" for t in range(4))})
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadscope",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(serial) + len(cpython))
    ran = [line.split() for line in (pytester.path / "ran.txt").read_text().splitlines()]
    serial_runs = [(worker, name) for worker, name in ran if name in serial]
    workers = {worker for worker, _ in serial_runs}
    assert len(workers) == 1, serial_runs
    assert [name for _, name in serial_runs] == sorted(serial), serial_runs  # in order
    # Contiguous: on that worker no CPython test ran between the first and the last.
    mine = [name for worker, name in ran if worker in workers]
    first, last = mine.index(serial_runs[0][1]), mine.index(serial_runs[-1][1])
    assert all(name in serial for name in mine[first:last + 1]), mine
    # The CPython tests ran beside them, on the other worker (some may be queued behind
    # the serial unit: xdist gives each worker two units to start with).
    assert all(name in [n for _, n in ran] for name in cpython)
    assert any(name in cpython for worker, name in ran if worker not in workers), ran

    # Another --dist mode is xdist's own: the serial modules are spread.
    (pytester.path / "ran.txt").unlink()
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "load", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(serial) + len(cpython))
    ran = [line.split() for line in (pytester.path / "ran.txt").read_text().splitlines()]
    assert len({worker for worker, name in ran if name in serial}) == 2, ran

def test_a_report_with_lone_surrogates_reaches_the_controller(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hostile-input tests log text with lone surrogates: without the root conftest's
    escaping, the worker cannot send their reports and the run ends in an INTERNALERROR."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    pytester.makeconftest(
        "from tests.conftest import pytest_xdist_make_scheduler, pytest_runtest_makereport\n")
    pytester.makepyfile(test_hostile="""
import logging
def test_logs_a_surrogate():
    logging.getLogger("x").warning("frame %s", "\\ud800")
    print("\\udcff")

def test_fails_with_one():
    assert "\\ud800" == "x", "\\ud800"

def test_skips_with_one():
    import pytest
    pytest.skip("\\ud800 skipped")

def test_xfails_with_one():
    import pytest
    pytest.xfail("\\ud800 expected")
""")
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadscope",
                                           "-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=1, failed=1, skipped=1, xfailed=1)
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
