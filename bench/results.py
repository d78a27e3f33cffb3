"""``bench/RESULTS.md`` is shared: each benchmark owns one marked section of it. The README's
generated sections (e.g. Reliability) use the same markers."""

from __future__ import annotations

import json
import pathlib
from typing import Any

from bench.common import ROOT

RESULTS = ROOT / "bench" / "RESULTS.md"


def write_section(path: pathlib.Path, name: str, text: str, before: str | None = None) -> None:
    """Replace the text between ``<!-- name:start -->`` and ``<!-- name:end -->`` in
    ``path``; text outside them is kept as is. Without the markers the block is appended,
    or, when ``before`` is given and found on a line of its own (a heading, say), inserted
    just before that line."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    current = path.read_text() if path.exists() else "# Benchmark results\n"
    block = f"{start}\n{text.rstrip()}\n{end}"
    if start in current and end in current:
        head, rest = current.split(start, 1)
        _, tail = rest.split(end, 1)
        current = head + block + tail
    elif before is not None and f"\n{before}\n" in current:
        head, tail = current.split(f"\n{before}\n", 1)
        current = f"{head.rstrip()}\n\n{block}\n\n{before}\n{tail}"
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    path.write_text(current)


def report(text: str, section: str, *, write: bool, raw: Any = None,
           raw_path: pathlib.Path | None = None) -> None:
    """The end of every benchmark command: print the report, save the raw result as JSON
    when ``raw_path`` is given, and, unless ``write`` is false (``--no-write``), put the
    report into its section of RESULTS.md."""
    print(text)
    if raw_path is not None:
        raw_path.write_text(json.dumps(raw, indent=2))
    if write:
        write_section(RESULTS, section, text)
