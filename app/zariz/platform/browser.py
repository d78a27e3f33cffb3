"""The browser platform: with ``zariz.ui.dom`` (and the shared ``zariz.platform.jsffi``),
the one place that touches ``js``.

It implements :class:`zariz.platform.Platform` on top of Pyodide. It owns the lifetime
of every JS proxy it creates, through its own :class:`~zariz.platform.jsffi.ProxyPool`:
each proxy is destroyed by the undo that the caller gets back, and
:meth:`BrowserPlatform.live_proxies` counts what is still alive so that tests (and
``__zarizSSEClient.stats``) can prove nothing leaks.

Why not PyScript's ``@when``/``pyscript.fetch``: ``@when`` never destroys its proxies
and we want PyScript to stay replaceable (it is in maintenance mode), so this module
uses ``pyodide.ffi`` directly, through :mod:`zariz.platform.jsffi`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any

import js
from pyodide.code import run_js

from zariz.platform import (
    EventSourceHandlers,
    HeadersHook,
    HttpResponse,
    NetworkError,
    RawEvent,
    T,
    Undo,
    call_headers_hook,
)
from zariz.platform.jsffi import ProxyPool, is_null, js_object, to_plain_js

log = logging.getLogger("zariz.platform")

# Proxies that live as long as the page (the facade, the shared rejection handler): made
# and counted here, never destroyed, and not part of any adapter's live_proxies().
_PAGE_LIFETIME = ProxyPool()


def _opt_str(value: Any) -> str | None:
    """A JS string-or-null as ``str | None``."""
    return None if is_null(value) else str(value)


_WINDOW_EVENTS = {"online", "offline", "pageshow", "storage", "focus"}
_DOCUMENT_EVENTS = {"visibilitychange"}


# Events are queued in JS and handed to Python in batches, once per task: a burst of
# thousands of events costs a handful of JS->Python crossings instead of one each (the
# crossing, not our Python, dominated the per-event cost: bench/RESULTS.md).
#
# The flush is the next task, and a user-blocking one where the browser has
# ``scheduler.postTask``: a normal-priority task (a MessageChannel message, the fallback: no
# 4 ms timer clamp) waited behind the frame and the tasks queued meanwhile, ~18 ms at the
# median at 500 events/s against ~3 ms now (bench/latency.py, event listener -> subscriber).
#
# A batch crosses as one UTF-8 buffer, its fields joined by CR: Pyodide converts a JS string
# to a Python one with a JS loop over its characters (~30 ns each, a third of the client's
# time per event in a Chrome profile), while TextEncoder, the copy of the bytes and
# ``bytes.decode`` run natively. CR is the separator because no EventSource field can hold
# one (the stream is split into lines at CR and LF), and TextEncoder is lossless here
# because the stream is decoded from UTF-8 (no lone surrogates). A batch with a field that
# is not such a string (a synthetic event) goes as an array instead: ``count`` -1.
_BATCHER_JS = """
(source, names, deliver) => {
  const encoder = new TextEncoder();
  // One reused buffer (a fresh multi-MB array per burst made V8 collect garbage often);
  // a batch too big for a buffer worth keeping gets a one-off array.
  let buffer = new Uint8Array(1 << 16);
  const encode = (text) => {
    const need = text.length * 3;  // the most UTF-8 bytes a UTF-16 unit can take
    if (need > buffer.length) {
      if (need > (1 << 22)) return encoder.encode(text);
      buffer = new Uint8Array(Math.max(need, buffer.length * 2));
    }
    return buffer.subarray(0, encoder.encodeInto(text, buffer).written);
  };
  let queue = [];
  let joinable = true;
  let armed = false;
  const flush = () => {
    armed = false;
    if (!queue.length) return;
    const batch = queue;
    const plain = joinable;
    queue = [];
    joinable = true;
    if (plain) deliver(encode(batch.join("\\r")), batch.length / 3);
    else deliver(batch, -1);
  };
  let arm, port = null;
  const tasks = globalThis.scheduler;
  if (tasks && typeof tasks.postTask === "function") {
    const run = () => {
      if (!armed) return;  // flushed meanwhile (an error event flushes first)
      try { flush(); } catch (e) { console.error("[SSE] event batch lost:", e); }
    };
    arm = () => { tasks.postTask(run, {priority: "user-blocking"}); };
  } else {
    const channel = new MessageChannel();
    channel.port1.onmessage = flush;
    port = channel.port1;
    arm = () => { channel.port2.postMessage(0); };
  }
  const listeners = names.map((name) => {
    const fn = (e) => {
      const data = e.data, id = e.lastEventId;
      if (joinable && (typeof data !== "string" || typeof id !== "string"
                       || data.includes("\\r") || id.includes("\\r"))) joinable = false;
      queue.push(name, data, id);
      if (!armed) { armed = true; arm(); }
    };
    source.addEventListener(name, fn);
    return [name, fn];
  });
  return {
    flush,
    close() {
      for (const [name, fn] of listeners) source.removeEventListener(name, fn);
      if (port !== null) { port.onmessage = null; port.close(); }
      queue = [];
    },
  };
}
"""
_batcher_fn: Any = None
_ignore: Any = None

# Runs ``fn`` once in a microtask however many times ``arm`` is called before it runs: the
# end of the current task. ``close`` makes a pending run a no-op (its proxy may be gone).
_MICROTASK_JS = """
(fn) => {
  let armed = false;
  let live = true;
  return {
    arm() {
      if (armed || !live) return;
      armed = true;
      queueMicrotask(() => { armed = false; if (live) fn(); });
    },
    close() { live = false; },
  };
}
"""
_microtask_fn: Any = None


def _microtask() -> Any:
    global _microtask_fn
    if _microtask_fn is None:
        _microtask_fn = run_js(_MICROTASK_JS)
    return _microtask_fn

# hold_lock's protocol, in JS so that nothing Python is reachable from a promise reaction
# the adapter no longer controls: the request promise settles after the undo (a withdrawn
# request rejects with AbortError, a released one resolves), when the Python side may have
# destroyed its proxy already. Both outcomes are handled here, so no rejection goes
# unhandled. ``notify`` (one pool proxy per request) hears "acquired" once, then at most one
# of "lost" (stolen by another tab) or "failed:<error>" (the browser refused the request).
# The undo it returns releases (resolving the promise the lock callback returned) or
# withdraws (AbortController). A steal request never waits, so it gets no signal; an undo
# before its grant ran makes the callback return at once, which releases the lock.
_HOLD_LOCK_JS = """
(locks, name, steal, notify) => {
  let state = 'waiting';  // -> 'held' -> 'over'; 'over' also when undone
  let release = null;
  const ctl = steal ? null : new AbortController();
  const options = steal ? {mode: 'exclusive', steal: true}
                        : {mode: 'exclusive', signal: ctl.signal};
  const call = (kind) => {
    try { notify(kind); } catch (e) { console.error('[locks] ' + name + ': ' + e); }
  };
  locks.request(name, options, () => {
    if (state !== 'waiting') return undefined;  // undone before the grant ran: release now
    state = 'held';
    const held = new Promise((resolve) => { release = resolve; });
    call('acquired');
    return held;
  }).then(() => {}, (err) => {
    if (state === 'held') {  // stolen: the only way a held request rejects
      state = 'over';
      release();
      call('lost');
    } else if (state === 'waiting') {  // never granted, and not by our own withdrawal
      state = 'over';
      call('failed:' + (err && err.name) + ': ' + (err && err.message));
    }
    // 'over': our undo withdrew it (AbortError) - expected, nothing to say
  });
  return () => {
    if (state === 'over') return;
    state = 'over';
    if (release !== null) release(); else if (ctl !== null) ctl.abort();
  };
}
"""
_hold_lock_fn: Any = None


def _hold_lock_js() -> Any:
    global _hold_lock_fn
    if _hold_lock_fn is None:
        _hold_lock_fn = run_js(_HOLD_LOCK_JS)
    return _hold_lock_fn


def _ignore_rejection() -> Any:
    """A page-lifetime no-op rejection handler (an aborted lock request rejects)."""
    global _ignore
    if _ignore is None:
        _ignore = _PAGE_LIFETIME.own(lambda *_a: None)[0]
    return _ignore


def _event_batcher() -> Any:
    global _batcher_fn
    if _batcher_fn is None:
        _batcher_fn = run_js(_BATCHER_JS)
    return _batcher_fn


def _headers_of(response: Any) -> dict[str, str]:
    """A fetch ``Response``'s headers, names in lower case."""
    return {str(pair[0]).lower(): str(pair[1]) for pair in response.headers.entries()}


