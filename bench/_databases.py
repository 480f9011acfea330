"""A database at the schema's head for one benchmark, SQLite or PostgreSQL, gone afterwards,
and Forever's container on it."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from forever.app import Container, build_container
from forever.config import load_settings
from forever.db.migrate import upgrade_to_head
from forever.domain.clock import ManualClock

ROOT = Path(__file__).resolve().parents[1]

PG_ADMIN = os.environ.get(
    "FOREVER_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


async def pg_admin(sql: str) -> None:
    """One statement on the PostgreSQL admin database, outside a transaction."""
    engine = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@asynccontextmanager
async def database_at_head(kind: str, directory: Path | None = None) -> AsyncIterator[str]:
    """Yields the URL of a new database (`sqlite` in `directory`, a temporary one if none; or
    `postgres` next to FOREVER_TEST_PG_URL), migrated to head; it is gone after."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            path = (directory or Path(tmp)) / f"bench_{uuid.uuid4().hex[:8]}.db"
            url = f"sqlite+aiosqlite:///{path}"
            await asyncio.to_thread(upgrade_to_head, url)
            yield url
        return
    name = f"forever_bench_{uuid.uuid4().hex[:8]}"
    await pg_admin(f'CREATE DATABASE "{name}"')
    try:
        url = f"{PG_ADMIN.rpartition('/')[0]}/{name}"
        await asyncio.to_thread(upgrade_to_head, url)
        yield url
    finally:
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_container(url: str, now: datetime) -> Container:
    """Forever's container on `url` (no .env, the repository's catalog), its clock at `now`."""
    settings = load_settings(
        _env_file=None,
        database_url=url,
        secret_key="bench-secret-key-0123456789",
        catalog_path=str(ROOT / "catalog.toml"),
    )
    return build_container(settings, clock=ManualClock(now))
