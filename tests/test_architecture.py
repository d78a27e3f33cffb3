"""Boundaries from architecture.md, checked on the source tree.

* Nothing but the platform adapter creates an EventSource (and only the SSE client uses
  the adapter's ``open_event_source``).
* Only the platform adapter and the DOM layer import ``js`` / ``pyodide`` (with the FFI
  toolkit both use, ``platform/jsffi.py``), and only the toolkit makes proxies or knows
  ``jsnull``.
* No CDN address anywhere in what the browser loads.
* No comment or docstring cites a tracker entry by number: it says the reason instead.
"""

from __future__ import annotations

import ast
import io
import os
import pathlib
import re
import tokenize

ROOT = pathlib.Path(__file__).resolve().parents[1]
APP = ROOT / "app"
JSFFI = APP / "zariz" / "platform" / "jsffi.py"
BROWSER_MODULES = {
    JSFFI,  # the FFI toolkit the two adapters below share
    APP / "zariz" / "platform" / "browser.py",
    APP / "zariz" / "ui" / "dom.py",
    APP / "zariz" / "boot.py",  # the entry wiring: builds the adapter, passes globalThis
}


def _py_files() -> list[pathlib.Path]:
    return sorted(p for p in APP.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_platform_adapter_constructs_an_event_source() -> None:
    # A real construction: ``EventSource.new(`` (Pyodide) or ``new EventSource(`` (JS).
    pattern = re.compile(r"(\bEventSource\.new\s*\(|\bnew\s+EventSource\s*\()")
    offenders = [
        str(p.relative_to(ROOT))
        for p in _py_files()
        if p.name != "browser.py" and pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []
    assert "js.EventSource.new(" in (APP / "zariz" / "platform" / "browser.py").read_text()
    for page in [ROOT / "index.html"]:
        assert "EventSource" not in page.read_text()


def test_only_the_sse_client_opens_event_sources() -> None:
    users = [
        str(p.relative_to(APP))
        for p in _py_files()
        if "open_event_source(" in p.read_text(encoding="utf-8")
        and p.parent.name not in {"platform"}
    ]
    assert users == ["zariz/sse/client.py"]


def test_js_and_pyodide_are_imported_only_by_the_adapters() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & {"js", "pyodide", "pyscript"})
        for p in _py_files()
        if p not in BROWSER_MODULES and p != APP / "main.py"
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_ffi_toolkit_makes_proxies_or_checks_jsnull() -> None:
    # One place resolves the boundary: a second create_proxy would be a proxy no pool
    # counts, a second jsnull check a second copy of the version difference.
    offenders = {}
    for p in _py_files():
        if p == JSFFI:
            continue
        tree = ast.parse(p.read_text(encoding="utf-8"))
        names = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "pyodide.ffi"
            for alias in node.names
        }
        if names:
            offenders[str(p.relative_to(ROOT))] = sorted(names)
    assert offenders == {}


def test_no_cdn_in_the_shell() -> None:
    for path in [ROOT / "index.html", ROOT / "pyscript.toml"]:
        text = path.read_text()
        assert "http://" not in text and "https://" not in text, path


def test_only_early_js_holds_the_first_paint() -> None:
    # A classic script in <head> without defer/async stops the parse, and the skeleton's
    # first paint with it, until it is fetched and run: only early.js (the language
    # direction and theme, which must be right in that paint) may.
    head = (ROOT / "index.html").read_text().split("</head>")[0]
    blocking = [
        tag for tag in re.findall(r"<script\b[^>]*>", head)
        if 'type="module"' not in tag
        # defer/async count only on a script with a src (an inline script ignores them).
        and not ("src=" in tag and re.search(r"\s(defer|async)[\s>]", tag))
    ]
    assert blocking == ['<script src="/static/boot/early.js">']


