"""A throwaway PostgreSQL cluster for tests and benchmarks (Debian's ``postgresql``).

``initdb`` into a fresh temporary folder, ``pg_ctl start`` listening on 127.0.0.1 at a free
port (and on a unix socket in that folder), trust auth for the ``postgres`` role; stopped
and removed at the end. initdb refuses to run as root, so as root the server binaries run
as the ``postgres`` user (``runuser``) and the folder belongs to it. Every wait is bounded.
Missing binaries are an error that says what to install, never a skip.

    with PostgresCluster() as cluster:
        url = cluster.create_database()   # a new, empty database: postgresql://...

A cluster takes about a second to start, a database ~0.1 s: tests share one cluster per
session (:func:`shared_cluster`, the ``postgres_cluster`` fixture) and take a new
database each (``postgres_url``). A watchdog process stops the server and removes its
folder if the process that started it dies without stopping it (a killed test run).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator

import pytest

BIN_GLOB = "/usr/lib/postgresql/*/bin"
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 15
_NAMES = itertools.count(1)
_NAMES_LOCK = threading.Lock()


class PostgresMissing(RuntimeError):
    """The PostgreSQL server binaries are not installed."""


def server_bin_dir() -> pathlib.Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with ``initdb`` and ``pg_ctl``."""
    found = [pathlib.Path(p) for p in glob.glob(BIN_GLOB)
             if os.access(os.path.join(p, "initdb"), os.X_OK)
             and os.access(os.path.join(p, "pg_ctl"), os.X_OK)]
    if not found:
        raise PostgresMissing(
            f"no PostgreSQL server binaries ({BIN_GLOB}/initdb, pg_ctl): install Debian's "
            "`postgresql` package (`scripts/setup.sh services`, run by `make test`, does it)"
        )
    return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresCluster:
    """One ``postgres`` server in a temporary folder. ``durable=False`` (tests) turns
    fsync off: nothing here has to survive a power cut, and commits get cheaper."""

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        self.bin = server_bin_dir()
        self.port = 0
        self.base: pathlib.Path | None = None
        self._running = False
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._as_postgres = os.geteuid() == 0

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> PostgresCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def data(self) -> pathlib.Path:
        assert self.base is not None, "start() first"
        return self.base / "data"

    def _command(self, *args: str) -> list[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return command

    def _run(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        command = self._command(*args)
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
            cwd="/",  # the postgres user may not be able to enter the caller's folder
        )

    def start(self) -> None:
        if self._running:
            raise RuntimeError("PostgresCluster.start(): already running")
        # Not under pytest's tmp_path: that folder is root's alone (0700), and the server
        # runs as postgres.
        self.base = pathlib.Path(tempfile.mkdtemp(prefix="zariz-pg-"))
        if self._as_postgres:
            shutil.chown(self.base, "postgres", "postgres")
        init = self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync", timeout=120,
        )
        if init.returncode != 0:
            self._remove()
            raise RuntimeError(f"initdb failed ({init.returncode}): {init.stderr.strip()}")
        last_error = ""
        for _ in range(3):  # a free port may be taken by another process meanwhile
            self.port = _free_port()
            settings = {
                "listen_addresses": "'127.0.0.1'",
                "port": str(self.port),
                "unix_socket_directories": f"'{self.base}'",
                "max_connections": "200",
                "fsync": "on" if self.durable else "off",
                "synchronous_commit": "on" if self.durable else "off",
                "full_page_writes": "on" if self.durable else "off",
            }
            (self.data / "postgresql.auto.conf").write_text(
                "".join(f"{key} = {value}\n" for key, value in settings.items())
            )
            started = self._run(
                "pg_ctl", "-D", str(self.data), "-l", str(self.base / "server.log"),
                "-w", "-t", str(START_TIMEOUT_S), "start", timeout=START_TIMEOUT_S + 10,
            )
            if started.returncode == 0:
                self._running = True
                self._start_watchdog()
                return
            last_error = started.stderr.strip() + "\n" + self.log_tail()
            if "already in use" not in last_error and "could not bind" not in last_error:
                break
        self._remove()
        raise RuntimeError(f"pg_ctl start failed: {last_error}")

    def _start_watchdog(self) -> None:
        """A detached shell that waits for this process to end and then stops the server
        and removes its folder; :meth:`stop` ends it first. Its own session, so a kill of
        this process group does not take it along."""
        assert self.base is not None
        script = (
            'while kill -0 "$1" 2>/dev/null; do sleep 1; done; shift; base="$1"; shift; '
            '"$@" >/dev/null 2>&1; rm -rf "$base"'
        )
        stop = self._command("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self._watchdog = subprocess.Popen(
            ["sh", "-c", script, "sh", str(os.getpid()), str(self.base), *stop],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, cwd="/",
        )

    def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait(5)
            self._watchdog = None
        if self._running:
            self._running = False
            result = self._run(
                "pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", str(STOP_TIMEOUT_S),
                "stop", timeout=STOP_TIMEOUT_S + 10,
            )
            if result.returncode != 0:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop",
                          timeout=STOP_TIMEOUT_S)
        self._remove()

    def _remove(self) -> None:
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    def log_tail(self, lines: int = 20) -> str:
        if self.base is None:
            return ""
        with contextlib.suppress(OSError):
            return "\n".join((self.base / "server.log").read_text().splitlines()[-lines:])
        return ""

    # -- databases ---------------------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str | None = None) -> str:
        """A new, empty database; returns its URL."""
        import psycopg

        if name is None:
            with _NAMES_LOCK:
                name = f"zariz_{os.getpid()}_{next(_NAMES)}"
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)


_SHARED: PostgresCluster | None = None
_SHARED_LOCK = threading.Lock()


def shared_cluster() -> PostgresCluster:
    """One cluster per process, started on first use, stopped at exit (and by the
    ``postgres_cluster`` fixture's teardown at the end of the session)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            cluster = PostgresCluster()
            cluster.start()
            atexit.register(cluster.stop)
            _SHARED = cluster
        return _SHARED


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """The session's PostgreSQL cluster (import this fixture into a test module)."""
    cluster = shared_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """A new, empty database in the session's cluster, for one test."""
    return postgres_cluster.create_database()
