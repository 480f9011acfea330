"""A database at the schema's head for one benchmark, SQLite or PostgreSQL, gone afterwards."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from forever.db.migrate import upgrade_to_head

PG_ADMIN = os.environ.get(
    "FOREVER_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


async def _pg(sql: str) -> None:
    engine = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@asynccontextmanager
async def database_at_head(kind: str, directory: Path) -> AsyncIterator[str]:
    """Yields the URL of a new database (`sqlite` in `directory`, or `postgres` next to
    FOREVER_TEST_PG_URL), migrated to head; a PostgreSQL one is dropped after."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{directory / f'bench_{uuid.uuid4().hex[:8]}.db'}"
        await asyncio.to_thread(upgrade_to_head, url)
        yield url
        return
    name = f"forever_bench_{uuid.uuid4().hex[:8]}"
    await _pg(f'CREATE DATABASE "{name}"')
    try:
        url = f"{PG_ADMIN.rpartition('/')[0]}/{name}"
        await asyncio.to_thread(upgrade_to_head, url)
        yield url
    finally:
        await _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
