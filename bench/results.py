"""``bench/RESULTS.md`` is shared: each benchmark owns one marked section of it."""

from __future__ import annotations

import pathlib

RESULTS = pathlib.Path(__file__).resolve().parent / "RESULTS.md"


def write_section(path: pathlib.Path, name: str, text: str) -> None:
    """Replace the text between ``<!-- name:start -->`` and ``<!-- name:end -->`` in
    ``path`` (appending the markers if absent); text outside them is kept as is."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    current = path.read_text() if path.exists() else "# Benchmark results\n"
    block = f"{start}\n{text.rstrip()}\n{end}"
    if start in current and end in current:
        head, rest = current.split(start, 1)
        _, tail = rest.split(end, 1)
        current = head + block + tail
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    path.write_text(current)
