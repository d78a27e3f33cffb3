"""What the benchmarks share besides ``bench.results``: where the project is, and the
open-files limit that thousands of sockets need.

Standard library only, on purpose: ``bench.loadgen`` and ``bench.baseline_broadcast`` import
it in their own processes, and the baseline's idle RSS is part of what is measured. A free
port comes from ``tests.support.live_server.free_port`` (the one the tests use); Chromium's
path and flags from ``tests.browser.conftest``.
"""

from __future__ import annotations

import pathlib
import resource

ROOT = pathlib.Path(__file__).resolve().parents[1]


def raise_nofile() -> int:
    """Raise the soft open-files limit to the hard limit (children inherit it); returns the
    new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
