"""Code compiled at snapshot build for the Python sources PyScript writes on every boot.

PyScript starts by running a script it generates: it writes PyScript's own Python package
(``pyscript/``, 14 files, ~30 KB) into the interpreter's working directory, then imports
it. That package is never in our snapshot (it captures PyScript's JS modules at import
time), so every boot compiled its eleven imported modules from source: 30-64 ms for the
14 files in a warmed page, measured. The snapshot builder compiles those sources once, in the
snapshot's interpreter, and installs a :class:`CodeCache`; an import then takes the
compiled code when the file's path *and* bytes are exactly the ones compiled, and compiles
as usual otherwise (another PyScript version, an edited file). The result is the code
``compile`` would have made: same source, same file name, same flags as importlib's.

    cache = CodeCache.from_pyscript(stdlib_script, base="/home/pyodide")
    undo = cache.install()   # importlib's SourceFileLoader now asks the cache first

Pure Python (importlib, ast): tested in CPython.
"""

from __future__ import annotations

import ast
import importlib.machinery
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

from zariz.types import Undo

_Loader = importlib.machinery.SourceFileLoader

_installed: CodeCache | None = None


def installed() -> CodeCache | None:
    """The cache that answers imports now, if any (the snapshot's)."""
    return _installed


def pyscript_sources(script: str, base: str) -> dict[str, bytes]:
    """The files PyScript's generated start-up script writes, ``{absolute path: bytes}``.

    The script (``stdlib`` in ``@pyscript/core``'s ``stdlib.js``) is a sequence of
    ``_path = _Path("./pyscript/x.py")`` then ``_path.write_text("<source>",
    encoding="utf-8")``, with directories made in between; it is read as a syntax tree,
    never run. Relative paths are taken from ``base`` (the interpreter's working
    directory, where PyScript writes). Only ``.py`` files are kept. Raises ``ValueError``
    when the script writes no Python file the way described (PyScript changed how it
    writes its package): then nothing is precompiled, and imports compile as before.
    """
    tree = ast.parse(script)
    files: dict[str, bytes] = {}
    current: str | None = None
    for node in tree.body:
        target = _path_assignment(node)
        if target is not None:
            current = target
            continue
        text = _write_text(node)
        if text is not None and current is not None and current.endswith(".py"):
            path = posixpath.normpath(posixpath.join(base, current))
            files[path] = text.encode("utf-8")
    if not files:
        raise ValueError("the script writes no Python file as _path.write_text(...)")
    return files


def _path_assignment(node: ast.stmt) -> str | None:
    # _path = _Path("<literal>")
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
        return None
    target, call = node.targets[0], node.value
    if not (isinstance(target, ast.Name) and target.id == "_path"):
        return None
    if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            and call.func.id == "_Path" and len(call.args) == 1 and not call.keywords
            and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)):
        return call.args[0].value
    return None


def _write_text(node: ast.stmt) -> str | None:
    # _path.write_text("<literal>", encoding="utf-8")
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return None
    call = node.value
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "write_text"
            and isinstance(func.value, ast.Name) and func.value.id == "_path"):
        return None
    if len(call.args) != 1 or not isinstance(call.args[0], ast.Constant):
        return None
    text = call.args[0].value
    encodings = [k.value for k in call.keywords if k.arg == "encoding"]
    if not isinstance(text, str) or len(call.keywords) != 1 or len(encodings) != 1:
        return None
    if not isinstance(encodings[0], ast.Constant) or encodings[0].value != "utf-8":
        return None
    return text


@dataclass
class CodeCache:
    """Code objects by source path, each with the exact bytes it was compiled from."""

    _codes: dict[str, tuple[bytes, CodeType]] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)

    @classmethod
    def from_pyscript(cls, script: str, base: str) -> CodeCache:
        """A cache of every Python file PyScript's start-up ``script`` writes."""
        cache = cls()
        for path, source in pyscript_sources(script, base).items():
            cache.add(path, source)
        return cache

    def add(self, path: str, source: bytes) -> None:
        """Compile ``source`` as importlib would for a file at ``path``.

        A source that does not compile raises here (SyntaxError), at build time.
        """
        self._codes[path] = (source, compile(source, path, "exec", dont_inherit=True))

    def __len__(self) -> int:
        return len(self._codes)

    def paths(self) -> list[str]:
        """The source paths the cache holds code for, sorted."""
        return sorted(self._codes)

    def code_for(self, path: str, data: Any) -> CodeType | None:
        """The compiled code of ``path`` if ``data`` is the source it was compiled from."""
        entry = self._codes.get(path)
        if entry is None:
            return None
        source, code = entry
        if isinstance(data, bytes | bytearray | memoryview) and bytes(data) == source:
            self.hits.append(path)
            return code
        self.misses.append(path)
        return None

    def install(self) -> Undo:
        """Have ``SourceFileLoader`` (every ``.py`` import) ask this cache first; the undo
        puts the loader back as it was.

        One cache at a time: a second install raises ``RuntimeError`` until the first is
        undone. The undo raises ``RuntimeError`` when someone replaced the loader's method
        over the cache since (undo theirs first).
        """
        global _installed
        if _installed is not None:
            raise RuntimeError("a code cache is installed already: undo it first")
        previous = _Loader.__dict__.get("source_to_code")
        wrapped = _source_to_code(self, _Loader.source_to_code)
        _Loader.source_to_code = wrapped  # type: ignore[method-assign]
        _installed = self

        def undo() -> None:
            global _installed
            current = _Loader.__dict__.get("source_to_code")
            if current is not wrapped:
                if _installed is not self:
                    return  # already undone
                raise RuntimeError(
                    "SourceFileLoader.source_to_code was replaced over the code cache: "
                    "undo that first")
            if previous is None:
                del _Loader.source_to_code
            else:
                _Loader.source_to_code = previous  # type: ignore[method-assign]
            _installed = None

        return undo


def _source_to_code(cache: CodeCache, compile_source: Callable[..., CodeType]) -> Any:
    # importlib calls source_to_code(data, path) (CPython 3.11-3.14); later versions add
    # arguments (3.15: `fullname`): anything beyond the two goes to importlib's own, so a
    # newer Python compiles as usual instead of failing every import.
    def source_to_code(self: Any, data: Any, path: Any, *args: Any, **kwargs: Any) -> CodeType:
        if not args and (not kwargs or kwargs == {"_optimize": -1}) and isinstance(path, str):
            code = cache.code_for(path, data)
            if code is not None:
                return code
        return compile_source(self, data, path, *args, **kwargs)

    return source_to_code
