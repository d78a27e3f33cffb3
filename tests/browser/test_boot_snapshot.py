"""Booting from a Pyodide memory snapshot, and every way back to a plain boot.

The snapshot is built once for this module by ``scripts/build_snapshot.py`` into a copy of
the page's files (never the project's var/); each scenario serves its own copy, so a
damaged or stale snapshot never leaks into another test.
"""

from __future__ import annotations

import gzip
import json
import pathlib
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import zstandard

from tests.browser.conftest import wait_booted
from tests.browser.support import run_py, wait_client, wait_until
from tests.support.dev_tree import copy_tree
from tests.support.live_server import PROJECT_ROOT, LiveServer

# The module's first test also waits for the snapshot build (10-30 s on a busy machine).
pytestmark = pytest.mark.timeout(300)

BUILDER = PROJECT_ROOT / "scripts" / "build_snapshot.py"
PLAIN_LINE = "[boot] plain Pyodide boot (no snapshot): "
RECONNECT_LINE = re.compile(r"\[SSE\] reconnect in (\d+) ms \(attempt (\d+)\)")
MARKS = ("zariz:boot-start", "zariz:pyodide-ready", "zariz:app-mounted", "zariz:sse-open")

# A heap that grew past Pyodide's initial 30 MB while the snapshot was made: Pyodide
# alone fails to restore it ("offset is out of bounds"); the loader grows memory first.
BALLAST = """
import sys
sys.argv = ["build_snapshot.py", "--root", sys.argv[1]]
sys.path.insert(0, {scripts!r})
import build_snapshot
build_snapshot.IMPORT_CODE = (
    "import builtins\\nbuiltins.__zariz_ballast = bytearray(40 << 20)\\n"
    + build_snapshot.IMPORT_CODE
)
sys.exit(build_snapshot.main())
"""


def page_tree(target: pathlib.Path) -> pathlib.Path:
    return copy_tree(target, vendor=True)  # static/boot (the loader) included


def build(root: pathlib.Path, *code: str, flags: tuple[str, ...] = ()) -> dict[str, Any]:
    command = [sys.executable, *(["-c", *code] if code else [str(BUILDER)])]
    command += [str(root)] if code else ["--root", str(root), *flags]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    (manifest,) = (root / "var" / "snapshot").glob("*.json")
    return json.loads(manifest.read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, dict[str, Any]]:
    root = page_tree(tmp_path_factory.mktemp("snapshot") / "root")
    return root, build(root)


def copy_of(built: tuple[pathlib.Path, dict[str, Any]], target: pathlib.Path) -> pathlib.Path:
    root = page_tree(target)
    shutil.copytree(built[0] / "var" / "snapshot", root / "var" / "snapshot")
    return root


def open_app(open_tab: Callable[..., Any], server: LiveServer, path: str = "/dashboard/orders",
             context: Any = None) -> tuple[Any, Any, list[str]]:
    """A logged-in tab on ``path``, connected; also returns the snapshot requests it made."""
    tokens = server.login()
    state = json.dumps({"access_token": tokens["access_token"],
                        "refresh_token": tokens["refresh_token"]})
    page, log = open_tab(server.url, context=context)
    snapshots: list[str] = []
    page.on("request", lambda r: snapshots.append(r.url) if "/app/snapshot/" in r.url else None)
    page.add_init_script(f"localStorage.setItem('zariz.auth', {json.dumps(state)})")
    page.goto(server.url + path)
    wait_client(page, "connected")
    return page, log, snapshots


# The snapshot's code cache (zariz.codecache) as the page sees it: what PyScript's imports
# took from it, what they compiled, and the files of PyScript's package now imported.
PRECOMPILED = """
import json, sys, js
from zariz.codecache import installed
_cache = installed()
js.window.__precompiled = json.dumps(None if _cache is None else {
    "hits": _cache.hits, "misses": _cache.misses,
    "imported": sorted(m.__file__ for n, m in sys.modules.items()
                       if n.split(".")[0] == "pyscript" and getattr(m, "__file__", None))})
"""


