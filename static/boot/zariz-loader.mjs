// Boot loader: PyScript's `interpreter` (pyscript.toml). The server serves this file from
// Pyodide's folder, /static/vendor/pyodide/, because PyScript passes the folder of the
// interpreter module as Pyodide's indexURL.
//
// loadPyodide(options) restores the interpreter from the memory snapshot the page names
// (<meta name="zariz-snapshot" content=URL data-bytes=N data-sha256=B64>, present only
// when the server holds a snapshot built for this Pyodide and this app bundle), which skips
// Python's start-up and the imports of the app. It boots Pyodide the ordinary way instead,
// saying why once in the console, when:
//   - the URL has ?boot=plain, or localStorage['zariz.boot'] is 'plain';
//   - the page is in dev mode (hot reload swaps modules a snapshot would hold) or names
//     no snapshot (none built, or built for another bundle: the server leaves it out);
//   - anything at all goes wrong with the snapshot: fetch, size, hash, restore.
// The page starts this module early (<script type="module" async> beside the snapshot's
// meta): its evaluation starts the snapshot's download, in a worker, while PyScript's core
// loads; PyScript's import of its `interpreter` later gets this same, running module.
// Either way globalThis.__zarizBoot is set before any Python of the page runs:
//   mode        "snapshot" | "plain"
//   reason      why plain ('' for a snapshot boot)
//   fetch_ms    snapshot: this module evaluated -> snapshot downloaded and checked;
//               plain: the time a failed snapshot attempt cost (0 if none was made)
//   fetched_in  snapshot: "worker" (snapshot-fetch.mjs's), or "main" when no worker started
//   download_bytes  snapshot: bytes that came over the wire (zstd or gzip), when known
//   module_ms   snapshot: this module evaluated -> Pyodide's module created (its wasm
//               compiled and instantiated, meanwhile the snapshot downloads)
//   restore_ms  snapshot: bytes in hand (or loadPyodide called, if later) -> interpreter
//               restored; plain: loadPyodide's own time and the app bundle's unpacking
//   total_ms    this module evaluated -> interpreter ready
//   heap_skipped  snapshot: bytes of the heap's copy left out (zero pages: sparseHeapCopy)
//   heap_copy_ms  snapshot: that copy's time (Pyodide's own copy: ~16 ms for our 30 MB)
//   stack_switching  whether Pyodide took JSPI: false (see withoutStackSwitching)
// with the User Timing marks zariz:boot-start (this module evaluated) and
// zariz:pyodide-ready (loadPyodide resolved).
import { loadPyodide as pyodideLoad, version as pyodideVersion } from "./pyodide.mjs";

export * from "./pyodide.mjs";

const BOOT_KEY = "zariz.boot";

performance.mark("zariz:boot-start");
const bootStart = performance.now();

function plainReason() {
  try {
    if (new URLSearchParams(location.search).get("boot") === "plain") return "?boot=plain";
  } catch {
    // no location (not a page): fall through
  }
  try {
    if (localStorage.getItem(BOOT_KEY) === "plain") return `localStorage['${BOOT_KEY}'] = 'plain'`;
  } catch {
    // storage refused (privacy mode, sandbox): no override
  }
  if (typeof document === "undefined") return "no document";
  if (document.querySelector('meta[name="zariz-dev"]')) return "dev mode";
  const meta = document.querySelector('meta[name="zariz-snapshot"]');
  if (!meta || !meta.getAttribute("content")) {
    return "no current snapshot on the server (none built, or built for another bundle)";
  }
  const built = meta.dataset.pyodide;
  if (built && built !== pyodideVersion) {
    return `the snapshot is for Pyodide ${built}, this page runs a cached ${pyodideVersion}`;
  }
  return "";
}

function snapshotMeta() {
  const meta = document.querySelector('meta[name="zariz-snapshot"]');
  return {
    // Absolute: the worker would resolve a relative URL against its own script's.
    url: new URL(meta.getAttribute("content"), document.baseURI).href,
    size: Number(meta.dataset.bytes) || 0,
    sha256: meta.dataset.sha256 || "",
  };
}

// The snapshot's download and checks (static/boot/snapshot-fetch.mjs) run in a worker: on
// this thread they held it ~150-250 ms of a warm boot, while Pyodide compiled and
// instantiated its wasm on it. The same module is the worker's script and, should no
// worker start (a browser or a policy without module workers), the fallback here: the
// same checks, on this thread.
const SNAPSHOT_FETCH = "/static/boot/snapshot-fetch.mjs";

class NoWorker extends Error {}

