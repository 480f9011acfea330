"""The email journey sweep over a growing population, on SQLite and PostgreSQL.

People get a realistic spread of sign-up dates, last visits, consents and membership states
(trial, monthly, yearly, past due with a failed payment, ended, none), loaded into a schema
from before the sweep's index, then migrated to head. Then, against the goals (issue 15):

- the cold first sweep (no round finished: every window in full, 3 days of backlog to queue);
- the same instant again (nothing new);
- the steady state: sweeps 5 minutes apart (the scheduler's), each reading only what is due;
- a sweep after 1,000 people's facts changed (trials extended, payments, cancellations,
  consent withdrawn, addresses bouncing);
- the old sweep (every window in full) on the same data, for comparison, and the first sweep
  after the migration of a database the old sweep kept current;
- the process's peak RSS growth during any of these sweeps.

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
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import asyncpg
from alembic import command
from sqlalchemy import func, select, update

from bench._databases import pg_admin
from forever.app import build_container
from forever.config import load_settings
from forever.db.migrate import alembic_config
from forever.db.models import Consent, OutboxMessage, Person, Subscription, SweepMark
from forever.domain.clock import ManualClock
from forever.wiring.container import Container
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
BEFORE = "0004_keyed_suppr"  # the schema before the sweep's index


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


def _load() -> str:
    return "load " + " / ".join(f"{x:.1f}" for x in os.getloadavg())


class Timed(NamedTuple):
    seconds: float
    queued: int
    peak_mb: float  # the process's peak RSS above what it had before the sweep
    load: str
    cpu: float = 0.0  # this process's CPU seconds (the machine is shared: wall time varies)


async def _timed(sweep: Callable[[datetime], Awaitable[int]], at: datetime) -> Timed:
    gc.collect()
    _reset_peak_memory()
    before = _memory_mb("VmRSS")
    started, cpu = time.perf_counter(), time.process_time()
    queued = await sweep(at)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return Timed(seconds, queued, max(0.0, _memory_mb("VmHWM") - before), _load(), cpu)


async def _touch(container: Container, n: int, count: int, at: datetime) -> None:
    """`count` people's facts change, as five minutes of a busy day would: trials extended,
    payments, cancellations, consents withdrawn and given, addresses bouncing."""
    rng = random.Random(at.timestamp())
    ids = rng.sample(range(1, n + 1), count)
    async with container.sessions.begin() as session:
        for i, pid in enumerate(ids):
            kind = i % 5
            if kind == 0:
                await session.execute(
                    update(Subscription)
                    .where(Subscription.person_id == pid)
                    .values(period_end=at + timedelta(days=3))
                )
            elif kind == 1:
                await session.execute(
                    update(Subscription)
                    .where(Subscription.person_id == pid)
                    .values(state="active", billing="monthly", period_end=at + timedelta(days=30))
                )
            elif kind == 2:
                await session.execute(
                    update(Subscription)
                    .where(Subscription.person_id == pid)
                    .values(state="cancel_scheduled")
                )
            elif kind == 3:
                await session.execute(
                    update(Consent).where(Consent.person_id == pid).values(withdrawn_at=at)
                )
            else:
                await session.execute(
                    update(Person).where(Person.id == pid).values(email_status="undeliverable")
                )


STEADY = 5  # steady-state sweeps, five minutes apart
TOUCHED = 1000  # people whose facts change before the sweep "with changes"


async def _sweep(url: str, n: int) -> dict[str, Any]:
    settings = load_settings(
        _env_file=None,
        database_url=url,
        secret_key="bench-secret-key-0123456789",
        catalog_path=str(ROOT / "catalog.toml"),
        mail_from="Forever <hello@forever.test>",
    )
    container = build_container(settings, clock=ManualClock(NOW))
    out: dict[str, Any] = {}
    try:
        sweep = journey_sweep(container)
        # The first sweep after the migration: no round finished yet, every window in full,
        # with 3 days (`late_days`) of backlog to queue at once.
        out["cold"] = await _timed(sweep, NOW)
        out["again"] = await _timed(sweep, NOW)
        async with container.sessions() as session:
            rows = await session.scalar(select(func.count()).select_from(OutboxMessage))
        assert rows == out["cold"].queued, (rows, out["cold"].queued)
        at = NOW
        steady = []
        for _ in range(STEADY):
            at += timedelta(minutes=5)
            steady.append(await _timed(sweep, at))
        out["steady"] = steady
        at += timedelta(minutes=5)
        await _touch(container, n, TOUCHED, at - timedelta(minutes=2))
        out["touched"] = await _timed(sweep, at)
        # The old sweep, every window in full, on the same data (all queued up to here).
        full = journey_sweep(container)
        full.rounds = None
        at += timedelta(minutes=5)
        out["full"] = await _timed(full, at)
        # The first sweep after the migration of a database the old sweep kept current.
        async with container.sessions.begin() as session:
            await session.execute(update(SweepMark).values(swept_at=None))
        at += timedelta(minutes=5)
        out["migrated"] = await _timed(sweep, at)
        at += timedelta(minutes=5)
        out["after"] = await _timed(sweep, at)
        return out
    finally:
        await container.close()


def _upgrade(url: str, revision: str) -> None:
    command.upgrade(alembic_config(url), revision)


async def _one(kind: str, n: int, tmp: Path) -> list[tuple[str, str]]:
    started = time.perf_counter()
    # A database from before the sweep's index: schema up to 0004, the people loaded, then
    # the migration to head (what an existing installation goes through).
    if kind == "sqlite":
        path = tmp / f"sweep_{n}.db"
        url = f"sqlite+aiosqlite:///{path}"
        await asyncio.to_thread(_upgrade, url, BEFORE)
        await asyncio.to_thread(_load_sqlite, path, n)
        drop = None
    else:
        name = f"forever_bench_{uuid.uuid4().hex[:8]}"
        await pg_admin(f'CREATE DATABASE "{name}"')
        base = PG_ADMIN.rpartition("/")[0]
        url = f"{base}/{name}"
        drop = name
        await asyncio.to_thread(_upgrade, url, BEFORE)
        await _load_postgres(url.replace("postgresql+asyncpg", "postgresql"), n)
    load = time.perf_counter() - started
    started = time.perf_counter()
    await asyncio.to_thread(_upgrade, url, "head")
    migration = time.perf_counter() - started
    try:
        r = await _sweep(url, n)
    finally:
        if drop:
            await pg_admin(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)')
        elif kind == "sqlite":
            path.unlink(missing_ok=True)
    cold, again, steady, touched, full = r["cold"], r["again"], r["steady"], r["touched"], r["full"]
    migrated, after = r["migrated"], r["after"]
    times = sorted(t.seconds for t in steady)
    median, worst = times[len(times) // 2], times[-1]
    cpu_median = sorted(t.cpu for t in steady)[len(steady) // 2]
    peak = max(t.peak_mb for t in [cold, again, *steady, touched, migrated, after])
    label = f"{kind}, {n:,} people"

    def ms(t: Timed) -> str:
        return f"{t.seconds * 1000:.0f} ms ({t.queued:,} new)"

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    return [
        (
            f"{label}: steady sweep, 5 min apart ({STEADY} sweeps)",
            f"median {median * 1000:.0f} ms, worst {worst * 1000:.0f} ms, "
            f"min {times[0] * 1000:.0f} ms"
            f" (CPU of this process: median {cpu_median * 1000:.0f} ms) "
            f"({', '.join(f'{t.queued}' for t in steady)} new); goal <= 100 ms: "
            f"{verdict(worst <= 0.1)}; old full scan {full.seconds:.2f} s ({full.queued} new): "
            f"{full.seconds / median:.0f} x the new median; {steady[-1].load}",
        ),
        (
            f"{label}: sweep after {TOUCHED:,} people's facts changed",
            f"{ms(touched)}; {touched.load}",
        ),
        (
            f"{label}: cold first sweep, 3 days of backlog to queue",
            f"{cold.seconds:.2f} s, CPU of this process {cold.cpu:.2f} s ({cold.queued:,} new);"
            " goal <= 10 s: "
            f"{verdict(cold.seconds <= 10)}; {cold.load}",
        ),
        (
            f"{label}: first sweep after the migration, outbox kept current by the old sweep",
            f"{migrated.seconds:.2f} s ({migrated.queued:,} new), then {ms(after)}; "
            f"goal <= 10 s: {verdict(migrated.seconds <= 10)}; {migrated.load}",
        ),
        (f"{label}: same instant again", ms(again)),
        (
            f"{label}: peak RSS growth during any sweep",
            f"+{peak:.0f} MB; goal <= 50 MB: {verdict(peak <= 50)}",
        ),
        (f"{label}: load / migration 0004 -> head", f"{load:.0f} s / {migration:.2f} s"),
    ]


async def main() -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in DATABASES:
            for n in SIZES:
                for row in await _one(kind, n, Path(tmp)):
                    rows.append(row)
                    print(*row, sep=": ", flush=True)
    return rows
