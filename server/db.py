"""Storage: every SQL statement of the server lives here.

SQLite by default (one connection, WAL). The public methods speak in plain dicts and
dataclasses, never in cursors, so a PostgreSQL implementation of the same class can be
added later without touching the routes. The schema is created idempotently on open.

Mutations write their event row in the same transaction as the change (``_append_event``),
so a failure anywhere leaves neither the change nor the event behind.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY, password_hash TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, username TEXT NOT NULL, created_at REAL NOT NULL, revoked_at REAL);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    hash TEXT PRIMARY KEY, session_id TEXT NOT NULL, expires_at REAL NOT NULL, used_at REAL);
-- For pruning: a session's newest expiry (NOT EXISTS per session), then its tokens.
CREATE INDEX IF NOT EXISTS refresh_tokens_session ON refresh_tokens(session_id);
CREATE TABLE IF NOT EXISTS tickets (
    hash TEXT PRIMARY KEY, session_id TEXT NOT NULL, username TEXT NOT NULL,
    expires_at REAL NOT NULL, access_exp REAL NOT NULL);
CREATE TABLE IF NOT EXISTS couriers (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, phone TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT, customer TEXT NOT NULL, phone TEXT NOT NULL,
    address TEXT NOT NULL, notes TEXT, status TEXT NOT NULL,
    courier_id INTEGER REFERENCES couriers(id),
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS orders_status ON orders(status, id);
-- AUTOINCREMENT: ids never go back, even after the newest rows are trimmed.
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, payload TEXT NOT NULL,
    ts INTEGER NOT NULL);
-- The answer to a POST sent with an Idempotency-Key, stored in the mutation's transaction:
-- a retry with the same key (same owner) gets it back instead of a second change.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    owner TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL, body TEXT NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (owner, key));
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys(created_at);
"""

PRUNE_INTERVAL = 60.0
"""Expired credentials and idempotency keys are pruned at most this often (seconds),
from the write paths that add them (login, refresh, ticket, an idempotent POST)."""

AUTH_ROW_RETENTION = 24 * 3600.0
"""Seconds a session and all its refresh tokens are kept after the session stopped
mattering: revoked, or every token of it expired. Tokens are never pruned one by one:
a used token presented again is the sign of a stolen token and revokes the session
(``rotate_refresh``), and that alarm must work for as long as the session can still be
refreshed - a thief who rotated a stolen token can keep rotating its successors (each
valid ``ZARIZ_REFRESH_TTL``, 30 days) for as long as the session lives. The cost: a
session refreshed without a break keeps one small row per refresh (at most ~96 a day at
the default 15-minute access lifetime). Module constants, not settings: operators have
no reason to tune them."""

IDEMPOTENCY_TTL = 24 * 3600.0
"""Seconds an Idempotency-Key is remembered; a retry later than that is a new request."""

DEMO_COURIERS = [
    (1, "Avi Cohen", "+972-50-000-0001"),
    (2, "Dana Levi", "+972-50-000-0002"),
    (3, "Yossi Mizrahi", "+972-50-000-0003"),
    (4, "Noa Peretz", "+972-50-000-0004"),
    (5, "Omer Biton", "+972-50-000-0005"),
]

ORDER_COLUMNS = "id, customer, phone, address, notes, status, courier_id, created_at, updated_at"


@dataclass(frozen=True)
class Event:
    """One row of the event log; ``wire`` is the exact JSON sent as the SSE ``data:``."""

    id: int
    type: str
    wire: str


class NotFound(LookupError):
    """The row does not exist."""


class StaleStatus(LookupError):
    """The order's status changed since it was read; ``args[0]`` is the current status."""


@dataclass(frozen=True)
class IdempotencyKey:
    """A POST's ``Idempotency-Key``, stored with its change in the same transaction.

    ``owner`` scopes keys (the user: two users may pick the same key); ``fingerprint``
    identifies the request (method, path, body), so a key reused for another request is
    told apart from a retry; ``status`` is the answer's status, whose body is the order
    the mutation returns.
    """

    owner: str
    key: str
    fingerprint: str
    status: int


@dataclass(frozen=True)
class StoredResponse:
    """What the first request with a key was answered."""

    fingerprint: str
    status: int
    body: str