function fetchInWorker(meta) {
  return new Promise((resolve, reject) => {
    let worker;
    try {
      worker = new Worker(SNAPSHOT_FETCH, { type: "module", name: "zariz-snapshot" });
    } catch (error) {
      reject(new NoWorker(String(error)));
      return;
    }
    let answered = false;
    worker.onmessage = ({ data }) => {
      answered = true;
      worker.terminate();
      if (!data || !data.ok) {
        reject(new Error(data?.error || "the snapshot worker gave no answer"));
        return;
      }
      resolve({
        bytes: new Uint8Array(data.buffer), at: performance.now(), heap: data.heap,
        where: "worker", encoded: data.encoded,
      });
    };
    // The worker's script did not load or run (an error event, before any answer).
    worker.onerror = (event) => {
      event.preventDefault?.();
      worker.terminate();
      if (!answered) reject(new NoWorker(event.message || "the worker did not start"));
    };
    // A message the page cannot deserialize (never expected: a buffer and numbers).
    worker.onmessageerror = () => {
      answered = true;
      worker.terminate();
      reject(new Error("the snapshot worker's answer could not be read"));
    };
    worker.postMessage(meta);
  });
}

async function startSnapshotFetch(meta) {
  if (typeof Worker === "function") {
    try {
      return await fetchInWorker(meta);
    } catch (error) {
      if (!(error instanceof NoWorker)) throw error;
      console.info(`[boot] the snapshot is fetched on the main thread: ${error.message}`);
    }
  }
  const { fetchSnapshot, transferSize } = await import(SNAPSHOT_FETCH);
  const { bytes, heap } = await fetchSnapshot(meta);
  return { bytes, at: performance.now(), heap, where: "main", encoded: transferSize(meta.url) };
}

let reason = plainReason();
// One restore per page: once used, nothing here may keep the 30 MB alive.
let snapshot = reason ? null : startSnapshotFetch(snapshotMeta());
// Handled in loadPyodide; until then a rejection must not count as unhandled.
snapshot?.catch(() => {});

// A restored interpreter carries the random state of the interpreter that made the
// snapshot: every tab would draw the same numbers. Reseed from the browser's CSPRNG.
function reseed(pyodide) {
  const words = crypto.getRandomValues(new Uint32Array(8));
  const hex = Array.from(words, (w) => w.toString(16).padStart(8, "0")).join("");
  pyodide.runPython(
    `import sys\nif "random" in sys.modules: sys.modules["random"].seed(0x${hex})\ndel sys`,
  );
}

// The OS's page (x86-64, arm64 Linux): what a write makes resident. Where pages are bigger
// the copy is the same and leaves out less.
const PAGE = 4096;

function zeroWords(words, from, to) {
  for (let i = from; i < to; i++) if (words[i] !== 0) return false;
  return true;
}

// `target.set(source)` (target a view of the whole wasm heap, source the snapshot's heap)
// that leaves out the pages zero in both. A fresh wasm memory reads as zeros without
// being resident, and a page becomes the tab's memory once written, zeros or not: the
// plain copy made every page of the snapshot's heap resident (~50% of ours are zeros).
// Pages that are zero in the source but not in the target are written (zeros): the
// result is always the plain copy's. Returns the bytes left out.
export function sparseHeapCopy(target, source) {
  if (source.length > target.length || source.byteOffset % 4 || target.byteOffset % 4) {
    target.set(source);
    return 0;
  }
  const whole = source.length - (source.length % PAGE);
  const from = new Int32Array(source.buffer, source.byteOffset, whole >> 2);
  const into = new Int32Array(target.buffer, target.byteOffset, whole >> 2);
  const words = PAGE >> 2;
  let skipped = 0;
  let run = -1; // the first byte of a run of pages to copy
  for (let at = 0; at < whole; at += PAGE) {
    const w = at >> 2;
    if (zeroWords(from, w, w + words) && zeroWords(into, w, w + words)) {
      if (run >= 0) target.set(source.subarray(run, at), run);
      run = -1;
      skipped += PAGE;
    } else if (run < 0) {
      run = at;
    }
  }
  if (run >= 0) target.set(source.subarray(run, whole), run);
  if (whole < source.length) target.set(source.subarray(whole), whole);
  return skipped;
}