class BrowserPlatform:
    """``Platform`` for Pyodide in a browser tab (main thread)."""

    def __init__(self) -> None:
        self._pool = ProxyPool()
        self._warned_no_locks = False
        self.has_broadcast_channel = hasattr(js, "BroadcastChannel")

    def live_proxies(self) -> int:
        return self._pool.live

    def supports(self, feature: str) -> bool:
        if feature == "locks":
            return not is_null(getattr(js.navigator, "locks", None))
        if feature == "channel":
            return self.has_broadcast_channel
        raise ValueError(f"unknown platform feature {feature!r}")

    def hold_lock(
        self,
        name: str,
        on_acquired: Callable[[], None],
        on_lost: Callable[[], None],
        *,
        steal: bool = False,
    ) -> Undo:
        if not self.supports("locks"):
            if not self._warned_no_locks:
                self._warned_no_locks = True
                log.warning("Web Locks unavailable: %s is held by this tab alone", name)
            return self._pool.timeout(0, lambda: _quietly(name, "on_acquired", on_acquired))
        # One proxy per request, alive until the undo or the end of the request (lost or
        # failed) - and never destroyed while it runs (an undo from inside a callback).
        state = {"depth": 0, "over": False}

        def notify(kind_js: Any) -> None:
            if state["over"]:
                return
            kind = str(kind_js)
            state["depth"] += 1
            try:
                if kind == "acquired":
                    _quietly(name, "on_acquired", on_acquired)
                else:
                    state["over"] = True  # the request is over: nothing follows
                    if kind == "lost":
                        log.info("lock %s was stolen by another tab", name)
                        _quietly(name, "on_lost", on_lost)
                    else:
                        log.error("lock %s: the browser refused the request (%s)", name, kind)
            finally:
                state["depth"] -= 1
                if state["over"] and state["depth"] == 0:
                    release_proxy()

        proxy, release_proxy = self._pool.own(notify)
        try:
            js_undo = _hold_lock_js()(js.navigator.locks, name, bool(steal), proxy)
        except BaseException:
            release_proxy()
            raise

        def undo() -> None:
            if state["over"]:
                return
            state["over"] = True
            try:
                js_undo()
            finally:
                if state["depth"] == 0:
                    release_proxy()

        return undo

    async def with_lock(self, name: str, fn: Callable[[], Awaitable[T]]) -> T:
        locks: Any = getattr(js.navigator, "locks", None)
        if is_null(locks):
            if not self._warned_no_locks:
                self._warned_no_locks = True
                log.warning("Web Locks unavailable: %s runs without a cross-tab lock", name)
            return await fn()
        loop = asyncio.get_running_loop()
        granted: asyncio.Future[None] = loop.create_future()
        holder: dict[str, Any] = {}

        def on_granted(_lock: Any) -> Any:
            # Hold the lock until we resolve this promise (after fn() finished).
            def executor(resolve: Any, _reject: Any) -> None:
                holder["release"] = resolve

            promise = js.Promise.new(executor)
            if granted.cancelled():  # we gave up waiting: release at once
                holder.pop("release")()
            else:
                granted.set_result(None)
            return promise

        proxy, release_proxy = self._pool.own(on_granted)
        abort = js.AbortController.new()
        request = locks.request(name, js_object(signal=abort.signal), proxy)
        request.catch(_ignore_rejection())
        try:
            await granted
            return await fn()
        finally:
            release = holder.pop("release", None)
            if release is not None:
                release()
            else:
                abort.abort()  # never granted: leave the queue (a no-op once settled)
            release_proxy()

    # --- time and randomness ---------------------------------------------------------
    # Both are read on every event: Python's clocks (emscripten maps them onto
    # performance.now()/Date.now()) avoid a JS proxy round trip each time.
    def now(self) -> float:
        return time.monotonic()

    def wall_ms(self) -> int:
        return int(time.time() * 1000)

    def random(self) -> float:
        return float(js.Math.random())

    def schedule(self, delay_s: float, fn: Callable[[], None]) -> Undo:
        # The proxy is released after fn returns (or raises); a cancel from inside fn is a
        # no-op (the jsffi rule).
        return self._pool.timeout(delay_s, fn)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> Undo:
        task = asyncio.ensure_future(coro)

        def _done(t: asyncio.Task[Any]) -> None:
            if not t.cancelled() and t.exception() is not None:
                log.error("background task failed", exc_info=t.exception())

        task.add_done_callback(_done)

        def cancel() -> None:
            task.cancel()

        return cancel

    # --- network ---------------------------------------------------------------------
    def open_event_source(
        self, url: str, handlers: EventSourceHandlers, named_events: Sequence[str]
    ) -> Undo:
        source = js.EventSource.new(url)
        undos: list[Undo] = []
        # The client usually closes the source from inside one of its handlers (on
        # error, on token change). A proxy is never destroyed while it is running: the
        # undos (listener removal + destruction) wait until the outermost handler call has
        # returned; until then the ``closed`` guard keeps every handler silent.
        state = {"depth": 0, "closed": False}

        def release_if_idle() -> None:
            if state["closed"] and state["depth"] == 0:
                while undos:
                    undos.pop()()

        def guarded(fn: Callable[..., None]) -> Callable[..., None]:
            def call(*args: Any) -> None:
                if state["closed"]:
                    return
                state["depth"] += 1
                try:
                    fn(*args)
                finally:
                    state["depth"] -= 1
                    release_if_idle()

            return call

        def on_open(_e: Any) -> None:
            # A User Timing mark: monitors (and bench/) read when the stream opened.
            js.performance.mark("zariz:sse-open")
            handlers.on_open()

        # The client's batch entry, when it has one: per-batch work (clocks, log level) once.
        on_events: Callable[[list[str]], None] | None = getattr(handlers, "on_events", None)

        def on_batch(batch: Any, count: int) -> None:
            # One JS->Python crossing per batch (see _BATCHER_JS): [name, data, id, ...].
            if count >= 0:
                items: list[Any] = batch.to_bytes().decode("utf-8").split("\r")
                if len(items) != 3 * count:  # a CR in a field: the JS side rules it out
                    log.error("[SSE] batch of %d events arrived as %d fields: dropped",
                              count, len(items))
                    return
            else:
                items = batch.to_py()
            if on_events is not None:
                try:
                    on_events(items)
                except Exception:
                    log.exception("[SSE] event batch handler failed")
                return
            for i in range(0, len(items), 3):
                if state["closed"]:
                    return  # the client closed the source while handling an event
                try:
                    handlers.on_event(RawEvent(type=items[i], data=items[i + 1],
                                               last_event_id=items[i + 2]))
                except Exception:
                    # Isolated per event, as one listener call per event would be: the
                    # rest of the batch is still delivered.
                    log.exception("[SSE] event handler failed (id=%s)", items[i + 2])

        def on_error(_e: Any) -> None:
            try:
                # Events that arrived before the error are handled first (order is kept).
                batcher.flush()
            finally:
                # ...and the error is never lost, whatever they did.
                if not state["closed"]:
                    # readyState 2 = CLOSED: the browser will not retry (e.g. a 401).
                    handlers.on_error(int(source.readyState) == 2)

        names = ["message", *(n for n in named_events if n not in ("open", "message", "error"))]
        batch_proxy, release_batch = self._pool.own(guarded(on_batch))
        undos.append(release_batch)  # released with the listeners
        batcher = _event_batcher()(source, to_plain_js(names), batch_proxy)
        undos.append(self._pool.listen(source, "open", guarded(on_open)))
        undos.append(self._pool.listen(source, "error", guarded(on_error)))

        def close() -> None:
            if state["closed"]:
                return
            state["closed"] = True
            source.close()
            batcher.close()
            release_if_idle()

        return close

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        on_headers: HeadersHook | None = None,
    ) -> Awaitable[HttpResponse]:
        return self._request(method, url, headers or {}, json_body, on_headers)

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], json_body: Any,
        on_headers: HeadersHook | None,
    ) -> HttpResponse:
        init: dict[str, Any] = {"method": method, "credentials": "same-origin"}
        hdrs = dict(headers)
        if json_body is not None:
            hdrs.setdefault("Content-Type", "application/json")
            init["body"] = json.dumps(json_body)
        init["headers"] = js_object(hdrs)
        try:
            response = await js.fetch(url, js_object(init))
        except Exception as exc:  # a JsException (TypeError: Failed to fetch) and friends
            raise NetworkError(f"{method} {url}: {exc}") from exc
        if on_headers is not None:
            try:
                names = _headers_of(response)
            except Exception:  # a JS error reading them: the answer itself still counts
                log.exception("[HTTP] %s %s: reading the answer's headers failed", method, url)
            else:
                call_headers_hook(on_headers, int(response.status), names)
        try:
            text = str(await response.text())
        except Exception as exc:  # the body cut off, or the network gone meanwhile
            raise NetworkError(f"{method} {url}: {exc}") from exc
        body: Any = None
        if text:
            try:
                body = json.loads(text)
            except ValueError:
                body = None
        out_headers = {"content-type": str(response.headers.get("content-type") or "")}
        return HttpResponse(status=int(response.status), body=body, text=text, headers=out_headers)

    # --- environment -----------------------------------------------------------------
    def is_online(self) -> bool:
        return bool(js.navigator.onLine)

    def is_visible(self) -> bool:
        return str(js.document.visibilityState) == "visible"

    def on_window_event(self, name: str, fn: Callable[[], None]) -> Undo:
        if name in _DOCUMENT_EVENTS:
            target = js.document
        elif name in _WINDOW_EVENTS:
            target = js.window
        else:
            raise ValueError(f"unsupported window event {name!r}")
        return self._pool.listen(target, name, lambda _e: fn())

    # --- storage ---------------------------------------------------------------------
    def storage_get(self, key: str) -> str | None:
        return _opt_str(js.localStorage.getItem(key))

    def storage_set(self, key: str, value: str) -> None:
        js.localStorage.setItem(key, value)

    def storage_remove(self, key: str) -> None:
        js.localStorage.removeItem(key)

    def on_storage(self, fn: Callable[[str | None, str | None], None]) -> Undo:
        def handler(e: Any) -> None:
            # key null = localStorage.clear() in another tab: passed on as None.
            fn(_opt_str(e.key), _opt_str(e.newValue))

        return self._pool.listen(js.window, "storage", handler)

    # --- cross-tab channel -----------------------------------------------------------
    def open_channel(
        self, name: str, on_message: Callable[[Any], None]
    ) -> tuple[Callable[[Any], None], Undo]:
        if not self.has_broadcast_channel:
            log.warning("BroadcastChannel is not available: cross-tab relay disabled")
            return (lambda _msg: None), (lambda: None)
        channel = js.BroadcastChannel.new(name)

        def handler(e: Any) -> None:
            data = e.data
            on_message(data.to_py() if hasattr(data, "to_py") else data)

        off = self._pool.listen(channel, "message", handler)
        done = False
        # Posts go out in order at the end of the current task, not inside the caller: a
        # leader tab relays every event of its stream, and converting and cloning each one
        # (~0.2 ms a message in a profile at 500 events/s) before the next event of a batch
        # reached this tab's own subscribers was latency the operator saw. ``post`` takes
        # the message over (callers hand over fresh dicts).
        pending: list[Any] = []

        def flush() -> None:
            while pending:
                batch = pending[:]
                pending.clear()
                for message in batch:
                    try:
                        channel.postMessage(to_plain_js(message))
                    except Exception:  # a message that cannot be cloned: the rest still go
                        log.exception("[channel] %s: a message could not be posted", name)

        flush_proxy, release_flush = self._pool.own(flush)
        later = _microtask()(flush_proxy)

        def post(message: Any) -> None:
            if not done:
                pending.append(message)
                later.arm()

        def close() -> None:
            nonlocal done
            if not done:
                try:
                    flush()  # what was posted before the close is sent, as it was
                finally:
                    done = True
                    later.close()
                    release_flush()
                    try:
                        off()
                    finally:
                        channel.close()

        return post, close


