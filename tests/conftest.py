"""Shared fixtures: a migrated database (SQLite by default, PostgreSQL with
FOREVER_TEST_DB=postgres), an injected clock, settings, and the service container."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from forever.app import Container, build_container
from forever.config import Settings, load_settings
from forever.db.migrate import upgrade_to_head
from forever.db.models import Base
from forever.domain.clock import ManualClock

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get(
    "FOREVER_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_TEST_URL = os.environ.get("FOREVER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_TOKEN = "123456789:TEST-token-for-the-fake-bot-api-xyz"
START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
STAFF_ID = 900001


@pytest.fixture(autouse=True)
def _root_logging_left_as_found() -> Iterator[None]:
    """A command run in this process (`setup_logging`) points the root logger at the stderr
    pytest captured for that one test; a thread logging later (aiosmtpd's "EOF received")
    would then write to a closed stream. Take such handlers away again after the test."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in before and type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
    root.setLevel(level)


def test_db_kind() -> str:
    return os.environ.get("FOREVER_TEST_DB", "sqlite").lower()


async def _pg_admin(sql: str) -> None:
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def pg_url_for(name: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped at the end."""
    name = f"forever_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = pg_url_for(name)
    upgrade_to_head(url)
    yield url
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (much faster than migrating each time)."""
    path = tmp_path_factory.mktemp("db") / "template.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if test_db_kind() == "postgres":
        url = request.getfixturevalue("pg_database")
        asyncio.run(_truncate_all(url))
        yield url
    else:
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "forever.db"
        shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"


async def _truncate_all(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(
        _env_file=None,
        database_url=database_url,
        bot_token=TEST_TOKEN,
        secret_key="test-secret-key-0123456789abcdef",
        catalog_path=str(ROOT / "catalog.toml"),
        admin_ids=str(STAFF_ID),
        mail_from="Forever <hello@forever.test>",
        public_url="https://forever.test",
        web_port=0,
        metrics_port=0,
        smtp_security="none",
        # Scripted users act many times faster than people; the flood guard's own tests
        # (tests/e2e/test_flood_guard.py) set the defaults back.
        flood_rate=1000,
        flood_burst=10000,
    )


@pytest.fixture
async def container(settings: Settings, clock: ManualClock) -> AsyncIterator[Container]:
    c = build_container(settings, clock=clock)
    yield c
    await c.close()
