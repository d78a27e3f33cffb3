"""The orders table as an operator uses it, in a real browser against a real server:
sorting by every column while orders arrive and change, the phone search, the list state in
the URL, keyboard row navigation, the highlight of a new row, a sticky header over fixed
columns, and cards with no sideways scroll on a phone.

Expected orders are computed from the server's own data (``GET /v1/orders``) with the
store's sort key, then waited for in the DOM: the table must show what the data says,
after every live change, not only after the click.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from zariz.ui.orders_store import SORT_COLUMNS, sort_key

from tests.browser.support import open_authed, pixel, run_py, table_ids
from tests.support.live_server import LiveServer

ROWS = "[data-testid=order-row]"
# The new row's highlight (animation ``name``) held at its first frame, in the task that
# finds it running (the page may be slow: it must not end meanwhile): true once held.
HOLD_FLASH = """(name) => {
  const flashes = document.getAnimations().filter((a) => a.animationName === name);
  for (const a of flashes) { a.pause(); a.currentTime = 0; }
  return flashes.length > 0;
}"""
# The animation on the highlight's layer of the row of order ``id``.
FLASH_NAME = """(id) => getComputedStyle(
  document.querySelector(`tr.row-flash[data-order-id="${id}"] > td`), "::after").animationName"""
PLAY_FLASH = """(name) => {
  const flashes = document.getAnimations().filter((a) => a.animationName === name);
  for (const a of flashes) a.play();
  return flashes.length;
}"""


class Api:
    """The REST calls the tests make as "another dispatcher"."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        token = server.login()["access_token"]
        self.http = httpx.Client(base_url=server.url, timeout=10,
                                 headers={"Authorization": f"Bearer {token}"})

    def create(self, customer: str, phone: str = "050-111-2233", address: str = "Herzl 1",
               **fields: Any) -> int:
        body = {"customer": customer, "phone": phone, "address": address, **fields}
        response = self.http.post("/v1/orders", json=body)
        response.raise_for_status()
        return int(response.json()["id"])

    def patch(self, order_id: int, **fields: Any) -> None:
        self.http.patch(f"/v1/orders/{order_id}", json=fields).raise_for_status()

    def assign(self, order_id: int, courier_id: int) -> None:
        self.http.post(f"/v1/orders/{order_id}/assign",
                       json={"courier_id": courier_id}).raise_for_status()

    def status(self, order_id: int, status: str) -> None:
        self.http.post(f"/v1/orders/{order_id}/status",
                       json={"status": status}).raise_for_status()

    def orders(self) -> list[dict[str, Any]]:
        body = self.http.get("/v1/orders", params={"limit": 500}).json()
        return list(body["items"])

    def couriers(self) -> dict[int, str]:
        body = self.http.get("/v1/couriers").json()
        return {c["id"]: c["name"] for c in body["items"]}


@pytest.fixture
def api(live_server: LiveServer) -> Iterator[Api]:
    client = Api(live_server)
    try:
        yield client
    finally:
        client.http.close()


@pytest.fixture
def new_context(browser: Any) -> Iterator[Callable[..., Any]]:
    """``new_context(**options)``: a browser context (viewport, time zone, media) closed
    after the test."""
    made: list[Any] = []

    def factory(**options: Any) -> Any:
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = browser.new_context(**options)
        made.append(context)
        return context

    try:
        yield factory
    finally:
        for context in made:
            context.close()


def expected_ids(api: Api, column: str, desc: bool, couriers: dict[int, str]) -> list[int]:
    rows = sorted(api.orders(), key=sort_key(column, desc, couriers), reverse=desc)
    return [int(o["id"]) for o in rows][:50]


