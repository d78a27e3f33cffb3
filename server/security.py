"""Passwords (argon2), access tokens (JWT HS256), sessions, refresh rotation, SSE tickets.

An access token carries ``sub``, ``sid`` (session id), ``exp``, ``iat`` and ``jti``; every
authenticated request also checks that its session is not revoked, so logout and refresh
reuse take effect immediately. Refresh tokens and tickets are random opaque strings; only
their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.db import Database

ALGORITHM = "HS256"

ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19_456
ARGON2_PARALLELISM = 1
"""argon2id at OWASP's first recommended minimum: m=19 MiB, t=2, p=1.

Why (measured with ``python -m server.security``: median of 7 verifications, peak RSS of
a fresh process that only hashes - Python with argon2 imported is ~12 MB; times on the 2-core
box when idle, they grow 3-5x under load but keep their ratios):

    params                      ms/hash   peak RSS
    m=64 MiB t=3 p=4 (old)      197-213    78 MB   argon2-cffi's default (RFC 9106 low-memory)
    m=46 MiB t=1 p=1             61-113    60 MB   OWASP alternative
    m=19 MiB t=2 p=1 (chosen)     24-28    32 MB   OWASP minimum, first row
    m=12 MiB t=3 p=1              21-24    25 MB
    m=7 MiB  t=5 p=1              21-24    23 MB

Memory per hash is what let 40 parallel wrong logins take the server to 2.2 GB (the old
default at 64 MiB each). 19 MiB x ``hash_concurrency`` (2) bounds login hashing to ~40 MB;
the smaller-memory rows cost the same time but are weaker against GPU cracking, the
larger ones cost 3-8x the memory and time per login for a security margin OWASP does not
require. Hashes made with other parameters keep verifying (argon2 stores its parameters
in the hash) and are rehashed with these on the next successful login.
"""


class AuthError(Exception):
    """Authentication failed; ``code`` is the JSON error code sent to the client."""

    def __init__(self, code: str, message: str, *, revoked_session: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # Set when the failure revoked a session whose open streams must now end.
        self.revoked_session = revoked_session


@dataclass(frozen=True)
class Principal:
    """Who is calling, and until when the credential they used is valid (epoch seconds)."""

    username: str
    session_id: str
    expires_at: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Security:
    """Auth operations over a :class:`Database`. The argon2 calls are CPU-heavy: run
    ``login`` in a worker thread (the routes do)."""

    def __init__(
        self, db: Database, secret: str, *, access_ttl: float, refresh_ttl: float,
        ticket_ttl: float, reuse_grace: float = 5.0,
    ) -> None:
        self.db = db
        # A refresh token presented again within this many seconds of its rotation gets
        # 409 refresh_superseded (tabs racing) instead of revoking the session (theft).
        self.reuse_grace = reuse_grace
        self._secret = secret
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.ticket_ttl = ticket_ttl
        self._hasher = PasswordHasher(
            time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB,
            parallelism=ARGON2_PARALLELISM,
        )
        # Verified against for unknown users so that timing does not reveal which exist.
        self._dummy_hash = self._hasher.hash(secrets.token_hex(8))

    def hash_password(self, password: str) -> str:
        return self._hasher.hash(password)

    # -- tokens ------------------------------------------------------------------------

    def _access_token(self, username: str, session_id: str) -> str:
        now = time.time()
        claims = {
            "sub": username,
            "sid": session_id,
            "iat": int(now),
            # Rounded up so a token never lives shorter than ``access_ttl``.
            "exp": math.ceil(now + self.access_ttl),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def _pair(self, username: str, session_id: str, refresh_token: str) -> dict[str, Any]:
        return {
            "access_token": self._access_token(username, session_id),
            "refresh_token": refresh_token,
            "expires_in": int(self.access_ttl),
            "token_type": "Bearer",
        }

    def login(self, username: str, password: str) -> dict[str, Any]:
        stored = self.db.password_hash(username)
        try:
            self._hasher.verify(stored or self._dummy_hash, password)
        except (VerificationError, InvalidHashError) as exc:
            raise AuthError("invalid_credentials", "Wrong username or password.") from exc
        if stored is None:
            raise AuthError("invalid_credentials", "Wrong username or password.")
        if self._hasher.check_needs_rehash(stored):
            self._rehash(username, stored, password)
        session_id = uuid.uuid4().hex
        refresh = secrets.token_urlsafe(32)
        self.db.create_session(
            session_id, username, _digest(refresh), time.time() + self.refresh_ttl
        )
        return self._pair(username, session_id, refresh)

    def _rehash(self, username: str, stored: str, password: str) -> None:
        """Move a hash made with older parameters to the current ones (the password is
        only ever in memory here, at login)."""
        upgraded = self._hasher.hash(password)
        # Only if the user still has the hash we verified: never resurrect a user deleted
        # (or a password changed) while we were hashing.
        self.db.replace_password_hash(username, stored, upgraded)

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        """Rotate a refresh token: the new pair, or :class:`AuthError` (reuse revokes)."""
        new_refresh = secrets.token_urlsafe(32)
        outcome, sid = self.db.rotate_refresh(
            _digest(refresh_token), _digest(new_refresh), time.time() + self.refresh_ttl,
            time.time(), reuse_grace=self.reuse_grace,
        )
        if outcome == "superseded":
            # Tabs share one refresh token: two of them refreshing at the same moment is
            # a race, not theft. The loser adopts the pair the winner stored.
            raise AuthError(
                "refresh_superseded",
                "This refresh token was just rotated by a concurrent request; use the "
                "newer pair.",
            )
        if outcome == "reused":
            raise AuthError(
                "refresh_reused",
                "This refresh token was already used; the session has been revoked.",
                revoked_session=sid,
            )
        if outcome != "ok" or sid is None:
            raise AuthError("invalid_refresh_token", f"Refresh token is {outcome}.")
        username = self.db.session_user(sid)
        assert username is not None  # the join in rotate_refresh guarantees the session
        return self._pair(username, sid, new_refresh)

    def authenticate(self, access_token: str) -> Principal:
        try:
            claims = jwt.decode(
                access_token, self._secret, algorithms=[ALGORITHM],
                options={"require": ["exp", "iat", "sub", "sid", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("unauthorized", "Access token expired.") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthError("unauthorized", "Invalid access token.") from exc
        session_id = str(claims["sid"])
        if not self.db.session_active(session_id):
            raise AuthError("unauthorized", "Session revoked.")
        return Principal(str(claims["sub"]), session_id, float(claims["exp"]))

    def logout(self, principal: Principal) -> None:
        self.db.revoke_session(principal.session_id)

    # -- SSE tickets -------------------------------------------------------------------

    def issue_ticket(self, principal: Principal) -> tuple[str, int]:
        """A single-use ticket for ``?ticket=``: dies at the earlier of its TTL and the
        access token's ``exp``, and with the session."""
        ticket = secrets.token_urlsafe(32)
        now = time.time()
        # The lifetime is computed once: ``int(now + ttl - time.time())`` said 29 for a
        # 30 s ticket (float error and the clock moving on). Capped by the access token,
        # it rounds down, so ``expires_in`` never promises more than the ticket lives.
        lifetime = min(self.ticket_ttl, principal.expires_at - now)
        self.db.store_ticket(
            _digest(ticket), principal.session_id, principal.username, now + lifetime,
            principal.expires_at,
        )
        return ticket, max(0, int(lifetime))

    def redeem_ticket(self, ticket: str) -> Principal:
        row = self.db.consume_ticket(_digest(ticket))
        if row is None:
            raise AuthError("unauthorized", "Unknown or already used ticket.")
        if row["expires_at"] <= time.time():
            raise AuthError("unauthorized", "Ticket expired.")
        if not self.db.session_active(str(row["session_id"])):
            raise AuthError("unauthorized", "Session revoked.")
        return Principal(str(row["username"]), str(row["session_id"]), float(row["access_exp"]))


