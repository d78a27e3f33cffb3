"""``LiveServer``: the real backend (``python -m server``) in a subprocess on a free port.

Usage::

    server = LiveServer(tmp_path, env={"ZARIZ_ACCESS_TTL": "2"})
    server.start()
    tokens = server.login()
    server.create_order(tokens["access_token"], customer="Dana")
    server.stop()

Another storage backend: ``env={"ZARIZ_DB": "postgresql://..."}`` (then no ``--db`` flag
is passed, so the URL is what the server opens). Another entry point that starts the same
server (a test-only fault wrapper): ``module="tests.support.faulty_server"``.
"""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[2]


class ServerError(RuntimeError):
    """The server did not start, or did not stop in time; the message has its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PortTaken(ServerError):
    """The server could not bind its port (taken by another process meanwhile)."""


class LiveServer:
    def __init__(
        self, tmp_path: pathlib.Path, env: dict[str, str] | None = None,
        root: pathlib.Path | None = None, module: str = "server",
    ) -> None:
        self.tmp_path = tmp_path
        self.module = module
        self.env = dict(env or {})
        self.root = root or PROJECT_ROOT
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_path = tmp_path / "zariz.db"
        self.log_path = tmp_path / f"server-{self.port}.log"
        self.stop_timed_out = False
        self._process: subprocess.Popen[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> LiveServer:
        """``with LiveServer(...) as server:`` starts it, and stops it (killing it if a
        graceful stop fails) however the block ends."""
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            self.kill()

    @property
    def pid(self) -> int:
        """The server process's pid (for RSS and fd measurements)."""
        if self._process is None:
            raise ServerError("the server is not running")
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZARIZ_")}
        env.pop("HOST", None)
        env.pop("PORT", None)
        # `-m server` must work from a clean clone: the project root goes on the path.
        env["PYTHONPATH"] = os.pathsep.join(
            [str(PROJECT_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        env["ZARIZ_ROOT"] = str(self.root)
        env["ZARIZ_LOG_LEVEL"] = "info"
        env.update(self.env)
        return env

    def start(self, timeout: float = 20) -> None:
        if self.running:
            raise RuntimeError("LiveServer.start(): already running; call stop() first")
        for attempt in range(3):
            try:
                self._start_once(timeout)
                self._started = True
                return
            except PortTaken:
                # free_port() only says the port was free a moment ago: another process on
                # this shared machine may have taken it since. A first start moves to a
                # new port; a restart must keep its port (the tests restart on purpose).
                if getattr(self, "_started", False) or attempt == 2:
                    raise
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
                self.log_path = self.tmp_path / f"server-{self.port}.log"

    def _start_once(self, timeout: float) -> None:
        command = [
            sys.executable, "-m", self.module, "--host", "127.0.0.1", "--port", str(self.port),
        ]
        if "ZARIZ_DB" not in self.env:  # a database URL in the env is the one to open
            command += ["--db", str(self.db_path)]
        log = self.log_path.open("ab")
        try:
            self._process = subprocess.Popen(
                command, cwd=PROJECT_ROOT, env=self._environment(), stdout=log, stderr=log,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                text = self.log_text()
                error = PortTaken if "cannot listen on" in text else ServerError
                raise error(f"server exited with {self._process.returncode}:\n" + text)
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.kill()
        raise ServerError(f"server not healthy after {timeout}s:\n{self.log_text()}")

    def stop(self, timeout: float = 15) -> float:
        """SIGTERM and wait; returns the seconds it took. On timeout: SIGKILL, flag
        ``stop_timed_out`` and raise :class:`ServerError`."""
        process = self._process
        if process is None or process.poll() is not None:
            return 0.0
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            self.stop_timed_out = True
            process.kill()
            process.wait(5)
            raise ServerError(f"server ignored SIGTERM for {timeout}s:\n{self.log_text()}") from exc
        return time.monotonic() - started

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(5)

    def wait_exit(self, timeout: float) -> int:
        """Wait for the process to end by itself (a crash the test provoked); returns its
        exit code. Raises :class:`ServerError` if it is still running after ``timeout``."""
        if self._process is None:
            raise ServerError("the server was never started")
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise ServerError(f"server still running after {timeout}s") from exc

    def rss_kb(self) -> int:
        """The server process's resident memory (``VmRSS`` of ``/proc/<pid>/status``), KB."""
        for line in pathlib.Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise ServerError(f"no VmRSS for pid {self.pid}")

    def restart(self) -> None:
        """Stop, then start again on the same port and the same database."""
        self.stop()
        self.start()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- API helpers -------------------------------------------------------------------

    def login(self, username: str = "demo", password: str = "demo") -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/v1/auth/login", json={"username": username, "password": password},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def create_order(self, token: str, **fields: Any) -> dict[str, Any]:
        body = {"customer": "Dana Levi", "phone": "+972-50-123-4567", "address": "Herzl 1"}
        body.update(fields)
        response = httpx.post(
            f"{self.url}/v1/orders", json=body, headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def order_ids(self, token: str) -> list[int]:
        """The id of every order ``GET /v1/orders`` lists (all pages, newest first)."""
        ids: list[int] = []
        while True:
            response = httpx.get(
                f"{self.url}/v1/orders", params={"limit": 500, "offset": len(ids)},
                headers={"Authorization": f"Bearer {token}"}, timeout=10,
            )
            response.raise_for_status()
            body = response.json()
            ids.extend(int(o["id"]) for o in body["items"])
            if not body["items"] or len(ids) >= body["total"]:
                return ids

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Sum of the samples called ``name`` whose labels include ``labels`` (0 if none)."""
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        wanted = labels or {}
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in wanted.items()
                ):
                    total += sample.value
        return total
