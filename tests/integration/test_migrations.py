"""`bot.py migrate` on an empty SQLite file and on PostgreSQL, twice in a row."""

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from forever.db.models import Base
from tests.conftest import _pg_admin, pg_url_for

ROOT = Path(__file__).resolve().parents[2]


def migrate(url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def table_names(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


def check_twice(url: str) -> None:
    for _ in range(2):
        result = migrate(url)
        assert result.returncode == 0, result.stderr
    tables = asyncio.run(table_names(url))
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_migrate_an_empty_sqlite_file_twice(tmp_path: Path) -> None:
    check_twice(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")


@pytest.mark.postgres
def test_migrate_postgres_twice() -> None:
    name = f"forever_mig_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        check_twice(pg_url_for(name))
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_models_and_migrations_agree(tmp_path: Path) -> None:
    """A model change without a migration fails here (alembic finds nothing to generate)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    url = f"sqlite+aiosqlite:///{tmp_path / 'cmp.db'}"
    assert migrate(url).returncode == 0

    async def diff() -> list:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
                )
        finally:
            await engine.dispose()

    assert asyncio.run(diff()) == []
