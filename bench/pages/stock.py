# Baseline: stock PyScript, a Python EventSource handler written the obvious way
# (create_proxy + json.loads, no normalization library, no reconnect logic).
# ?mode=open: time to the stream's open. ?mode=stream: window.__benchRound(n, subs) opens
# /bench/stream and takes its n events through subs subscribers; each round stamps its
# first and n-th event, and marks the n-th (bench:last) for a Chrome trace.
import asyncio
import json

import js
from pyodide.ffi import create_proxy, to_js

params = js.URLSearchParams.new(js.location.search)
mode = str(params.get("mode") or "open")
auth = json.loads(str(js.localStorage.getItem("zariz.auth")))
bench = js.Object.new()
bench.rounds = js.Array.new()
js.window.__bench = bench


def counter():
    seen = [0]

    def on_event(ev):
        seen[0] += 1

    return on_event


async def ticket():
    init = to_js({"method": "POST", "headers": {"Authorization": "Bearer " + auth["access_token"]}},
                 dict_converter=js.Object.fromEntries)
    resp = await js.fetch("/v1/events/ticket", init)
    return json.loads(str(await resp.text()))["ticket"]


async def open_only():
    es = js.EventSource.new("/v1/events/sse?ticket=" + str(js.encodeURIComponent(await ticket())))

    def on_open(e):
        bench.opened = js.performance.now()

    es.addEventListener("open", create_proxy(on_open))


current = []  # (EventSource, its listener's proxy) of the running round


async def start_round(n, subs):
    while current:
        es, proxy = current.pop()
        es.close()
        proxy.destroy()
    round_ = js.Object.new()
    round_.count = 0
    bench.rounds.push(round_)
    subscribers = [counter() for _ in range(subs)]
    es = js.EventSource.new("/bench/stream?ticket=" + str(js.encodeURIComponent(await ticket())))
    count = 0

    def on_message(e):
        nonlocal count
        raw = json.loads(e.data)
        ev = {"event": raw.get("event") or raw.get("type") or "unknown",
              "data": raw.get("data") or raw, "id": e.lastEventId}
        if count == 0:
            round_.first = js.performance.now()
        count += 1
        for s in subscribers:
            s(ev)
        if count == n:
            round_.last = js.performance.now()
            js.performance.mark("bench:last")
            round_.count = count

    proxy = create_proxy(on_message)
    es.addEventListener("message", proxy)
    current.append((es, proxy))


if mode == "open":
    asyncio.ensure_future(open_only())
else:
    js.window.__benchRound = create_proxy(
        lambda n, subs: asyncio.ensure_future(start_round(int(n), int(subs))) and None)
    js.window.__benchReady = True
