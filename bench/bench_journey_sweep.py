"""The email journey sweep over a growing population, on SQLite and PostgreSQL.

People get a realistic spread of sign-up dates, last visits, consents and membership states
(trial, monthly, yearly, past due with a failed payment, ended, none); the sweep runs for one
instant (first run queues the due mail, a second run for the same instant must queue nothing)
and reports time, rows queued and the process's peak memory during the sweep.

`BENCH_SWEEP_SIZES=10000,100000` and `BENCH_SWEEP_DATABASES=sqlite` narrow it down.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import sqlite3
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from forever.app import build_container
from forever.config import load_settings
from forever.db.migrate import upgrade_to_head
from forever.db.models import OutboxMessage
from forever.domain.clock import ManualClock
from forever.wiring.email import journey_sweep

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
PG_ADMIN = os.environ.get(
    "FOREVER_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
SIZES = [int(s) for s in os.environ.get("BENCH_SWEEP_SIZES", "10000,100000,1000000").split(",")]
DATABASES = os.environ.get("BENCH_SWEEP_DATABASES", "sqlite,postgres").split(",")
REASONS = ("too_expensive", "not_using", "missing_feature", "technical", "other")
DAY = 86400.0


def _population(
    n: int, seed: int = 42
) -> tuple[list[tuple], list[tuple], list[tuple], list[tuple]]:
    """(people, consents, subscriptions, events) as tuples of column values."""
    rng = random.Random(seed)
    people, consents, subs, events = [], [], [], []
    for i in range(1, n + 1):
        created = NOW - timedelta(seconds=rng.uniform(0, 730 * DAY))
        seen = NOW - timedelta(seconds=rng.uniform(0, 60 * DAY))
        people.append(
            (i, i, f"Person {i}", ("en", "ro", "it")[i % 3], f"p{i}@example.com", created, seen)
        )
        if rng.random() < 0.6:
            consents.append((i, i, f"p{i}@example.com", f"t{i}", created, created))
        r = rng.random()
        reason = None
        if r < 0.10:
            state, plan, billing = "trial", "plus", "trial"
            end = NOW + timedelta(seconds=rng.uniform(0, 7 * DAY))
        elif r < 0.50:
            state, plan, billing = "active", "plus", "monthly"
            end = NOW + timedelta(seconds=rng.uniform(0, 30 * DAY))
        elif r < 0.60:
            state, plan, billing = "active", "basic", "yearly"
            end = NOW + timedelta(seconds=rng.uniform(0, 365 * DAY))
        elif r < 0.65:
            state, plan, billing = "past_due", "pro", "monthly"
            end = NOW - timedelta(seconds=rng.uniform(0, 3 * DAY))
            events.append((i, "payment_failed", end))
        elif r < 0.90:
            state, plan = "expired", rng.choice(("basic", "plus", "pro"))
            billing = "trial" if rng.random() < 0.2 else "monthly"
            end = NOW - timedelta(seconds=rng.uniform(0, 120 * DAY))
            reason = rng.choice(REASONS) if billing != "trial" else None
        else:
            state, plan, billing, end = "none", None, None, None
        subs.append((i, i, state, plan, billing, end, reason))
    return people, consents, subs, events


def _naive(value: datetime | None) -> str | None:
    # SQLAlchemy's SQLite storage format for our UTC columns.
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _load_sqlite(path: Path, n: int) -> None:
    people, consents, subs, events = _population(n)
    db = sqlite3.connect(path)
    try:
        db.executemany(
            "INSERT INTO people (id, telegram_id, first_name, language, email, email_status,"
            " created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, 'confirmed', ?, ?)",
            [(*p[:5], _naive(p[5]), _naive(p[6])) for p in people],
        )
        db.executemany(
            "INSERT INTO consents (id, person_id, channel, purpose, email, wording_version,"
            " wording_hash, source, token, asked_at, confirmed_at)"
            " VALUES (?, ?, 'email', 'marketing', ?, 'v1', '', 'bench', ?, ?, ?)",
            [(*c[:4], _naive(c[4]), _naive(c[5])) for c in consents],
        )
        db.executemany(
            "INSERT INTO subscriptions (id, person_id, state, plan_id, billing, period_end,"
            " auto_renew, cancel_reason, updated_at, version)"
            " VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, 1)",
            [(*s[:5], _naive(s[5]), s[6], _naive(NOW)) for s in subs],
        )
        db.executemany(
            "INSERT INTO events (person_id, kind, at, data) VALUES (?, ?, ?, '{}')",
            [(e[0], e[1], _naive(e[2])) for e in events],
        )
        db.commit()
        db.execute("ANALYZE")
    finally:
        db.close()


async def _load_postgres(dsn: str, n: int) -> None:
    people, consents, subs, events = _population(n)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "people",
            records=[(*p[:5], "confirmed", p[5], p[6]) for p in people],
            columns=[
                "id",
                "telegram_id",
                "first_name",
                "language",
                "email",
                "email_status",
                "created_at",
                "last_seen_at",
            ],
        )
        await conn.copy_records_to_table(
            "consents",
            records=[
                (c[0], c[1], "email", "marketing", c[2], "v1", "", "bench", c[3], c[4], c[5])
                for c in consents
            ],
            columns=[
                "id",
                "person_id",
                "channel",
                "purpose",
                "email",
                "wording_version",
                "wording_hash",
                "source",
                "token",
                "asked_at",
                "confirmed_at",
            ],
        )
        await conn.copy_records_to_table(
            "subscriptions",
            records=[(*s[:6], False, s[6], NOW, 1) for s in subs],
            columns=[
                "id",
                "person_id",
                "state",
                "plan_id",
                "billing",
                "period_end",
                "auto_renew",
                "cancel_reason",
                "updated_at",
                "version",
            ],
        )
        await conn.copy_records_to_table(
            "events",
            records=[(e[0], e[1], e[2], "{}") for e in events],
            columns=["person_id", "kind", "at", "data"],
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def _reset_peak_memory() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM starts again from VmRSS


def _memory_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _sweep(url: str) -> tuple[float, int, float, int, float, float, int]:
    settings = load_settings(
        _env_file=None,
        database_url=url,
        secret_key="bench-secret-key-0123456789",
        catalog_path=str(ROOT / "catalog.toml"),
        mail_from="Forever <hello@forever.test>",
    )
    container = build_container(settings, clock=ManualClock(NOW))
    try:
        gc.collect()
        _reset_peak_memory()
        before = _memory_mb("VmRSS")
        started = time.perf_counter()
        queued = await journey_sweep(container)(NOW)
        first = time.perf_counter() - started
        peak = _memory_mb("VmHWM") - before
        started = time.perf_counter()
        again = await journey_sweep(container)(NOW)
        second = time.perf_counter() - started
        async with container.sessions() as session:
            rows = await session.scalar(select(func.count()).select_from(OutboxMessage))
        assert rows == queued, (rows, queued)
        # The steady state: the scheduler's next sweep, five minutes later.
        started = time.perf_counter()
        later = await journey_sweep(container)(NOW + timedelta(minutes=5))
        steady = time.perf_counter() - started
        return first, queued, second, again, peak, steady, later
    finally:
        await container.close()


async def _pg_admin(sql: str) -> None:
    engine = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


async def _one(kind: str, n: int, tmp: Path) -> tuple[str, str]:
    started = time.perf_counter()
    if kind == "sqlite":
        path = tmp / f"sweep_{n}.db"
        url = f"sqlite+aiosqlite:///{path}"
        await asyncio.to_thread(upgrade_to_head, url)
        await asyncio.to_thread(_load_sqlite, path, n)
        drop = None
    else:
        name = f"forever_bench_{uuid.uuid4().hex[:8]}"
        await _pg_admin(f'CREATE DATABASE "{name}"')
        base = PG_ADMIN.rpartition("/")[0]
        url = f"{base}/{name}"
        drop = name
        await asyncio.to_thread(upgrade_to_head, url)
        await _load_postgres(url.replace("postgresql+asyncpg", "postgresql"), n)
    load = time.perf_counter() - started
    try:
        first, queued, second, again, peak, steady, later = await _sweep(url)
    finally:
        if drop:
            await _pg_admin(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)')
        elif kind == "sqlite":
            path.unlink(missing_ok=True)
    return (
        f"{kind}, {n:,} people",
        f"first sweep {first:.2f} s ({queued:,} emails queued, 3 days of backlog); "
        f"same instant again {second:.2f} s ({again} new); "
        f"next sweep 5 min later {steady:.2f} s ({later:,} new); "
        f"peak RSS during the first sweep +{max(peak, 0):.0f} MB; data load {load:.0f} s",
    )


async def main() -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in DATABASES:
            for n in SIZES:
                rows.append(await _one(kind, n, Path(tmp)))
                print(*rows[-1], sep=": ", flush=True)
    return rows