def _quietly(name: str, what: str, fn: Callable[[], None]) -> None:
    """Run a lock callback; its exception is logged, never thrown into the browser's lock
    machinery (where it would become an unhandled rejection, or release the lock)."""
    try:
        fn()
    except Exception:
        log.exception("lock %s: %s raised", name, what)


class ConsoleHandler(logging.Handler):
    """Send Python log records to the browser console at the matching level."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            if record.levelno >= logging.ERROR:
                js.console.error(message)
            elif record.levelno >= logging.WARNING:
                js.console.warn(message)
            elif record.levelno >= logging.INFO:
                js.console.info(message)
            else:
                js.console.debug(message)
        except Exception:  # logging must never break the app
            self.handleError(record)


def configure_logging() -> None:
    """Route the ``zariz`` loggers to the console once. The level comes from
    ``localStorage['zariz.log']`` or ``?log=`` (debug|info|warning|error; default info)."""
    root = logging.getLogger("zariz")
    if any(isinstance(h, ConsoleHandler) for h in root.handlers):
        return
    handler = ConsoleHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
    root.propagate = False
    level_name = "info"
    try:
        params = js.URLSearchParams.new(js.location.search)
        level_name = str(params.get("log") or js.localStorage.getItem("zariz.log") or "info")
    except Exception:  # storage can be disabled (privacy mode): keep the default
        level_name = "info"
    root.setLevel(getattr(logging, level_name.upper(), logging.INFO))


def make_facade(client: Any) -> Any:
    """Expose ``client`` to JavaScript: a plain JS object with
    live ``status``/``stats`` getters, ``connect()``/``disconnect()``/``reconnect()``/
    ``reconnectNow()`` and ``_py`` (the Python object, for re-use after a reload).

    These proxies live as long as the page (the singleton does), so they are not
    counted in :meth:`BrowserPlatform.live_proxies`.
    """
    facade = js.Object.new()

    def keep(fn: Callable[..., Any]) -> Any:
        return _PAGE_LIFETIME.own(fn)[0]

    def getter(fn: Callable[[], Any]) -> Any:
        return js_object(get=keep(fn), enumerable=True)

    js.Object.defineProperty(facade, "status", getter(lambda: client.status))
    # Through JSON, not to_js: None must arrive as null (to_js makes it undefined, and
    # JSON.stringify(stats) would then drop the key).
    js.Object.defineProperty(
        facade, "stats", getter(lambda: js.JSON.parse(json.dumps(client.stats)))
    )
    facade.connect = keep(lambda *_: client.connect())
    facade.disconnect = keep(lambda *_: client.disconnect())
    facade.reconnect = keep(lambda *_: client.reconnect())
    facade.reconnectNow = keep(lambda *_: client.reconnect_now())
    facade._py = keep(client)
    return facade


def unwrap_facade(facade: Any) -> Any:
    """The Python client behind a facade made by :func:`make_facade` (or ``None``)."""
    try:
        return getattr(facade, "_py", None)
    except Exception:  # a foreign value squatting on the name: treat it as absent
        return None
