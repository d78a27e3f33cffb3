"""Run changed modules again as one transaction: all of them, or none.

Each module runs into a *fresh* module object (not ``importlib.reload``, which re-runs
into the old one's namespace): the UI still on screen keeps the old objects, whose
functions look their globals up in the old namespaces, so it keeps working untouched while
the new code runs - and after a failure nothing of the new code is left in
``sys.modules``. Python's import system looks a submodule up on its package as well
(``from zariz.ui import dom`` reads ``zariz.ui.dom``), so the package attribute is
swapped and restored with the ``sys.modules`` entry.

Example::

    swap = ModuleSwap(modules=sys.modules)
    try:
        swap.run([("zariz.ui.pages.orders", path, code), ("zariz.ui.app", path2, code2)])
    except RunError as exc:      # the old modules are back
        show(exc.problem)
    ...
    swap.rollback()              # e.g. the new UI failed to mount
"""

from __future__ import annotations

import importlib.util
import traceback
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from types import CodeType, ModuleType
from typing import Any

from zariz.dev.graph import ROOT_PACKAGE

_MISSING = object()


@dataclass(frozen=True)
class Problem:
    """What the overlay shows: what failed, where, and the traceback (newest call last).

    ``kind``: ``syntax`` (a file does not compile: nothing was swapped), ``import`` (a
    module raised while running: the old modules are back), ``mount`` (the new UI failed:
    the old one is back), ``reload`` (a change that needs a full page reload) or
    ``strict`` (strict mode found a missing cleanup)."""

    kind: str
    title: str
    file: str | None = None
    line: int | None = None
    detail: str = ""

    @property
    def where(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line else self.file

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "file": self.file, "line": self.line,
                "where": self.where, "detail": self.detail}


def problem_from(kind: str, title: str, exc: BaseException, *, app_dir: str = "") -> Problem:
    """A problem for ``exc``: the innermost frame in the app's own files names the file
    and line (a ``SyntaxError`` names them itself)."""
    if isinstance(exc, SyntaxError):
        # The error names the file, line and column itself; the frames would be ours.
        detail = "".join(traceback.format_exception_only(exc)).rstrip()
        return Problem(kind, title, _display(exc.filename, app_dir), exc.lineno, detail)
    detail = "".join(traceback.format_exception(exc)).rstrip()
    file, line = None, None
    for frame in traceback.extract_tb(exc.__traceback__):
        if f"/{ROOT_PACKAGE}/" in frame.filename.replace("\\", "/"):
            file, line = frame.filename, frame.lineno
    return Problem(kind, title, _display(file, app_dir), line, detail)


def _display(filename: str | None, app_dir: str) -> str | None:
    """``/home/pyodide/zariz/ui/app.py`` -> ``app/zariz/ui/app.py`` (the path the
    developer edits)."""
    if filename is None:
        return None
    marker = f"/{ROOT_PACKAGE}/"
    norm = filename.replace("\\", "/")
    if app_dir and norm.startswith(app_dir.rstrip("/") + "/"):
        return "app/" + norm[len(app_dir.rstrip("/")) + 1:]
    if marker in norm:
        return "app/" + ROOT_PACKAGE + "/" + norm.split(marker, 1)[1]
    return norm


class SourceError(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.title)
        self.problem = problem


class RunError(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.title)
        self.problem = problem


def compile_source(source: str, filename: str, display: str) -> CodeType:
    """Compile first, swap after: a file that does not compile never replaces working
    code. Raises :class:`SourceError` naming the file and line."""
    try:
        return compile(source, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:  # ValueError: a NUL byte in the source
        if isinstance(exc, SyntaxError):
            exc.filename = display
        raise SourceError(
            problem_from("syntax", f"{display} does not compile", exc)
            if isinstance(exc, SyntaxError)
            else Problem("syntax", f"{display} does not compile", display, None, str(exc))
        ) from exc


class ModuleSwap:
    """One swap: :meth:`run` executes modules in order into fresh module objects;
    :meth:`rollback` puts every replaced (and newly imported) module back."""

    def __init__(self, modules: MutableMapping[str, ModuleType]) -> None:
        self._modules = modules
        self._saved: dict[str, Any] = {}
        self._parent_attrs: dict[str, Any] = {}
        self._before: set[str] = set()
        self.ran: list[str] = []

    def run(self, items: Sequence[tuple[str, str, CodeType, bool]]) -> None:
        """``items``: ``(module name, file path, code, is_package)`` in dependency
        order. On the first exception everything is rolled back and :class:`RunError`
        raised."""
        if not self._before:
            self._before = {n for n in self._modules if n.split(".")[0] == ROOT_PACKAGE}
        for name, path, code, is_package in items:
            self._save(name)
            spec = importlib.util.spec_from_file_location(
                name, path,
                submodule_search_locations=[path.rsplit("/", 1)[0]] if is_package else None,
            )
            if spec is None:  # only for a path without a loader; ours are .py files
                self.rollback()
                raise RunError(Problem("import", f"cannot load {name} from {path}"))
            module = importlib.util.module_from_spec(spec)
            self._install(name, module)
            try:
                exec(code, module.__dict__)
            except BaseException as exc:
                if not isinstance(exc, Exception):
                    self.rollback()
                    raise
                # The traceback is read now, while the new source is still on disk.
                problem = problem_from("import", f"{name} raised while loading", exc)
                self.rollback()
                raise RunError(problem) from exc
            self.ran.append(name)

    def remove(self, name: str) -> None:
        """Take a deleted module out (its importers then fail to import it, as they
        should); :meth:`rollback` puts it back."""
        if not self._before:
            self._before = {n for n in self._modules if n.split(".")[0] == ROOT_PACKAGE}
        self._save(name)
        self._modules.pop(name, None)
        parent, _, child = name.rpartition(".")
        holder = self._modules.get(parent)
        if holder is not None and hasattr(holder, child):
            delattr(holder, child)

    def _save(self, name: str) -> None:
        if name in self._saved:
            return
        self._saved[name] = self._modules.get(name, _MISSING)
        parent, _, child = name.rpartition(".")
        if parent and parent in self._modules:
            self._parent_attrs[name] = getattr(self._modules[parent], child, _MISSING)

    def _install(self, name: str, module: ModuleType) -> None:
        self._modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent and parent in self._modules:
            setattr(self._modules[parent], child, module)

    def rollback(self) -> None:
        """Restore every module this swap replaced, and drop app modules first imported
        during it (they were imported by the new code)."""
        for name, old in reversed(list(self._saved.items())):
            parent, _, child = name.rpartition(".")
            if old is _MISSING:
                self._modules.pop(name, None)
            else:
                self._modules[name] = old
            if name in self._parent_attrs and parent in self._modules:
                attr = self._parent_attrs[name]
                if attr is _MISSING:
                    if hasattr(self._modules[parent], child):
                        delattr(self._modules[parent], child)
                else:
                    setattr(self._modules[parent], child, attr)
        for name in [n for n in self._modules if n.split(".")[0] == ROOT_PACKAGE]:
            if name not in self._before and name not in self._saved:
                module = self._modules.pop(name, None)
                parent, _, child = name.rpartition(".")
                holder = self._modules.get(parent)
                if holder is not None and getattr(holder, child, None) is module:
                    delattr(holder, child)
        self._saved.clear()
        self._parent_attrs.clear()
        self.ran = []


__all__ = ["ModuleSwap", "Problem", "RunError", "SourceError", "compile_source", "problem_from"]
