"""A whole unit of work in one hand-off to the database driver.

Through SQLAlchemy's asyncio layer every statement on SQLite costs several trips to
aiosqlite's thread (a cursor, the execute, the fetch, the cursor's close, then the
rollback or commit), each a queue, a future and a wake-up of the event loop: on the path
every update takes, those trips cost more CPU than the rest of the reply. `OneTrip.run(fn)`
runs `fn(connection)`, a plain synchronous function on a SQLAlchemy `Connection`, as one
piece: on SQLite in a worker thread of its own with a synchronous engine on the same file
(WAL: a read sees every committed write), on PostgreSQL through `run_sync` on a pooled
asyncpg connection (one round trip per statement, as before).

`fn` sees a fresh connection: it must end what it writes with `connection.commit()`
(what it leaves uncommitted is rolled back), and must not return ORM objects bound to it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from forever.db.engine import SQLITE_BUSY_SECONDS, sqlite_pragmas

T = TypeVar("T")


class OneTrip:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._sync: Engine | None = None
        # Reads never wait for SQLite's write lock: they get a thread of their own, so a
        # write waiting for the lock (a broadcast committing) holds up only other writes.
        self._readers: ThreadPoolExecutor | None = None
        self._writers: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        # The event loop's own connection for `quick` reads (only the loop's thread uses it).
        self._here: Connection | None = None

    async def run(
        self, fn: Callable[[Connection], T], *, writes: bool = False, quick: bool = False
    ) -> T:
        """`quick`: a read of a few rows by index. On SQLite it runs right here, on the event
        loop, when it can do so without waiting (WAL: readers wait for no writer; the rare
        moment SQLite is busy sends it to the thread): the query takes tens of
        microseconds, less than the trip to a thread and back. A quick write (a row or two
        by key, and its commit) does the same: when SQLite's write lock is taken it goes to
        the writers' thread and waits there, and what it wrote here is rolled back first."""
        if not self._sqlite:
            async with self._engine.connect() as conn:
                return await conn.run_sync(fn)
        readers, writers = self._executors()
        if quick:
            done, result = self._inline(fn)
            if done:
                return result  # type: ignore[return-value]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(writers if writes else readers, self._call, fn)

    def _inline(self, fn: Callable[[Connection], T]) -> tuple[bool, T | None]:
        assert self._sync is not None
        if self._here is None:
            self._here = self._sync.connect()
            # Never wait for a lock on the event loop: busy means "go to the thread".
            self._here.exec_driver_sql("PRAGMA busy_timeout = 0")
        conn = self._here
        try:
            return True, fn(conn)
        except (OperationalError, sqlite3.OperationalError) as exc:  # through SQLAlchemy or not
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            return False, None
        finally:
            conn.rollback()

    def _call(self, fn: Callable[[Connection], T]) -> T:
        assert self._sync is not None
        with self._sync.connect() as conn:
            return fn(conn)

    def _executors(self) -> tuple[ThreadPoolExecutor, ThreadPoolExecutor]:
        with self._lock:  # made on first use: a process that never uses it starts no thread
            if self._sync is None:
                self._sync = _sync_sqlite(self._engine)
            if self._readers is None:
                self._readers = ThreadPoolExecutor(1, thread_name_prefix="forever-db-read")
            if self._writers is None:
                self._writers = ThreadPoolExecutor(1, thread_name_prefix="forever-db-write")
            return self._readers, self._writers

    def close(self) -> None:
        """Let work under way finish and close the synchronous engine's connections."""
        with self._lock:
            for executor in (self._readers, self._writers):
                if executor is not None:
                    executor.shutdown(wait=True)
            self._readers = self._writers = None
            if self._here is not None:
                self._here.close()
                self._here = None
            if self._sync is not None:
                self._sync.dispose()
                self._sync = None


def _sync_sqlite(engine: AsyncEngine) -> Engine:
    url = engine.url.set(drivername="sqlite+pysqlite")
    sync = create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS})

    @event.listens_for(sync, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        sqlite_pragmas(dbapi_conn)

    return sync
