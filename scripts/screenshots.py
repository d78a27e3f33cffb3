#!/usr/bin/env python3
"""Screenshots of the admin for the docs: each page in each look, as
``docs/screenshots/<page>-<variant>.png``.

    .venv/bin/python scripts/screenshots.py [--out DIR] [--pages login,orders]
                                            [--variants light,dark] [--chromium PATH]

Pages: login (the sign-in form, empty), overview, orders, couriers, create (the
create-order dialog over the orders page).
Variants: light and dark (1440 px, ``prefers-color-scheme``), he (Hebrew, right to left),
phone (390 px, light).

For each variant it starts the real server (``python -m server`` on a free 127.0.0.1 port,
a database of its own), fills it with the same fixed orders (tests/support/demo_data.py),
opens the sign-in page in headless Chromium (its shot), signs in as demo/demo and walks
the pages in one tab (only the login page asked for: no sign-in). While the
overview is open a few live events arrive (one order created, two moved on), so its feed
shows something; every variant gets the same sequence, hence the same data. Times ("2 min
ago", the clock) are the real ones: the only parts that differ between runs.

Exit status: 0 written, 1 failed, 3 no Chromium.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

import httpx  # noqa: E402  (the project root goes on the path first)

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.demo_data import ORDERS, seed_demo_orders  # noqa: E402
from tests.support.live_server import LiveServer  # noqa: E402

PAGES = ("login", "overview", "orders", "couriers", "create")
VARIANTS: dict[str, dict[str, Any]] = {
    "light": {"viewport": {"width": 1440, "height": 900}, "color_scheme": "light"},
    "dark": {"viewport": {"width": 1440, "height": 900}, "color_scheme": "dark"},
    "he": {"viewport": {"width": 1440, "height": 900}, "color_scheme": "light",
           "locale": "he-IL", "query": "?lang=he"},
    "phone": {"viewport": {"width": 390, "height": 844}, "color_scheme": "light",
              "is_mobile": True, "has_touch": True},
}
DEFAULT_OUT = PROJECT_ROOT / "docs" / "screenshots"
BOOT_TIMEOUT_MS = 120_000
STEP_TIMEOUT_MS = 30_000

SETTLED = (
    "document.getAnimations().every(a => a.playState !== 'running'"
    " || a.effect.getTiming().iterations === Infinity)"
)


def log(message: str) -> None:
    print(f"screenshots: {message}", flush=True)


@contextmanager
def seeded_server(folder: pathlib.Path) -> Iterator[LiveServer]:
    folder.mkdir(parents=True, exist_ok=True)
    with LiveServer(folder) as server:
        seed_demo_orders(server.url)
        yield server


def live_events(server: LiveServer) -> None:
    """One order created, one assigned, one picked up: the overview's feed has items."""
    headers = {"Authorization": f"Bearer {server.login()['access_token']}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as http:
        http.post("/v1/orders", json={"customer": "נועה שרון", "phone": "052-4567890",
                                      "address": "ויצמן 10, כפר סבא"}).raise_for_status()
        http.post("/v1/orders/1/assign", json={"courier_id": 5}).raise_for_status()
        http.post("/v1/orders/3/status", json={"status": "picked_up"}).raise_for_status()


def navigate(page: Any, path: str) -> None:
    """In-app navigation (the router follows history): no second Python boot."""
    page.evaluate("p => { history.pushState({}, '', p); dispatchEvent(new PopStateEvent("
                  "'popstate', { state: {} })); }", path)


def settle(page: Any) -> None:
    page.wait_for_function(SETTLED, timeout=STEP_TIMEOUT_MS)
    # Toasts of the live events leave on their own; a screenshot without them is calmer.
    try:
        page.wait_for_function("!document.querySelector('[data-testid=toast]')", timeout=15_000)
    except Exception:  # a toast that stays is part of the page: take it as it is
        pass
    page.evaluate("document.activeElement?.blur?.()")
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def shoot(page: Any, out: pathlib.Path, name: str, *, full_page: bool = True) -> pathlib.Path:
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled", caret="hide")
    log(f"wrote {path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path}")
    return path


def run_variant(browser: Any, server: LiveServer, variant: str, pages: Sequence[str],
                out: pathlib.Path) -> list[pathlib.Path]:
    options = dict(VARIANTS[variant])
    query = options.pop("query", "")
    context = browser.new_context(device_scale_factor=1, timezone_id="Asia/Jerusalem",
                                  **options)
    written: list[pathlib.Path] = []
    try:
        page = context.new_page()
        page.set_default_timeout(STEP_TIMEOUT_MS)
        page.goto(server.url + "/login" + query)
        page.wait_for_function("document.getElementById('app')?.dataset.boot === 'ready'",
                               timeout=BOOT_TIMEOUT_MS)
        page.wait_for_selector("[data-testid=login-username]")
        if "login" in pages:
            settle(page)
            written.append(shoot(page, out, f"login-{variant}", full_page=False))
        if not set(pages) - {"login"}:
            return written
        page.fill("[data-testid=login-username]", "demo")
        page.fill("[data-testid=login-password]", "demo")
        page.click("[data-testid=login-submit]")
        page.wait_for_selector("[data-testid=overview-page]")
        page.wait_for_function(
            "n => document.querySelector('[data-testid=count-total]')?.textContent.trim() === n",
            arg=str(len(ORDERS)),
        )
        live_events(server)
        page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=event-feed] li').length >= 3"
        )
        if "overview" in pages:
            settle(page)
            written.append(shoot(page, out, f"overview-{variant}"))

        if "orders" in pages or "create" in pages:
            navigate(page, "/dashboard/orders")
            page.wait_for_function(
                "n => document.querySelectorAll('[data-testid=order-row]').length >= n",
                arg=len(ORDERS) + 1,
            )
            if "orders" in pages:
                settle(page)
                written.append(shoot(page, out, f"orders-{variant}"))
            if "create" in pages:
                page.click("[data-testid=new-order]")
                page.wait_for_selector("[data-testid=create-order-modal]")
                settle(page)
                written.append(shoot(page, out, f"create-{variant}", full_page=False))
                page.keyboard.press("Escape")
                page.wait_for_selector("[data-testid=create-order-modal]", state="detached")

        if "couriers" in pages:
            navigate(page, "/dashboard/couriers")
            page.wait_for_selector("[data-testid=courier-card] [data-order-id]")
            settle(page)
            written.append(shoot(page, out, f"couriers-{variant}"))
    finally:
        context.close()
    return written


