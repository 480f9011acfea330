"""Recovery after a crash, on the injected clock: a restarted instance keeps its name and takes
back at once what it held; a sender of another name waits for the lease; one live process per
name; a sender that lost its job lease stops."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from forever.app import Container
from forever.db.models import Lease, OutboxMessage, UpdateInbox
from forever.db.repositories.broadcasts import SqlBroadcasts
from forever.domain.clock import ManualClock
from forever.services.broadcast_sender import LEASE_RENEW, LEASE_TTL, BroadcastWorker
from forever.wiring.container import stable_instance_id
from forever.wiring.instance import NAME_LEASE_TTL, InstanceName, lease_name
from tests.conftest import START
from tests.e2e.staff_helpers import wait_for
from tests.integration.test_broadcast_sender import (
    FAST,
    CountingBucket,
    ScriptedTransport,
    seed,
)


def sender(
    container: Container, transport: ScriptedTransport, holder: str, **config: float
) -> BroadcastWorker:
    uow = container.uow
    return BroadcastWorker(
        uow,
        SqlBroadcasts(uow),
        container.people_repo,
        container.events,
        container.clock,
        transport,
        CountingBucket(),
        replace(FAST, **config),  # type: ignore[arg-type]
        holder=holder,
        # Housekeeping timed by the injected clock too (lease renewals).
        monotonic=lambda: container.clock.now().timestamp(),
    )


async def killed_mid_job(
    container: Container, holder: str, ids: list[int]
) -> tuple[int, ScriptedTransport]:
    """A sender of name `holder` killed with sends in flight: the job, and what it sent."""
    job = await seed(container, ids)
    transport = ScriptedTransport(gate=asyncio.Event())
    dying = sender(container, transport, holder, drain_timeout=0.01)
    dying.start()
    await wait_for(lambda: sum(transport.calls.values()) >= 4)
    killing = asyncio.create_task(dying.stop(graceful=False))
    await asyncio.sleep(0)
    transport.gate.set()  # the sends in flight end one way or the other
    await killing
    return job, transport


async def test_the_same_instance_restarted_takes_its_job_back_at_once(
    container: Container,
) -> None:
    ids = list(range(600, 640))
    job, before = await killed_mid_job(container, "host-a:8080", ids)
    transport = ScriptedTransport()
    report = await sender(container, transport, "host-a:8080").run(job)  # no clock advance
    assert report is not None and report.status == "done"
    got = before.delivered + transport.delivered
    assert set(got) == set(ids)  # nobody lost
    assert sum(got.values()) - len(ids) <= FAST.concurrency  # only sends in flight twice


async def test_another_instance_takes_a_dead_senders_job_when_its_lease_lapses(
    container: Container, clock: ManualClock
) -> None:
    ids = list(range(700, 730))
    job, before = await killed_mid_job(container, "host-a:8080", ids)
    other = sender(container, ScriptedTransport(), "host-b:8080")
    assert await other.run(job) is None  # still held by the dead sender
    clock.advance(LEASE_TTL - timedelta(seconds=1))
    assert await other.run(job) is None
    clock.advance(timedelta(seconds=2))
    report = await other.run(job)
    assert report is not None and report.status == "done" and report.delivered == len(ids)
    assert set(other.transport.delivered) | set(before.delivered) == set(ids)  # type: ignore[attr-defined]


async def test_a_sender_that_lost_its_job_lease_stops(
    container: Container, clock: ManualClock
) -> None:
    ids = list(range(800, 900))
    job = await seed(container, ids)
    transport = ScriptedTransport(gate=asyncio.Event())
    stalled = sender(container, transport, "host-a:8080", drain_timeout=0.2)
    running = asyncio.create_task(stalled.run(job))
    try:
        await wait_for(lambda: sum(transport.calls.values()) >= 4)
        # Its renewals did not get through for a lease's length and another instance took
        # the job (written directly: the stalled sender must not renew in between).
        async with container.sessions.begin() as session:
            await session.execute(
                update(Lease)
                .where(Lease.name == f"broadcast:{job}")
                .values(holder="host-b:8080", expires_at=clock.now() + LEASE_TTL * 2)
            )
        clock.advance(LEASE_RENEW)  # its next renewal is due, and fails
        run = stalled._current
        assert run is not None
        await wait_for(run.halt.is_set)
    finally:
        transport.gate.set()
        report = await asyncio.wait_for(running, 10)
    assert report is not None and report.status == "interrupted"
    assert sum(transport.calls.values()) <= FAST.concurrency  # nothing new after the loss


async def test_a_restarted_instance_takes_back_its_emails_and_updates_at_once(
    container: Container, clock: ManualClock
) -> None:
    async with container.sessions.begin() as session:
        for key, holder in (("mine", "host-a:8080"), ("theirs", "host-b:8080")):
            session.add(
                OutboxMessage(
                    idempotency_key=key,
                    channel="email",
                    template="t",
                    context={},
                    status="sending",
                    not_before=START,
                    attempts=1,
                    claimed_by=holder,
                    claimed_until=clock.now() + timedelta(minutes=10),
                    created_at=START,
                )
            )
        session.add(
            UpdateInbox(
                update_id=1,
                body={},
                received_at=START,
                claimed_by="host-a:8080",
                claimed_until=clock.now() + timedelta(minutes=2),
            )
        )
    name = InstanceName(container.sessions, clock, "host-a:8080")
    assert await name.claim()
    reclaimed = await name.reclaim()
    assert (reclaimed.outbox, reclaimed.updates) == (1, 1)
    async with container.sessions() as session:
        rows = {
            r.idempotency_key: (r.status, r.attempts, r.claimed_by)
            for r in await session.scalars(select(OutboxMessage))
        }
        due = await session.scalar(
            select(UpdateInbox.update_id).where(UpdateInbox.claimed_until <= clock.now())
        )
    assert rows == {"mine": ("pending", 0, None), "theirs": ("sending", 1, "host-b:8080")}
    assert due == 1  # the next recovery pass takes it


class Ticker:
    """sleep and monotonic on the injected clock: waiting moves time on."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock

    async def sleep(self, seconds: float) -> None:
        self.clock.advance(timedelta(seconds=seconds))

    def monotonic(self) -> float:
        return self.clock.now().timestamp()


