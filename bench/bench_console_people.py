"""The owner console's people list at 1M people on PostgreSQL (issue 20).

One million people (a third each en/ro/it) and 800,000 memberships spread over states and
plans, loaded with generate_series into a fresh database migrated to head, then ANALYZE.
Each case runs the console's own use case (ConsolePeople.list: 50 rows, keyset paging) 20
times; the figures are the median and the slowest wall time of one page.

`BENCH_CONSOLE_PEOPLE=100000` changes the population.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from sqlalchemy import text

from forever.app import build_container
from forever.config import load_settings
from forever.db.migrate import upgrade_engine
from forever.domain.clock import ManualClock
from forever.services.console_people import PeopleFilter
from forever.wiring import console

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
N = int(os.environ.get("BENCH_CONSOLE_PEOPLE", "1000000"))
RUNS = 20
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

FILL = [
    """INSERT INTO people (id, telegram_id, username, first_name, language, email,
           email_status, created_at)
       SELECT g, 10000000 + g, 'user' || g, 'Person' || g, (ARRAY['en','ro','it'])[g % 3 + 1],
              'p' || g || '@example.com', 'none', now() - make_interval(secs => g)
       FROM generate_series(1, :n) g""",
    """INSERT INTO subscriptions (person_id, state, plan_id, billing, auto_renew, updated_at,
           version)
       SELECT g, (ARRAY['none','trial','active','active','active','expired','paused',
                         'cancel_scheduled'])[g % 8 + 1],
              (ARRAY['basic','plus','pro'])[g % 3 + 1],
              (ARRAY['monthly','yearly'])[g % 2 + 1], false, now(), 1
       FROM generate_series(1, :n) g WHERE g % 5 <> 0""",
    "SELECT setval('people_id_seq', :n)",
]

CASES: list[tuple[str, PeopleFilter, int | None]] = [
    ("first page, no filter", PeopleFilter(), None),
    ("page in the middle (before=N/2)", PeopleFilter(), N // 2),
    ("last page (before=60)", PeopleFilter(), 60),
    ("language=ro", PeopleFilter(language="ro"), None),
    ("state=paused, plan=pro", PeopleFilter(state="paused", plan="pro"), None),
    (
        "state=paused, plan=pro, language=it, middle",
        PeopleFilter(state="paused", plan="pro", language="it"),
        N // 2,
    ),
    ("segment=paying", PeopleFilter(segment="paying"), None),
    ("segment=trial, middle", PeopleFilter(segment="trial"), N // 2),
    ("search @username", PeopleFilter(query=f"@USER{N // 3}"), None),
    ("search email", PeopleFilter(query=f"p{N // 7}@example.com"), None),
    ("search Telegram id", PeopleFilter(query=str(10000000 + N // 11)), None),
    ("search name prefix, common (Person1)", PeopleFilter(query="Person1"), None),
    ("search name prefix, one match", PeopleFilter(query=f"Person{N // 13}"), None),
    ("search name prefix, no match", PeopleFilter(query="Zed"), None),
]


async def main() -> list[tuple[str, str]]:
    name = f"bench_console_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    rows: list[tuple[str, str]] = [("people", f"{N:,}"), ("load average at start", _load())]
    try:
        settings = load_settings(
            _env_file=None,
            database_url=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}",
            bot_token="123456:AAbench-token-0123456789abcdefghijklmn",
            catalog_path=str(ROOT / "catalog.toml"),
            secret_key="bench-secret-key-0123456789abcdef",
            public_url="https://forever.test",
            log_level="WARNING",
        )
        container = build_container(settings, clock=ManualClock(NOW))
        try:
            await upgrade_engine(container.engine)
            started = time.perf_counter()
            async with container.engine.begin() as conn:
                for sql in FILL:
                    await conn.execute(text(sql), {"n": N})
            async with container.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("ANALYZE"))
            rows.append(("load and index time", f"{time.perf_counter() - started:.0f} s"))
            people = console.people(container)
            for label, wanted, before in CASES:
                times = []
                found = 0
                for _ in range(RUNS):
                    t0 = time.perf_counter()
                    lines, _next = await people.list(wanted, before)
                    times.append(time.perf_counter() - t0)
                    found = len(lines)
                rows.append(
                    (
                        label,
                        f"median {statistics.median(times) * 1000:.1f} ms, "
                        f"max {max(times) * 1000:.1f} ms ({found} rows)",
                    )
                )
        finally:
            await container.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    rows.append(("load average at end", _load()))
    return rows


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())