def browser_has_jspi(page: Any) -> bool:
    """Whether this browser has JSPI, read in a blank tab: what the app's page must have
    again once the loader has put the names back."""
    blank = page.context.new_page()
    try:
        return bool(blank.evaluate("'Suspending' in WebAssembly"))
    finally:
        blank.close()


def boot_of(page: Any) -> dict[str, Any]:
    return page.evaluate("JSON.parse(JSON.stringify(globalThis.__zarizBoot))")  # type: ignore[no-any-return]


def plain_lines(log: Any) -> list[str]:
    return [line for line in log.console if PLAIN_LINE in line]


def errors(log: Any) -> list[str]:
    return log.errors + [c for c in log.console if c.startswith("error")] + log.outside


def test_boots_from_the_snapshot_and_the_orders_page_works(
    built: tuple[pathlib.Path, dict[str, Any]], open_tab: Callable[..., Any],
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(root=built[0])
    page, log, snapshots = open_app(open_tab, server)
    boot = boot_of(page)
    assert boot["mode"] == "snapshot" and boot["reason"] == "", boot
    assert boot["total_ms"] > 0 and boot["restore_ms"] > 0 and boot["fetch_ms"] > 0, boot
    # The heap's zero pages were left out of the copy (~44% of ours): never written,
    # never the tab's memory.
    assert boot["heap_skipped"] > 4 << 20, boot
    assert plain_lines(log) == []
    # Made and restored without JSPI (the loader hides it while Pyodide loads: Pyodide
    # then runs asyncio's callbacks as plain calls), and the page has it back after.
    assert boot["stack_switching"] is False and built[1]["stack_switching"] is False, boot
    assert page.evaluate("'Suspending' in WebAssembly") is browser_has_jspi(page)
    # One download, in the loader's worker, of its zstd copy (Chromium takes zstd); the
    # worker checked the decoded size against the page's data-bytes.
    assert len(snapshots) == 1, snapshots
    (packed,) = (built[0] / "var" / "snapshot").glob("*.bin.zst")
    assert boot["fetched_in"] == "worker", boot
    assert boot["download_bytes"] == packed.stat().st_size, boot
    # The page asked for the loader itself, before PyScript's core had read its config
    # (which one runs first is a race: the loader waits for pyodide.mjs); PyScript's import
    # then found the same module: fetched once, evaluated once.
    assert page.evaluate("""(() => {
        const start = performance.getEntriesByName('zariz:boot-start');
        const first = (part) => performance.getEntriesByType('resource')
            .filter((e) => e.name.includes(part)).map((e) => e.startTime);
        const toml = first('/pyscript.toml');
        return start.length === 1 && toml.length === 1
            && first('zariz-loader.mjs')[0] < toml[0];
    })()""")
    assert page.evaluate("""performance.getEntriesByType('resource')
        .filter((e) => e.name.includes('zariz-loader.mjs')).length""") == 1
    # The app's package is in the snapshot: its zip is not even downloaded.
    assert page.evaluate("""performance.getEntriesByType('resource')
        .filter((e) => e.name.includes('/app/bundle.zip')).length""") == 0
    wait_until(lambda: page.evaluate(
        "performance.getEntriesByName('zariz:sse-open').length") > 0, 10, "sse-open", page)
    marks = {name: page.evaluate(f"performance.getEntriesByName('{name}')[0].startTime")
             for name in MARKS}
    assert marks["zariz:boot-start"] <= marks["zariz:pyodide-ready"]
    assert marks["zariz:pyodide-ready"] <= marks["zariz:app-mounted"]
    # The app's modules came out of the snapshot, not out of the unpacked bundle.
    run_py(page, "import sys, js\njs.window.__fromSnapshot = sys.modules['zariz.boot']"
                 ".__spec__.origin")
    assert page.evaluate("window.__fromSnapshot").endswith("zariz/boot.py")
    # PyScript's own package, written anew by its start-up script, was not compiled from
    # source: every module of it that was imported came from the snapshot's compiled code.
    assert len(built[1]["precompiled"]["files"]) >= 11, built[1]["precompiled"]
    run_py(page, PRECOMPILED)
    precompiled = json.loads(page.evaluate("window.__precompiled"))
    assert precompiled is not None, "no code cache in the restored interpreter"
    assert precompiled["misses"] == [], precompiled
    assert sorted(precompiled["hits"]) == precompiled["imported"], precompiled
    assert "/home/pyodide/pyscript/__init__.py" in precompiled["hits"], precompiled

    page.wait_for_selector("[data-testid=orders-empty]")
    order = server.create_order(server.login()["access_token"], customer="From Snapshot")
    page.wait_for_selector(f"[data-testid=order-row][data-order-id='{order['id']}']")
    assert errors(log) == []


# The loader's copy of a heap, against the plain copy, on heaps made to catch each way it
# could go wrong: a zero page over a written one (must be zeroed), a non-zero page in a
# zero one, a last partial page, a source at the snapshot's offset into its bytes (144),
# a target bigger than the source (the rest untouched).
SPARSE_CASES = """async () => {
  const { sparseHeapCopy } = await import("/static/vendor/pyodide/zariz-loader.mjs");
  const PAGE = 4096;
  const run = (size, sourcePages, targetPages) => {
    const source = new Uint8Array(size + 144).subarray(144);
    const target = new Int8Array(size + 3 * PAGE);
    for (const [p, v] of sourcePages) source.fill(v, p * PAGE, Math.min(size, p * PAGE + 64));
    for (const [p, v] of targetPages) target.fill(v, p * PAGE + 7, p * PAGE + 11);
    const want = Int8Array.from(target);
    want.set(source);
    const skipped = sparseHeapCopy(target, source);
    const same = target.every((byte, i) => byte === want[i]);
    return { same, skipped };
  };
  return [
    run(10 * PAGE + 123, [[0, 1], [3, 200], [10, 7]], [[2, 5], [3, 9], [9, 1], [11, 4]]),
    run(4 * PAGE, [], []),
    run(100, [[0, 3]], [[0, 1]]),
    run(3 * PAGE, [[1, 255]], [[0, 1], [2, 1]]),
  ];
}"""


def test_the_heap_copy_leaves_out_only_pages_zero_on_both_sides(
    built: tuple[pathlib.Path, dict[str, Any]], open_tab: Callable[..., Any],
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(root=built[0])
    page, _log = open_tab(server.url)
    page.goto(server.url + "/login")
    wait_booted(page)
    results = page.evaluate(SPARSE_CASES)
    assert [r["same"] for r in results] == [True] * 4, results
    # Pages zero in both: 10-page case 1, 4, 5, 6, 7, 8 (2, 3 and 9 hold data in one of
    # them; 0 in the source); all 4 pages; none (smaller than a page); none.
    assert [r["skipped"] for r in results] == [6 * 4096, 4 * 4096, 0, 0], results


def test_the_snapshot_bytes_are_not_kept_after_the_restore(
    built: tuple[pathlib.Path, dict[str, Any]], open_tab: Callable[..., Any],
    live_server_factory: Callable[..., LiveServer], tmp_path: pathlib.Path,
) -> None:
    """30 MB per tab otherwise: Pyodide keeps its options (``_loadSnapshot``) for good."""
    root = copy_of(built, tmp_path / "weak")
    loader = root / "static" / "boot" / "zariz-loader.mjs"
    source = loader.read_text()
    # Instrument this copy only: weak references to the bytes the worker handed over and
    # to the zero-filled stand-in Pyodide was given (restoringModuleFactory).
    anchors = {
        "      resolve({\n": "      globalThis.__snapshotBytes = new WeakRef(data.buffer);\n",
        "      attempt._loadSnapshot = standIn;\n":
            "      globalThis.__standIn = new WeakRef(standIn);\n",
    }
    for anchor, line in anchors.items():
        assert source.count(anchor) == 1, anchor
        source = source.replace(anchor, line + anchor)
    loader.write_text(source)
    server = live_server_factory(root=root)
    page, log = open_tab(server.url)
    page.goto(server.url + "/login")
    wait_booted(page)
    assert boot_of(page)["mode"] == "snapshot"
    cdp = page.context.new_cdp_session(page)

    def collected() -> bool:
        cdp.send("HeapProfiler.collectGarbage")
        return bool(page.evaluate("globalThis.__snapshotBytes.deref() === undefined"
                                  " && globalThis.__standIn.deref() === undefined"))

    wait_until(collected, 10, "the snapshot's bytes to be garbage", page)


def test_the_wasm_is_instantiated_while_the_snapshot_downloads(
    built: tuple[pathlib.Path, dict[str, Any]], open_tab: Callable[..., Any],
    live_server_factory: Callable[..., LiveServer], tmp_path: pathlib.Path,
) -> None:
    """Pyodide awaits the snapshot before it creates its module: handed the download, it
    compiled and instantiated its wasm only after the last byte. With the stand-in the
    module is made meanwhile: here the download is held back 3 s, and the module is
    ready well before the bytes."""
    root = copy_of(built, tmp_path / "slow")
    fetcher = root / "static" / "boot" / "snapshot-fetch.mjs"
    source = fetcher.read_text()
    anchor = "export async function fetchSnapshot({ url, size, sha256 }) {\n"
    assert source.count(anchor) == 1
    fetcher.write_text(source.replace(
        anchor, anchor + "  await new Promise((resolve) => setTimeout(resolve, 3000));\n"))
    server = live_server_factory(root=root)
    page, log, _ = open_app(open_tab, server, "/dashboard")
    boot = boot_of(page)
    assert boot["mode"] == "snapshot" and boot["fetched_in"] == "worker", boot
    assert boot["fetch_ms"] >= 3000, boot
    assert boot["module_ms"] < boot["fetch_ms"] - 1000, boot
    assert errors(log) == []


def test_without_a_worker_the_snapshot_is_fetched_on_the_main_thread(
    built: tuple[pathlib.Path, dict[str, Any]], open_tab: Callable[..., Any],
    live_server_factory: Callable[..., LiveServer],
) -> None:
    """A worker the browser refuses to start (as a policy would): the same download and
    checks run on the page's thread, and the boot is still a restore. (Worker itself
    cannot be absent on these pages: PyScript's core extends it.)"""
    server = live_server_factory(root=built[0])
    page, log = open_tab(server.url)
    page.add_init_script("globalThis.Worker = class { constructor() {"
                         " throw new DOMException('refused', 'SecurityError'); } }")
    page.goto(server.url + "/login")
    wait_booted(page)
    boot = boot_of(page)
    assert boot["mode"] == "snapshot" and boot["fetched_in"] == "main", boot
    (packed,) = (built[0] / "var" / "snapshot").glob("*.bin.zst")
    assert boot["download_bytes"] == packed.stat().st_size, boot
    said = [c for c in log.console if "the snapshot is fetched on the main thread" in c]
    assert len(said) == 1, log.console
    assert plain_lines(log) == [] and log.errors == []


def test_an_unreachable_snapshot_fetcher_boots_plain(
    built: tuple[pathlib.Path, dict[str, Any]], open_tab: Callable[..., Any],
    live_server_factory: Callable[..., LiveServer],
) -> None:
    """The fetcher's module is not on the server, neither for the worker nor for the page:
    a plain boot that says why, not a page left waiting, and not under the boot overlay
    (a missing runtime file is one; this one the app does without)."""
    server = live_server_factory(root=built[0])
    page, log = open_tab(server.url)
    page.route("**/static/boot/snapshot-fetch.mjs*",
               lambda route: route.fulfill(status=404, body="missing"))
    page.goto(server.url + "/login")
    wait_booted(page)
    boot = boot_of(page)
    assert boot["mode"] == "plain" and boot["reason"].startswith("snapshot failed: "), boot
    assert [line.split(PLAIN_LINE)[1] for line in plain_lines(log)] == [boot["reason"]]
    page.wait_for_timeout(1000)  # the overlay's probe of a failed file takes a moment
    assert page.locator("[data-testid=boot-error]").count() == 0
    assert page.locator("#app").get_attribute("inert") is None
    page.fill("[data-testid=login-username]", "demo")  # the app is usable


@pytest.mark.parametrize(("damage", "why"), [
    ("flipped", "damaged (SHA-256 mismatch)"),
    ("truncated", "the page expected"),
])
def test_a_corrupt_snapshot_boots_plain_and_connects(
    built: tuple[pathlib.Path, dict[str, Any]], open_tab: Callable[..., Any],
    live_server_factory: Callable[..., LiveServer], tmp_path: pathlib.Path,
    damage: str, why: str,
) -> None:
    root = copy_of(built, tmp_path / "corrupt")
    (snapshot,) = (root / "var" / "snapshot").glob("*.bin")
    data = bytearray(snapshot.read_bytes())
    if damage == "flipped":
        data[len(data) // 2] ^= 0xFF  # one byte of the heap: would break Python later
    else:
        del data[len(data) // 2:]
    snapshot.write_bytes(bytes(data))
    snapshot.with_name(snapshot.name + ".gz").write_bytes(gzip.compress(bytes(data)))
    snapshot.with_name(snapshot.name + ".zst").write_bytes(
        zstandard.ZstdCompressor().compress(bytes(data)))

    server = live_server_factory(root=root)
    page, log, _ = open_app(open_tab, server)
    boot = boot_of(page)
    assert boot["mode"] == "plain" and why in boot["reason"], boot
    assert [line.split(PLAIN_LINE)[1] for line in plain_lines(log)] == [boot["reason"]]
    assert errors(log) == []
    page.wait_for_selector("[data-testid=orders-empty]")


def test_a_stale_snapshot_boots_plain_and_connects(
    built: tuple[pathlib.Path, dict[str, Any]], open_tab: Callable[..., Any],
    live_server_factory: Callable[..., LiveServer], tmp_path: pathlib.Path,
) -> None:
    root = copy_of(built, tmp_path / "stale")
    module = root / "app" / "zariz" / "types.py"
    module.write_text(module.read_text() + "\n# changed after the snapshot was built\n")
    server = live_server_factory(root=root)
    page, log, snapshots = open_app(open_tab, server)
    boot = boot_of(page)
    assert boot["mode"] == "plain" and "no current snapshot" in boot["reason"], boot
    assert len(plain_lines(log)) == 1 and snapshots == []
    assert errors(log) == []


def test_two_tabs_from_one_snapshot_draw_different_numbers(
    built: tuple[pathlib.Path, dict[str, Any]], open_tab: Callable[..., Any],
    live_server_factory: Callable[..., LiveServer],
) -> None:
    # ``random`` is in the snapshot: without a reseed both tabs would share its state.
    assert "random" in built[1]["sys_modules"]
    server = live_server_factory(root=built[0])
    tabs = [open_app(open_tab, server, "/dashboard") for _ in range(2)]  # own contexts
    draws = []
    for page, _log, _ in tabs:
        assert boot_of(page)["mode"] == "snapshot"
        run_py(page, "import json, random, js\n"
                     "js.window.__draws = json.dumps([random.random() for _ in range(4)])")
        draws.append(json.loads(page.evaluate("window.__draws")))
    assert draws[0] != draws[1], draws

    # The reconnect backoff's jitter after the server goes away. It draws from
    # platform.random, which is JS Math.random and so not in the snapshot: this half
    # guards the storm rule end to end (were the jitter ever moved to Python's random,
    # the reseed above is what keeps the tabs apart), it does not test the reseed.
    server.kill()

    def delays(log: Any) -> list[tuple[int, int]]:
        return [(int(m.group(2)), int(m.group(1)))
                for line in log.console if (m := RECONNECT_LINE.search(line))]

    for page, log, _ in tabs:
        wait_until(lambda log=log: len(delays(log)) >= 3, 60, "three backoff delays", page)
    first, second = (delays(log)[:3] for _page, log, _ in tabs)
    assert [a for a, _ in first] == [a for a, _ in second] == [1, 2, 3]
    assert first != second, (first, second)


@pytest.mark.parametrize(("how", "why"), [
    ("query", "?boot=plain"),
    ("storage", "localStorage['zariz.boot'] = 'plain'"),
])
def test_the_boot_switch_forces_a_plain_boot(
    built: tuple[pathlib.Path, dict[str, Any]], open_tab: Callable[..., Any],
    live_server_factory: Callable[..., LiveServer], how: str, why: str,
) -> None:
    server = live_server_factory(root=built[0])
    page, log = open_tab(server.url)
    snapshots: list[str] = []
    page.on("request", lambda r: snapshots.append(r.url) if "/app/snapshot/" in r.url else None)
    if how == "storage":
        page.add_init_script("localStorage.setItem('zariz.boot', 'plain')")
    page.goto(server.url + "/login" + ("?boot=plain" if how == "query" else ""))
    wait_booted(page)
    boot = boot_of(page)
    assert boot == {**boot, "mode": "plain", "reason": why, "stack_switching": False}, boot
    assert page.evaluate("'Suspending' in WebAssembly") is browser_has_jspi(page)
    assert len(plain_lines(log)) == 1
    # A plain boot has the loader unpack the app's package (the page's zariz-bundle).
    assert page.evaluate("""performance.getEntriesByType('resource')
        .filter((e) => e.name.includes('/app/bundle.zip')).length""") == 1
    if how == "query":
        assert snapshots == []  # the server left the snapshot out of the page
    assert log.errors == []


def test_dev_mode_boots_plain(
    built: tuple[pathlib.Path, dict[str, Any]], open_tab: Callable[..., Any],
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(root=built[0], ZARIZ_DEV="1")
    page, log = open_tab(server.url)
    page.goto(server.url + "/login")
    wait_booted(page)
    assert boot_of(page)["mode"] == "plain" and boot_of(page)["reason"] == "dev mode"


def _zero_pages(root: pathlib.Path) -> tuple[int, int]:
    """(pages of the snapshot's heap that are all zeros, pages with at most 8 bytes set)."""
    (snapshot,) = (root / "var" / "snapshot").glob("*.bin")
    data = snapshot.read_bytes()
    heap = memoryview(data)[int.from_bytes(data[4:8], "little"):]
    page, zeros, nearly = 4096, 0, 0
    blank = bytes(page)
    for at in range(0, len(heap) - page + 1, page):
        chunk = heap[at:at + page]
        if chunk == blank:
            zeros += 1
        elif len(bytes(chunk).replace(b"\0", b"")) <= 8:
            nearly += 1
    return zeros, nearly


def test_the_snapshots_free_memory_is_zeros(
    built: tuple[pathlib.Path, dict[str, Any]], tmp_path: pathlib.Path
) -> None:
    """The builder zeroes the heap's free blocks (the import's garbage) before the snapshot:
    pages the loader then leaves out of the copy; the heap does not grow for it."""
    root, manifest = built
    assert manifest["scrubbed_bytes"] > 256 << 10, manifest
    plain_root = page_tree(tmp_path / "unscrubbed")
    plain = build(plain_root, flags=("--no-scrub",))
    assert plain["scrubbed_bytes"] == 0 and plain["name"] == manifest["name"]
    assert manifest["heap_bytes"]["end"] == plain["heap_bytes"]["end"]
    scrubbed_zeros, nearly = _zero_pages(root)
    plain_zeros, _ = _zero_pages(plain_root)
    # Ours: ~650 more zero pages (2.5 MiB); the allocator's leftover words: ~50 pages.
    assert scrubbed_zeros - plain_zeros > 256, (scrubbed_zeros, plain_zeros)
    assert nearly < 128, nearly


def test_a_snapshot_whose_heap_grew_restores(
    open_tab: Callable[..., Any], live_server_factory: Callable[..., LiveServer],
    tmp_path: pathlib.Path,
) -> None:
    root = page_tree(tmp_path / "grown")
    manifest = build(root, BALLAST.format(scripts=str(BUILDER.parent)))
    assert manifest["heap_bytes"]["end"] > manifest["heap_bytes"]["start"], manifest
    server = live_server_factory(root=root)
    page, log = open_tab(server.url)
    page.goto(server.url + "/login")
    wait_booted(page)
    assert boot_of(page)["mode"] == "snapshot", boot_of(page)
    run_py(page, "import builtins, js\njs.window.__ballast = len(builtins.__zariz_ballast)")
    assert page.evaluate("window.__ballast") == 40 << 20
    assert log.errors == []


def test_the_builder_skips_a_current_snapshot_and_names_by_bundle(
    built: tuple[pathlib.Path, dict[str, Any]], tmp_path: pathlib.Path,
) -> None:
    """Up to date is a no-op (no browser started); the name follows the bundle."""
    root, manifest = built
    result = subprocess.run([sys.executable, str(BUILDER), "--root", str(root)],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "is current" in result.stdout, result
    assert (root / "var" / "snapshot" / f"{manifest['name']}.json").is_file()
    other = copy_of(built, tmp_path / "other")
    module = other / "app" / "zariz" / "types.py"
    module.write_text(module.read_text() + "\n# changed\n")
    name = subprocess.run([sys.executable, str(BUILDER), "--root", str(other), "--print-name"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert name.returncode == 0
    assert name.stdout.strip() != manifest["name"]
    assert name.stdout.strip().rsplit("-app-", 1)[0] == manifest["name"].rsplit("-app-", 1)[0]


def test_the_builder_rebuilds_a_snapshot_made_for_another_pyscript(
    built: tuple[pathlib.Path, dict[str, Any]], tmp_path: pathlib.Path,
) -> None:
    """The snapshot's name is Pyodide's and the bundle's; the precompiled PyScript package
    is also current only for the PyScript it was read from (and with precompiling on).
    No Chromium here: a rebuild stops at "no Chromium" (exit 3), a current one exits 0."""
    other = copy_of(built, tmp_path / "other")
    assert built[1]["precompile_key"].startswith("pyscript-")

    def run(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(BUILDER), "--root", str(other),
                               "--chromium", str(tmp_path / "no-chromium"), *flags],
                              cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)

    kept = run()
    assert kept.returncode == 0 and "is current" in kept.stdout, kept
    # Another boot loader (the make page boots through it), or a manifest that names none:
    # rebuilt, and unannounced at once (the rebuild here finds no Chromium).
    manifest = other / "var" / "snapshot" / f"{built[1]['name']}.json"
    recorded = json.loads(manifest.read_text())
    loader = other / "static" / "boot" / "zariz-loader.mjs"
    original = loader.read_bytes()
    loader.write_bytes(original + b"\n// another loader\n")
    relo = run("--force")  # as `make serve` / `make test` run it
    assert relo.returncode == 3 and "another boot loader" in relo.stdout, relo
    assert not manifest.exists()
    loader.write_bytes(original)
    manifest.write_text(json.dumps({k: v for k, v in recorded.items() if k != "loader_key"}))
    unnamed = run()
    assert unnamed.returncode == 3 and "another boot loader" in unnamed.stdout, unnamed
    manifest.write_text(json.dumps(recorded))
    assert run().returncode == 0
    off = run("--no-precompile")
    assert off.returncode == 3 and "for another PyScript" in off.stdout, off
    # A new file, not an edit: the copy's vendored files are hard links to the project's.
    (other / "static" / "vendor" / "pyscript" / "zz-another-chunk.js").write_text("export {};\n")
    changed = run()
    assert changed.returncode == 3 and "for another PyScript" in changed.stdout, changed
