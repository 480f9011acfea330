"""5,000 expired members removed from a chat while Telegram answers 429 (issue 17).

The real bot (polling, its delivery worker, SQLite) against the fake Bot API in this process:
N trial members of the club whose trials ended, 40 of the bans and unbans answered 429 (retry
after 1 s). One sweep queues the removals; each is getChatMember, banChatMember, then
unbanChatMember with only_if_banned, and a "you have left" note. Telegram documents no rate
for bans; the notes are messages and keep to the bulk budget (BROADCAST_RATE, 28/s), so they
pace the removals: 5,000 take about 5,000 / 28 = 179 s at the least.

Figures: the time until everyone is out and until every note is sent, CPU, bans per person
(must be 1), the 429s answered and the calls that came back before a 429's retry_after (must
be 0; calls already on their way within 50 ms of the 429 are not counted).

`BENCH_ACCESS_REMOVALS=5000` (the default) sets N; `BENCH_ACCESS_RATE=28` the bulk rate.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from bench._bot_settings import TOKEN, bench_settings
from forever.app import build_container
from forever.db.migrate import upgrade_to_head
from forever.db.models import AccessGrant, AccessMember, OutboxMessage, Person, Subscription
from forever.domain.clock import ManualClock
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.sandbox.fake_bot_api.groups import add_group, groups

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
MEMBERS = int(os.environ.get("BENCH_ACCESS_REMOVALS", "5000"))
RATE = float(os.environ.get("BENCH_ACCESS_RATE", "28"))
INJECTED_429 = 40
CLUB = -1001000000001
FIRST = 800_000
CHATS = f"""
[[chats]]
key = "club"
chat_id = {CLUB}
kind = "channel"
name = {{ en = "Club channel", ro = "Canalul clubului", it = "Canale del club" }}
"""


def _catalog(tmp: str) -> str:
    text = (ROOT / "catalog.toml").read_text(encoding="utf-8")
    text = text.replace('id = "plus"\n', 'id = "plus"\nchats = ["club"]\n', 1)
    path = Path(tmp) / "catalog.toml"
    path.write_text(text + CHATS, encoding="utf-8")
    return str(path)


async def _seed(runtime: Runtime, fake: FakeBotAPI) -> None:
    club = groups(fake.state)[CLUB]
    async with runtime.container.sessions.begin() as session:
        for n in range(MEMBERS):
            uid = FIRST + n
            fake.add_user(uid, f"M{n}", language_code="en", started=True)
            club.statuses[uid] = "member"
            session.add(Person(telegram_id=uid, first_name=f"M{n}", language="en", created_at=NOW))
        await session.flush()
        for person_id, uid in (await session.execute(select(Person.id, Person.telegram_id))).all():
            session.add(
                Subscription(
                    person_id=person_id,
                    state="trial",
                    plan_id="plus",
                    period_end=NOW + timedelta(days=7),
                    started_at=NOW,
                    updated_at=NOW,
                )
            )
            session.add(
                AccessGrant(
                    person_id=person_id,
                    chat_id=CLUB,
                    telegram_id=uid,
                    status="granted",
                    round=1,
                    granted_at=NOW,
                )
            )
            session.add(AccessMember(chat_id=CLUB, user_id=uid, status="member", updated_at=NOW))


async def _busy(runtime: Runtime, clock: ManualClock) -> tuple[int, int]:
    """(rows due and not sent, rows being sent)."""
    async with runtime.container.sessions() as session:
        due = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.status.in_(("pending", "sending")),
                OutboxMessage.not_before <= clock.now(),
            )
        )
        sending = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sending")
        )
    return int(due or 0), int(sending or 0)


async def _run() -> list[tuple[str, str]]:
    clock = ManualClock(NOW)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await asyncio.to_thread(upgrade_to_head, url)
        async with FakeBotAPI(TOKEN, wall_clock=lambda: clock.now().timestamp()) as fake:
            assert fake.base_url is not None
            add_group(fake.state, CLUB, "Club channel", kind="channel")
            settings = bench_settings(
                url,
                fake.base_url,
                catalog_path=_catalog(tmp),
                broadcast_rate=RATE,
            )
            runtime = Runtime(build_container(settings, clock=clock), TOKEN)
            await runtime.start(scheduler=False, handle_as_tasks=False)
            await fake.wait_until_polled()
            try:
                await _seed(runtime, fake)
                club = groups(fake.state)[CLUB]
                fake.inject_429(
                    INJECTED_429, retry_after=1, methods=["banChatMember", "unbanChatMember"]
                )
                clock.advance(timedelta(days=8))
                started, cpu = time.perf_counter(), time.process_time()
                await runtime.sweep_once()
                out_at: float | None = None
                assert runtime.outbox is not None
                while True:
                    await runtime.outbox.drain()
                    await fake.settle()
                    if out_at is None and all(
                        club.status(FIRST + n) == "left" for n in range(MEMBERS)
                    ):
                        out_at = time.perf_counter() - started
                    due, sending = await _busy(runtime, clock)
                    if out_at is not None and not due:
                        break
                    if not sending:
                        clock.advance(timedelta(seconds=2))  # rows retried later come due
                    await asyncio.sleep(0.05)
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            finally:
                await runtime.stop()
            bans = Counter(c.params["user_id"] for c in fake.calls_to("banChatMember") if c.ok)
            notes = sum(
                1
                for c in fake.calls_to("sendMessage")
                if c.ok and "you have left" in str(c.params.get("text", ""))
            )
            early = [e for e in fake.retry_after_watch.early if e.after > 0.05]
    return [
        (
            "members removed",
            f"{sum(1 for n in range(MEMBERS) if club.status(FIRST + n) == 'left')} of {MEMBERS}",
        ),
        ("bulk rate (notes)", f"{RATE:g}/s"),
        ("everyone out after", f"{out_at:.1f} s"),
        ("every note sent after", f"{wall:.1f} s ({notes} notes; floor {MEMBERS / RATE:.0f} s)"),
        ("CPU (bot and fake, one process)", f"{cpu:.1f} s"),
        ("bans per person", f"max {max(bans.values(), default=0)}, {len(bans)} people"),
        ("429s answered", str(len([c for c in fake.refused if c.status == 429]))),
        ("calls before a 429's retry_after", str(len(early))),
    ]


async def main() -> list[tuple[str, str]]:
    return await _run()
