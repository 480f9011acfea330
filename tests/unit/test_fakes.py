"""The shared fakes behave like the database where the rule tests rely on it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from forever.services.ports import ConcurrentChange
from tests.fakes.core import FakeOutbox, FakePeople, FakeStore, FakeSubscriptions, FakeUnitOfWork

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


async def test_leaving_without_commit_rolls_back() -> None:
    store = FakeStore()
    uow, people = FakeUnitOfWork(store), FakePeople(store)
    async with uow.begin():
        people.add(telegram_id=1)
    assert store.people == {}


async def test_commit_keeps_changes_and_bumps_the_version_of_a_changed_subscription() -> None:
    store = FakeStore()
    uow, subs = FakeUnitOfWork(store), FakeSubscriptions(store)
    async with uow.begin():
        await subs.get_or_create(1, NOW)
        await uow.commit()
    async with uow.begin():
        sub = await subs.of(1)
        assert sub is not None
        sub.state = "trial"
        await uow.commit()
    assert store.subscriptions[1].state == "trial"
    assert store.subscriptions[1].version == 2


async def test_a_concurrent_change_rolls_back_and_an_outbox_key_is_queued_once() -> None:
    store = FakeStore()
    uow, outbox = FakeUnitOfWork(store), FakeOutbox(store)
    fields = dict(
        channel="chat", person_id=1, template="t", context={}, marketing=False, not_before=NOW
    )
    async with uow.begin():
        assert await outbox.enqueue(key="k", now=NOW, **fields)
        assert not await outbox.enqueue(key="k", now=NOW, **fields)
        await uow.commit()
    uow.fail_next_commit_with_concurrent_change = True
    with pytest.raises(ConcurrentChange):
        async with uow.begin():
            await outbox.enqueue(key="k2", now=NOW, **fields)
            await uow.commit()
    assert list(store.outbox) == ["k"]
