"""SQLite unavailable during a sweep: another connection holds the write lock (BEGIN
EXCLUSIVE) for longer than the busy timeout, as a stuck backup or a second process would. The
sweep fails cleanly (one log line, the error counted, nothing half-done), and the next sweep
after the lock is released does everything due, once. (PostgreSQL: test_database_outage.py.)"""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta

import pytest
from sqlalchemy.engine import make_url

from forever.app import build_container
from forever.config import Settings
from forever.db import engine as engine_module
from forever.domain.clock import ManualClock
from forever.runtime import Runtime
from tests.conftest import TEST_TOKEN
from tests.conftest import test_db_kind as db_kind
from tests.integration.test_database_outage import MEMBERS, seed, snapshot

pytestmark = pytest.mark.skipif(db_kind() != "sqlite", reason="SQLite only")


async def test_a_sweep_while_sqlite_is_locked_fails_cleanly_and_the_next_catches_up(
    settings: Settings,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The busy timeout (30 s) shortened, so the lock outlasts it without a 30 s test.
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_SECONDS", 0.3)
    runtime = Runtime(build_container(settings, clock=clock), TEST_TOKEN)
    errors = runtime.container.metrics.errors
    path = make_url(settings.database_url).database
    assert path
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        await seed(runtime)
        holder.execute("BEGIN EXCLUSIVE")  # nobody else may write
        clock.advance(timedelta(seconds=30))
        with caplog.at_level(logging.INFO):
            assert await runtime.sweep_once() is None  # failed, and said so; no exception
        failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(failures) == 1 and "database" in failures[0].getMessage()
        assert "locked" in failures[0].getMessage()
        assert all(r.exc_info is None for r in caplog.records)  # no traceback
        assert errors.labels("sweeps")._value.get() == 1
        holder.execute("ROLLBACK")  # the database is back
        states, queued = await snapshot(runtime)
        assert states == {"cancel_scheduled": MEMBERS} and queued == 0  # nothing half-done

        results = await runtime.sweep_once()
        assert results is not None and results["expire_memberships"] == MEMBERS
        after = await snapshot(runtime)
        assert after[0] == {"expired": MEMBERS}
        assert await runtime.sweep_once() is not None
        assert await snapshot(runtime) == after  # done once, not again
    finally:
        holder.close()
        await runtime.bot.session.close()
        await runtime.container.close()