async def test_one_live_process_per_name(container: Container, clock: ManualClock) -> None:
    ticker = Ticker(clock)
    first = InstanceName(container.sessions, clock, "shared")
    # Another live process on this host (its pid is alive and not ours).
    first.holder = f"shared#{first.holder.split('#')[1]}#{os.getppid()}#beef"
    assert await first.claim()

    async def renewing(seconds: float) -> None:  # the first process keeps its heartbeat
        clock.advance(timedelta(seconds=seconds))
        assert await first.renew()

    second = InstanceName(
        container.sessions, clock, "shared", sleep=renewing, monotonic=ticker.monotonic
    )
    assert not await second.claim()  # a live process has the name: the newcomer must not

    # The first dies (no more renewals): a newcomer on another host waits for the lease.
    async with container.sessions.begin() as session:
        await session.execute(
            update(Lease)
            .where(Lease.name == lease_name("shared"))
            .values(holder="shared#otherhst#1#beef")
        )
    third = InstanceName(
        container.sessions, clock, "shared", sleep=ticker.sleep, monotonic=ticker.monotonic
    )
    started = clock.now()
    assert await third.claim()
    assert clock.now() - started >= NAME_LEASE_TTL - timedelta(seconds=1)


async def test_a_successor_on_the_same_host_takes_a_dead_processs_name_at_once(
    container: Container, clock: ManualClock
) -> None:
    first = InstanceName(container.sessions, clock, "solo")
    dead_pid = 2**22 + 12345  # above pid_max: no such process
    first.holder = f"solo#{first.holder.split('#')[1]}#{dead_pid}#beef"
    assert await first.claim()
    ticker = Ticker(clock)
    restarted = InstanceName(
        container.sessions, clock, "solo", sleep=ticker.sleep, monotonic=ticker.monotonic
    )
    started = clock.now()
    assert await restarted.claim()
    assert clock.now() == started  # no waiting for the lease


def test_the_default_name_is_stable_and_unique_per_port(container: Container) -> None:
    settings = container.settings
    a = settings.model_copy(update={"web_port": 8080})
    b = settings.model_copy(update={"web_port": 8081})
    assert stable_instance_id(a) == stable_instance_id(a)
    assert stable_instance_id(a) != stable_instance_id(b)
    assert stable_instance_id(settings.model_copy(update={"instance_id": "eu-1"})) == "eu-1"
    unstable = settings.model_copy(update={"web_port": 0})  # a port chosen by the system
    assert stable_instance_id(unstable) != stable_instance_id(unstable)


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_instance_id_means_the_default(blank: str, container: Container) -> None:
    settings = type(container.settings).model_validate(
        {**container.settings.model_dump(), "instance_id": blank}
    )
    assert settings.instance_id is None
