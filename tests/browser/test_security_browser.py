"""The app's security in a real browser: it boots and works under its
Content-Security-Policy with no violation, and no access or refresh token ever appears in
a URL the app requests (URLs end up in access logs, proxies and the browser history)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from server.middleware import CONTENT_SECURITY_POLICY
from tests.browser.conftest import login, screenshot, wait_booted, wait_status
from tests.browser.support import wait_until
from tests.support.live_server import LiveServer

# Installed before any page script: every violation the document reports is kept.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push({
    directive: e.effectiveDirective, blocked: e.blockedURI, source: e.sourceFile,
    line: e.lineNumber, sample: e.sample,
  });
});
"""
TOKEN_ENDPOINTS = ("/v1/auth/login", "/v1/auth/refresh")


def csp_console(console: list[str]) -> list[str]:
    return [m for m in console if "content security policy" in m.lower()
            or "content-security-policy" in m.lower()]


def test_app_works_under_csp_and_keeps_tokens_out_of_urls(
    open_tab: Callable[..., Any], live_server_factory: Callable[..., LiveServer],
) -> None:
    # Short-lived access tokens, so the app also refreshes (and opens new streams with new
    # tickets) while we watch.
    server = live_server_factory(ZARIZ_ACCESS_TTL="6")
    page, log = open_tab(server.url)
    requests: list[str] = []
    secrets: set[str] = set()
    refreshes: list[int] = []
    page.context.on("request", lambda r: requests.append(r.url))

    def capture_tokens(route: Any) -> None:
        # Read each token answer as it passes (a body read later may be gone).
        response = route.fetch()
        if response.ok:
            body = response.json()
            secrets.update({body["access_token"], body["refresh_token"]})
            if route.request.url.endswith("/v1/auth/refresh"):
                refreshes.append(response.status)
        route.fulfill(response=response)

    for endpoint in TOKEN_ENDPOINTS:
        page.route(f"**{endpoint}", capture_tokens)  # later routes take precedence
    page.add_init_script(WATCH_CSP)

    document = page.goto(server.url + "/dashboard/orders")
    assert document is not None
    # The policy really applied (so "no violation" is not vacuous).
    assert document.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert document.headers["x-frame-options"] == "DENY"
    wait_booted(page)
    page.wait_for_selector("[data-testid=login-username]")
    login(page)
    wait_status(page, "connected", timeout=60_000)
    page.wait_for_url("**/dashboard/orders")

    # Live orders arrive under the policy.
    api_tokens = server.login()
    order = server.create_order(api_tokens["access_token"], customer="Policy Test")
    row = page.wait_for_selector(f"[data-testid=order-row][data-order-id='{order['id']}']",
                                 timeout=30_000)
    assert "Policy Test" in row.inner_text()
    # At least one refresh and a reconnect with a new ticket happened meanwhile.
    wait_until(lambda: refreshes, 45, "the app to refresh its access token", page=page)
    wait_until(lambda: sum("/v1/events/sse" in u for u in requests) >= 2, 45,
               "a second stream (after the token expired)", page=page)
    wait_status(page, "connected", timeout=60_000)
    later = server.create_order(server.login()["access_token"], customer="After Refresh")
    page.wait_for_selector(f"[data-testid=order-row][data-order-id='{later['id']}']",
                           timeout=30_000)
    # The rest of the app under the same policy: a modal, the other pages.
    page.click("[data-testid=new-order]")
    page.wait_for_selector("[data-testid=create-order-modal]")
    page.keyboard.press("Escape")
    page.wait_for_selector("[data-testid=create-order-modal]", state="detached")
    page.click("[data-testid=nav-couriers]")
    page.wait_for_selector("[data-testid=courier-card]", timeout=30_000)
    page.click("[data-testid=nav-overview]")
    page.wait_for_selector("[data-testid=overview-page]", timeout=30_000)
    screenshot(page, "security-csp")

    violations = page.evaluate("window.__cspViolations")
    assert violations == [], json.dumps(violations, indent=1)
    assert csp_console(log.console) == []
    assert log.errors == [] and log.outside == []

    # No access or refresh token in any URL the app requested.
    stored = json.loads(page.evaluate("localStorage.getItem('zariz.auth')") or "{}")
    secrets.update(v for k, v in stored.items() if k in ("access_token", "refresh_token"))
    assert len(secrets) >= 4, "expected the login's and at least one refresh's pair"
    assert requests
    leaked = [url for url in requests for secret in secrets if secret in url]
    assert leaked == []
    assert not [url for url in requests if "eyJ" in url]  # no JWT-shaped value at all
    # Streams authenticate with single-use tickets, never a token parameter.
    streams = [u for u in requests if "/v1/events/sse" in u]
    assert streams and all("ticket=" in u and "token=" not in u for u in streams)
    tickets = [u.split("ticket=")[1].split("&")[0] for u in streams]
    assert len(set(tickets)) == len(tickets)


def test_csp_violations_are_detected(
    open_tab: Callable[..., Any], live_server: LiveServer,
) -> None:
    """The detector used above can fail: an injected inline script is blocked and seen."""
    page, log = open_tab(live_server.url)
    page.add_init_script(WATCH_CSP)
    page.goto(live_server.url + "/login")
    wait_booted(page)
    page.evaluate("""() => {
      const s = document.createElement('script');
      s.textContent = 'window.__injectedRan = true';
      document.body.appendChild(s);
    }""")
    page.wait_for_function("window.__cspViolations.length > 0", timeout=10_000)
    violations = page.evaluate("window.__cspViolations")
    assert [v["directive"] for v in violations] == ["script-src-elem"]
    assert page.evaluate("window.__injectedRan === undefined")
    wait_until(lambda: csp_console(log.console), 10, "the console's CSP message", page=page)
