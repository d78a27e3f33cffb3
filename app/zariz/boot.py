"""Browser entry: wire the platform, the auth client, the SSE client singleton and the UI.

``main()`` is safe to run any number of times in one tab (a second ``<script type="py">``,
a hot reload that re-executes the entry, a strict double mount): the SSE client lives at
``globalThis.__zarizSSEClient`` and is reused, the auth/API objects live on the same
runtime holder, and the previous UI is disposed before the next one mounts.
"""

from __future__ import annotations

import builtins
import json
import logging
import sys
import traceback
from dataclasses import dataclass
from typing import Any

import js

from zariz.api import ApiClient
from zariz.auth import AuthClient
from zariz.platform.browser import BrowserPlatform, configure_logging, make_facade, unwrap_facade
from zariz.platform.jsffi import is_null
from zariz.sse.client import SSEClient
from zariz.sse.config import META_NAME, QUERY_NAME, STORAGE_KEY, StreamOptions, parse_options
from zariz.sse.shared import SharedStream
from zariz.sse.singleton import get_client

log = logging.getLogger("zariz.boot")

# Lives on ``builtins``: module re-execution and importlib.reload don't touch it, and it is
# per interpreter, i.e. per tab.
_RUNTIME_NAME = "__zariz_runtime__"


@dataclass
class Runtime:
    platform: BrowserPlatform
    auth: AuthClient
    api: ApiClient
    client: SSEClient
    shared: SharedStream | None = None
    dispose_ui: Any = None
    mounts: int = 0
    dev: Any = None  # zariz.dev.page.DevPage under ``make dev``


SSE_MODE_KEY = STORAGE_KEY


def _js_text(value: Any) -> str | None:
    return None if value is None or is_null(value) else str(value)


def sse_options() -> StreamOptions:
    """How this tab holds the stream (see :mod:`zariz.sse.config`): ``?sse=`` first (e.g.
    ``?sse=per-tab``, ``?sse=lazy,idle=10``), then ``localStorage['zariz.sse']`` (every
    tab of the origin), then ``<meta name="zariz-sse" content="...">`` (the deployment's
    default), then one stream per browser, always connected while logged in."""
    query = js.URLSearchParams.new(js.location.search).get(QUERY_NAME)
    stored = js.localStorage.getItem(STORAGE_KEY)
    meta = js.document.querySelector(f'meta[name="{META_NAME}"]')
    content = None if is_null(meta) else meta.getAttribute("content")
    return parse_options(_js_text(query), _js_text(stored), _js_text(content))


def sse_mode() -> str:
    """``shared`` (one stream per browser, the default) or ``per-tab``: ``?sse=per-tab``,
    or ``localStorage['zariz.sse'] = 'per-tab'`` for every tab of the origin."""
    return sse_options().sharing


def runtime() -> Runtime:
    """The tab's runtime, created on first use."""
    rt = getattr(builtins, _RUNTIME_NAME, None)
    if rt is not None:
        return rt  # type: ignore[no-any-return]
    platform = BrowserPlatform()
    auth = AuthClient(platform)
    options = sse_options()
    client = get_client(
        lambda: SSEClient(
            platform, auth, mode=options.mode, idle_close_s=options.idle_close_s
        ),
        namespace=js.globalThis,
        wrap=make_facade,
        unwrap=unwrap_facade,
    )
    rt = Runtime(platform=platform, auth=auth, api=ApiClient(auth), client=client)
    setattr(builtins, _RUNTIME_NAME, rt)
    if options.mode == "lazy":
        log.info("[SSE] lazy: open while a live widget needs it, closed %g s after the last",
                 options.idle_close_s)
    if options.sharing == "shared":
        # Before start(): a follower must not open a stream only to close it again.
        shared = SharedStream(platform, client, tab_id=_tab_id(platform))
        rt.shared = shared if shared.start() else None
    # Always mode: connected while authenticated, with or without subscribers: the first
    # page mounted finds the stream open, and no page can open or close it by
    # (un)subscribing. Lazy mode: the pages' subscriptions open it, and a page change
    # (dispose, then mount) comes back well within the idle delay: same stream.
    client.start()
    return rt


