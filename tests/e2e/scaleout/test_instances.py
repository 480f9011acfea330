"""Two or three instances against one database and one fake Bot API in webhook mode:
every update handled once, a crashed instance's updates finished by another, sweeps once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from forever.db.models import Event, Lease, Person, Subscription, UpdateInbox
from forever.domain.clock import ManualClock
from forever.domain.events import EventKind
from forever.runtime import SWEEP_LEASE, SWEEP_LEASE_TTL, Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.telegram.inbox import DEFAULT_LEASE
from tests.e2e.scaleout.harness import Cluster


async def count_rows(runtime: Runtime, model: Any, *where: Any) -> int:
    async with runtime.container.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)))


def updates_counted(runtime: Runtime, outcome: str) -> int:
    registry = runtime.container.metrics.registry
    return int(registry.get_sample_value("forever_updates_total", {"outcome": outcome}) or 0)


def hold_processing(runtime: Runtime) -> asyncio.Event:
    """Updates reach this instance's dispatcher only when the returned event is set."""
    gate = asyncio.Event()
    feed = runtime.dispatcher.feed_update

    async def held(bot: Any, update: Any, **kwargs: Any) -> Any:
        await gate.wait()
        return await feed(bot, update, **kwargs)

    runtime.dispatcher.feed_update = held  # type: ignore[method-assign]
    return gate


async def test_updates_spread_over_three_instances_are_each_handled_once(
    tg: FakeBotAPI, cluster: Cluster
) -> None:
    for _ in range(3):
        await cluster.add()
    users = [tg.add_user(3000 + i, f"User{i}") for i in range(12)]
    for user in users:
        await user.send_text("what is this?", wait=False)
    await tg.settle()
    await cluster.drain()
    for user in users:
        assert len(user.messages) == 1, user
        assert "/help" in user.last_message.text
    handled_by = {r.instance: updates_counted(r, "received") for r in cluster.instances}
    assert all(count > 0 for count in handled_by.values()), handled_by
    assert (
        await count_rows(cluster.instances[0], UpdateInbox, UpdateInbox.processed_at.is_(None)) == 0
    )


async def test_every_instance_receiving_every_update_still_handles_each_once(
    tg: FakeBotAPI, cluster: Cluster
) -> None:
    for _ in range(3):
        await cluster.add()
    cluster.proxy.fan_out = True  # each update reaches all three instances concurrently
    users = [tg.add_user(3100 + i, f"User{i}") for i in range(10)]
    for user in users:
        await user.send_text("hi", wait=False)
    await tg.settle()
    await cluster.drain()
    assert cluster.proxy.forwarded == 30
    for user in users:
        assert len(user.messages) == 1, user
    duplicates = sum(updates_counted(r, "duplicate") for r in cluster.instances)
    assert duplicates == 20


async def test_an_update_stored_before_a_crash_is_processed_by_another_instance(
    tg: FakeBotAPI, cluster: Cluster, clock: ManualClock
) -> None:
    doomed = await cluster.add()
    hold_processing(doomed)  # it stores and acknowledges, then dies before processing
    user = tg.add_user(3200, "Ana")
    await user.send_text("/help")  # returns once the webhook answered 200
    assert await count_rows(doomed, UpdateInbox) == 1
    await cluster.kill(doomed)
    survivor = await cluster.add()
    assert user.messages == []

    # While the dead instance's claim lasts, nobody else takes the update...
    assert await survivor.updates.recover_once() == 0
    # ...after it lapses, the survivor does, exactly once.
    clock.advance(DEFAULT_LEASE + timedelta(seconds=1))
    assert await survivor.updates.recover_once() == 1
    assert await survivor.updates.recover_once() == 0
    assert len(user.messages) == 1
    assert "/plans" in user.last_message.text
    async with survivor.container.sessions() as session:
        row = await session.get(UpdateInbox, tg.queue.last_update_id)
        assert row is not None
        assert row.processed_at is not None
        assert row.claimed_by == survivor.instance
        assert row.attempts == 2


async def test_concurrent_recovery_by_several_instances_processes_each_update_once(
    tg: FakeBotAPI, cluster: Cluster, clock: ManualClock
) -> None:
    doomed = await cluster.add()
    hold_processing(doomed)
    users = [tg.add_user(3300 + i, f"User{i}") for i in range(8)]
    for user in users:
        await user.send_text("hello")
    await cluster.kill(doomed)
    survivors = [await cluster.add() for _ in range(3)]
    clock.advance(DEFAULT_LEASE + timedelta(seconds=1))
    recovered = await asyncio.gather(*(r.updates.recover_once() for r in survivors))
    assert sum(recovered) == 8
    for user in users:
        assert len(user.messages) == 1, user


