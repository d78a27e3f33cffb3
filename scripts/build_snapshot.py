#!/usr/bin/env python3
"""Build the Pyodide memory snapshot the page boots from (``make snapshot``).

    .venv/bin/python scripts/build_snapshot.py [--root DIR] [--force] [--chromium PATH]

In headless Chromium, on a throwaway page served by a small server of ours on 127.0.0.1,
the vendored Pyodide boots with ``_makeSnapshot: true``; the app bundle (the same zip
``GET /app/bundle.zip`` serves) is unpacked into ``/home/pyodide`` and the app's modules
are imported - never ``pyscript``, which captures PyScript's JS modules at import time,
nor ``zariz.dev`` (dev mode never boots from a snapshot) - PyScript's own package is
compiled into a ``zariz.codecache.CodeCache`` that its imports take at every boot (from
PyScript's start-up script, read from the vendored ``core.js``; ``--no-precompile`` leaves
it out), then ``pyodide.makeMemorySnapshot()``. A second page restores the snapshot and checks that
the modules are there before anything is written: a snapshot that cannot be restored
(say, the heap grew past Pyodide's initial size while importing) is never announced.

Writes ``<root>/var/snapshot/<name>.bin``, ``<name>.bin.zst``, ``<name>.bin.gz`` and, last,
``<name>.json``
(the manifest the server looks for), where ``<name>`` is
``server.web.snapshot_name(<Pyodide version and build id>, <bundle digest>)``; older
snapshots are removed. A current snapshot is left alone unless ``--force``.

Exit status: 0 built or up to date, 1 the build failed, 3 no Chromium.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import gzip
import hashlib
import http.server
import json
import os
import pathlib
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import zstandard

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from server.web import (  # noqa: E402  (the project root goes on the path first)
    SNAPSHOT_DIR,
    SNAPSHOT_FETCH_URL,
    BundleCache,
    PyodideBuild,
    loader_path,
    pyodide_build,
    snapshot_fetch_path,
    snapshot_name,
)
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

ZSTD_LEVEL = 9

SKIP_PACKAGES = ("zariz.dev", "zariz.platform.fake")
"""Never in the snapshot: dev mode boots plain; the fake platform is for CPython tests."""

EXTRA_MODULES = (
    "asyncio", "json", "logging", "pyodide.ffi", "pyodide.webloop",
    # PyScript's own package (never in the snapshot) imports these at every boot; from
    # Pyodide's stdlib zip they compile from source each time: html.entities alone, a
    # 2,000-line dict literal, took ~0.45 s of the page's boot (cProfile, measured).
    "hashlib", "html", "html.entities",
)
"""Stdlib / Pyodide modules every boot imports that ours do not already pull in."""

# The make page. Everything it does is reported on window.__zarizSnapshot; errors too,
# so Python gets the message instead of a timeout.
MAKE_PAGE = """<!doctype html><meta charset="utf-8"><title>snapshot</title>
<script type="module">
const report = (r) => { window.__zarizSnapshot = r; };
// Free memory in the heap still holds what was there: the import's garbage (tokens, ASTs,
// buffers), copied into every tab's memory by the restore. Take every free block the
// allocator has below its old break, write zeros over it and free it again. A block past
// the old break is new memory, zeros already: the sizes go down from there, and no size is
// asked for once new memory could not hold it (the heap stays the size it is). Freed
// blocks merge, but each kept its allocator's size word (8 bytes before it), which would
// keep its page from reading as zeros: the passes run again, the merged runs now taken
// as larger blocks whose zeros cover the old words. Returns {bytes, blocks} zeroed
// (blocks counted over all passes; bytes in the first).
function scrubFreeMemory(M, passes = 2) {
  const breakAt = M._sbrk(0);
  const heapSize = M.HEAP8.length;
  let first = null;
  let blocks = 0;
  for (let pass = 0; pass < passes; pass++) {
    const held = [];
    let bytes = 0;
    for (let size = 1 << 24; size >= 1 << 8; size >>= 1) {
      for (;;) {
        // Never so close to the memory's end that a block from new memory would grow it.
        if (M.HEAP8.length - M._sbrk(0) < 2 * size + (1 << 16)) break;
        const at = M._malloc(size);
        if (!at) break;
        if (at + size > breakAt || M.HEAP8.length !== heapSize) {
          M._free(at); // new memory: the free blocks of this size are used up
          break;
        }
        M.HEAPU8.fill(0, at, at + size);
        held.push(at);
        bytes += size;
      }
    }
    for (const at of held) M._free(at);
    blocks += held.length;
    if (first === null) first = bytes;
  }
  return { bytes: first, blocks };
}
try {
  const t0 = performance.now();
  // Through the page's own boot loader (its plain path), so that the interpreter is made
  // as every page will restore it: without JSPI (withoutStackSwitching).
  const { loadPyodide } = await import("/pyodide/zariz-loader.mjs");
  const py = await loadPyodide({ indexURL: "/pyodide/", _makeSnapshot: true });
  const stackSwitching = globalThis.__zarizBoot.stack_switching;
  const heapStart = py._module.HEAP8.length;
  const t1 = performance.now();
  const zip = await (await fetch("/bundle.zip")).arrayBuffer();
  py.unpackArchive(zip, "zip", { extractDir: "/home/pyodide" });
  const config = await (await fetch("/config.json")).json();
  py.globals.set("__zariz_snapshot_config", JSON.stringify(config));
  // PyScript's start-up script (what its every boot runs before the page's Python): the
  // snapshot precompiles the package it writes (zariz.codecache). Importing PyScript's
  // module here registers its elements and loads its plugins in this page's JS; none of
  // it reaches the interpreter. Never fatal: a failure is recorded, the snapshot is
  // built without the precompiled package.
  let stdlib = "";
  let stdlibError = "";
  if (config.precompile) {
    let timer = 0;
    try {
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("importing PyScript's core.js took over 30 s")),
                           30000);
      });
      stdlib = (await Promise.race([import("/pyscript/core.js"), timeout])).stdlib;
      if (typeof stdlib !== "string" || !stdlib) throw new Error("core.js exports no stdlib");
    } catch (e) {
      stdlib = "";
      stdlibError = String(e && e.message || e);
    } finally {
      clearTimeout(timer);
    }
  }
  py.globals.set("__zariz_pyscript_stdlib", stdlib);
  py.globals.set("__zariz_pyscript_stdlib_error", stdlibError);
  const imported = JSON.parse(py.runPython(config.code));
  const scrubbed = config.scrub ? scrubFreeMemory(py._module) : { bytes: 0, blocks: 0 };
  const t2 = performance.now();
  const snapshot = py.makeMemorySnapshot();
  const t3 = performance.now();
  // Out of the page as a download: the browser writes it to disk. A POST would pass
  // the body through the DevTools protocol to Playwright, escaped as JSON text (x6 for
  // the heap's zeros), which breaks Node's string limit once the heap passes ~80 MB.
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([snapshot]));
  link.download = "snapshot.bin";
  document.body.append(link);
  link.click();
  report({ ok: true, imported, scrubbed, stackSwitching, bytes: snapshot.length, heapStart,
           heapEnd: py._module.HEAP8.length, bootMs: t1 - t0, importMs: t2 - t1,
           snapshotMs: t3 - t2 });
} catch (e) {
  report({ ok: false, error: String(e && e.stack || e) });
}
</script>"""

# The check page: restore through the page's own boot loader (static/boot), then look at
# the modules. {meta} is the <meta name="zariz-snapshot"> the server would write.
VERIFY_PAGE = """<!doctype html><meta charset="utf-8"><title>verify</title>{meta}
<script type="module">
const report = (r) => {{ window.__zarizSnapshot = r; }};
try {{
  const {{ loadPyodide }} = await import("/pyodide/zariz-loader.mjs");
  const py = await loadPyodide({{}});
  const boot = globalThis.__zarizBoot;
  if (boot.mode !== "snapshot") throw new Error(`the loader booted plain: ${{boot.reason}}`);
  const config = await (await fetch("/config.json")).json();
  py.globals.set("__zariz_expect", JSON.stringify(config.expect));
  const missing = JSON.parse(py.runPython(
    "import json, sys\\n" +
    "json.dumps([n for n in json.loads(__zariz_expect) if n not in sys.modules])"));
  report({{ ok: missing.length === 0, missing, restoreMs: boot.total_ms,
            stackSwitching: boot.stack_switching }});
}} catch (e) {{
  report({{ ok: false, error: String(e && e.stack || e) }});
}}
</script>"""

# Run in the make page (the last expression is the result): import the package's modules
# and the extras, then leave __main__ as it was.
IMPORT_CODE = """
def __zariz_snapshot_imports():
    import gc
    import importlib
    import json
    import os
    import pkgutil
    import sys

    config = json.loads(__zariz_snapshot_config)
    importlib.invalidate_caches()  # the bundle was unpacked after the path was scanned
    import zariz

    def skipped(name):
        return any(name == s or name.startswith(s + ".") for s in config["skip"])

    names = ["zariz"]
    for info in pkgutil.walk_packages(zariz.__path__, "zariz.", onerror=lambda n: None):
        if not skipped(info.name):
            importlib.import_module(info.name)
            names.append(info.name)
    for name in config["extra"]:
        importlib.import_module(name)
    # Nothing of a package we leave out may ride along (walk_packages imports packages).
    for name in [n for n in sys.modules if skipped(n)]:
        del sys.modules[name]
    # PyScript's own package, compiled now, taken by its imports at every boot when the
    # files it writes are these bytes (else compiled as before). Never fatal.
    precompiled = {"files": [], "error": ""}
    if config["precompile"] and __zariz_pyscript_stdlib_error:
        precompiled["error"] = "reading PyScript's start-up script: " + \
            __zariz_pyscript_stdlib_error
    elif config["precompile"]:
        try:
            from zariz.codecache import CodeCache

            cache = CodeCache.from_pyscript(__zariz_pyscript_stdlib, os.getcwd())
            cache.install()
            precompiled["files"] = cache.paths()
        except Exception as exc:
            precompiled["error"] = f"{type(exc).__name__}: {exc}"
    gc.collect()  # JS proxies nobody holds any more (the zip) must not be in the table
    return json.dumps({"app": sorted(names), "all": sorted(sys.modules),
                       "precompiled": precompiled})


