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
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]


def raise_nofile() -> int:
    """Raise the soft open-files limit to the hard limit (children inherit it); returns the
    new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def v8_profiles(events: list[dict[str, Any]], pid: Any, tid: Any) -> dict[Any, dict[str, Any]]:
    """The V8 sampler's profiles of thread ``pid/tid`` in a Chrome trace: a ``Profile``
    event per thread, then ``ProfileChunk`` events of nodes, samples and time deltas
    (ids are per process). Returns ``{id: {"t": start µs, "nodes": {id: node},
    "samples": [node id], "deltas": [µs]}}``."""
    profiles: dict[Any, dict[str, Any]] = {}
    for e in events:
        if e.get("name") == "Profile" and e.get("pid") == pid and e.get("tid") == tid:
            profiles[e["id"]] = {"t": float(e["args"]["data"]["startTime"]), "nodes": {},
                                 "samples": [], "deltas": []}
    for e in events:
        if e.get("name") == "ProfileChunk" and e.get("pid") == pid and e.get("id") in profiles:
            p, data = profiles[e["id"]], e["args"]["data"]
            for node in (data.get("cpuProfile") or {}).get("nodes") or []:
                p["nodes"][node["id"]] = node
            p["samples"] += (data.get("cpuProfile") or {}).get("samples") or []
            p["deltas"] += data.get("timeDeltas") or []
    return profiles
