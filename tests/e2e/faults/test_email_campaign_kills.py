"""kill -9 twenty times during a 1,000-email campaign: afterwards every email reached the SMTP
server (0 lost) and there are no more duplicates than kills. Counted by Message-ID at a real
aiosmtpd sink (one stable Message-ID per outbox row)."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from forever.app import Container
from forever.db import outbox
from forever.db.models import OutboxMessage, Person
from forever.sandbox.fake_bot_api import FakeBotAPI
from tests.conftest import START
from tests.e2e.faults.process import Forker, poll_until, run_env
from tests.e2e.staff_helpers import wait_for
from tests.processes import START_WITHIN
from tests.smtp_sink import SmtpSink

pytestmark = pytest.mark.slow

EMAILS = 1000
KILLS = 20


async def queue_campaign(container: Container) -> None:
    async with container.sessions.begin() as session:
        await session.execute(
            insert(Person),
            [
                {
                    "telegram_id": 800_000 + i,
                    "first_name": f"P{i}",
                    "language": "en",
                    "email": f"p{i}@example.com",
                    "email_status": "unconfirmed",
                    "created_at": START,
                }
                for i in range(EMAILS)
            ],
        )
        people = (await session.scalars(select(Person.id).order_by(Person.id))).all()
        await outbox.enqueue_many(
            session,
            [
                {
                    "key": f"campaign:{pid}",
                    "channel": "email",
                    "person_id": pid,
                    "template": "cancel_confirmed",
                    "context": {
                        "plan_name": "Plus",
                        "access_until": START + timedelta(days=10),
                        "canceled_at": START,
                    },
                    "marketing": False,
                    "not_before": START,
                }
                for pid in people
            ],
            START,
        )


async def unsent(container: Container) -> int:
    async with container.sessions() as session:
        return int(
            await session.scalar(select(func.count()).where(OutboxMessage.status != "sent")) or 0
        )


async def test_twenty_kills_during_a_campaign_lose_no_email(
    tg: FakeBotAPI, container: Container, database_url: str, tmp_path: Path
) -> None:
    await queue_campaign(container)
    sink = SmtpSink()
    sink.start()
    rng = random.Random(14)
    env = run_env(
        database_url,
        str(tg.base_url),
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(sink.port),
        SMTP_SECURITY="none",
    )
    forker = Forker(env, tmp_path)
    started = time.monotonic()
    try:
        await forker.start()
        kill_points: list[int] = []
        for kill in range(KILLS):
            pid = await forker.spawn()
            at_start = len(sink.received)
            if kill % 3 == 0:
                # At a random moment after start: before, while or between batches.
                await asyncio.sleep(rng.uniform(0.2, 2.5))
            else:
                # Mid-send: after a random number of emails of this run. On a fast machine the
                # campaign can end before the last kills: never wait for more than it holds.
                wanted = min(at_start + rng.randint(1, 40), EMAILS)
                await wait_for(lambda n=wanted: len(sink.received) >= n, within=START_WITHIN)
            await forker.kill(pid)
            kill_points.append(len(sink.received))
        pid = await forker.spawn()

        async def all_sent() -> bool:
            return await unsent(container) == 0

        await poll_until(all_sent, START_WITHIN)
        await forker.kill(pid, signal.SIGTERM)
    finally:
        await forker.close()
        sink.stop()
    elapsed = time.monotonic() - started
    copies = Counter(str(r.message["Message-ID"]) for r in sink.received)
    lost = EMAILS - len(copies)
    duplicates = sum(n - 1 for n in copies.values())
    print(  # noqa: T201 - the figure for docs/benchmarks.md
        f"\n{KILLS} kills at {kill_points}: {len(sink.received)} received, "
        f"{len(copies)} distinct, lost {lost}, duplicates {duplicates}, {elapsed:.1f}s"
    )
    assert lost == 0
    # Each email is marked sent in its own commit right after the server's 250, and no other
    # email ends its DATA before that commit (SmtpPool), so a kill repeats at most one email.
    assert duplicates <= KILLS
    assert not [line for line in forker.lines if line.get("level") == "RAW"]
