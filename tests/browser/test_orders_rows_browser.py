"""The orders table's fast rows (``RowFactory``: clones of one prototype, values filled in)
are the rows ``build_row`` defines, for every kind of order, hostile values included."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.browser.support import open_authed, run_py
from tests.support.live_server import LiveServer

LONG = "א" * 400 + " end"
ORDERS: list[dict[str, Any]] = [
    {"id": 1, "status": "new", "customer": "Dana", "phone": "+972-50-000-0000",
     "address": "1 Herzl St", "notes": None, "courier_id": None,
     "created_at": "2026-11-27T10:00:00.000Z"},
    {"id": 2, "status": "assigned", "customer": "Noa\u202e Levi\x00", "phone": "050",
     "address": LONG, "notes": "ring twice\nthen wait", "courier_id": 3,
     "created_at": "2020-01-01T00:00:00Z"},
    {"id": "x-3", "status": "delivered", "customer": LONG, "phone": "9" * 80,
     "address": "", "notes": "", "courier_id": 99, "created_at": None},
    {"id": 4, "status": "lost <b>", "customer": "<img src=x onerror=alert(1)>",
     "phone": None, "address": None, "notes": "\u2067" * 5, "courier_id": [1],
     "created_at": 12345},
    {"id": 5, "status": "cancelled", "customer": 7, "phone": 0, "address": {"a": 1},
     "courier_id": None, "created_at": "not a date"},
    {"id": 6, "status": "", "customer": "", "phone": "", "address": ""},
    {"id": True, "status": "new"},  # not an id the store keeps; still the same row
]

# The same rows built both ways; a row as (tag, attributes sorted, children), text as str.
COMPARE = """
import json, js
from zariz.ui.pages.orders import RowFactory, build_row
from zariz.ui.format import FixedZone, courier_label
class Ctx:
    zone = FixedZone(120)
    def now_ms(self):
        return 1795730000000.0
ctx = Ctx()
couriers = {3: "Avi"}
factory = RowFactory(ctx)
js.eval('''window.__shape = (n) => n.nodeType === 3 ? n.data : [n.tagName,
  Array.from(n.attributes).map(a => [a.name, a.value]).sort(),
  Array.from(n.childNodes).filter(c => c.nodeType !== 3 || c.data !== "")
    .map(window.__shape)]''')
pairs = []
for order in json.loads(ORDERS):
    status = str(order.get("status") or "")
    courier = courier_label(order.get("courier_id"), couriers)
    built = build_row(ctx, order, status, courier)
    flash = "row-flash" if order["id"] == 2 else None  # an event's row: flashed
    if flash:
        built.setAttribute("class", flash)
    made = factory.row(order, status, courier, cls=flash)
    pairs.append([js.JSON.stringify(js.window.__shape(built)),
                  js.JSON.stringify(js.window.__shape(made))])
js.window.__pairs = json.dumps(pairs)
"""


def test_cloned_rows_equal_built_rows(
    open_tab: Callable[..., Any], live_server: LiveServer
) -> None:
    page, _log, _ = open_authed(open_tab, live_server, path="/dashboard/orders")
    run_py(page, f"ORDERS = {json.dumps(json.dumps(ORDERS))}\n" + COMPARE)
    pairs = json.loads(page.evaluate("window.__pairs"))
    assert len(pairs) == len(ORDERS)
    for order, (built, made) in zip(ORDERS, pairs, strict=True):
        assert json.loads(made) == json.loads(built), order["id"]
    # The values really vary (a prototype filled with nothing would also "match" itself).
    assert len({made for _built, made in pairs}) == len(ORDERS)


TEMPLATE = """
import json, js
from zariz.ui import dom
from zariz.ui.dom import APPEND, REPLACE, TEXT, h
proto = h("div", {"class": "card", "data-x": "old"},
          h("p", {"title": "t"}, "hello"), h("ul", None, h("li", None, "a")))
p, ul = proto.firstElementChild, proto.lastElementChild
tpl = dom.Template(proto, [proto, p, ul])
out = {}
a = tpl.clone([0, "data-x", None, 0, "data-on", True, 1, TEXT, "<b>x</b>", 1, "title", False,
               2, APPEND, h("li", None, "b")])
b = tpl.clone([2, REPLACE, h("li", None, "only"), 0, "data-n", "7"])
out["a"] = a.outerHTML
out["b"] = b.outerHTML
out["proto"] = proto.outerHTML  # untouched by its clones
try:
    tpl.clone([1, TEXT, object()])
except Exception as exc:
    out["refused"] = type(exc).__name__
try:
    dom.Template(proto, [h("span")])
except Exception as exc:
    out["outside"] = str(exc)
try:
    dom.Template(proto, [p.firstChild])
except Exception as exc:
    out["text_slot"] = str(exc)
js.window.__tpl = json.dumps(out)
"""


def test_template_clones_write_their_slots_in_one_call(
    open_tab: Callable[..., Any], live_server: LiveServer
) -> None:
    page, _log, _ = open_authed(open_tab, live_server, path="/dashboard/orders")
    run_py(page, TEMPLATE)
    out = json.loads(page.evaluate("window.__tpl"))
    assert out["a"] == ('<div class="card" data-on=""><p>&lt;b&gt;x&lt;/b&gt;</p>'
                        "<ul><li>a</li><li>b</li></ul></div>")
    assert out["b"] == ('<div class="card" data-x="old" data-n="7"><p title="t">hello</p>'
                        "<ul><li>only</li></ul></div>")
    assert out["proto"] == ('<div class="card" data-x="old"><p title="t">hello</p>'
                            "<ul><li>a</li></ul></div>")
    assert out["refused"]  # never a proxy that would leak
    assert "not inside its prototype" in out["outside"]
    assert "must be an element" in out["text_slot"]
