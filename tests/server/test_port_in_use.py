"""``python -m server`` on a port that is taken says so first, and never "serving on"."""

from __future__ import annotations

import pathlib
import socket
import subprocess
import sys

from tests.support.live_server import PROJECT_ROOT


def test_a_port_in_use_is_reported_before_anything_says_where_to_go(
    tmp_path: pathlib.Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "server", "--port", str(port), "--db",
             str(tmp_path / "z.db")],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert f"PORT={port + 1}" in done.stderr
    assert "serving on" not in done.stdout + done.stderr