# "issue <n>" / "ticket <n>" in a comment points at a tracker entry a reader of the code does
# not have. "ticket" is also this API's word for the stream's one-time pass, so a ticket
# followed by an HTTP status ("the ticket endpoint answers 503") is not a citation.
CITATION = re.compile(r"\b(issue|ticket)s?\s*#?\s*(\d+)", re.IGNORECASE)
CITATION_ROOTS = ("app", "server", "bench", "tests", "static")
NOT_OURS = (ROOT / "static" / "vendor",)  # third-party code, copied in by make setup
PROSE_SUFFIXES = {".py", ".css", ".js", ".mjs", ".ts", ".html"}
BLOCK_COMMENTS = re.compile(r"/\*.*?\*/|<!--.*?-->", re.DOTALL)
LINE_COMMENTS = re.compile(r"(?<![:\\])//[^\n]*")  # not the // of a URL


def _is_citation(match: re.Match[str]) -> bool:
    word, digits = match.group(1).lower(), match.group(2)
    return not (word == "ticket" and len(digits) == 3 and 100 <= int(digits) <= 599)


def _prose(path: pathlib.Path) -> list[tuple[int, str]]:
    """``(first line, text)`` of the comments of ``path``: in Python every comment and every
    string that stands as a statement of its own (docstrings included); elsewhere block
    comments (``/* */``, ``<!-- -->``) and, in scripts, ``//`` comments."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".py":
        prose = [
            (tok.start[0], tok.string)
            for tok in tokenize.generate_tokens(io.StringIO(text).readline)
            if tok.type == tokenize.COMMENT
        ]
        prose += [
            (node.lineno, node.value.value)
            for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ]
        return sorted(prose)
    patterns = [BLOCK_COMMENTS]
    if path.suffix in {".js", ".mjs", ".ts", ".html"}:
        patterns.append(LINE_COMMENTS)
    return [(text.count("\n", 0, m.start()) + 1, m.group(0))
            for pattern in patterns for m in pattern.finditer(text)]


def _citations(path: pathlib.Path, base: pathlib.Path = ROOT) -> list[str]:
    """``path:line: citation`` for every tracker number in the comments of ``path``."""
    return [
        f"{path.relative_to(base)}:{line + text.count(chr(10), 0, m.start())}: {m.group(0)}"
        for line, text in _prose(path)
        for m in CITATION.finditer(text)
        if _is_citation(m)
    ]


def _our_files() -> list[pathlib.Path]:
    """Every file with comments under :data:`CITATION_ROOTS`, vendored code left out
    (pruned, not filtered: Pyodide alone is thousands of files)."""
    files: list[pathlib.Path] = []
    for root in CITATION_ROOTS:
        for folder, dirs, names in os.walk(ROOT / root):
            here = pathlib.Path(folder)
            dirs[:] = sorted(d for d in dirs
                             if d != "__pycache__" and here / d not in NOT_OURS)
            files += [here / n for n in sorted(names)
                      if pathlib.PurePath(n).suffix in PROSE_SUFFIXES]
    return files


def test_comments_give_reasons_not_tracker_numbers() -> None:
    files = _our_files()
    assert len(files) > 50  # the walk found the tree
    offenders = [hit for p in files for hit in _citations(p)]
    assert offenders == [], "write the reason instead of the number"


def test_the_citation_check_reads_comments_and_docstrings_only(tmp_path: pathlib.Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""Module doc (Issue 12, section 3)."""\n'
        "x = 'issue 4 in a plain string is data, not prose'\n"
        "def f():\n"
        "    # see ticket 29\n"
        '    """the ticket endpoint answers 503\n'
        '    as in issues #31 and 32"""\n'
    )
    css = tmp_path / "a.css"
    css.write_text("a { color: red; }\n/* from issue 7 */\n")
    script = tmp_path / "a.js"
    script.write_text("fetch('http://x/issue 5'); // ticket 8\n")
    hits = [hit for p in (sample, css, script) for hit in _citations(p, tmp_path)]
    assert hits == ["sample.py:1: Issue 12", "sample.py:4: ticket 29",
                    "sample.py:6: issues #31", "a.css:2: issue 7", "a.js:1: ticket 8"]
