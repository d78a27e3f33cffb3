"""Which modules a change reaches, and in which order they run again.

A module binds what it imports when it runs (``from zariz.ui.dom import h`` copies ``h``),
so a changed module's *importers* must run again too, after it, to see the new code. Only
imports that run with the module count: one inside a function looks the module up when
the function is called (``boot.main`` imports ``zariz.ui.app`` that way and always gets
the current one), and one under ``if TYPE_CHECKING:`` never runs.

Example::

    graph = ImportGraph.from_sources({"zariz.a": "import zariz.b", "zariz.b": ""})
    graph.importers_of("zariz.b")   # {"zariz.a"}
    graph.order({"zariz.a", "zariz.b"})   # ["zariz.b", "zariz.a"]
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ROOT_PACKAGE = "zariz"


def module_name(path: str) -> str | None:
    """``app/zariz/ui/app.py`` -> ``zariz.ui.app``; ``.../__init__.py`` -> the package;
    ``None`` for anything that is not a module of the app package."""
    parts = path.split("/")
    if parts and parts[0] == "app":
        parts = parts[1:]
    if not parts or parts[0] != ROOT_PACKAGE or not parts[-1].endswith(".py"):
        return None
    parts[-1] = parts[-1][: -len(".py")]
    if parts[-1] == "__init__":
        parts.pop()
    if not all(p.isidentifier() for p in parts):
        return None
    return ".".join(parts)


def is_package_path(path: str) -> bool:
    return path.endswith("/__init__.py")


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level(body: list[ast.stmt]) -> Iterable[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module runs: top level, and inside top-level
    ``if``/``try``/``with`` blocks (not functions or classes' methods, not TYPE_CHECKING)."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _module_level(block)
            for handler in node.handlers:
                yield from _module_level(handler.body)
        elif isinstance(node, ast.With):
            yield from _module_level(node.body)
        elif isinstance(node, ast.ClassDef):
            yield from _module_level(node.body)  # a class body runs with the module


def _absolute(module: str | None, level: int, name: str, is_package: bool) -> str | None:
    if level == 0:
        return module
    base = name.split(".") if is_package else name.split(".")[:-1]
    if level > 1:
        base = base[: -(level - 1)] if level - 1 <= len(base) else []
    if not base:
        return None
    return ".".join(base + ([module] if module else []))


def imports_of(source: str, name: str, *, is_package: bool, known: Iterable[str]) -> set[str]:
    """The app modules ``source`` (module ``name``) imports when it runs.

    ``from pkg import x`` counts as an import of ``pkg.x`` when that is a known module
    (a submodule), else of ``pkg``. Raises ``SyntaxError`` for source that does not parse."""
    known_set = set(known)
    tree = ast.parse(source)
    found: set[str] = set()
    for node in _module_level(tree.body):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
            found.update(t for t in targets if t.split(".")[0] == ROOT_PACKAGE)
            continue
        base = _absolute(node.module, node.level, name, is_package)
        if base is None or base.split(".")[0] != ROOT_PACKAGE:
            continue
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            found.add(sub if sub in known_set else base)
    found.discard(name)
    return found


@dataclass
class ImportGraph:
    """``imports[m]``: the app modules ``m`` imports when it runs."""

    imports: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def from_sources(
        cls, sources: Mapping[str, str], packages: Iterable[str] = ()
    ) -> ImportGraph:
        """``sources``: module name -> source. A source that does not parse has no edges
        (the caller compiles it first and reports the error)."""
        pkgs = set(packages)
        known = set(sources)
        graph = cls()
        for name, source in sources.items():
            try:
                graph.imports[name] = imports_of(
                    source, name, is_package=name in pkgs, known=known
                )
            except SyntaxError:
                graph.imports[name] = set()
        return graph

    def merged(self, other: ImportGraph) -> ImportGraph:
        """Edges of both: the old code holds references to what it imported, and the new
        code decides what runs first."""
        names = set(self.imports) | set(other.imports)
        return ImportGraph(
            {n: self.imports.get(n, set()) | other.imports.get(n, set()) for n in names}
        )

    def importers_of(self, name: str) -> set[str]:
        return {m for m, deps in self.imports.items() if name in deps}

    def reach(self, changed: Iterable[str], *, stop: Iterable[str] = ()) -> set[str]:
        """``changed`` and every module that imports one of them, transitively. The walk
        does not go past a module in ``stop`` (it is included, its importers are not)."""
        stops = set(stop)
        seen: set[str] = set()
        todo = list(changed)
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            if name in stops:
                continue
            todo.extend(self.importers_of(name) - seen)
        return seen

    def path_to(self, start: str, goal: str) -> list[str]:
        """The import chain from ``goal`` down to ``start`` (``goal`` imports ... imports
        ``start``), for messages; ``[]`` when there is none."""
        parents: dict[str, str] = {}
        todo = [start]
        seen = {start}
        while todo:
            name = todo.pop(0)
            if name == goal:
                chain = [name]
                while chain[-1] != start:
                    chain.append(parents[chain[-1]])
                return chain
            for importer in sorted(self.importers_of(name) - seen):
                seen.add(importer)
                parents[importer] = name
                todo.append(importer)
        return []

    def order(self, names: Iterable[str]) -> list[str]:
        """``names`` with every module after the modules it imports (a cycle keeps its
        alphabetical order: Python itself runs such modules half-initialised)."""
        wanted = sorted(set(names))
        done: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str) -> None:
            if state.get(name) is not None:
                return
            state[name] = 0
            for dep in sorted(self.imports.get(name, set())):
                if dep in wanted:
                    visit(dep)
            state[name] = 1
            done.append(name)

        for name in wanted:
            visit(name)
        return done


__all__ = ["ImportGraph", "imports_of", "is_package_path", "module_name"]