// Pyodide awaits the snapshot's bytes before it creates its module (loadPyodide's
// prepareSnapshot comes before instantiatePyodideModule): given the download's promise, it
// compiled and instantiated its wasm only once the whole snapshot was in. It gets a
// stand-in at once instead: a zero-filled buffer of the snapshot's size (prepareSnapshot
// reads its length alone; the stand-in is never written, so none of it is resident), and
// the module is created while the snapshot downloads. Then this factory waits for the
// bytes and, before the module goes back to Pyodide (whose bootstrap restores at once,
// synchronously):
//   - has the module's API.restoreSnapshot (src/js/snapshot.ts), called with the
//     stand-in, read the real bytes instead: once, and only for the stand-in;
//   - grows the memory to the snapshot's heap (Pyodide sets INITIAL_MEMORY, which its
//     module does not read: a heap that grew past the initial size would not fit);
//   - has restoreSnapshot's copy, `Module.HEAP8.set(heap)`, leave out the zero pages
//     (sparseHeapCopy). Should that view be replaced before the copy (the memory grew
//     again), the copy is Pyodide's own: the same heap, every page resident.
function restoringModuleFactory(indexURL, standIn, snapshotReady, copied) {
  const factory = import(`${indexURL}pyodide.asm.mjs`).then((m) => m.default);
  return async (settings) => {
    const create = await factory;
    const module = await withoutStackSwitching(() => create(settings));
    copied.created = performance.now();
    const { bytes, heap } = await snapshotReady;
    if (bytes.length !== standIn.length) {
      throw new Error(`the snapshot has ${bytes.length} bytes, its stand-in ${standIn.length}`);
    }
    const api = module.API;
    const restore = api.restoreSnapshot;
    if (typeof restore !== "function") throw new Error("this Pyodide has no restoreSnapshot");
    api.restoreSnapshot = function restoreSnapshot(given, ...rest) {
      api.restoreSnapshot = restore;
      copied.done = given === standIn;
      return restore.call(this, given === standIn ? bytes : given, ...rest);
    };
    if (module.HEAP8.length < heap && !module.growMemory(heap)) {
      throw new Error(`cannot grow the heap to the snapshot's ${heap} bytes`);
    }
    const view = module.HEAP8;
    view.set = function set(array, offset) {
      if (offset !== undefined || !ArrayBuffer.isView(array) || array.buffer !== bytes.buffer
          || array.length !== heap) {
        return Int8Array.prototype.set.call(this, array, offset);
      }
      delete view.set; // the snapshot's copy: once
      const started = performance.now();
      copied.skipped = sparseHeapCopy(this, array);
      copied.ms = performance.now() - started;
      return undefined;
    };
    copied.view = view;
    return module;
  };
}

// WebAssembly's stack switching (JSPI), hidden from Pyodide's module while it is created.
// Pyodide reads `"Suspending" in WebAssembly` once, in the synchronous start of its module
// factory, and where JSPI exists it runs every asyncio callback (its WebLoop's every
// call_soon: each task step, each future's callback) as a promising call, one macrotask
// later and on a fresh wasm stack. The app never suspends Python (no run_sync; nor
// asyncio.run or time.sleep, which JSPI would let block: tests/app/test_no_blocking.py), so
// that buys nothing here and costs:
//   - time: `await asyncio.sleep(0)` takes 59 us with JSPI against 27 without, a future
//     set by call_soon and awaited 140 against 76 (Chromium 156, `make asyncio-steps`);
//   - exposure to the renderer crashes that Pyodide's tracker has open against JSPI in
//     Chrome (pyodide#5702, pyodide#6106, both on Windows).
// The names are hidden around the factory's call alone (synchronously: no other script
// runs meanwhile) and put back before it returns: nothing else on the page loses them,
// and Pyodide keeps the answer it read.
const STACK_SWITCHING = ["Suspending", "Suspender", "promising"];

export function withoutStackSwitching(create) {
  const hidden = [];
  for (const name of STACK_SWITCHING) {
    const descriptor = Object.getOwnPropertyDescriptor(WebAssembly, name);
    if (!descriptor?.configurable) continue;
    delete WebAssembly[name];
    hidden.push([name, descriptor]);
  }
  try {
    return create();
  } finally {
    for (const [name, descriptor] of hidden) Object.defineProperty(WebAssembly, name, descriptor);
  }
}

// Pyodide's own module factory (what loadPyodide imports without `createPyodideModule`),
// called without JSPI.
function plainModuleFactory(indexURL) {
  const factory = import(`${indexURL}pyodide.asm.mjs`).then((m) => m.default);
  return async (settings) => {
    const create = await factory;
    return withoutStackSwitching(() => create(settings));
  };
}

let told = false;
function tellPlain(why) {
  if (told) return;
  told = true;
  console.info(`[boot] plain Pyodide boot (no snapshot): ${why}`);
}

function indexURLOf(options) {
  const url = options.indexURL || new URL(".", import.meta.url).href;
  return url.endsWith("/") ? url : `${url}/`;
}

// A runtime that fails to load (a file missing or unreachable, a broken build) is said on
// the page by the boot overlay (static/boot/boot-error.js), not left as a skeleton; absent
// on pages without it (the snapshot builder's).
export async function loadPyodide(options = {}) {
  try {
    return await loadInterpreter(options);
  } catch (error) {
    globalThis.__zarizBootError?.runtimeFailed(error);
    throw error;
  }
}

