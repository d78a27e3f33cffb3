"""``RedisServer``: a real ``redis-server`` (the Debian package) for tests, on a free
127.0.0.1 port in a temporary directory, without persistence (``--save ""
--appendonly no``): a restart comes back empty, as a Redis that lost its data.

Usage::

    with RedisServer(tmp_path) as redis:      # started; stopped (or killed) at the end
        url = redis.url                       # redis://127.0.0.1:<port>/0
        redis.stop()                          # SIGTERM, bounded wait
        redis.start()                         # again, on the same port, empty
        redis.kill()                          # SIGKILL

A missing binary is a failure with the install command, never a skip: CI must not pass
by not running the Redis tests (``scripts/setup.sh`` installs the package).
"""

from __future__ import annotations

import pathlib
import shutil
import signal
import socket
import subprocess
import time

from tests.support.live_server import free_port

INSTALL_HINT = "apt-get install -y redis-server (scripts/setup.sh installs it)"


class RedisServerError(RuntimeError):
    """redis-server is missing, did not start, or did not stop in time; the message has
    its log."""


def redis_server_binary() -> str:
    """The path of ``redis-server``, or :class:`RedisServerError` saying how to install it."""
    found = shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server")
         if pathlib.Path(p).exists()),
        None,
    )
    if found is None:
        raise RedisServerError(f"redis-server not found on PATH: {INSTALL_HINT}")
    return found


def ping(port: int, timeout: float = 0.5) -> bool:
    """True when a Redis on 127.0.0.1:``port`` answers PING with PONG."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    def __init__(self, tmp_path: pathlib.Path, *, port: int | None = None) -> None:
        self.binary = redis_server_binary()
        self.dir = tmp_path / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.log_path = self.dir / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def hub_url(self, stream: str = "zariz:events", maxlen: int = 10_000) -> str:
        """A ``ZARIZ_HUB`` URL for this server."""
        return f"{self.url}?stream={stream}&maxlen={maxlen}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            self.kill()

    def start(self, timeout: float = 10) -> None:
        """Start on :attr:`port` (the same port on a restart) and wait for PING."""
        if self.running:
            raise RuntimeError("RedisServer.start(): already running; call stop() first")
        command = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(self.dir),
            "--daemonize", "no", "--logfile", "", "--databases", "16",
        ]
        log = self.log_path.open("ab")
        try:
            self._process = subprocess.Popen(
                command, cwd=self.dir, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RedisServerError(
                    f"redis-server exited with {self._process.returncode}:\n{self.log_text()}"
                )
            if ping(self.port):
                return
            time.sleep(0.02)
        self.kill()
        raise RedisServerError(f"redis-server not answering after {timeout}s:\n{self.log_text()}")

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM (a clean shutdown: it closes every client connection) and wait; on
        timeout SIGKILL and :class:`RedisServerError`."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            process.kill()
            process.wait(5)
            raise RedisServerError(
                f"redis-server ignored SIGTERM for {timeout}s:\n{self.log_text()}"
            ) from exc

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(5)

    def restart(self, down_for: float = 0.0) -> None:
        """Stop, stay down ``down_for`` seconds, start again on the same port (empty)."""
        self.stop()
        if down_for:
            time.sleep(down_for)
        self.start()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
