"""scripts/screenshots.py shoots the sign-in page too (docs/screenshots/login-*.png): the
empty form at the variant's viewport, without signing in when only it is asked for."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from tests.browser.test_screenshots import SCRIPT, png_size
from tests.support.live_server import PROJECT_ROOT


@pytest.mark.timeout(240)
def test_the_script_writes_the_login_page_of_a_variant(tmp_path: pathlib.Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--pages", "login",
         "--variants", "phone"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=220,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["login-phone.png"]
    assert png_size(tmp_path / "login-phone.png") == (390, 844)


def test_the_docs_hold_the_login_page_in_every_variant() -> None:
    shots = PROJECT_ROOT / "docs" / "screenshots"
    for variant, size in (("light", (1440, 900)), ("dark", (1440, 900)), ("he", (1440, 900)),
                          ("phone", (390, 844))):
        assert png_size(shots / f"login-{variant}.png") == size, variant