async function loadInterpreter(options) {
  const pending = snapshot;
  snapshot = null;
  if (!pending && !reason) reason = "the page's snapshot went to its first interpreter";
  const state = {
    mode: "plain", reason, fetch_ms: 0, restore_ms: 0, total_ms: 0, heap_skipped: 0,
    heap_copy_ms: 0,
  };
  if (pending) {
    const called = performance.now();
    const attempt = { ...options };
    const copied = { skipped: 0, ms: 0, view: null, done: false, created: 0 };
    try {
      const indexURL = indexURLOf(options);
      attempt.indexURL = indexURL;
      // The stand-in (restoringModuleFactory): at once when the page says the size.
      const size = snapshotMeta().size;
      const standIn = size ? new Uint8Array(size)
        : await pending.then((s) => new Uint8Array(s.bytes.length));
      attempt._loadSnapshot = standIn;
      attempt.createPyodideModule = restoringModuleFactory(indexURL, standIn, pending, copied);
      const pyodide = await pyodideLoad(attempt);
      if (!copied.done) throw new Error("Pyodide did not restore the snapshot it was given");
      // Pyodide keeps its options for good; these two hold the snapshot's bytes.
      const config = pyodide._api?.config;
      if (config) {
        delete config._loadSnapshot;
        delete config.createPyodideModule;
      }
      reseed(pyodide);
      const { at, where, encoded } = await pending;
      Object.assign(state, {
        mode: "snapshot",
        fetch_ms: at - bootStart,
        fetched_in: where,
        download_bytes: encoded,
        module_ms: copied.created - bootStart,
        restore_ms: performance.now() - Math.max(at, called),
        heap_skipped: copied.skipped,
        heap_copy_ms: copied.ms,
      });
      copied.view = null;
      return ready(state, pyodide);
    } catch (error) {
      // A failed attempt must not keep the bytes (nor its module factory) alive beside
      // the plain interpreter that follows: nor the copy's hook, should the restore have
      // failed before the copy (the hook's scope holds the snapshot's promise).
      delete attempt._loadSnapshot;
      delete attempt.createPyodideModule;
      if (copied.view) delete copied.view.set;
      copied.view = null;
      reason = `snapshot failed: ${error && error.message ? error.message : error}`;
      state.reason = reason;
      state.fetch_ms = performance.now() - called;
    }
  }
  tellPlain(state.reason);
  const started = performance.now();
  const bundle = fetchBundle(); // meanwhile
  const plain = { ...options };
  plain.createPyodideModule ??= plainModuleFactory(indexURLOf(options));
  const pyodide = await pyodideLoad(plain);
  const config = pyodide._api?.config;
  if (config && config.createPyodideModule !== options.createPyodideModule) {
    delete config.createPyodideModule;
  }
  await unpackBundle(pyodide, bundle);
  state.restore_ms = performance.now() - started;
  return ready(state, pyodide);
}

// The app's package (app/zariz as a zip, <meta name="zariz-bundle" content=URL>) goes into
// the interpreter's working directory on a plain boot, before any Python of the page runs,
// as PyScript's [files] would put it. A snapshot boot needs none of it: every module of
// the package is in the snapshot, imported; unpacking it took ~75 ms of the main thread
// between the interpreter and main.py (zipfile and the file system's writes in wasm).
// Pages without the meta (the snapshot builder's, which unpack their own) get nothing.
function fetchBundle() {
  const meta = typeof document === "undefined" ? null
    : document.querySelector('meta[name="zariz-bundle"]');
  const url = meta?.getAttribute("content");
  if (!url) return null;
  const download = fetch(url, { credentials: "same-origin" }).then(async (response) => {
    if (!response.ok) throw new Error(`fetching ${url}: HTTP ${response.status}`);
    return response.arrayBuffer();
  }).catch((error) => {
    // A network error says nothing of the file (TypeError: Failed to fetch): name it.
    if (String(error?.message).startsWith(`fetching ${url}`)) throw error;
    throw new Error(`fetching ${url}: ${error?.message || error}`);
  });
  download.catch(() => {}); // thrown where it is awaited (unpackBundle)
  return download;
}

async function unpackBundle(pyodide, bundle) {
  if (!bundle) return;
  pyodide.unpackArchive(await bundle, "zip", { extractDir: "./" });
  // An import finder may have listed the directory before the files were in it.
  pyodide.runPython("import importlib\nimportlib.invalidate_caches()\ndel importlib");
}

function ready(state, pyodide) {
  performance.mark("zariz:pyodide-ready");
  state.stack_switching = Boolean(pyodide._module?.jspiSupported);
  state.total_ms = performance.now() - bootStart;
  for (const key of ["fetch_ms", "module_ms", "restore_ms", "total_ms"]) {
    if (key in state) state[key] = Math.round(state[key]);
  }
  state.heap_copy_ms = Math.round(state.heap_copy_ms * 10) / 10;
  globalThis.__zarizBoot = state;
  return pyodide;
}
