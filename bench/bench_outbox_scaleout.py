"""Outbox drain with 1, 2 and 3 instances on PostgreSQL: messages per second, duplicates.

Each instance is its own process (as in production) with its own engine, claiming rows with
FOR UPDATE SKIP LOCKED. Two channels:
- email: rendered, built as MIME and sent over SMTP to a local server (aiosmtpd) that counts
  what arrives by Message-ID;
- chat: rendered and handed to a port that only records the chat ids (no network), so the
  figure is the outbox machinery itself (claim, render, record).
Needs the PostgreSQL server of the tests (FOREVER_BENCH_PG_URL, default
postgresql+asyncpg://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from bench._databases import pg_admin
from forever.db.migrate import upgrade_to_head
from forever.db.models import Base, OutboxMessage, Person

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get(
    "FOREVER_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
MESSAGES = int(os.environ.get("FOREVER_BENCH_OUTBOX_MESSAGES", "1000"))
REPEATS = int(os.environ.get("FOREVER_BENCH_OUTBOX_REPEATS", "3"))
INSTANCES = (1, 2, 3)
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class CountingSink:
    """aiosmtpd handler: counts accepted messages by Message-ID."""

    def __init__(self) -> None:
        self.ids: Counter[str] = Counter()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for line in (envelope.original_content or envelope.content).split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                self.ids[line.split(b":", 1)[1].strip().decode()] += 1
                break
            if not line:
                break
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def seed(url: str, count: int, channel: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            await conn.execute(
                insert(Person),
                [
                    {
                        "telegram_id": 10_000 + i,
                        "first_name": f"Member {i}",
                        "language": ("en", "ro", "it")[i % 3],
                        "email": f"member{i}@example.com",
                        "email_status": "confirmed",
                        "created_at": NOW,
                    }
                    for i in range(count)
                ],
            )
            await conn.execute(
                insert(OutboxMessage),
                [
                    {
                        "idempotency_key": f"bench:{i}",
                        "channel": channel,
                        "person_id": i + 1,
                        "template": "consent_confirm" if channel == "email" else "help",
                        "context": {"confirm_url": f"https://forever.test/c/{i}"}
                        if channel == "email"
                        else {},
                        "marketing": False,
                        "status": "pending",
                        "not_before": NOW,
                        "attempts": 0,
                        "created_at": NOW,
                    }
                    for i in range(count)
                ],
            )
    finally:
        await engine.dispose()


async def sent_rows(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return int(
                await conn.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status == "sent")
                )
                or 0
            )
    finally:
        await engine.dispose()


async def drain_with(
    url: str, smtp_port: int, instances: int, channel: str
) -> list[dict[str, Any]]:
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench._outbox_worker",
            url,
            str(smtp_port),
            f"bench-{n}",
            channel,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for n in range(instances)
    ]
    for worker in workers:
        assert worker.stdout is not None
        line = await worker.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError(f"worker did not start: {line!r}")
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(b"go\n")
        await worker.stdin.drain()
    reports = []
    for worker in workers:
        out, _ = await worker.communicate()
        if worker.returncode != 0:
            raise RuntimeError(f"worker failed with exit code {worker.returncode}")
        reports.append(json.loads(out.decode().strip().splitlines()[-1]))
    return reports


async def drain_once(
    url: str, sink: CountingSink, smtp_port: int, channel: str, instances: int
) -> tuple[float, list[int], int]:
    """One drain of MESSAGES rows: (seconds, rows sent per instance, duplicates)."""
    await seed(url, MESSAGES, channel)
    sink.ids.clear()
    reports = await drain_with(url, smtp_port, instances, channel)
    if channel == "email":
        delivered = Counter(sink.ids)
    else:
        delivered = Counter(chat_id for r in reports for chat_id in r["chat_ids"])
    received = sum(delivered.values())
    duplicates = received - len(delivered)
    stored = await sent_rows(url)
    if received - duplicates != MESSAGES or stored != MESSAGES:
        raise RuntimeError(
            f"outbox drain lost messages: delivered {received - duplicates} distinct, "
            f"{stored} rows sent, of {MESSAGES}"
        )
    return max(r["seconds"] for r in reports), [r["sent"] for r in reports], duplicates


async def measure(
    url: str, sink: CountingSink, smtp_port: int, channel: str, instances: int
) -> tuple[str, str]:
    runs = [await drain_once(url, sink, smtp_port, channel, instances) for _ in range(REPEATS)]
    rates = sorted(MESSAGES / seconds for seconds, _, _ in runs)
    duplicates = sum(d for _, _, d in runs)
    splits = "; ".join(" + ".join(map(str, split)) for _, split, _ in runs)
    label = f"{channel}, {instances} instance{'s' if instances > 1 else ''}"
    return (
        label,
        f"{statistics.median(rates):.0f} messages/s median of {REPEATS} "
        f"(range {rates[0]:.0f}-{rates[-1]:.0f}; {MESSAGES} messages each; rows per instance "
        f"{splits}); duplicates {duplicates}",
    )


async def main() -> list[tuple[str, str]]:
    name = f"forever_bench_{uuid.uuid4().hex[:8]}"
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    url = f"{base}/{name}"
    await pg_admin(f'CREATE DATABASE "{name}"')
    sink = CountingSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    rows: list[tuple[str, str]] = []
    try:
        await asyncio.to_thread(upgrade_to_head, url)
        for channel in ("email", "chat"):
            for instances in INSTANCES:
                rows.append(await measure(url, sink, controller.port, channel, instances))
    finally:
        controller.stop()
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return rows
