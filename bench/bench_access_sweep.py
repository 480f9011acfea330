"""The membership access sweep (issue 17) over a population on SQLite.

N people with subscriptions (70 % with access, on plans opening one or two chats): the first
sweep gives every member their chats (one invite row each), the second finds nothing to do
(the steady state, every 5 minutes), then 10 % of the memberships end and a sweep queues their
removals. The floor is reading what the sweep reads (holders and grants) without deciding
anything, measured in the same run.

`BENCH_ACCESS_SIZES=10000,50000` sets the sizes.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

from forever.app import build_container
from forever.config import load_settings
from forever.db.migrate import upgrade_to_head
from forever.db.models import OutboxMessage
from forever.db.repositories.access import SqlAccessStore
from forever.domain.clock import ManualClock
from forever.wiring.access import sync_access

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
STATES = ("trial", "active", "active", "active", "cancel_scheduled", "active", "past_due")
STATES += ("expired", "expired", "none")
SIZES = [int(s) for s in os.environ.get("BENCH_ACCESS_SIZES", "10000,50000").split(",")]
CHATS = """
[[chats]]
key = "club"
chat_id = -1001000000001
kind = "channel"
name = { en = "Club", ro = "Club", it = "Club" }

[[chats]]
key = "pro_room"
chat_id = -1001000000002
kind = "group"
name = { en = "Pro room", ro = "Camera Pro", it = "Stanza Pro" }
"""


def _catalog(tmp: Path) -> Path:
    text = (ROOT / "catalog.toml").read_text(encoding="utf-8")
    for plan, chats in (
        ("basic", '["club"]'),
        ("plus", '["club"]'),
        ("pro", '["club", "pro_room"]'),
    ):
        text = text.replace(f'id = "{plan}"\n', f'id = "{plan}"\nchats = {chats}\n', 1)
    path = tmp / "catalog.toml"
    path.write_text(text + CHATS, encoding="utf-8")
    return path


def _load(path: Path, n: int) -> None:
    stamp = NOW.strftime("%Y-%m-%d %H:%M:%S.%f")
    db = sqlite3.connect(path)
    try:
        db.executemany(
            "INSERT INTO people (id, telegram_id, first_name, language, email_status,"
            " created_at) VALUES (?, ?, ?, 'en', 'none', ?)",
            [(i, 10_000 + i, f"P{i}", stamp) for i in range(1, n + 1)],
        )
        rows = []
        for i in range(1, n + 1):
            state = STATES[i % 10]
            rows.append((i, i, state, ("basic", "plus", "pro")[i % 3], stamp))
        db.executemany(
            "INSERT INTO subscriptions (id, person_id, state, plan_id, auto_renew, updated_at,"
            " version) VALUES (?, ?, ?, ?, 0, ?, 1)",
            rows,
        )
        db.commit()
    finally:
        db.close()


async def _run(n: int, tmp: Path) -> list[tuple[str, str]]:
    db = tmp / f"access-{n}.db"
    url = f"sqlite+aiosqlite:///{db}"
    await asyncio.to_thread(upgrade_to_head, url)
    _load(db, n)
    settings = load_settings(
        _env_file=None,
        database_url=url,
        secret_key="bench-secret-key-0123456789",
        catalog_path=str(_catalog(tmp)),
    )
    container = build_container(settings, clock=ManualClock(NOW))
    try:
        sync = sync_access(container)
        started = time.perf_counter()
        first = await sync.sweep(NOW)
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        again = await sync.sweep(NOW + timedelta(minutes=5))
        steady_s = time.perf_counter() - started
        store = SqlAccessStore(container.uow)
        started = time.perf_counter()
        async with container.uow.begin():
            await store.holders(None)
            await store.grants(None)
        floor_s = time.perf_counter() - started
        async with container.sessions.begin() as session:  # 10 % of memberships end
            await session.execute(
                text("UPDATE subscriptions SET state = 'expired' WHERE id % 10 = 1")
            )
        started = time.perf_counter()
        removals = await sync.sweep(NOW + timedelta(minutes=10))
        removal_s = time.perf_counter() - started
        async with container.sessions() as session:
            rows = await session.scalar(select(func.count()).select_from(OutboxMessage))
        load = os.getloadavg()[0]
        return [
            (f"{n} people, first sweep", f"{first_s:.2f} s, {first} invites queued"),
            (
                f"{n} people, steady sweep",
                f"{steady_s:.2f} s, {again} queued (floor: reading "
                f"holders and grants {floor_s:.2f} s)",
            ),
            (f"{n} people, 10 % ended", f"{removal_s:.2f} s, {removals} removals queued"),
            (f"{n} people, outbox rows", f"{rows} · load average {load:.2f}"),
        ]
    finally:
        await container.close()


async def main() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-access-") as tmp:
        for n in SIZES:
            out += await _run(n, Path(tmp))
    return out