async def test_a_graceful_stop_finishes_what_it_acknowledged(
    tg: FakeBotAPI, cluster: Cluster
) -> None:
    first = await cluster.add()
    gate = hold_processing(first)
    user = tg.add_user(3400, "Ana")
    await user.send_text("hello")
    stopping = asyncio.create_task(cluster.stop(first))
    await asyncio.sleep(0)
    gate.set()
    await stopping
    assert len(user.messages) == 1


async def _seed_expiring_membership(runtime: Runtime, clock: ManualClock) -> None:
    now = clock.now()
    async with runtime.container.sessions.begin() as session:
        person = Person(telegram_id=3500, first_name="Ana", language="en", created_at=now)
        session.add(person)
        await session.flush()
        session.add(
            Subscription(
                person_id=person.id,
                state="cancel_scheduled",
                plan_id="plus",
                billing="monthly",
                period_end=now - timedelta(days=1),
                updated_at=now,
            )
        )


async def test_each_scheduled_sweep_runs_on_one_instance_only(
    tg: FakeBotAPI, cluster: Cluster, clock: ManualClock
) -> None:
    instances = [await cluster.add(scheduler=True) for _ in range(3)]
    await _seed_expiring_membership(instances[0], clock)
    results = await asyncio.gather(*(r.sweep_once() for r in instances))
    ran = [r for r, result in zip(instances, results, strict=True) if result is not None]
    assert len(ran) == 1
    assert results[instances.index(ran[0])]["expire_memberships"] == 1
    assert await count_rows(instances[0], Event, Event.kind == EventKind.ACCESS_ENDED.value) == 1
    # The next round: still only the leader.
    clock.advance(timedelta(minutes=5))
    again = await asyncio.gather(*(r.sweep_once() for r in instances))
    assert [r for r, res in zip(instances, again, strict=True) if res is not None] == ran


async def test_a_killed_sweep_leader_is_replaced_after_its_lease(
    tg: FakeBotAPI, cluster: Cluster, clock: ManualClock
) -> None:
    leader = await cluster.add(scheduler=True)
    other = await cluster.add(scheduler=True)
    assert await leader.sweep_once() is not None
    await cluster.kill(leader)
    assert await other.sweep_once() is None
    clock.advance(SWEEP_LEASE_TTL + timedelta(seconds=1))
    assert await other.sweep_once() is not None
    async with other.container.sessions() as session:
        lease = await session.get(Lease, SWEEP_LEASE)
        assert lease is not None
        assert lease.holder == other.instance


async def test_a_stopped_sweep_leader_hands_over_at_once(tg: FakeBotAPI, cluster: Cluster) -> None:
    leader = await cluster.add(scheduler=True)
    other = await cluster.add(scheduler=True)
    assert await leader.sweep_once() is not None
    await cluster.stop(leader)
    assert await other.sweep_once() is not None


async def test_an_update_that_failed_is_retried_by_the_next_recovery_pass(
    tg: FakeBotAPI, cluster: Cluster
) -> None:
    runtime = await cluster.add()
    feed = runtime.dispatcher.feed_update
    failures = [ConnectionError("database restarting")]

    async def flaky(bot: Any, update: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await feed(bot, update, **kwargs)

    runtime.dispatcher.feed_update = flaky  # type: ignore[method-assign]
    user = tg.add_user(3600, "Ana")
    await user.send_text("hello")
    await cluster.drain()
    assert user.messages == []
    # Released at once, no need to wait for the lease.
    assert await runtime.updates.recover_once() == 1
    assert len(user.messages) == 1


async def test_a_poison_update_is_given_up_after_max_attempts(
    tg: FakeBotAPI, cluster: Cluster, clock: ManualClock
) -> None:
    runtime = await cluster.add()

    async def broken(bot: Any, update: Any, **kwargs: Any) -> Any:
        raise RuntimeError("always fails")

    runtime.dispatcher.feed_update = broken  # type: ignore[method-assign]
    user = tg.add_user(3700, "Ana")
    await user.send_text("hello")
    await cluster.drain()
    passes = [await runtime.updates.recover_once() for _ in range(6)]
    assert passes == [1, 1, 1, 1, 0, 0]
    async with runtime.container.sessions() as session:
        row = await session.get(UpdateInbox, tg.queue.last_update_id)
        assert row is not None
        assert row.processed_at is not None  # kept for inspection, no longer retried
    assert updates_counted(runtime, "given_up") == 1


async def test_processed_updates_are_forgotten_after_a_week(
    tg: FakeBotAPI, cluster: Cluster, clock: ManualClock
) -> None:
    runtime = await cluster.add(scheduler=True)
    user = tg.add_user(3800, "Ana")
    await user.send_text("hello")
    await cluster.drain()
    clock.advance(timedelta(days=6))
    assert (await runtime.sweep_once() or {})["prune_update_inbox"] == 0
    clock.advance(timedelta(days=1, seconds=1))
    assert (await runtime.sweep_once() or {})["prune_update_inbox"] == 1
    assert await count_rows(runtime, UpdateInbox) == 0
