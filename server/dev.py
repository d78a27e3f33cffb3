"""Dev mode's server half: a manifest of the page's sources, a watcher and its notices.

The page asks ``GET /__dev/manifest`` for ``{"version": V, "files": {path: hash}}`` and
gets each change over its existing event stream (``event: dev.reload``, never a second
connection)::

    dev = DevReloader(root)
    undo = dev.listen(lambda notice: print(notice))  # {"version", "previous", "changed"}
    task = asyncio.create_task(dev.run())             # watches app/ and static/css/
    ...
    await dev.stop()                                  # bounded: the watcher sees the event
    undo()

The watcher recomputes the whole manifest on every batch of file events instead of
trusting the events (or mtimes: Linux stamps files from a coarse clock, so two quick
same-size writes can share one): an editor's temp files, renames of folders and writes
that restore the old bytes all come out right, and a batch that changes no hash sends
nothing. Hashing the app's few dozen sources takes well under a millisecond.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import pathlib
from collections.abc import Callable
from typing import Any

from watchfiles import Change, awatch

log = logging.getLogger("zariz.dev")

WATCHED = (("app", ".py"), ("static/css", ".css"))
"""(folder under the root, suffix): the files a page loads that hot reload can swap."""

# watchfiles ends a batch once no new change arrived for STEP_MS: the notice leaves
# 1-2 steps after a write settles (an editor's write-temp-then-rename is one batch).
STEP_MS = 10
# A stream of changes (a checkout) is cut into batches at most this long.
DEBOUNCE_MS = 400
STOP_TIMEOUT_S = 2.0

ReloadNotice = dict[str, Any]
Listener = Callable[[ReloadNotice], None]


def file_hash(data: bytes) -> str:
    """The manifest's hash of a file: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(data).hexdigest()[:16]


def _excluded(relative: pathlib.PurePath) -> bool:
    return "__pycache__" in relative.parts


def scan(root: pathlib.Path) -> dict[str, str]:
    """``{root-relative POSIX path: hash}`` of ``app/**/*.py`` and ``static/css/**/*.css``
    (no ``__pycache__``), sorted by path. A file that vanishes mid-scan is left out."""
    files: dict[str, str] = {}
    for folder, suffix in WATCHED:
        base = root / folder
        if not base.is_dir():
            continue
        for path in base.rglob(f"*{suffix}"):
            relative = path.relative_to(root)
            if _excluded(relative):
                continue
            try:
                data = path.read_bytes()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                continue
            files[relative.as_posix()] = file_hash(data)
    return dict(sorted(files.items()))


def diff(old: dict[str, str], new: dict[str, str]) -> dict[str, str | None]:
    """What changed from ``old`` to ``new``: ``{path: new hash, or None if deleted}``."""
    changed: dict[str, str | None] = {
        path: digest for path, digest in new.items() if old.get(path) != digest
    }
    changed.update({path: None for path in old if path not in new})
    return dict(sorted(changed.items()))


class DevReloader:
    """The manifest, its version (1 at start-up, +1 per change) and the listeners that
    hear each change. Everything but the watcher's file reads runs on the event loop."""

    def __init__(self, root: pathlib.Path, *, strict: bool = True) -> None:
        self.root = root
        self.strict = strict
        self.version = 1
        self.files = scan(root)
        # Per-registration entries, so one function registered twice has two undos
        # (the rule of events.Subscription.on_close).
        self._listeners: dict[object, Listener] = {}
        self._stop = asyncio.Event()

    @property
    def watched(self) -> list[pathlib.Path]:
        """The folders the watcher covers (those that exist)."""
        return [self.root / folder for folder, _ in WATCHED if (self.root / folder).is_dir()]

    def manifest(self) -> dict[str, Any]:
        return {"version": self.version, "files": dict(self.files)}

    def hello(self) -> ReloadNotice:
        """The notice a stream sends when it opens: the page compares versions and
        catches up on whatever changed while it had no stream."""
        return {"version": self.version, "previous": None, "changed": None}

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(notice)`` on every change; returns its undo (idempotent)."""
        token = object()
        self._listeners[token] = listener

        def undo() -> None:
            self._listeners.pop(token, None)

        return undo

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    def rescan(self) -> ReloadNotice | None:
        """Recompute the manifest; if it changed, bump the version and tell every
        listener. Returns the notice (``None`` when nothing changed)."""
        files = scan(self.root)
        changed = diff(self.files, files)
        if not changed:
            return None
        self.files = files
        self.version += 1
        notice: ReloadNotice = {"version": self.version, "previous": self.version - 1,
                          "changed": changed}
        log.info("dev.reload v%d: %s", self.version, ", ".join(changed))
        for listener in tuple(self._listeners.values()):
            try:
                listener(notice)
            except Exception:
                # One broken stream must not keep the notice from the others.
                log.exception("dev.reload listener failed")
        return notice

    def _relevant(self, change: Change, path: str) -> bool:
        # Files of other kinds (and folders' own events, which have no suffix) still
        # trigger a rescan only when they could hide a watched file: a renamed or
        # deleted folder reports only itself.
        relative = pathlib.PurePath(path)
        if _excluded(relative):
            return False
        return relative.suffix in {".py", ".css"} or relative.suffix == ""

    async def run(self) -> None:
        """Watch until :meth:`stop`; each batch of file events rescans the manifest."""
        paths = self.watched
        if not paths:
            log.warning("dev mode: neither app/ nor static/css/ exists under %s", self.root)
            return
        # Our own line per change says more than watchfiles' "N changes detected".
        logging.getLogger("watchfiles").setLevel(logging.WARNING)
        try:
            self.rescan()  # anything edited between start-up and the watch starting
            async for _changes in awatch(
                *paths, watch_filter=self._relevant, step=STEP_MS, debounce=DEBOUNCE_MS,
                stop_event=self._stop,
            ):
                self.rescan()
        except Exception:
            # Say so at once (not at shutdown): the page would wait for notices forever.
            log.exception("dev watcher failed: hot reload is off until a restart")

    async def stop(self, task: asyncio.Task[None] | None = None) -> None:
        """End the watcher: it sees the stop event within one step. ``task`` (the one
        running :meth:`run`) is awaited, and cancelled if it does not end in time."""
        self._stop.set()
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT_S)
        except TimeoutError:
            log.warning("dev watcher did not stop in %.0f s; cancelling it", STOP_TIMEOUT_S)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