def _tab_id(platform: BrowserPlatform) -> str:
    return f"{int(platform.random() * 2**48):012x}"


def mount_ui(rt: Runtime, hand_off: dict[str, Any] | None = None) -> None:
    """Mount the UI from the current ``zariz.ui.app`` (a hot swap replaces the module);
    raises if mounting fails."""
    from zariz.ui import app as ui_app

    api_module = sys.modules.get("zariz.api")
    if api_module is not None and type(rt.api) is not api_module.ApiClient:
        rt.api = api_module.ApiClient(rt.auth)  # zariz.api was swapped: stateless, rebuilt
    root = js.document.getElementById("app")
    rt.dispose_ui = ui_app.mount_app(
        root, platform=rt.platform, auth=rt.auth, client=rt.client, api=rt.api,
        hot=hand_off, strict=rt.dev.strict if rt.dev is not None else None,
    )
    rt.mounts += 1


def dispose_ui(rt: Runtime, *, hand_off: bool = False) -> dict[str, Any]:
    """Dispose the mounted UI (every cleanup runs); with ``hand_off`` its components save
    their state first, and it is returned."""
    data: dict[str, Any] = {}
    dispose, rt.dispose_ui = rt.dispose_ui, None
    if dispose is not None:
        try:
            if hand_off:
                dispose(data)
            else:
                dispose()
        except Exception:
            log.exception("disposing the previous UI failed; mounting anyway")
    return data


def _start_dev(rt: Runtime) -> None:
    """Dev mode (the server marked the page): the hot reloader and strict mode, once per
    tab; they outlive every mount."""
    if rt.dev is not None or is_null(js.document.querySelector('meta[name="zariz-dev"]')):
        return  # a production page does not even import the dev package (JS null: jsnull)
    from zariz.dev.page import DevPage, dev_flags

    flags = dev_flags()
    if flags is None:
        return
    rt.dev = DevPage(
        platform=rt.platform, client=rt.client, auth_subscribers=lambda: rt.auth.subscribers,
        mount_ui=lambda data: mount_ui(rt, data),
        dispose_ui=lambda: dispose_ui(rt, hand_off=True),
        strict=flags["strict"],
    )


def boot_error_report(exc: BaseException) -> str:
    """What the boot overlay shows for ``exc`` (JSON): its type, message and traceback; the
    overlay maps the traceback's paths (``/home/pyodide/zariz/...``) to the repository's."""
    return json.dumps({
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    })


def show_boot_error(exc: BaseException) -> None:
    """Show a Python error at start-up in the page's boot overlay (static/boot/boot-error.js,
    plain JS: it works whatever broke here); a page without it gets one line of text."""
    root = js.document.getElementById("app")
    if not is_null(root):
        root.dataset.boot = "error"
    try:
        overlay = js.globalThis.__zarizBootError
    except AttributeError:
        overlay = None
    if overlay is not None and not is_null(overlay):
        overlay.python(boot_error_report(exc))
    elif not is_null(root):
        root.replaceChildren(js.document.createTextNode(f"The app failed to start: {exc!r}"))


def main() -> Runtime:
    configure_logging()
    rt = runtime()
    try:
        _start_dev(rt)
    except Exception:
        log.exception("[dev] dev mode failed to start; the app runs without it")
    dispose_ui(rt)
    try:
        mount_ui(rt)
    except Exception as exc:
        # The event client keeps running (it was started above); say plainly what broke.
        log.exception("[app] mounting the UI failed")
        show_boot_error(exc)
        return rt
    # A User Timing mark (the first mount only): benchmarks and monitors read when the
    # UI was up, beside zariz:boot-start, zariz:pyodide-ready and zariz:sse-open.
    if rt.mounts == 1:
        js.performance.mark("zariz:app-mounted")
    log.info("[app] mounted (mount #%d)", rt.mounts)
    return rt