def wait_ids(page: Any, ids: list[int], timeout_ms: float = 15_000) -> None:
    """Wait until the table shows exactly ``ids``, in order (on a timeout: what it shows)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            """ids => JSON.stringify(Array.from(document.querySelectorAll(
                 '[data-testid=order-row]'), r => r.dataset.orderId)) === JSON.stringify(ids)""",
            arg=[str(i) for i in ids], timeout=timeout_ms,
        )
    except PlaywrightTimeout:
        assert table_ids(page) == ids


def sorted_by(page: Any) -> tuple[str | None, str | None]:
    found = page.evaluate(
        """() => { const th = document.querySelector('.orders-table th[aria-sort]');
                   return th ? [th.querySelector('[data-sort]').dataset.sort,
                                th.getAttribute('aria-sort')] : [null, null]; }""")
    return found[0], found[1]


def url_params(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def test_sorting_by_each_column_keeps_the_order_while_orders_arrive_and_change(
    open_tab: Callable[..., Any], live_server: LiveServer, api: Api
) -> None:
    couriers = api.couriers()
    courier_ids = sorted(couriers)
    seeded = [
        api.create("Noa Cohen", "050-123-4567", "Herzl 10, Tel Aviv"),
        api.create("avi levi", "052-765-4321", "Herzl 9, Haifa"),
        api.create("יעל מזרחי", "03-555-0101", "הרצל 5, חיפה"),
        api.create("Dana", "054-000-0001", "Allenby 1"),
        api.create("Noa Cohen", "058-222-2222", "Ibn Gabirol 90"),
    ]
    api.assign(seeded[0], courier_ids[0])
    api.assign(seeded[3], courier_ids[-1])
    api.status(seeded[3], "picked_up")
    api.status(seeded[4], "cancelled")
    page, log, _ = open_authed(open_tab, live_server, path="/dashboard/orders")
    wait_ids(page, expected_ids(api, "created", True, couriers))
    assert sorted_by(page) == ("created", "descending")

    # Something changes the order of each column while the table is sorted by it.
    changes: dict[str, Callable[[int], None]] = {
        "id": lambda n: None,
        "customer": lambda n: api.patch(seeded[1], customer=f"Zed {n}"),
        "phone": lambda n: api.patch(seeded[2], phone="050-000-0000"),
        "address": lambda n: api.patch(seeded[0], address="Aaron St 1"),
        "status": lambda n: api.assign(seeded[1], courier_ids[0]),
        "courier": lambda n: api.assign(seeded[2], courier_ids[-1]),
        "created": lambda n: None,
    }
    for n, column in enumerate(SORT_COLUMNS):
        for _click in range(2):  # the first direction, then flipped
            before = sorted_by(page)
            page.click(f"[data-testid=sort-{column}]")
            page.wait_for_function(
                "before => { const th = document.querySelector('.orders-table th[aria-sort]');"
                " return th && JSON.stringify([th.querySelector('[data-sort]').dataset.sort,"
                " th.getAttribute('aria-sort')]) !== JSON.stringify(before); }",
                arg=list(before),
            )
            sorted_column, direction = sorted_by(page)
            assert sorted_column == column
            desc = direction == "descending"
            wait_ids(page, expected_ids(api, column, desc, couriers))
            if (column, desc) != ("created", True):
                params = url_params(page)
                assert params["sort"] == [column] and params["dir"] == [
                    "desc" if desc else "asc"]
            # Live: a new order, and a change that moves an existing one.
            api.create(f"Live {n} {direction}", f"050-{n}00-00{n}{_click}",
                       f"{n} Live Street")
            changes[column](n)
            wait_ids(page, expected_ids(api, column, desc, couriers))
    assert not log.errors, log.errors


def test_the_url_restores_sort_filter_search_and_page(
    open_tab: Callable[..., Any], live_server: LiveServer, api: Api
) -> None:
    for i in range(60):
        api.create(f"Burst {i:02d}", f"050-000-{i:04d}")
    api.create("Other", "052-000-0000")
    path = "/dashboard/orders?lang=en&status=new&q=burst&sort=customer&dir=desc&page=2"
    page, log, _ = open_authed(open_tab, live_server, path=path)
    wait_ids(page, [o for o in expected_ids_by_customer(api, "Burst", desc=True)][50:])
    assert page.get_attribute("[data-testid=filter-new]", "aria-pressed") == "true"
    assert page.input_value("[data-testid=orders-search]") == "burst"
    assert sorted_by(page) == ("customer", "descending")
    assert page.text_content("[data-testid=orders-page-label]") == "Page 2 of 2"
    assert page.text_content("[data-testid=orders-summary]") == "51–60 of 60"

    # A new sort: back to the first page, and the URL says so (other parameters kept).
    page.click("[data-testid=sort-phone]")
    page.wait_for_function("location.search.includes('sort=phone')")
    assert url_params(page) == {"lang": ["en"], "status": ["new"], "q": ["burst"],
                                "sort": ["phone"], "dir": ["asc"]}
    phones = [f"Burst {i:02d}" for i in range(50)]
    page.wait_for_function(
        "names => JSON.stringify(Array.from(document.querySelectorAll("
        "'[data-testid=order-customer]'), c => c.textContent)) === JSON.stringify(names)",
        arg=phones,
    )
    page.click("[data-testid=page-next]")
    page.wait_for_function("new URLSearchParams(location.search).get('page') === '2'")
    shown = table_ids(page)

    # Opening that URL (a reload, a link sent to a colleague) shows the same.
    page.reload()
    wait_ids(page, shown)
    assert sorted_by(page) == ("phone", "ascending")
    assert page.input_value("[data-testid=orders-search]") == "burst"
    assert page.get_attribute("[data-testid=filter-new]", "aria-pressed") == "true"

    # The nav link to the bare page, then Back: the table follows the URL each time (the
    # page is the one already shown, so only a remount from the new URL keeps them equal).
    page.click("[data-testid=nav-orders]")
    page.wait_for_function("location.search === ''")
    page.wait_for_function(
        "document.querySelector('[data-testid=filter-all]')?.getAttribute('aria-pressed')"
        " === 'true'")
    assert page.input_value("[data-testid=orders-search]") == ""
    assert sorted_by(page) == ("created", "descending")
    page.go_back()
    page.wait_for_function(
        "document.querySelector('[data-testid=filter-new]')?.getAttribute('aria-pressed')"
        " === 'true'")
    wait_ids(page, shown)
    assert sorted_by(page) == ("phone", "ascending")

    # A page past the end is the last page; a bad sort or status is the default.
    page.goto(live_server.url + "/dashboard/orders?sort=password&status=lost&page=99&q=burst")
    page.wait_for_function("new URLSearchParams(location.search).get('page') === '2'")
    assert sorted_by(page) == ("created", "descending")
    assert url_params(page) == {"q": ["burst"], "page": ["2"]}
    assert not log.errors, log.errors


def expected_ids_by_customer(api: Api, prefix: str, *, desc: bool) -> list[int]:
    rows = [o for o in api.orders() if o["customer"].startswith(prefix)]
    rows.sort(key=sort_key("customer", desc), reverse=desc)
    return [int(o["id"]) for o in rows]


def test_the_phone_search_normalises_the_digits(
    open_tab: Callable[..., Any], live_server: LiveServer, api: Api
) -> None:
    wanted = api.create("Dana Levi", "+972-50-123-4567", "Herzl 1")
    api.create("Noa Cohen", "052-123-4567", "Herzl 2")
    api.create("Avi", "03-555-0101", "Herzl 3")
    page, log, _ = open_authed(open_tab, live_server, path="/dashboard/orders")
    page.wait_for_function("document.querySelectorAll('[data-testid=order-row]').length === 3")
    for typed in ("050-1234567", "0501234567", "+972501234567", "+972-50-123-4567"):
        page.fill("[data-testid=orders-search]", typed)
        wait_ids(page, [wanted])
        assert url_params(page)["q"] == [typed]
        page.fill("[data-testid=orders-search]", "")
        page.wait_for_function(
            "document.querySelectorAll('[data-testid=order-row]').length === 3")
    # Text search as before.
    page.fill("[data-testid=orders-search]", "noa")
    page.wait_for_function("document.querySelectorAll('[data-testid=order-row]').length === 1")
    assert not log.errors, log.errors


def active(page: Any) -> dict[str, Any]:
    return page.evaluate(  # type: ignore[no-any-return]
        """() => { const a = document.activeElement;
          const row = a && a.closest('[data-testid=order-row]');
          return {tag: a ? a.tagName : null, testid: a?.dataset?.testid || null,
                  row: row ? row.dataset.orderId : null,
                  outline: a ? getComputedStyle(a).outlineStyle : null,
                  tabbable: Array.from(document.querySelectorAll(
                    '[data-testid=order-row][tabindex="0"]'), r => r.dataset.orderId)}; }""")


def test_j_k_and_the_arrows_move_the_row_focus_and_enter_opens_the_actions(
    open_tab: Callable[..., Any], live_server: LiveServer, api: Api
) -> None:
    ids = [api.create(f"Key {i}") for i in range(3)][::-1]  # newest first
    page, log, _ = open_authed(open_tab, live_server, path="/dashboard/orders")
    wait_ids(page, ids)
    assert active(page)["tabbable"] == [str(ids[0])]  # roving: one row in the Tab order

    page.keyboard.press("j")  # from nowhere: the first row
    assert active(page)["row"] == str(ids[0]) and active(page)["tag"] == "TR"
    page.keyboard.press("j")
    now = active(page)
    assert now["row"] == str(ids[1]) and now["tabbable"] == [str(ids[1])]
    assert now["outline"] == "solid"  # a visible focus ring
    page.keyboard.press("k")
    assert active(page)["row"] == str(ids[0])
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")  # stays on the last row
    assert active(page)["row"] == str(ids[2])
    page.keyboard.press("ArrowUp")
    assert active(page)["row"] == str(ids[1])

    page.keyboard.press("Enter")  # the row's first action
    now = active(page)
    assert (now["testid"], now["row"]) == ("action-assign", str(ids[1]))
    page.keyboard.press("Escape")  # back to the row
    assert active(page)["tag"] == "TR" and active(page)["row"] == str(ids[1])

    # A live change of the focused row's order keeps the focus on it (a new node).
    api.patch(ids[1], customer="Key changed")
    page.wait_for_selector(f"[data-order-id='{ids[1]}']:has-text('Key changed')")
    page.wait_for_function(
        "id => document.activeElement?.dataset?.orderId === id", arg=str(ids[1]))

    # Not while typing in the search box.
    page.click("[data-testid=orders-search]")
    page.keyboard.press("j")
    assert active(page)["testid"] == "orders-search"
    assert page.input_value("[data-testid=orders-search]") == "j"
    page.fill("[data-testid=orders-search]", "")
    wait_ids(page, ids)

    # Not with a dialog open: the keys stay in the dialog.
    page.click(f"[data-order-id='{ids[0]}'] [data-testid=action-delete]")
    page.wait_for_selector("[data-testid=delete-modal]")
    page.focus("[data-testid=delete-modal] [data-testid=modal-close]")
    page.keyboard.press("j")
    page.keyboard.press("ArrowDown")
    assert active(page)["testid"] == "modal-close"
    assert not log.errors, log.errors


def test_an_inserted_row_is_highlighted_briefly(
    open_tab: Callable[..., Any], live_server: LiveServer, api: Api, new_context: Any
) -> None:
    api.create("Loaded before")
    page, log, _ = open_authed(open_tab, live_server, path="/dashboard/orders")
    page.wait_for_selector(ROWS)
    assert page.locator("tr.row-flash").count() == 0  # the initial load is not news
    fresh = api.create("Just arrived")
    page.wait_for_function(HOLD_FLASH, arg="row-flash")
    assert page.evaluate(FLASH_NAME, fresh) == "row-flash"
    # The highlight is drawn where it belongs: held at its first frame, it tints the new
    # row's background from end to end (not hidden behind the table), the row loaded
    # before it keeps the plain background, and the row's content is drawn over it (an
    # opaque button's fill is the same in both rows).
    new_sel = f"{ROWS}[data-order-id='{fresh}']"
    old_sel = f"{ROWS}:not([data-order-id='{fresh}'])"
    new_row = page.locator(new_sel).bounding_box()
    old_row = page.locator(old_sel).first.bounding_box()
    assert new_row and old_row
    plain = pixel(page, old_row["x"] + 3, old_row["y"] + 3)
    for x in (new_row["x"] + 3, new_row["x"] + new_row["width"] - 3):  # the whole row
        tinted = pixel(page, x, new_row["y"] + 3)
        # The light theme's flash: amber at 32% over the card's white-ish surface.
        assert tinted[2] < plain[2] - 30 and tinted[0] >= plain[0] - 10, (x, tinted, plain)
    buttons = [page.locator(f"{sel} [data-testid=action-edit]").first.bounding_box()
               for sel in (new_sel, old_sel)]
    fills = [pixel(page, b["x"] + 4, b["y"] + b["height"] / 2) for b in buttons if b]
    assert len(fills) == 2 and fills[0] == fills[1], fills
    assert page.evaluate(PLAY_FLASH, "row-flash") >= 1
    # Gone after its animation, so it never plays again when the row is re-inserted.
    page.wait_for_selector("tr.row-flash", state="detached", timeout=5000)
    api.patch(fresh, customer="Just changed")
    page.wait_for_selector(f"tr.row-flash[data-order-id='{fresh}']")

    # Reduced motion: no animation, a still marker that goes after the same time.
    quiet, quiet_log, _ = open_authed(
        open_tab, live_server, path="/dashboard/orders",
        context=new_context(reduced_motion="reduce"))
    quiet.wait_for_selector(ROWS)
    other = api.create("Quietly arrived")
    quiet.wait_for_function(HOLD_FLASH, arg="row-flash-still")
    assert quiet.evaluate(FLASH_NAME, other) == "row-flash-still"
    assert quiet.evaluate(PLAY_FLASH, "row-flash-still") >= 1
    quiet.wait_for_selector("tr.row-flash", state="detached", timeout=5000)
    assert not log.errors and not quiet_log.errors


# A word of the address split over two lines, or a phone over two: the rects of its text.
SPLIT_WORDS = """([selector, words]) => {
  const broken = [];
  for (const el of document.querySelectorAll(selector)) {
    const node = el.firstChild;
    if (!node || node.nodeType !== 3) continue;
    for (const word of words) {
      const at = node.data.indexOf(word);
      if (at < 0) continue;
      const range = document.createRange();
      range.setStart(node, at); range.setEnd(node, at + word.length);
      const lines = new Set(Array.from(range.getClientRects(), r => Math.round(r.top)));
      if (lines.size > 1) broken.push(word);
    }
  }
  return broken;
}"""
LONG_ADDRESS = "Derech Jabotinsky 120, Ramat Gan, Tel Aviv District, Israel"


def test_desktop_sticky_header_fixed_widths_unbroken_phones_and_words_and_ages(
    open_tab: Callable[..., Any], live_server: LiveServer, api: Api, new_context: Any
) -> None:
    for i in range(30):
        api.create(f"Row {i}", "+972-51-261-7889", LONG_ADDRESS)
    context = new_context(timezone_id="Asia/Jerusalem", locale="en-US")
    page, log, _ = open_authed(open_tab, live_server, path="/dashboard/orders", context=context)
    page.wait_for_function("document.querySelectorAll('[data-testid=order-row]').length === 30")
    widths = page.evaluate(
        "Array.from(document.querySelectorAll('.orders-table th'), th => th.offsetWidth)")

    # Phones on one line, words of the address never split.
    assert page.evaluate(SPLIT_WORDS, [".col-phone .value", ["051-261-7889"]]) == []
    assert page.evaluate(SPLIT_WORDS, [".col-address .value", LONG_ADDRESS.split()]) == []

    # The created cell: the local clock (Jerusalem, UTC+2 in November), the age next to it,
    # and the full local date and time as the tooltip, not a raw ISO string.
    created = next(o for o in api.orders() if o["customer"] == "Row 29")["created_at"]
    cell = f"[data-order-id='{next(iter(table_ids(page)))}'] .col-created"
    title = page.get_attribute(cell, "title") or ""
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d:\d\d \(UTC\+[23]\)", title), title
    assert not re.search(r"\d{4}-\d\d-\d\dT", title)  # not the raw ISO
    hour = (int(created[11:13]) + int(title[-2])) % 24
    assert page.text_content(f"{cell} .clock") == f"{hour:02d}:{created[14:16]}"
    assert page.text_content(f"{cell} [data-testid=order-age]") in ("now", "1 min")

    # The header stays under the top bar while the page scrolls.
    page.evaluate("window.scrollTo(0, 900)")
    page.wait_for_function("window.scrollY >= 890")
    top = page.evaluate("document.querySelector('.orders-table th').getBoundingClientRect().top")
    bar = page.evaluate("document.querySelector('.topbar').getBoundingClientRect().bottom")
    assert abs(top - bar) <= 1, (top, bar)

    # A live row with long values changes no column's width.
    api.create("x" * 200, "050-999-9999", "y" * 300)
    page.wait_for_selector("[data-testid=order-row]:has-text('xxxxxxxx')")
    assert page.evaluate(
        "Array.from(document.querySelectorAll('.orders-table th'), th => th.offsetWidth)"
    ) == widths
    assert not log.errors, log.errors


@pytest.mark.parametrize("lang", ["en", "he"])
def test_between_phone_and_desktop_the_actions_stay_on_screen(
    open_tab: Callable[..., Any], live_server: LiveServer, api: Api, new_context: Any,
    lang: str,
) -> None:
    """960 px (half a desktop screen, a tablet): the table scrolls sideways under its
    actions column, which stays pinned inside the window, in both directions."""
    api.create("Dana Levi", "+972-51-261-7889", "Jabotinsky 10, Ramat Gan")
    context = new_context(viewport={"width": 960, "height": 800})
    page, log, _ = open_authed(open_tab, live_server, path=f"/dashboard/orders?lang={lang}",
                               context=context)
    page.wait_for_selector("[data-testid=action-delete]")
    box = page.locator("[data-testid=action-delete]").first.bounding_box()
    width = page.evaluate("document.documentElement.clientWidth")
    assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= width, (box, width)
    assert not log.errors, log.errors


@pytest.mark.parametrize("lang", ["en", "he"])
def test_a_phone_shows_cards_with_the_actions_and_no_sideways_scroll(
    open_tab: Callable[..., Any], live_server: LiveServer, api: Api, new_context: Any,
    lang: str,
) -> None:
    api.create("Dana Levi", "+972-51-261-7889", "Jabotinsky 10, Ramat Gan", notes="Ring twice")
    api.create("יעל מזרחי", "03-555-0101", "רחוב ז'בוטינסקי 120, רמת גן")
    api.create("x" * 200, "050-999-9999", "y" * 300)
    context = new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                          has_touch=True)
    page, log, _ = open_authed(open_tab, live_server, path=f"/dashboard/orders?lang={lang}",
                               context=context)
    page.wait_for_function("document.querySelectorAll('[data-testid=order-row]').length === 3")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), page.evaluate(
        "[document.documentElement.scrollWidth, innerWidth]")
    # Nor inside the table (a table in a sideways-scrolling box has its actions off-screen).
    assert page.evaluate(
        "(w => w.scrollWidth <= w.clientWidth)(document.querySelector('.table-wrap'))")
    assert page.evaluate(
        "Array.from(document.querySelectorAll('[data-testid=order-row]'),"
        " r => getComputedStyle(r).display)") == ["grid"] * 3
    # Each card's actions are on screen, the main one first.
    boxes = page.evaluate(
        """Array.from(document.querySelectorAll('[data-testid=action-assign],'
             + '[data-testid=action-status], [data-testid=action-delete]'), b => {
             const r = b.getBoundingClientRect();
             return [r.left, r.right, r.width, getComputedStyle(b).visibility]; })""")
    assert len(boxes) == 9
    for left, right, width, visibility in boxes:
        assert 0 <= left and right <= 390 and width > 0 and visibility == "visible"
    assert page.evaluate(SPLIT_WORDS, [".col-phone .value", ["051-261-7889"]]) == []
    assert page.evaluate(SPLIT_WORDS, [".col-address .value", ["Jabotinsky", "ז'בוטינסקי"]]) == []
    # Sorting is there too (the header is a row of chips).
    page.click("[data-testid=sort-customer]")
    page.wait_for_function("location.search.includes('sort=customer')")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    # Every string of the page came from the catalogue, in the page's language.
    run_py(page, MISSING)
    assert page.evaluate("window.__ordersMissing") == []
    assert not log.errors, log.errors


MISSING = """
import json, js
from zariz.ui import i18n
js.window.__ordersMissing = js.JSON.parse(json.dumps(sorted(
    key for loc, key in i18n.MISSING if key.startswith("orders."))))
