"""Hostile values on screen (bidi overrides, huge values) and hostile frames in Pyodide.

* A bidi override in a phone number (``U+202E`` before ``+972-50-123-4567`` read
  "…279+") and 10,000-character names, addresses and notes (one row grew to 47,000 px)
  are written straight into the server's SQLite database: the API caps lengths, rows
  written by other systems are not capped. The orders table must show the phone in
  logical order, left to right, also in an RTL page, and keep every row short.
* JSON nested 100,000 deep, fed to the live client in the page: ``json.loads`` of it is
  not a RecursionError in Pyodide but a fatal "Maximum call stack size exceeded" that
  stops the whole app. The app must keep working (a new order still reaches the table).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from tests.browser.conftest import screenshot
from tests.browser.support import open_authed, run_py, wait_client
from tests.support.live_server import LiveServer

PHONE = "+972-50-123-4567"
LONG = 10_000
MAX_ROW_PX = 200


def insert_order(server: LiveServer, template: dict[str, Any], **fields: str) -> int:
    """A row as another system would write it: straight into the database, no API caps."""
    row = {"customer": "Dana Levi", "phone": PHONE, "address": "Herzl 1", "notes": None,
           "status": "new", "created_at": template["created_at"],
           "updated_at": template["updated_at"], **fields}
    with sqlite3.connect(server.db_path, timeout=10) as db:
        cursor = db.execute(
            "INSERT INTO orders(customer, phone, address, notes, status, created_at, updated_at)"
            " VALUES (:customer, :phone, :address, :notes, :status, :created_at, :updated_at)",
            row,
        )
        return int(cursor.lastrowid or 0)


def row(order_id: int) -> str:
    return f"[data-testid=order-row][data-order-id='{order_id}']"


# Where each character of the phone cell's text is drawn: reading order on screen.
_GLYPH_X = """sel => {
  const cell = document.querySelector(sel);
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  const out = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.data.length; i++) {
      const range = document.createRange();
      range.setStart(node, i); range.setEnd(node, i + 1);
      const rect = range.getBoundingClientRect();
      if (rect.width > 0) out.push([node.data[i], rect.left]);
    }
  }
  return out;
}"""


def visual_text(page: Any, selector: str) -> str:
    """The cell's characters in the order they appear on screen, left to right (one line:
    a phone number never wraps at this width)."""
    glyphs = page.evaluate(_GLYPH_X, selector)
    return "".join(char for char, _x in sorted(glyphs, key=lambda g: g[1]))


def test_bidi_override_and_ten_thousand_characters_in_the_orders_table(
    open_tab: Callable[..., Any], live_server_factory: Callable[..., LiveServer]
) -> None:
    server = live_server_factory()
    tokens = server.login()
    template = server.create_order(tokens["access_token"], customer="Plain Row")
    bidi = insert_order(server, template, customer="\u202eDana Levi", phone="\u202e" + PHONE,
                        address="\u2067Herzl 1\u2069 \u202bRothschild\u202c")
    long_words = insert_order(server, template, customer="Dana Levi " * (LONG // 10),
                              address="Herzl " * (LONG // 6), notes="note " * (LONG // 5),
                              phone="5" * LONG)
    long_word = insert_order(server, template, customer="W" * LONG, address="A" * LONG,
                             notes="N" * LONG)
    page, log, _ = open_authed(open_tab, server, "/dashboard/orders")
    for order_id in (bidi, long_words, long_word):
        page.wait_for_selector(row(order_id))

    # The phone reads in logical order, left to right: "+972…", never "…279+".
    phone = f"{row(bidi)} [data-testid=order-phone]"
    text = page.inner_text(phone).strip()
    assert text == PHONE, f"phone cell shows {text!r}"
    assert visual_text(page, phone) == PHONE
    assert page.eval_on_selector(phone, "el => getComputedStyle(el).direction") == "ltr"
    customer = page.inner_text(f"{row(bidi)} [data-testid=order-customer]").strip()
    assert customer == "Dana Levi"

    # No row grows beyond a sane height; the full value stays available as a tooltip.
    heights = {oid: page.eval_on_selector(row(oid), "el => el.getBoundingClientRect().height")
               for oid in (bidi, long_words, long_word)}
    screenshot(page, "ui-hostile-values")
    assert all(h < MAX_ROW_PX for h in heights.values()), heights
    shown = page.inner_text(f"{row(long_word)} [data-testid=order-customer]").strip()
    assert len(shown) <= 200 and shown.endswith("…")
    titles = page.eval_on_selector(
        row(long_word), "el => Array.from(el.querySelectorAll('[title]'), n => n.title)")
    assert any(t.startswith("W" * 900) for t in titles), "the long name is not in a tooltip"

    # In an RTL page the number still reads left to right.
    page.evaluate("document.documentElement.dir = 'rtl'")
    assert visual_text(page, phone) == PHONE
    screenshot(page, "ui-hostile-values-rtl")
    assert log.errors == []


DEEP = 100_000
FEED_DEEP = f"""
from zariz.boot import runtime
from zariz.platform import RawEvent
client = runtime().client
deep = "[" * {DEEP} + "]" * {DEEP}
client.feed(RawEvent("message", deep, ""), origin="relay")
client.feed(RawEvent("message", '{{"type": "order.updated", "data": ' + deep + "}}", ""),
            origin="relay")
# Our own stream's position/reset frames: their payload states the position.
client.feed(RawEvent("position", deep, ""), origin="source")
client.feed(RawEvent("reset", '{{"last_id": ' + deep + "}}", ""), origin="source")
"""


def test_deep_json_frames_do_not_stop_the_app(
    open_tab: Callable[..., Any], live_server_factory: Callable[..., LiveServer]
) -> None:
    server = live_server_factory()
    page, log, tokens = open_authed(open_tab, server, "/dashboard/orders")
    try:
        run_py(page, FEED_DEEP, timeout_ms=20_000)
    except Exception as exc:  # Playwright's TimeoutError: the interpreter died on the way
        fatal = [c for c in log.console if "fatal" in c or "RangeError" in c or "File" in c]
        raise AssertionError(f"Pyodide did not survive the frames: {fatal[:12]}") from exc
    assert not [c for c in log.console if "fatal error" in c], log.console[-5:]
    wait_client(page, "connected")
    created = server.create_order(tokens["access_token"], customer="Still Alive")
    page.wait_for_selector(row(created["id"]))
    assert log.errors == []
