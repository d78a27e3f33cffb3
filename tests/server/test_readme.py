"""The README's claims that code can check: the CSP and header tables are the ones served."""

from __future__ import annotations

from server.middleware import CSP_DIRECTIVES, SECURITY_HEADERS
from tests.support.live_server import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def test_every_csp_directive_and_header_is_in_the_readme_with_its_value() -> None:
    for name, value, _why in CSP_DIRECTIVES:
        assert f"| `{name} {value}` |" in README, name
    for name, value, _why in SECURITY_HEADERS:
        assert f"| `{name}: {value}` |" in README, name
