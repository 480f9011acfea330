"""Engine and session factory for SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

# How long a SQLite statement waits for another connection's write lock before it fails with
# "database is locked" (the caller then fails cleanly and tries again later).
SQLITE_BUSY_SECONDS = 30.0


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            sqlite_pragmas(dbapi_conn)

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def sqlite_pragmas(dbapi_conn: Any) -> None:
    """Every SQLite connection's settings (aiosqlite's and db/one_trip.py's alike)."""
    # WAL lets readers work while one writer commits; foreign keys are off by default.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# session.info key of the suppression list's HMAC key (db/repositories/suppressions.py).
EMAIL_KEY = "forever.email_key"


def make_session_factory(
    engine: AsyncEngine, *, email_key: bytes | None = None
) -> async_sessionmaker[AsyncSession]:
    """`email_key` keys the suppression list's address hashes (derived from SECRET_KEY)."""
    info = {EMAIL_KEY: email_key} if email_key else {}
    return async_sessionmaker(engine, expire_on_commit=False, info=info)
