"""Which storage backend, and how async code calls it.

``open_database(settings)`` picks the backend by ``ZARIZ_DB``: a file path (SQLite, the
default) or a ``postgresql://`` URL. Every backend has the public methods of
:class:`server.db.Database` and is synchronous; ``run_db`` is how async code (routes,
the hub, the SSE stream) calls it: in the event loop for SQLite (one local connection, a
call takes microseconds and a thread hop would cost more), in a worker thread for a
backend that waits on the network (``in_loop = False``), so a slow query never stalls
the streams.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from anyio import to_thread

from server.config import Settings
from server.db import Database

T = TypeVar("T")


def open_database(settings: Settings) -> Database:
    """The storage backend ``settings`` names (SQLite unless a ``postgresql://`` URL).

    PostgreSQL's driver is imported only when chosen. Its class is not a subclass of
    ``Database`` but has the same public methods (tests/server/test_db_postgres.py
    compares their signatures), so callers are typed against ``Database``."""
    if settings.db_url is not None:
        from server.db_pg import PostgresDatabase

        return cast(
            Database,
            PostgresDatabase(settings.db_url, event_retention=settings.event_retention),
        )
    return Database(settings.db_path, event_retention=settings.event_retention)


async def run_db(db: Any, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, a method of ``db``: inline when ``db.in_loop`` (default
    True), else in a worker thread."""
    if getattr(db, "in_loop", True):
        return fn(*args, **kwargs)
    return await to_thread.run_sync(lambda: fn(*args, **kwargs))


__all__ = ["open_database", "run_db"]