"""


def test_the_age_next_to_the_time_is_kept_up_to_date(
    open_tab: Callable[..., Any], live_server: LiveServer, api: Api, new_context: Any
) -> None:
    context = new_context()
    context.clock.install()  # real time flows; fast_forward jumps it (and fires timers)
    fresh = api.create("Aging")
    page, log, _ = open_authed(open_tab, live_server, path="/dashboard/orders?lang=en",
                               context=context)
    age = f"[data-order-id='{fresh}'] [data-testid=order-age]"
    page.wait_for_selector(age)
    assert page.text_content(age) in ("now", "1 min")
    page.clock.fast_forward("05:00")  # one timer refreshes the rows on screen
    page.wait_for_function(
        "sel => /^[56] min$/.test(document.querySelector(sel)?.textContent || '')", arg=age)
    assert not log.errors, log.errors


def test_an_order_from_before_the_clocks_went_back_shows_its_own_offset(
    open_tab: Callable[..., Any], live_server: LiveServer, api: Api, new_context: Any
) -> None:
    """Israel's clocks went back on 2026-10-25: an order from 2026-10-20T10:00Z was created
    at 13:00 UTC+3 in Jerusalem, whatever the offset is when it is looked at (the app read
    one offset at start and shifted every time by it: "12:00 (UTC+2)" in November)."""
    old = api.create("Before the change")
    fresh = api.create("Just now")
    # created_at is ISO-8601 text in SQLite (server/db.py utc_now_iso); the API never
    # back-dates an order, so the test writes the server's database file.
    with closing(sqlite3.connect(live_server.db_path)) as db, db:
        db.execute("UPDATE orders SET created_at = ?, updated_at = ? WHERE id = ?",
                   ("2026-10-20T10:00:00.000Z", "2026-10-20T10:00:00.000Z", old))
    context = new_context(timezone_id="Asia/Jerusalem", locale="en-US")
    page, log, _ = open_authed(open_tab, live_server, path="/dashboard/orders", context=context)
    cell = f"[data-order-id='{old}'] .col-created"
    page.wait_for_selector(f"{cell} .clock")
    assert page.get_attribute(cell, "title") == "20 Oct 2026, 13:00:00 (UTC+3)"
    clock = page.text_content(f"{cell} .clock") or ""
    assert clock in ("20 Oct 13:00", "13:00"), clock  # "13:00" alone only on that day
    # The fresh order is in the offset the browser says is in force now.
    now_offset = page.evaluate("-new Date().getTimezoneOffset()")
    title = page.get_attribute(f"[data-order-id='{fresh}'] .col-created", "title") or ""
    assert title.endswith(f"(UTC+{now_offset // 60})"), (title, now_offset)
    assert not log.errors, log.errors


def test_the_stale_banner_never_covers_the_sticky_header(
    open_tab: Callable[..., Any], live_server: LiveServer, api: Api, new_context: Any
) -> None:
    """With the server gone the "Not live" banner sticks under the top bar and the table's
    header under the banner: the header's top is at (not above) the banner's bottom. They
    were 1 px apart the wrong way (a 41 px banner over a header offset by 40 px)."""
    for i in range(30):
        api.create(f"Row {i}")
    context = new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    page, _log, _ = open_authed(open_tab, live_server, path="/dashboard/orders",
                                context=context)
    page.wait_for_function("document.querySelectorAll('[data-testid=order-row]').length === 30")
    live_server.kill()
    page.wait_for_selector("[data-testid=stale-banner][data-stale=true]", timeout=20_000)
    page.evaluate("window.scrollTo(0, 900)")
    page.wait_for_function("window.scrollY >= 890")
    box = page.evaluate("""() => {
      const r = s => document.querySelector(s).getBoundingClientRect();
      return {bar: r('.topbar').bottom, banner: [r('[data-testid=stale-banner]').top,
              r('[data-testid=stale-banner]').bottom], th: r('.orders-table th').top};
    }""")
    banner_top, banner_bottom = box["banner"]
    assert abs(banner_top - box["bar"]) <= 1, box  # the banner sticks under the bar
    assert box["th"] >= banner_bottom, box  # the header is not covered...
    assert box["th"] - banner_bottom <= 1, box  # ...and sticks right under the banner
