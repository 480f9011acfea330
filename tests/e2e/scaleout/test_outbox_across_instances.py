"""Scheduled email across three instances: the sweep queues each email once (one leader),
every instance drains the outbox together, each email reaches the SMTP server once, and an
instance killed holding claimed rows loses none of them."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from forever.db.models import OutboxMessage, Person
from forever.domain.clock import ManualClock
from forever.jobs.delivery import LEASE
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from tests.e2e.scaleout.harness import Cluster
from tests.smtp_sink import SmtpSink, smtp_sink_fixture  # noqa: F401 - fixture

PEOPLE = 30


async def sign_up_people(runtime: Runtime, clock: ManualClock, count: int = PEOPLE) -> None:
    async with runtime.container.sessions.begin() as session:
        for i in range(count):
            session.add(
                Person(
                    telegram_id=8000 + i,
                    first_name=f"Member{i}",
                    language=("en", "ro", "it")[i % 3],
                    email=f"member{i}@example.com",
                    email_status="unconfirmed",
                    created_at=clock.now() - timedelta(minutes=30),
                    last_seen_at=clock.now(),
                )
            )


async def start_three(cluster: Cluster, smtp_sink: SmtpSink) -> list[Runtime]:
    return [
        await cluster.add(scheduler=True, smtp_host="127.0.0.1", smtp_port=smtp_sink.port)
        for _ in range(3)
    ]


def recipients(smtp_sink: SmtpSink) -> Counter[str]:
    return Counter(r for received in smtp_sink.received for r in received.recipients)


async def outbox_rows(runtime: Runtime) -> list[OutboxMessage]:
    async with runtime.container.sessions() as session:
        return list(await session.scalars(select(OutboxMessage)))


async def test_each_scheduled_email_is_sent_once_across_instances(
    tg: FakeBotAPI, cluster: Cluster, clock: ManualClock, smtp_sink: SmtpSink
) -> None:
    instances = await start_three(cluster, smtp_sink)
    await sign_up_people(instances[0], clock)
    for _ in range(2):  # the same instant twice: nothing new the second time
        sweeps = await asyncio.gather(*(r.sweep_once() for r in instances))
        assert sum(1 for s in sweeps if s is not None) == 1
        await asyncio.gather(*(r.outbox.drain() for r in instances if r.outbox))
    # The sweep's commit also kicked each instance's own delivery loop: let those drains end.
    loops = [r.outbox.loop.settled() for r in instances if r.outbox]
    await asyncio.wait_for(asyncio.gather(*loops), 30)
    got = recipients(smtp_sink)
    assert len(got) == PEOPLE
    assert set(got.values()) == {1}, "no address got a second copy"
    rows = await outbox_rows(instances[0])
    assert len(rows) == PEOPLE
    assert {row.status for row in rows} == {"sent"}


async def test_an_instance_killed_holding_claimed_email_loses_none(
    tg: FakeBotAPI, cluster: Cluster, clock: ManualClock, smtp_sink: SmtpSink
) -> None:
    # Alone at first: the rows leave as soon as the sweep commits (the commit wakes the
    # delivery worker, and NOTIFY the other instances'), so the doomed instance must be the
    # one that claims them.
    doomed = await cluster.add(scheduler=True, smtp_host="127.0.0.1", smtp_port=smtp_sink.port)
    await sign_up_people(doomed, clock)
    assert doomed.outbox is not None

    # The doomed instance claims the batch its sweep queued and dies before its SMTP server
    # says yes.
    claimed = asyncio.Event()

    async def never_sends(*args: Any, **kwargs: Any) -> None:
        claimed.set()
        await asyncio.Event().wait()

    doomed.outbox.worker.smtp.send = never_sends  # type: ignore[union-attr, method-assign]
    assert await doomed.sweep_once() is not None
    await claimed.wait()
    held = [r for r in await outbox_rows(doomed) if r.claimed_by == doomed.instance]
    assert len(held) == PEOPLE
    survivors = [
        await cluster.add(scheduler=True, smtp_host="127.0.0.1", smtp_port=smtp_sink.port)
        for _ in range(2)
    ]
    await cluster.kill(doomed)

    # Until the lease runs out nobody else touches those rows; then they are sent, once.
    await asyncio.gather(*(r.outbox.drain() for r in survivors if r.outbox))
    assert smtp_sink.received == []
    clock.advance(LEASE + timedelta(seconds=1))
    await asyncio.gather(*(r.outbox.drain() for r in survivors if r.outbox))
    got = recipients(smtp_sink)
    assert len(got) == PEOPLE
    assert set(got.values()) == {1}
    rows = await outbox_rows(survivors[0])
    assert {row.status for row in rows} == {"sent"}
    assert {row.claimed_by for row in rows} == {None}