def parse_list(value: str, known: Sequence[str], what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in items if v not in known]
    if unknown or not items:
        raise argparse.ArgumentTypeError(
            f"unknown {what}: {', '.join(unknown) or '(none)'}; choose from {', '.join(known)}"
        )
    return items


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    parser.add_argument("--pages", type=lambda v: parse_list(v, PAGES, "page"),
                        default=list(PAGES))
    parser.add_argument("--variants", type=lambda v: parse_list(v, list(VARIANTS), "variant"),
                        default=list(VARIANTS))
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args(argv)

    if not os.path.exists(args.chromium):
        print(f"screenshots: no chromium at {args.chromium} (`make test` installs it)",
              file=sys.stderr)
        return 3
    from playwright.sync_api import sync_playwright

    out: pathlib.Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    written: list[pathlib.Path] = []
    with tempfile.TemporaryDirectory(prefix="zariz-screens-") as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        try:
            for variant in args.variants:
                # A server per variant: the same data and the same live events in each.
                with seeded_server(pathlib.Path(tmp) / variant) as server:
                    try:
                        written += run_variant(browser, server, variant, args.pages, out)
                    except Exception as exc:
                        print(f"screenshots: {variant} failed: {exc}\n--- server log ---\n"
                              f"{server.log_text()[-4000:]}", file=sys.stderr)
                        return 1
        finally:
            browser.close()
    log(f"{len(written)} screenshots in {time.monotonic() - started:.0f}s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
