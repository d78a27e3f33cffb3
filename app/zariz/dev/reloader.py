"""The hot reloader: a ``dev.reload`` notice in, the changed code running in place out.

What one notice does (:meth:`HotReloader.handle`):

1. **What changed.** The notice lists the files changed since the previous version; a page
   that missed a notice (its stream was down, it booted in between) fetches the server's
   manifest and compares it with the hashes of what it runs. Files whose hash the page
   already runs are skipped, so a repeated or late notice does nothing.
2. **CSS** is swapped in place by the host.
3. **Decline.** Modules that hold the connection or the session (``zariz.sse``,
   ``zariz.auth``, ``zariz.platform``) are never swapped live, nor modules those import (a
   new ``zariz.types.SSEEvent`` would not be the class the live client builds), nor the
   entry (``zariz.boot``) or this package. Such a change is shown with a reload button and
   nothing is swapped (Vite's ``decline``); reverting the file clears it.
4. **Compile first.** Every changed file is fetched and compiled before anything is
   replaced: a syntax error is shown and the running code stays.
5. **Swap** (:class:`~zariz.dev.swap.ModuleSwap`): the changed modules and every module
   that imports them run again, in dependency order, into fresh module objects; an
   exception rolls all of them back.
6. **Remount**: the UI is disposed (every cleanup runs; components hand their state over),
   and mounted again from the new ``zariz.ui.app``. An exception while mounting, or an
   error a component logs while mounting, rolls the modules back and mounts the old UI
   again with the same hand-off, under the overlay. The next good save clears it.

Example (what :mod:`zariz.dev.page` does)::

    reloader = HotReloader(host, app_dir="/home/pyodide")
    client.subscribe(lambda ev: reloader.notice(ev.data), events=["dev.reload"])
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import importlib.util
import logging
import os
import sys
import time
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol

from zariz.dev.graph import ImportGraph, imports_of, is_package_path, module_name
from zariz.dev.swap import (
    ModuleSwap,
    Problem,
    RunError,
    SourceError,
    compile_source,
    problem_from,
)

log = logging.getLogger("zariz.dev")

# Hold the tab's connection and session: swapping them live would open a second stream or
# lose the token. Modules they import are declined too (see the module doc).
HOLDS_STATE = ("zariz.sse", "zariz.auth", "zariz.platform")
# Run once per tab; whatever they import is looked up again when used (boot imports the UI
# inside main()), so a change stops here rather than being declined.
ENTRY = ("zariz.boot", "zariz.dev")
UI_LOGGERS = ("zariz.ui",)
PACKAGE_PREFIX = "app/zariz/"


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def file_hash(data: bytes) -> str:
    """The manifest's hash: the first 16 hex digits of SHA-256 (the server's rule)."""
    return hashlib.sha256(data).hexdigest()[:16]


class DevHost(Protocol):
    """What the reloader needs from the page (:mod:`zariz.dev.page`), or a test."""

    async def fetch_text(self, path: str) -> str:
        """The current text of a root-relative file (``app/zariz/ui/app.py``), uncached;
        raises on failure."""
        ...

    async def fetch_manifest(self) -> Mapping[str, Any]:
        """``GET /__dev/manifest``: ``{"version": V, "files": {path: hash}}``."""
        ...

    def swap_css(self, path: str, digest: str) -> None: ...

    def dispose_ui(self) -> dict[str, Any]:
        """Dispose the mounted UI; returns what its components handed over."""
        ...

    def mount_ui(self, hand_off: dict[str, Any]) -> None:
        """Mount the UI from the current ``zariz.ui.app``; raises if mounting fails."""
        ...

    def show(self, problem: Problem | None) -> None:
        """Show the overlay for ``problem``; ``None`` hides it."""
        ...


@dataclass
class Outcome:
    """What one :meth:`HotReloader.handle` did (for logs and tests)."""

    swapped: list[str] = field(default_factory=list)
    css: list[str] = field(default_factory=list)
    problem: Problem | None = None
    ms: float = 0.0
    # Milliseconds per step (changes, plan, fetch, compile, graph, run, mount): where a
    # swap's time goes, for the benchmark's profile.
    phases: dict[str, float] = field(default_factory=dict)


class _ErrorCapture(logging.Handler):
    """Errors the UI logs while mounting: the component model logs a render that raises
    and shows an error panel instead, which would hide a broken page behind a "good"
    swap."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def capture_ui_errors() -> Iterator[_ErrorCapture]:
    handler = _ErrorCapture()
    loggers = [logging.getLogger(name) for name in UI_LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def _record_problem(record: logging.LogRecord, app_dir: str) -> Problem:
    title = f"The new UI failed to mount: {record.getMessage()}"
    if record.exc_info and record.exc_info[1] is not None:
        return problem_from("mount", title, record.exc_info[1], app_dir=app_dir)
    return Problem("mount", title, detail=record.getMessage())


class HotReloader:
    def __init__(
        self,
        host: DevHost,
        *,
        app_dir: str,
        modules: MutableMapping[str, ModuleType] | None = None,
        clock: Any = time.perf_counter,
        baseline: Mapping[str, str] | None = None,
    ) -> None:
        """``baseline``: hashes of what the page loaded besides the package (the dev
        server stamps each stylesheet link ``?v=<hash>``)."""
        self.host = host
        self.app_dir = app_dir.rstrip("/")
        self.modules = modules if modules is not None else sys.modules
        self._clock = clock
        self.version: int | None = None
        # Root-relative path -> hash of what this page runs (Python) or shows (CSS).
        self.known: dict[str, str] = {**(baseline or {}), **self._scan()}
        self._baseline = False
        self._busy = False
        self._pending: Mapping[str, Any] | None = None
        # Per module / path, for the version that runs now only (a day of saves must not
        # pile up code objects): (hash, imports) and (hash, code).
        self._imports: dict[str, tuple[str, set[str]]] = {}
        self._code: dict[str, tuple[str, Any]] = {}
        self._task: asyncio.Future[None] | None = None
        self.problem: Problem | None = None
        self.swaps = 0
        self.history: list[Outcome] = []
        self._phases: dict[str, float] = {}
        self._lap_at = 0.0
        self.warmed = False

    # --- files ---------------------------------------------------------------------------
    def _fs_path(self, path: str) -> str:
        """``app/zariz/ui/app.py`` -> where the interpreter has it."""
        relative = path[len("app/"):] if path.startswith("app/") else path
        return f"{self.app_dir}/{relative}"

    def _scan(self) -> dict[str, str]:
        found: dict[str, str] = {}
        base = f"{self.app_dir}/zariz"
        for folder, dirs, files in os.walk(base):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in files:
                if name.endswith(".py"):
                    full = f"{folder}/{name}"
                    with open(full, "rb") as fh:
                        found["app/" + full[len(self.app_dir) + 1:]] = file_hash(fh.read())
        return found

    def _read(self, path: str) -> str | None:
        try:
            with open(self._fs_path(path), encoding="utf-8") as fh:
                return fh.read()
        except OSError:
            return None

    def _write(self, path: str, text: str | None) -> None:
        target = self._fs_path(path)
        if text is None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(target)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8") as fh:
                fh.write(text)
        # A stale .pyc with the same mtime second and size would win over the new source
        # on a later plain import.
        with contextlib.suppress(OSError, ValueError, NotImplementedError):
            os.remove(importlib.util.cache_from_source(target))

    # --- notices -------------------------------------------------------------------------
    def notice(self, data: Any) -> None:
        """Hand a ``dev.reload`` event's data to :meth:`handle`, one at a time: a notice
        that arrives during a swap waits, and only the newest waiting one runs."""
        if not isinstance(data, Mapping):
            log.warning("[dev] ignored a malformed dev.reload notice: %r", data)
            return
        if self._busy:
            self._pending = data
            return
        self._busy = True
        self._task = asyncio.ensure_future(self._drain(data))  # kept: not collected mid-run

    async def _drain(self, data: Mapping[str, Any]) -> None:
        try:
            current: Mapping[str, Any] | None = data
            while current is not None:
                self._pending = None
                try:
                    await self.handle(current)
                except Exception as exc:  # the reloader itself must survive anything
                    log.exception("[dev] hot reload failed")
                    self._set_problem(problem_from("reload", "The hot reloader failed", exc))
                current = self._pending
        finally:
            self._busy = False

    def _lap(self, phase: str) -> None:
        now = self._clock()
        self._phases[phase] = round((now - self._lap_at) * 1000, 2)
        self._lap_at = now

    async def handle(self, data: Mapping[str, Any]) -> Outcome:
        started = self._lap_at = self._clock()
        self._phases = {}
        version = data.get("version")
        version = version if isinstance(version, int) and not isinstance(version, bool) else None
        changes = await self._changes(data)
        self._lap("changes")
        outcome = await self._apply(changes)
        outcome.ms = (self._clock() - started) * 1000
        outcome.phases = dict(self._phases)
        if outcome.problem is None:
            self.version = version
        if outcome.swapped:
            self.swaps += 1
            log.info("[dev] hot reload: %s in %d ms", ", ".join(outcome.swapped), outcome.ms)
        if outcome.css:
            log.info("[dev] css: %s in %d ms", ", ".join(outcome.css), outcome.ms)
        self.history.append(outcome)
        del self.history[:-20]
        return outcome

    async def _changes(self, data: Mapping[str, Any]) -> dict[str, str | None]:
        previous, changed = data.get("previous"), data.get("changed")
        # Trust the notice's list only when it continues exactly what this page ran. The
        # notice sent on connect (no "previous") always compares with the manifest: the
        # server may have restarted (its versions start again at 1) with files changed.
        if (
            previous is not None and previous == self.version and isinstance(changed, dict)
            and self.problem is None
        ):
            raw: Mapping[str, Any] = changed
        else:
            manifest = await self.host.fetch_manifest()
            files = manifest.get("files")
            if not isinstance(files, dict):
                raise ValueError("the dev manifest has no 'files'")
            if not self._baseline:
                # What the page loaded outside the package (the stylesheet, app/main.py)
                # is what the server had when the page booted; the package's own files
                # were hashed from the interpreter's copy.
                for path, digest in files.items():
                    if not path.startswith(PACKAGE_PREFIX) and isinstance(digest, str):
                        self.known.setdefault(path, digest)
            raw = {p: d for p, d in files.items() if self.known.get(p) != d}
            raw.update({p: None for p in self.known if p not in files})
        self._baseline = True
        return {
            str(p): (d if isinstance(d, str) else None)
            for p, d in raw.items()
            if isinstance(p, str) and self.known.get(p) != d
        }

    # --- applying ------------------------------------------------------------------------
    async def _apply(self, changes: dict[str, str | None]) -> Outcome:
        outcome = Outcome()
        css = {p: d for p, d in changes.items() if p.endswith(".css")}
        for path, digest in sorted(css.items()):
            if digest is not None:
                self.host.swap_css(path, digest)
            self._forget_or_know(path, digest)
            outcome.css.append(path)
        python = {p: d for p, d in changes.items() if p.endswith(".py")}
        if not python:
            if self.problem is not None:
                # Every file is what runs: the broken or declined save was reverted.
                self._set_problem(None)
            return outcome
        declined = self._declined(python)
        self._lap("plan")
        if declined is not None:
            outcome.problem = declined
            self._set_problem(declined)
            return outcome
        sources: dict[str, str | None] = {}
        fetched = await asyncio.gather(
            *(self.host.fetch_text(p) for p, d in python.items() if d is not None)
        )
        for path, text in zip([p for p, d in python.items() if d is not None], fetched,
                              strict=True):
            sources[path] = text
        sources.update({p: None for p, d in python.items() if d is None})
        self._lap("fetch")
        try:
            codes = {
                path: compile_source(text, self._fs_path(path), path)
                for path, text in sorted(sources.items()) if text is not None
            }
        except SourceError as exc:
            outcome.problem = exc.problem
            self._set_problem(exc.problem)
            return outcome
        self._lap("compile")
        problem, swapped = self._swap(sources, codes)
        outcome.problem = problem
        if problem is None:
            for path, new_text in sources.items():
                digest = None if new_text is None else file_hash(new_text.encode())
                self._forget_or_know(path, digest)
                if digest is not None and path in codes:
                    self._code[path] = (digest, codes[path])
                elif digest is None:
                    self._code.pop(path, None)
            outcome.swapped = swapped
        self._set_problem(problem)
        return outcome

    def _forget_or_know(self, path: str, digest: str | None) -> None:
        if digest is None:
            self.known.pop(path, None)
        else:
            self.known[path] = digest

    def _graph(self, overrides: Mapping[str, str | None]) -> tuple[ImportGraph, set[str]]:
        """The import graph of the app's modules as they are on disk, with ``overrides``
        (module -> new source, ``None`` = deleted); and the set of packages."""
        paths = {module_name(p): p for p in self.known if p.endswith(".py")}
        paths.update({module_name(p): p for p in overrides})
        paths.pop(None, None)
        packages = {m for m, p in paths.items() if m and is_package_path(p)}
        names = {m for m in paths if m}
        graph = ImportGraph()
        for name in sorted(names):
            path = paths[name]
            source: str | None = None
            if path in overrides:
                source = overrides[path]
                if source is None:
                    continue
                digest = file_hash(source.encode())
            else:
                # What runs is what ``known`` hashed: no need to read the file to key it.
                digest = self.known.get(path) or ""
            cached = self._imports.get(name)
            if cached is not None and cached[0] == digest:
                deps = cached[1]
            else:
                source = source if source is not None else self._read(path)
                if source is None:
                    continue
                try:
                    deps = imports_of(source, name, is_package=name in packages, known=names)
                except SyntaxError:
                    deps = set()
                if path not in overrides:  # a new version is cached once it runs
                    self._imports[name] = (digest, deps)
            graph.imports[name] = deps
        return graph, packages

    def _compiled(self, path: str) -> Any:
        """The code of ``path`` as it runs now (cached by its hash): an importer that
        runs again unchanged is not compiled again."""
        digest = self.known.get(path)
        if digest is None:
            return None
        cached = self._code.get(path)
        if cached is not None and cached[0] == digest:
            return cached[1]
        text = self._read(path)
        if text is None or file_hash(text.encode()) != digest:
            return None
        try:
            code = compile_source(text, self._fs_path(path), path)
        except SourceError:
            return None
        self._code[path] = (digest, code)
        return code

    def warm(self) -> None:
        """Parse every module's imports and compile it now (an idle moment after boot),
        so that the first swap does not pay for it (~150 ms to parse the whole app in
        Pyodide; compiling an importer like ``zariz.ui.app`` costs ~20 ms)."""
        started = self._clock()
        self._graph({})
        for path in sorted(self.known):
            if path.startswith(PACKAGE_PREFIX) and path.endswith(".py"):
                self._compiled(path)
        self.warmed = True
        log.debug("[dev] import graph ready in %d ms", (self._clock() - started) * 1000)

    def _declined(self, python: Mapping[str, str | None]) -> Problem | None:
        """A change that needs a full page reload, or ``None``."""
        graph, packages = self._graph({})
        for path in sorted(python):
            name = module_name(path)
            if name is None:
                return self._reload_problem(path, f"{path} is not part of the zariz package")
            if _under(name, HOLDS_STATE):
                return self._reload_problem(
                    path, f"{name} holds the connection or the session: it is not swapped "
                    "live"
                )
            if _under(name, ENTRY):
                return self._reload_problem(path, f"{name} runs once per page")
            if name in packages:
                return self._reload_problem(path, f"{name} is a package's __init__")
            reached = graph.reach([name], stop=[m for m in graph.imports if _under(m, ENTRY)])
            for holder in sorted(reached):
                if _under(holder, HOLDS_STATE) and holder in self.modules:
                    chain = " -> ".join(reversed(graph.path_to(name, holder)))
                    return self._reload_problem(
                        path, f"{name} is imported by {holder}, which holds the connection "
                        f"or the session ({chain})"
                    )
        return None

    def _reload_problem(self, path: str, why: str) -> Problem:
        return Problem(
            "reload", f"{path} changed: reload the page to run it", path, None,
            f"{why}. Everything else keeps running the code it had; a save that reverts "
            "the file clears this.",
        )

    def _swap(
        self, sources: Mapping[str, str | None], codes: Mapping[str, Any]
    ) -> tuple[Problem | None, list[str]]:
        new_graph, packages = self._graph(sources)
        changed = {n for p in sources if (n := module_name(p)) is not None}
        deleted = {n for p, t in sources.items() if t is None and (n := module_name(p))}
        stops = [m for m in new_graph.imports if _under(m, ENTRY)]
        reached = new_graph.reach(changed, stop=stops)
        # A deleted module never runs again: its importers run, and fail if they still
        # import it (the overlay says so, everything is put back).
        run = [
            n for n in new_graph.order(reached)
            if not _under(n, ENTRY) and n not in deleted
            and (n in self.modules or n in changed)
            and self._path_of(n, sources) is not None
        ]
        # A changed module nothing loaded yet is only written: the first import runs it.
        run = [n for n in run if n in self.modules or self._imported_by_run(n, run, new_graph)]
        old_texts = {p: self._read(p) for p in sources}
        for path, text in sources.items():
            self._write(path, text)
        if any(p not in self.known for p in sources):
            # A new file: the import system's directory listings must see it. Not on
            # every swap: in Pyodide this one call costs ~35 ms.
            importlib.invalidate_caches()
        swap = ModuleSwap(self.modules)
        for path, text in sources.items():
            if text is None and (name := module_name(path)) is not None:
                swap.remove(name)
        items = []
        for name in run:
            where = self._path_of(name, sources)
            assert where is not None  # ``run`` holds only modules with a path
            code = codes.get(where) or self._compiled(where)
            if code is None:
                try:
                    code = compile_source(self._read(where) or "", self._fs_path(where), where)
                except SourceError as exc:
                    swap.rollback()
                    self._restore(old_texts)
                    return exc.problem, []
            items.append((name, self._fs_path(where), code, name in packages))
        self._lap("graph")
        try:
            swap.run(items)
        except RunError as exc:
            self._restore(old_texts)
            return exc.problem, []
        except BaseException:
            self._restore(old_texts)
            raise
        self._lap("run")
        problem = self._remount(swap)
        self._lap("mount")
        if problem is not None:
            self._restore(old_texts)
            return problem, []
        return None, run

    def _imported_by_run(self, name: str, run: list[str], graph: ImportGraph) -> bool:
        return any(name in graph.imports.get(m, set()) for m in run if m != name)

    def _path_of(self, name: str, sources: Mapping[str, str | None]) -> str | None:
        """The file of module ``name`` (``None`` for one that is gone)."""
        for path in list(sources) + list(self.known):
            if path.endswith(".py") and module_name(path) == name:
                return None if path in sources and sources[path] is None else path
        return None

    def _restore(self, old_texts: Mapping[str, str | None]) -> None:
        for path, text in old_texts.items():
            self._write(path, text)

    def _remount(self, swap: ModuleSwap) -> Problem | None:
        hand_off = self.host.dispose_ui()
        problem: Problem | None = None
        with capture_ui_errors() as errors:
            try:
                self.host.mount_ui(dict(hand_off))
            except Exception as exc:
                problem = problem_from(
                    "mount", "The new UI failed to mount", exc, app_dir=self.app_dir
                )
        if problem is None and errors.records:
            problem = _record_problem(errors.records[0], self.app_dir)
        if problem is None:
            return None
        log.error("[dev] %s: the previous code runs again", problem.title)
        with contextlib.suppress(Exception):
            self.host.dispose_ui()
        swap.rollback()
        try:
            self.host.mount_ui(dict(hand_off))
        except Exception:
            log.exception("[dev] the previous UI failed to mount again")
        return problem

    def _set_problem(self, problem: Problem | None) -> None:
        self.problem = problem
        self.host.show(problem)

    def stats(self) -> dict[str, Any]:
        """For ``__zarizDev()``: the version, swap count, the problem shown, and the last
        outcomes."""
        return {
            "version": self.version,
            "swaps": self.swaps,
            "busy": self._busy,
            "warmed": self.warmed,
            "problem": None if self.problem is None else self.problem.as_dict(),
            "last": [
                {"swapped": o.swapped, "css": o.css, "ms": round(o.ms, 1),
                 "phases": o.phases, "problem": None if o.problem is None else o.problem.kind}
                for o in self.history[-5:]
            ],
        }


__all__ = ["ENTRY", "HOLDS_STATE", "DevHost", "HotReloader", "Outcome", "file_hash"]