class IdempotencyConflict(Exception):
    """The key was stored by another request meanwhile; the change was rolled back."""


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def refresh_outcome(row: Any, now: float, reuse_grace: float) -> str:
    """What presenting a refresh token means, from its row joined with its session's
    (``session_id``, ``expires_at``, ``used_at``, ``revoked_at``; ``None``: no such
    token): ``unknown``, ``revoked``, ``superseded`` (used less than ``reuse_grace`` s
    ago: a concurrent refresh from another tab), ``reused`` (the caller revokes the
    session: a stolen token), ``expired`` or ``ok``. One rule for every backend."""
    if row is None:
        return "unknown"
    if row["revoked_at"] is not None:
        return "revoked"
    if row["used_at"] is not None:
        return "superseded" if now - float(row["used_at"]) < reuse_grace else "reused"
    if row["expires_at"] <= now:
        return "expired"
    return "ok"


def _row(row: sqlite3.Row) -> dict[str, Any]:
    return {key: row[key] for key in row.keys()}  # noqa: SIM118 - Row is not a Mapping


class Database:
    """SQLite storage. Use one instance per process; methods are thread-safe."""

    def __init__(self, path: pathlib.Path | str, *, event_retention: int = 10_000) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            pathlib.Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves (see ``transaction``).
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self.event_retention = event_retention
        self.prune_interval = PRUNE_INTERVAL
        self._pruned_at: float | None = None  # time.monotonic() of the last prune
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on any exception."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # -- meta, users, couriers -------------------------------------------------------

    def get_or_set_meta(self, key: str, default: str) -> str:
        with self.transaction() as tx:
            tx.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, default))
            return str(tx.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])

    def upsert_user(self, username: str, password_hash: str) -> None:
        with self.transaction() as tx:
            tx.execute(
                "INSERT INTO users(username, password_hash, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT(username) DO UPDATE SET password_hash = excluded.password_hash",
                (username, password_hash, utc_now_iso()),
            )

    def replace_password_hash(self, username: str, old: str, new: str) -> bool:
        """Set ``new`` only if the stored hash is still ``old`` (one conditional UPDATE:
        a user deleted or a password changed meanwhile is left as it is)."""
        with self.transaction() as tx:
            cursor = tx.execute(
                "UPDATE users SET password_hash = ? WHERE username = ? AND password_hash = ?",
                (new, username, old),
            )
            return cursor.rowcount == 1

    def delete_user(self, username: str) -> None:
        with self.transaction() as tx:
            tx.execute("DELETE FROM users WHERE username = ?", (username,))
            tx.execute(
                "UPDATE sessions SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL",
                (time.time(), username),
            )

    def password_hash(self, username: str) -> str | None:
        rows = self._query("SELECT password_hash FROM users WHERE username = ?", (username,))
        return str(rows[0][0]) if rows else None

    def seed_couriers(self) -> None:
        with self.transaction() as tx:
            tx.executemany(
                "INSERT OR IGNORE INTO couriers(id, name, phone, active) VALUES (?, ?, ?, 1)",
                DEMO_COURIERS,
            )

    def list_couriers(self) -> list[dict[str, Any]]:
        rows = self._query("SELECT id, name, phone, active FROM couriers ORDER BY id")
        return [{**_row(r), "active": bool(r["active"])} for r in rows]

    def courier(self, courier_id: int) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT id, name, phone, active FROM couriers WHERE id = ?", (courier_id,)
        )
        return {**_row(rows[0]), "active": bool(rows[0]["active"])} if rows else None

    # -- sessions, refresh tokens, tickets -------------------------------------------

    def create_session(
        self, session_id: str, username: str, refresh_hash: str, refresh_expires_at: float
    ) -> None:
        with self.transaction() as tx:
            self._maybe_prune(tx)
            tx.execute(
                "INSERT INTO sessions(id, username, created_at) VALUES (?, ?, ?)",
                (session_id, username, time.time()),
            )
            tx.execute(
                "INSERT INTO refresh_tokens(hash, session_id, expires_at) VALUES (?, ?, ?)",
                (refresh_hash, session_id, refresh_expires_at),
            )

    def session_active(self, session_id: str) -> bool:
        rows = self._query(
            "SELECT 1 FROM sessions WHERE id = ? AND revoked_at IS NULL", (session_id,)
        )
        return bool(rows)

    def revoke_session(self, session_id: str) -> None:
        with self.transaction() as tx:
            tx.execute(
                "UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (time.time(), session_id),
            )
            tx.execute("DELETE FROM tickets WHERE session_id = ?", (session_id,))

    def rotate_refresh(
        self, old_hash: str, new_hash: str, new_expires_at: float, now: float,
        reuse_grace: float = 0.0,
    ) -> tuple[str, str | None]:
        """Consume ``old_hash`` and store ``new_hash`` in one transaction.

        Returns ``(outcome, session_id)``; outcome is ``ok``, ``unknown``, ``expired``,
        ``revoked``, ``superseded`` (used less than ``reuse_grace`` seconds ago: a
        concurrent refresh from another tab of the same browser, nothing revoked) or
        ``reused`` (revokes the session in the same transaction).
        """
        with self.transaction() as tx:
            self._maybe_prune(tx)
            row = tx.execute(
                "SELECT r.session_id, r.expires_at, r.used_at, s.username, s.revoked_at "
                "FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE r.hash = ?",
                (old_hash,),
            ).fetchone()
            outcome = refresh_outcome(row, now, reuse_grace)
            sid = None if row is None else str(row["session_id"])
            if outcome == "reused":
                tx.execute("UPDATE sessions SET revoked_at = ? WHERE id = ?", (now, sid))
                tx.execute("DELETE FROM tickets WHERE session_id = ?", (sid,))
            if outcome != "ok":
                return outcome, sid
            tx.execute("UPDATE refresh_tokens SET used_at = ? WHERE hash = ?", (now, old_hash))
            tx.execute(
                "INSERT INTO refresh_tokens(hash, session_id, expires_at) VALUES (?, ?, ?)",
                (new_hash, sid, new_expires_at),
            )
            return "ok", sid

    def session_user(self, session_id: str) -> str | None:
        rows = self._query("SELECT username FROM sessions WHERE id = ?", (session_id,))
        return str(rows[0][0]) if rows else None

    def store_ticket(
        self, ticket_hash: str, session_id: str, username: str, expires_at: float,
        access_exp: float,
    ) -> None:
        with self.transaction() as tx:
            # Expired tickets go at every issue (the table stays tiny); the rest, rarely.
            tx.execute("DELETE FROM tickets WHERE expires_at < ?", (time.time(),))
            self._maybe_prune(tx)
            tx.execute(
                "INSERT INTO tickets(hash, session_id, username, expires_at, access_exp) "
                "VALUES (?, ?, ?, ?, ?)",
                (ticket_hash, session_id, username, expires_at, access_exp),
            )

    def consume_ticket(self, ticket_hash: str) -> dict[str, Any] | None:
        """Delete and return the ticket row: single use even under concurrent requests."""
        with self.transaction() as tx:
            row = tx.execute(
                "DELETE FROM tickets WHERE hash = ? "
                "RETURNING session_id, username, expires_at, access_exp",
                (ticket_hash,),
            ).fetchone()
            return _row(row) if row is not None else None

    # -- pruning -----------------------------------------------------------------------

    def _maybe_prune(self, tx: sqlite3.Connection) -> None:
        """:meth:`prune` inside the caller's transaction, at most every ``prune_interval``
        seconds: called from the writes that add rows, so no timer task is needed."""
        now = time.monotonic()
        if self._pruned_at is not None and now - self._pruned_at < self.prune_interval:
            return
        self._pruned_at = now
        self._prune(tx, time.time())

    def prune(self, now: float | None = None) -> dict[str, int]:
        """Delete rows that no longer matter; returns the count per table."""
        with self.transaction() as tx:
            return self._prune(tx, time.time() if now is None else now)

    def _prune(self, tx: sqlite3.Connection, now: float) -> dict[str, int]:
        cutoff = now - AUTH_ROW_RETENTION
        counts = {
            "tickets": tx.execute("DELETE FROM tickets WHERE expires_at < ?", (now,)).rowcount,
            # Whole sessions only (see AUTH_ROW_RETENTION): revoked a day ago, or never
            # revoked but with no token left that expired less than a day ago. A session
            # that can still be refreshed keeps every token of its chain, used ones too,
            # so a replayed stolen token still says "reused" and revokes it.
            "sessions": tx.execute(
                "DELETE FROM sessions WHERE revoked_at < ? OR (revoked_at IS NULL AND "
                "NOT EXISTS (SELECT 1 FROM refresh_tokens r "
                "WHERE r.session_id = sessions.id AND r.expires_at >= ?))",
                (cutoff, cutoff),
            ).rowcount,
            # The tokens of the sessions just deleted, and nothing else.
            "refresh_tokens": tx.execute(
                "DELETE FROM refresh_tokens WHERE NOT EXISTS "
                "(SELECT 1 FROM sessions s WHERE s.id = refresh_tokens.session_id)"
            ).rowcount,
            "idempotency_keys": tx.execute(
                "DELETE FROM idempotency_keys WHERE created_at < ?", (now - IDEMPOTENCY_TTL,)
            ).rowcount,
        }
        return counts

    # -- idempotency keys --------------------------------------------------------------

    def stored_response(self, owner: str, key: str) -> StoredResponse | None:
        """The answer stored for ``key`` within :data:`IDEMPOTENCY_TTL`, if any."""
        rows = self._query(
            "SELECT fingerprint, status, body FROM idempotency_keys "
            "WHERE owner = ? AND key = ? AND created_at >= ?",
            (owner, key, time.time() - IDEMPOTENCY_TTL),
        )
        if not rows:
            return None
        return StoredResponse(str(rows[0][0]), int(rows[0][1]), str(rows[0][2]))

    def _store_response(
        self, tx: sqlite3.Connection, idempotency: IdempotencyKey | None, body: dict[str, Any]
    ) -> None:
        """Inside the mutation's transaction: the key and its answer commit with the
        change, or neither does."""
        if idempotency is None:
            return
        now = time.time()
        self._maybe_prune(tx)
        # An expired key not pruned yet must not block its reuse.
        tx.execute(
            "DELETE FROM idempotency_keys WHERE owner = ? AND key = ? AND created_at < ?",
            (idempotency.owner, idempotency.key, now - IDEMPOTENCY_TTL),
        )
        try:
            tx.execute(
                "INSERT INTO idempotency_keys(owner, key, fingerprint, status, body, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (idempotency.owner, idempotency.key, idempotency.fingerprint,
                 idempotency.status,
                 # As Starlette's JSONResponse renders it: a replay has the same bytes.
                 json.dumps(body, ensure_ascii=False, separators=(",", ":")), now),
            )
        except sqlite3.IntegrityError as exc:  # stored since the caller looked: roll back
            raise IdempotencyConflict(idempotency.key) from exc

    # -- orders ------------------------------------------------------------------------

    def list_orders(
        self, status: str | None, limit: int, offset: int, before_id: int | None = None
    ) -> tuple[list[dict[str, Any]], int, int]:
        """``(orders newest first, total matching, the log position they were read at)``.

        One read under the connection lock (every write goes through it too), so the
        rows are exactly the state after event ``position``: a page applies only events
        after it. ``before_id`` pages by key (ids below it), which never skips a row when
        rows are deleted between pages, as ``offset`` can."""
        status_where, status_params = ("WHERE status = ?", (status,)) if status else ("", ())
        where, params = status_where, status_params
        if before_id is not None:
            where = f"{status_where} AND id < ?" if status else "WHERE id < ?"
            params = (*status_params, before_id)
        with self._lock:
            rows = self._query(
                f"SELECT {ORDER_COLUMNS} FROM orders {where} ORDER BY id DESC LIMIT ? OFFSET ?",
                (*params, limit, offset),
            )
            total = self._query(f"SELECT COUNT(*) FROM orders {status_where}", status_params)
            position = self.event_bounds()[1]
        return [_row(r) for r in rows], int(total[0][0]), position

    def order_counts(self) -> tuple[dict[str, int], int]:
        """``({status: count}, log position)`` read together (see :meth:`list_orders`)."""
        with self._lock:
            rows = self._query("SELECT status, COUNT(*) FROM orders GROUP BY status")
            position = self.event_bounds()[1]
        return {str(r[0]): int(r[1]) for r in rows}, position

    def get_order(self, order_id: int) -> dict[str, Any]:
        rows = self._query(f"SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?", (order_id,))
        if not rows:
            raise NotFound(order_id)
        return _row(rows[0])

    def random_order_ids(self, statuses: tuple[str, ...], limit: int) -> list[int]:
        marks = ", ".join("?" for _ in statuses)
        rows = self._query(
            f"SELECT id FROM orders WHERE status IN ({marks}) ORDER BY RANDOM() LIMIT ?",
            (*statuses, limit),
        )
        return [int(r[0]) for r in rows]

    def insert_order(
        self, fields: dict[str, Any], event_type: str,
        idempotency: IdempotencyKey | None = None,
    ) -> tuple[dict[str, Any], Event]:
        now = utc_now_iso()
        with self.transaction() as tx:
            row = tx.execute(
                "INSERT INTO orders(customer, phone, address, notes, status, courier_id, "
                f"created_at, updated_at) VALUES (?, ?, ?, ?, 'new', NULL, ?, ?) "
                f"RETURNING {ORDER_COLUMNS}",
                (fields["customer"], fields["phone"], fields["address"], fields.get("notes"),
                 now, now),
            ).fetchone()
            order = _row(row)
            event = self._append_event(tx, event_type, order)
            self._store_response(tx, idempotency, order)
            return order, event

    def insert_orders_bulk(self, rows: list[dict[str, Any]], event_type: str) -> int:
        """Insert many orders (each with its event row) in ONE transaction: demo and
        benchmark seeding, where one commit per order would take minutes."""
        now = utc_now_iso()
        with self.transaction() as tx:
            for fields in rows:
                row = tx.execute(
                    "INSERT INTO orders(customer, phone, address, notes, status, courier_id, "
                    f"created_at, updated_at) VALUES (?, ?, ?, ?, 'new', NULL, ?, ?) "
                    f"RETURNING {ORDER_COLUMNS}",
                    (fields["customer"], fields["phone"], fields["address"],
                     fields.get("notes"), now, now),
                ).fetchone()
                self._append_event(tx, event_type, _row(row))
        return len(rows)

    def count_orders(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM orders")[0][0])

    def update_order(
        self, order_id: int, changes: dict[str, Any], event_type: str,
        extra: dict[str, Any] | None = None, expect_status: str | None = None,
        idempotency: IdempotencyKey | None = None,
    ) -> tuple[dict[str, Any], Event]:
        """Apply ``changes`` (column -> value) and log ``event_type`` with the new row.

        With ``expect_status`` the update only applies while the order still has that
        status (a compare-and-set, so a checked transition cannot be applied twice).
        """
        unknown = set(changes) - set(ORDER_COLUMNS.split(", "))
        if unknown or not changes:
            raise ValueError(f"bad order columns: {sorted(unknown) or 'none'}")
        assignments = ", ".join(f"{column} = ?" for column in changes)
        guard, guard_params = ("AND status = ?", (expect_status,)) if expect_status else ("", ())
        with self.transaction() as tx:
            row = tx.execute(
                f"UPDATE orders SET {assignments}, updated_at = ? WHERE id = ? {guard} "
                f"RETURNING {ORDER_COLUMNS}",
                (*changes.values(), utc_now_iso(), order_id, *guard_params),
            ).fetchone()
            if row is None:
                current = tx.execute(
                    "SELECT status FROM orders WHERE id = ?", (order_id,)
                ).fetchone()
                if current is None:
                    raise NotFound(order_id)
                raise StaleStatus(str(current[0]))
            order = _row(row)
            event = self._append_event(tx, event_type, {**order, **(extra or {})})
            self._store_response(tx, idempotency, order)
            return order, event

    def delete_order(self, order_id: int, event_type: str) -> tuple[dict[str, Any], Event]:
        with self.transaction() as tx:
            row = tx.execute(
                f"DELETE FROM orders WHERE id = ? RETURNING {ORDER_COLUMNS}", (order_id,)
            ).fetchone()
            if row is None:
                raise NotFound(order_id)
            order = _row(row)
            return order, self._append_event(tx, event_type, order)

    # -- event log ---------------------------------------------------------------------

    def _append_event(self, tx: sqlite3.Connection, event_type: str, data: dict[str, Any]) -> Event:
        ts = int(time.time() * 1000)
        wire = json.dumps(
            {"type": event_type, "data": data, "ts": ts}, separators=(",", ":"), ensure_ascii=False
        )
        row = tx.execute(
            "INSERT INTO events(type, payload, ts) VALUES (?, ?, ?) RETURNING id",
            (event_type, wire, ts),
        ).fetchone()
        event_id = int(row[0])
        # Trim by id: the newest ``event_retention`` rows stay (ids are contiguous).
        tx.execute("DELETE FROM events WHERE id <= ?", (event_id - self.event_retention,))
        return Event(event_id, event_type, wire)

    def events_after(self, after_id: int, limit: int = 1000) -> list[Event]:
        rows = self._query(
            "SELECT id, type, payload FROM events WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        return [Event(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def event_bounds(self) -> tuple[int | None, int]:
        """``(oldest retained id or None, newest id ever issued or 0)``."""
        with self._lock:
            oldest = self._conn.execute("SELECT MIN(id) FROM events").fetchone()[0]
            seq = self._conn.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'events'"
            ).fetchone()
        return (int(oldest) if oldest is not None else None), (int(seq[0]) if seq else 0)

    def count_events(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM events")[0][0])
