"""A broadcast's claim of its next recipients, early and late in a big broadcast, on SQLite and
PostgreSQL, with the index of migration 0024 (broadcast, status, id) and with the one before
it (broadcast, status), in the same run on the same data.

A claim takes the next 100 pending recipients in id order. Without the id in the index,
PostgreSQL walked the primary key past every recipient already sent, so each claim late in
a broadcast cost more than the one before.

`BENCH_CLAIM_RECIPIENTS=50000` and `BENCH_CLAIM_DATABASES=sqlite` narrow it down.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text, update

from bench._databases import bench_container, database_at_head
from forever.db.models import Broadcast, BroadcastDelivery, Person
from forever.db.repositories.broadcasts import SqlBroadcasts

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
RECIPIENTS = int(os.environ.get("BENCH_CLAIM_RECIPIENTS", "200000"))
DATABASES = os.environ.get("BENCH_CLAIM_DATABASES", "sqlite,postgres").split(",")
BATCH = 100
CLAIMS = 10
INDEXES = {
    "0024 (broadcast, status, id)": (
        "ix_broadcast_deliveries_job_status_id",
        "broadcast_id, status, id",
    ),
    "before (broadcast, status)": ("ix_broadcast_deliveries_job_status", "broadcast_id, status"),
}


async def _fill(container: Any) -> None:
    async with container.sessions.begin() as session:
        chunk = 20_000
        for start in range(1, RECIPIENTS + 1, chunk):
            ids = range(start, min(RECIPIENTS + 1, start + chunk))
            await session.execute(
                insert(Person),
                [{"id": i, "telegram_id": i, "language": "en", "created_at": NOW} for i in ids],
            )
        await session.execute(
            insert(Broadcast).values(
                id=1,
                created_by=1,
                source_chat_id=1,
                source_message_id=1,
                status="running",
                total=RECIPIENTS,
                created_at=NOW,
            )
        )
        for start in range(1, RECIPIENTS + 1, chunk):
            ids = range(start, min(RECIPIENTS + 1, start + chunk))
            await session.execute(
                insert(BroadcastDelivery),
                [{"broadcast_id": 1, "person_id": i, "chat_id": i} for i in ids],
            )


async def _claims(container: Any) -> float:
    """Median ms of a claim of BATCH; each claim is put back after."""
    broadcasts = SqlBroadcasts(container.uow)
    times: list[float] = []
    for _ in range(CLAIMS):
        async with container.uow.begin():
            started = time.perf_counter()
            claimed = await broadcasts.claim(
                1, BATCH, holder="bench", until=NOW + timedelta(minutes=1), now=NOW
            )
            times.append(time.perf_counter() - started)
            assert len(claimed) == BATCH, len(claimed)
            await container.uow.session.execute(
                update(BroadcastDelivery)
                .where(BroadcastDelivery.id.in_([c.delivery_id for c in claimed]))
                .values(status="pending", claimed_by=None, claimed_until=None)
            )
            await container.uow.commit()
    return statistics.median(times) * 1000


async def _index(container: Any, name: str, columns: str) -> None:
    async with container.engine.begin() as conn:
        for old, _ in INDEXES.values():
            await conn.execute(text(f"DROP INDEX IF EXISTS {old}"))
        await conn.execute(text(f"CREATE INDEX {name} ON broadcast_deliveries ({columns})"))
        if conn.dialect.name == "postgresql":
            await conn.execute(text("ANALYZE broadcast_deliveries"))


async def _measure(url: str) -> dict[tuple[str, str], float]:
    container = bench_container(url, NOW)
    out: dict[tuple[str, str], float] = {}
    try:
        await _fill(container)
        for moment, sent in (("at the start", 0), ("with 3/4 sent", RECIPIENTS * 3 // 4)):
            async with container.engine.begin() as conn:
                await conn.execute(
                    update(BroadcastDelivery)
                    .where(BroadcastDelivery.id <= sent)
                    .values(status="delivered")
                )
            for label, (name, columns) in INDEXES.items():
                await _index(container, name, columns)
                await _claims(container)  # warm: the pages read once
                out[(moment, label)] = await _claims(container)
    finally:
        await container.close()
    return out


async def main() -> list[tuple[str, str]]:
    rows = [
        (
            "broadcast claim",
            f"{BATCH} recipients of {RECIPIENTS:,}, median of {CLAIMS} claims (each put back)",
        )
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for kind in DATABASES:
            async with database_at_head(kind, Path(tmp)) as url:
                figures = await _measure(url)
            for label in INDEXES:
                early = figures[("at the start", label)]
                late = figures[("with 3/4 sent", label)]
                rows.append(
                    (
                        f"{kind}, index {label}: at the start / with 3/4 sent",
                        f"{early:.2f} / {late:.2f} ms ({late / early:.1f} ×)",
                    )
                )
    return rows
