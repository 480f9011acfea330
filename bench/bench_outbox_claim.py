"""The outbox claim against the backlog behind it, on SQLite and PostgreSQL.

A campaign queues every email at once; the delivery worker then claims 500 due rows at a
time until none is left. A claim should cost what it takes, not what waits behind it: here
the same claim runs with 1,000 and with 200,000 rows due (due over ten minutes, as journeys
are, and all at one time, as a campaign is), and the old selection (one OR of "pending and
due" and "lease run out", sorted whole) runs on the same data for comparison.

`BENCH_CLAIM_BACKLOG=50000` and `BENCH_CLAIM_DATABASES=sqlite` narrow it down.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select, text, update

from bench._databases import bench_container, database_at_head
from forever.app import Container
from forever.db import outbox
from forever.db.models import OutboxMessage
from forever.db.outbox import SqlDeliveryStore, due_rows

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
BATCH = 500
CLAIMS = 10
BACKLOGS = (1_000, int(os.environ.get("BENCH_CLAIM_BACKLOG", "200000")))
DATABASES = os.environ.get("BENCH_CLAIM_DATABASES", "sqlite,postgres").split(",")
CHANNELS = ["email", "chat", "telegram"]
# Due times spread over ten minutes (journeys), and one due time for all (a campaign).
SPREADS = (600, 1)


def _old_selection() -> Any:
    """The claim's selection before 2026-12-01 (kept here only to be measured)."""
    c = OutboxMessage.__table__.c
    return (
        select(c.id)
        .where(c.channel.in_(CHANNELS))
        .where(
            or_(
                and_(c.status == "pending", c.not_before <= NOW),
                and_(c.status == "sending", c.claimed_until < NOW),
            )
        )
        .order_by(c.not_before, c.id)
        .limit(BATCH)
    )


async def _fill(container: Container, count: int, spread: int) -> None:
    chunk = 20_000
    for start in range(0, count, chunk):
        rows = [
            {
                "key": f"campaign:{i}",
                "channel": "email",
                "person_id": None,
                "template": "cancel_confirmed",
                "context": {"to": f"p{i}@example.com"},
                "marketing": False,
                # Due over `spread` seconds; 1: all at one time, as a campaign.
                "not_before": NOW - timedelta(seconds=i % spread),
            }
            for i in range(start, min(count, start + chunk))
        ]
        async with container.sessions.begin() as session:
            await outbox.enqueue_many(session, rows, NOW)


async def _measure(url: str, backlog: int, spread: int) -> tuple[float, float, float]:
    """Median ms of: the old selection alone, the new selection alone, a whole claim."""
    container = bench_container(url, NOW)
    try:
        await _fill(container, backlog, spread)
        if container.engine.dialect.name == "postgresql":
            async with container.engine.connect() as conn:
                await conn.execute(text("ANALYZE outbox"))
                await conn.commit()
        selections: dict[str, list[float]] = {"old": [], "new": []}
        async with container.engine.connect() as conn:
            for _ in range(CLAIMS):
                for name, statement in (
                    ("old", _old_selection()),
                    ("new", due_rows(NOW, CHANNELS, BATCH)),
                ):
                    started = time.perf_counter()
                    found = (await conn.execute(statement)).all()
                    selections[name].append(time.perf_counter() - started)
                    assert len(found) == BATCH, len(found)
        store = SqlDeliveryStore(container.uow, "bench", container.one_trip)
        new: list[float] = []
        for _ in range(CLAIMS):
            started = time.perf_counter()
            claimed = await store.claim(NOW, CHANNELS, timedelta(minutes=10), BATCH)
            new.append(time.perf_counter() - started)
            assert len(claimed) == BATCH, len(claimed)
            async with container.sessions.begin() as session:  # the backlog stays the same
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_([row.id for row in claimed]))
                    .values(status="pending", claimed_by=None, claimed_until=None)
                )
        return (
            statistics.median(selections["old"]) * 1000,
            statistics.median(selections["new"]) * 1000,
            statistics.median(new) * 1000,
        )
    finally:
        await container.close()


async def _in_new_database(
    kind: str, tmp: Path, backlog: int, spread: int
) -> tuple[float, float, float]:
    async with database_at_head(kind, tmp) as url:
        return await _measure(url, backlog, spread)


async def main() -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = [
        (
            "claim",
            f"{BATCH} rows, median of {CLAIMS} claims (each put back after), "
            f"backlogs {BACKLOGS[0]:,} and {BACKLOGS[1]:,}",
        )
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for kind in DATABASES:
            for spread in SPREADS:
                figures = [await _in_new_database(kind, Path(tmp), b, spread) for b in BACKLOGS]
                (old_small, due_small, claim_small), (old_big, due_big, claim_big) = figures
                growth = f"for {BACKLOGS[1] // BACKLOGS[0]} × the backlog"
                name = f"{kind}, " + (
                    "one due time for all" if spread == 1 else f"due over {spread} s"
                )
                rows += [
                    (
                        f"{name}: a whole claim with {BACKLOGS[0]:,} / {BACKLOGS[1]:,} rows due",
                        f"{claim_small:.2f} / {claim_big:.2f} ms "
                        f"({claim_big / claim_small:.1f} × {growth})",
                    ),
                    (
                        f"{name}: its selection alone, same data",
                        f"{due_small:.2f} / {due_big:.2f} ms "
                        f"({due_big / due_small:.1f} × {growth})",
                    ),
                    (
                        f"{name}: the old selection alone (one OR, sorted whole), same data",
                        f"{old_small:.2f} / {old_big:.2f} ms "
                        f"({old_big / old_small:.1f} × {growth})",
                    ),
                ]
    return rows