__zariz_snapshot_result = __zariz_snapshot_imports()
del __zariz_snapshot_imports, __zariz_snapshot_config, __zariz_pyscript_stdlib
del __zariz_pyscript_stdlib_error
__zariz_snapshot_result
"""


class BuildError(RuntimeError):
    """The snapshot could not be built; the message says why."""


class NoChromium(BuildError):
    """No Chromium binary to build with."""


class _Site:
    """What the throwaway pages load: Pyodide's files, the bundle, the config, and (for
    the check) the snapshot."""

    def __init__(self, pyodide_dir: pathlib.Path, bundle: bytes, config: dict[str, Any]) -> None:
        self.pyodide_dir = pyodide_dir
        self.pyscript_dir = pyodide_dir.parent / "pyscript"
        self.bundle = bundle
        self.config = json.dumps(config).encode()
        self.snapshot: bytes | None = None
        self.verify_page = ""
        self.loader = loader_path(pyodide_dir.parents[2])
        # The loader's fetcher of the snapshot (its worker), at the URL the app serves it.
        self.snapshot_fetch = snapshot_fetch_path(pyodide_dir.parents[2])


_TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
          ".json": "application/json", ".zip": "application/zip"}


def _handler(site: _Site) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # quiet: the build prints its own summary

        def _send(self, body: bytes, kind: str, status: int = 200) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path == "/":
                self._send(MAKE_PAGE.encode(), "text/html; charset=utf-8")
            elif path == "/verify":
                self._send(site.verify_page.encode(), "text/html; charset=utf-8")
            elif path == "/pyodide/zariz-loader.mjs":
                self._send(site.loader.read_bytes(), "text/javascript")
            elif path == SNAPSHOT_FETCH_URL:
                self._send(site.snapshot_fetch.read_bytes(), "text/javascript")
            elif path == "/bundle.zip":
                self._send(site.bundle, "application/zip")
            elif path == "/config.json":
                self._send(site.config, "application/json")
            elif path == "/snapshot.bin" and site.snapshot is not None:
                self._send(site.snapshot, "application/octet-stream")
            elif path.startswith(("/pyodide/", "/pyscript/")) and path.count("/") == 2:
                folder, name = path[1:].split("/")
                target = (site.pyodide_dir if folder == "pyodide" else site.pyscript_dir) / name
                if name and target.is_file():
                    kind = _TYPES.get(target.suffix, "application/octet-stream")
                    self._send(target.read_bytes(), kind)
                else:
                    self._send(b"not found", "text/plain", 404)
            else:
                self._send(b"not found", "text/plain", 404)

    return Handler


@contextlib.contextmanager
def _serve(site: _Site) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _run_page(browser: Any, url: str, timeout_s: float,
              download: pathlib.Path | None = None) -> dict[str, Any]:
    context = browser.new_context(accept_downloads=download is not None)
    try:
        page = context.new_page()
        console: list[str] = []
        downloads: list[Any] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        page.on("download", lambda d: downloads.append(d))
        page.goto(url)
        try:
            page.wait_for_function("window.__zarizSnapshot", timeout=timeout_s * 1000)
            result: dict[str, Any] = page.evaluate("window.__zarizSnapshot")
            if result.get("ok") and download is not None:
                if not downloads:
                    downloads.append(page.wait_for_event("download", timeout=30_000))
                downloads[0].save_as(download)
        except Exception as exc:
            tail = "\n".join(console[-20:])
            raise BuildError(f"{url}: no result in {timeout_s:.0f} s ({exc})\n{tail}") from exc
        if not result.get("ok"):
            tail = "\n".join(console[-20:])
            raise BuildError(f"{url} failed: {json.dumps(result)[:4000]}\n{tail}")
        return result
    finally:
        context.close()


def _make(site: _Site, chromium: str, timeout_s: float,
          scratch: pathlib.Path) -> tuple[dict[str, Any], dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    with _serve(site) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            made = _run_page(browser, base + "/", timeout_s, download=scratch)
            site.snapshot = scratch.read_bytes()
            if len(site.snapshot) != made["bytes"]:
                raise BuildError(f"the snapshot download has {len(site.snapshot)} bytes, "
                                 f"the page made {made['bytes']}")
            site.config = json.dumps({"expect": made["imported"]["app"]}).encode()
            digest = base64.b64encode(hashlib.sha256(site.snapshot).digest()).decode()
            meta = (f'<meta name="zariz-snapshot" content="/snapshot.bin" '
                    f'data-bytes="{len(site.snapshot)}" data-sha256="{digest}">')
            site.verify_page = VERIFY_PAGE.format(meta=meta)
            checked = _run_page(browser, base + "/verify", timeout_s)
        finally:
            browser.close()
    if checked.get("stackSwitching") != made.get("stackSwitching"):
        raise BuildError(f"the snapshot was made with JSPI {made.get('stackSwitching')} and "
                         f"restored with JSPI {checked.get('stackSwitching')}: one loader "
                         "must do both")
    return made, checked


def _write_atomic(path: pathlib.Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _remove_others(folder: pathlib.Path, name: str) -> list[str]:
    removed = []
    for entry in folder.iterdir():
        if entry.name.startswith(".") or entry.name.startswith(name + "."):
            continue
        if entry.is_file():
            entry.unlink()
            removed.append(entry.name)
    return removed


def current_name(root: pathlib.Path) -> tuple[str, PyodideBuild, str, bytes]:
    """``(name, Pyodide build, bundle digest, bundle zip)`` for ``root`` as it is now."""
    build = pyodide_build(root)
    if build is None:
        raise BuildError(f"no vendored Pyodide under {root}/static/vendor/pyodide "
                         "(run `make setup`)")
    package = root / "app" / "zariz"
    if not package.is_dir():
        raise BuildError(f"no app package at {package}")
    cache = BundleCache()
    return snapshot_name(build, cache.digest(package)), build, cache.digest(package), \
        cache.get(package)


def pyscript_key(root: pathlib.Path) -> str:
    """What the precompiled package was read from: a digest of the vendored PyScript's
    JS modules (its start-up script is in its core chunk). Recorded in the manifest as
    ``precompile_key``; a snapshot with another key is rebuilt.

    >>> pyscript_key(PROJECT_ROOT)  # doctest: +SKIP
    'pyscript-3f9c0a51d2e4b7c8'
    """
    folder = root / "static" / "vendor" / "pyscript"
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.js")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return "pyscript-" + digest.hexdigest()[:16]


def loader_key(root: pathlib.Path) -> str:
    """What made and restores the snapshot: a digest of the boot loader the server serves
    for ``root`` (:func:`server.web.loader_path`), which the make page boots through.
    Recorded in the manifest as ``loader_key``; a snapshot with another key (or none) is
    rebuilt: a loader that loads Pyodide otherwise (with or without JSPI, say) makes
    another interpreter."""
    return "loader-" + hashlib.sha256(loader_path(root).read_bytes()).hexdigest()[:16]


def _recorded_key(manifest: pathlib.Path, field: str = "precompile_key") -> str | None:
    try:
        key = json.loads(manifest.read_text()).get(field)
    except (OSError, ValueError, AttributeError):
        return None
    return key if isinstance(key, str) else None


def build(root: pathlib.Path, *, chromium: str = CHROMIUM, force: bool = False,
          timeout_s: float = 180.0, scrub: bool = True, precompile: bool = True,
          log: Callable[[str], None] = print) -> pathlib.Path:
    """Build (or keep) the snapshot of ``root``; returns its manifest's path."""
    started = time.monotonic()
    name, pyodide, digest, bundle = current_name(root)
    folder = root / SNAPSHOT_DIR
    manifest = folder / f"{name}.json"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build per tree at a time
        precompile_key = pyscript_key(root) if precompile else "off"
        boot_key = loader_key(root)
        if manifest.is_file() and _recorded_key(manifest, "loader_key") != boot_key:
            # Unannounced at once, forced or not: should the rebuild fail (or find no
            # Chromium), pages boot plain rather than restore what another loader made.
            manifest.unlink()
            log(f"snapshot: {name} was made by another boot loader: rebuilding")
        elif not force and manifest.is_file() and (folder / f"{name}.bin").is_file():
            if _recorded_key(manifest) != precompile_key:
                # The name is the bundle's and Pyodide's: another PyScript (or a build with
                # --no-precompile) would leave the precompiled package stale - correct, as
                # every import would compile, but no longer faster.
                log(f"snapshot: {name} was built for another PyScript (or precompile"
                    " setting): rebuilding")
            else:
                log(f"snapshot: {name} is current")
                return manifest
        if not (shutil.which(chromium) or os.path.exists(chromium)):
            raise NoChromium(chromium)
        site = _Site(root / "static" / "vendor" / "pyodide", bundle,
                     {"code": IMPORT_CODE, "skip": list(SKIP_PACKAGES),
                      "extra": list(EXTRA_MODULES), "scrub": scrub,
                      "precompile": precompile})
        scratch = folder / f".{name}.download"
        try:
            made, checked = _make(site, chromium, timeout_s, scratch)
        finally:
            scratch.unlink(missing_ok=True)
        data = site.snapshot
        assert data is not None
        packed = gzip.compress(data, compresslevel=6, mtime=0)
        # What Chromium takes (Accept-Encoding: zstd): 18% smaller than the gzip, and read
        # from the HTTP cache on every warm boot in 115 ms against gzip's 166 (decoding
        # 31 MB; medians of 7 in one run). Level 9: 0.3 s to build; 19 saves 0.7 MB for 7 s.
        zpacked = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(data)
        sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
        # Unannounced while its files change (a rebuild of the same name): a page then
        # boots plain rather than check the new bytes against the old manifest.
        manifest.unlink(missing_ok=True)
        _write_atomic(folder / f"{name}.bin", data)
        _write_atomic(folder / f"{name}.bin.zst", zpacked)
        _write_atomic(folder / f"{name}.bin.gz", packed)
        body = {
            "name": name, "bytes": len(data), "sha256": sha, "gzip": True,
            "gzip_bytes": len(packed), "zstd": True, "zstd_bytes": len(zpacked),
            "pyodide": pyodide.version,
            "build_id": pyodide.build_id, "bundle": digest, "modules": made["imported"]["app"],
            "sys_modules": made["imported"]["all"],
            "heap_bytes": {"start": made["heapStart"], "end": made["heapEnd"]},
            "scrubbed_bytes": made["scrubbed"]["bytes"],
            "precompiled": made["imported"]["precompiled"],
            # A failed precompile is not current for any PyScript: the next build retries.
            "precompile_key": None if made["imported"]["precompiled"]["error"]
            else precompile_key,
            "loader_key": boot_key,
            "stack_switching": made["stackSwitching"],
            "ms": {"boot": round(made["bootMs"]), "import": round(made["importMs"]),
                   "snapshot": round(made["snapshotMs"]),
                   "verify_restore": round(checked["restoreMs"])},
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_s": round(time.monotonic() - started, 1),
        }
        _write_atomic(manifest, (json.dumps(body, indent=2) + "\n").encode())
        removed = _remove_others(folder, name)
    precompiled = made["imported"]["precompiled"]
    log(f"snapshot: built {name}.bin ({len(data) / 1e6:.1f} MB, zstd {len(zpacked) / 1e6:.1f} MB,"
        f" gzip {len(packed) / 1e6:.1f} MB,"
        f" {len(made['imported']['app'])} app modules,"
        f" {len(precompiled['files'])} of PyScript's files precompiled)"
        f" in {time.monotonic() - started:.1f} s"
        + (f"; not precompiled: {precompiled['error']}" if precompiled["error"] else "")
        + (f"; removed {len(removed)} older file(s)" if removed else ""))
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=pathlib.Path, default=PROJECT_ROOT,
                        help="the tree to build for (default: this project)")
    parser.add_argument("--chromium", default=CHROMIUM, help="Chromium binary")
    parser.add_argument("--force", action="store_true", help="rebuild a current snapshot")
    parser.add_argument("--timeout", type=float, default=180.0,
                        help="seconds each page may take")
    parser.add_argument("--no-scrub", action="store_true",
                        help="leave the heap's free memory as it is (to measure the scrub)")
    parser.add_argument("--no-precompile", action="store_true",
                        help="leave PyScript's package out of the snapshot's compiled code "
                             "(to measure it)")
    parser.add_argument("--print-name", action="store_true",
                        help="print the current snapshot name and exit")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        if args.print_name:
            print(current_name(root)[0])
            return 0
        build(root, chromium=args.chromium, force=args.force, timeout_s=args.timeout,
              scrub=not args.no_scrub, precompile=not args.no_precompile)
    except NoChromium as exc:
        print(f"snapshot: no Chromium at {exc}; skipped (the app boots without a snapshot)",
              file=sys.stderr)
        return 3
    except BuildError as exc:
        print(f"snapshot: build failed (the app boots without a snapshot): {exc}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
