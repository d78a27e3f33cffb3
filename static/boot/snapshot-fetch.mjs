// Fetches and checks the page's Pyodide memory snapshot; used by the boot loader
// (static/boot/zariz-loader.mjs). Loaded two ways:
//   - as a module worker (the loader's `new Worker(this URL, {type: "module"})`): the
//     download, the body's read into one ArrayBuffer and its SHA-256 run on the worker's
//     thread, and the buffer is transferred (not copied) to the page. On the page's main
//     thread the same work held it ~150-250 ms of a warm boot (Chrome trace: samples in
//     the loader's fetch), while Pyodide's own files waited behind it.
//   - imported by the loader, to do the same on the main thread when no worker starts.
// The worker gets {url, size, sha256} and answers once, then closes:
//   {ok: true, buffer, heap, encoded}   buffer transferred; encoded: transferSize
//   {ok: false, error}                           the snapshot is unusable (plain boot)

export const SNAPSHOT_MAGIC = 1886286592; // Pyodide's snapshot header (src/js/snapshot.ts)

function base64(buffer) {
  let text = "";
  for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);
  return btoa(text);
}

// The bytes of the snapshot at `url`, checked: the size the page announced, Pyodide's
// header, and the SHA-256 the page announced. {bytes, heap: the heap's length}.
export async function fetchSnapshot({ url, size, sha256 }) {
  const response = await fetch(url, { mode: "cors", credentials: "same-origin" });
  if (!response.ok) throw new Error(`fetching ${url}: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (size && bytes.length !== size) {
    throw new Error(`${url} has ${bytes.length} bytes, the page expected ${size}`);
  }
  const header = new Uint32Array(bytes.buffer, 0, Math.min(4, bytes.length >> 2));
  if (header[0] !== SNAPSHOT_MAGIC || !(header[1] > 0 && header[1] < bytes.length)) {
    throw new Error(`${url} is not a Pyodide snapshot`);
  }
  // A damaged heap would not fail to restore: it would break Python later, at random.
  // WebCrypto exists in secure contexts only (https, localhost); elsewhere the size and
  // header checks are all there is.
  if (sha256 && globalThis.crypto?.subtle) {
    const digest = base64(await crypto.subtle.digest("SHA-256", bytes));
    if (digest !== sha256) throw new Error(`${url} is damaged (SHA-256 mismatch)`);
  }
  return { bytes, heap: bytes.length - header[1] };
}

// The bytes of `url`'s body as they came (encoded: zstd, gzip), from this thread's
// resource timing; undefined when it has no entry.
export function transferSize(url) {
  const entry = performance.getEntriesByName(new URL(url, location.href).href).at(-1);
  return entry?.encodedBodySize;
}

const inWorker = typeof WorkerGlobalScope !== "undefined" && globalThis instanceof WorkerGlobalScope;
if (inWorker) {
  globalThis.onmessage = async ({ data }) => {
    try {
      const { bytes, heap } = await fetchSnapshot(data);
      globalThis.postMessage(
        { ok: true, buffer: bytes.buffer, heap, encoded: transferSize(data.url) },
        [bytes.buffer]);
    } catch (error) {
      globalThis.postMessage({ ok: false, error: error?.message ? error.message : String(error) });
    }
    globalThis.close();
  };
}
