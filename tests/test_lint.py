"""The house rules a reader cannot see in one file: ruff over everything, mypy over the
server and strictly over the browser app (pyproject.toml's per-module strict flags), so
the typed seams (``Ctx``, the hooks' ``EventClient``) keep meaning something."""

from __future__ import annotations

import subprocess
import sys

from tests.support.live_server import PROJECT_ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
        timeout=300,
    )


def test_ruff_is_clean() -> None:
    result = run("ruff", "check", "app", "server", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_and_strict_over_the_browser_app() -> None:
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
    # The per-module flags must keep adding up to --strict for zariz.
    strict = run("mypy", "--strict", "-p", "zariz")
    assert strict.returncode == 0, strict.stdout + strict.stderr