# -- measuring argon2 parameters (python -m server.security) ---------------------------

MEASURED_PARAMS = (
    ("m=64 MiB t=3 p=4 (old)", 3, 65_536, 4),
    ("m=46 MiB t=1 p=1", 1, 47_104, 1),
    ("m=19 MiB t=2 p=1 (chosen)", ARGON2_TIME_COST, ARGON2_MEMORY_KIB, ARGON2_PARALLELISM),
    ("m=12 MiB t=3 p=1", 3, 12_288, 1),
    ("m=7 MiB t=5 p=1", 5, 7_168, 1),
)

_MEASURE_ONE = """
import json, resource, statistics, sys, time
from argon2 import PasswordHasher
t, m, p, runs = (int(a) for a in sys.argv[1:5])
hasher = PasswordHasher(time_cost=t, memory_cost=m, parallelism=p)
stored = hasher.hash("right")
samples = []
for _ in range(runs):
    started = time.perf_counter()
    try:
        hasher.verify(stored, "wrong")
    except Exception:
        pass
    samples.append(time.perf_counter() - started)
print(json.dumps({"ms": statistics.median(samples) * 1000,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure_argon2(runs: int = 7) -> list[tuple[str, float, float]]:
    """``(label, median ms per verification, peak RSS MB)`` per candidate; each runs in a
    fresh interpreter so one's peak memory does not hide another's."""
    import json
    import subprocess
    import sys

    rows = []
    for label, t, m, p in MEASURED_PARAMS:
        out = subprocess.run(
            [sys.executable, "-c", _MEASURE_ONE, str(t), str(m), str(p), str(runs)],
            check=True, capture_output=True, text=True,
        ).stdout
        result = json.loads(out)
        rows.append((label, float(result["ms"]), float(result["rss_mb"])))
    return rows


if __name__ == "__main__":
    for label, ms, rss in measure_argon2():
        print(f"{label:28} {ms:7.1f} ms/hash  peak RSS {rss:6.1f} MB")
