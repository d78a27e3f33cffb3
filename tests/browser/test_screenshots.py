"""scripts/screenshots.py end to end, for one page and one variant: it starts its own
seeded server, signs in, and writes a PNG of the page at the variant's width."""

from __future__ import annotations

import pathlib
import struct
import subprocess
import sys

import pytest

from tests.support.live_server import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "screenshots.py"


def png_size(path: pathlib.Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.timeout(240)
def test_the_script_writes_the_pages_of_a_variant(tmp_path: pathlib.Path) -> None:
    """The sign-in page (the empty form at the viewport's size, shot before signing in)
    and a page behind the sign-in, in one run of the script."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--pages", "login,couriers",
         "--variants", "phone"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=220,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["couriers-phone.png",
                                                         "login-phone.png"]
    assert png_size(tmp_path / "login-phone.png") == (390, 844)
    width, height = png_size(tmp_path / "couriers-phone.png")
    assert width == 390 and height >= 844, (width, height)


def test_the_docs_hold_the_login_page_in_every_variant() -> None:
    shots = PROJECT_ROOT / "docs" / "screenshots"
    for variant, size in (("light", (1440, 900)), ("dark", (1440, 900)), ("he", (1440, 900)),
                          ("phone", (390, 844))):
        assert png_size(shots / f"login-{variant}.png") == size, variant


def test_an_unknown_page_is_refused(tmp_path: pathlib.Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--pages", "settings"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2 and "unknown page: settings" in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []
