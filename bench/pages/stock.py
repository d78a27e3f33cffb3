# Baseline: stock PyScript, a Python EventSource handler written the obvious way
# (create_proxy + json.loads, no normalization library, no reconnect logic).
import json

import js
from pyodide.ffi import create_proxy, to_js

params = js.URLSearchParams.new(js.location.search)
mode = str(params.get("mode") or "open")
subs = int(params.get("subs") or 1)
auth = json.loads(str(js.localStorage.getItem("zariz.auth")))
bench = js.Object.new()
bench.count = 0
js.window.__bench = bench


def counter():
    seen = [0]

    def on_event(ev):
        seen[0] += 1

    return on_event


subscribers = [counter() for _ in range(subs)]


async def start():
    init = to_js({"method": "POST", "headers": {"Authorization": "Bearer " + auth["access_token"]}},
                 dict_converter=js.Object.fromEntries)
    resp = await js.fetch("/v1/events/ticket", init)
    ticket = json.loads(str(await resp.text()))["ticket"]
    path = "/v1/events/sse" if mode == "open" else "/bench/stream"
    es = js.EventSource.new(path + "?ticket=" + str(js.encodeURIComponent(ticket)))

    def on_open(e):
        bench.opened = js.performance.now()

    count = 0

    def on_message(e):
        nonlocal count
        raw = json.loads(e.data)
        ev = {"event": raw.get("event") or raw.get("type") or "unknown",
              "data": raw.get("data") or raw, "id": e.lastEventId}
        if count == 0:
            bench.first = js.performance.now()
        count += 1
        for s in subscribers:
            s(ev)
        bench.count = count
        bench.last = js.performance.now()

    es.addEventListener("open", create_proxy(on_open))
    es.addEventListener("message", create_proxy(on_message))


import asyncio  # noqa: E402

asyncio.ensure_future(start())
