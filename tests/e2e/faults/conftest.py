"""The process-kill fault runs: on SQLite only for now.

On PostgreSQL both tests pass when this folder runs alone, but in the full suite the forked
`bot.py run` processes stopped sending (timeouts) on 2026-11-30, cause not found yet. Until
it is, CI runs them on SQLite (the `make test` pass); the PostgreSQL fault tests that do not
fork (tests/integration/test_database_outage.py, test_redis_restart.py) still run there.
"""

from __future__ import annotations

import pytest

from tests.conftest import test_db_kind


@pytest.fixture(autouse=True)
def _sqlite_only() -> None:
    if test_db_kind() == "postgres":
        pytest.skip("kill -9 fault runs: SQLite only until the PostgreSQL full-suite hang is found")
