"""The SQL unit of work: one transaction per block, nothing kept without commit, records read
in a read-only block still readable after it, a lost version race reported as such."""

from __future__ import annotations

import asyncio

from forever.app import Container
from forever.db.models import Person
from forever.services.ports import ConcurrentChange


async def test_nothing_is_kept_without_commit_and_reads_stay_readable(container: Container) -> None:
    now = container.clock.now()
    uow, subs = container.uow, container.subscriptions

    async with uow.begin():
        person = Person(telegram_id=424242, language="en", created_at=now)
        uow.session.add(person)
        await uow.commit()
    async with uow.begin():
        sub = await subs.get_or_create(person.id, now)
        sub.state = "trial"
        # no commit
    async with uow.begin():
        assert (await subs.of(person.id)) is None
        found = await container.people_repo.by_telegram_id(424242)
    assert found is not None and found.telegram_id == 424242  # still loaded after the block


async def test_two_racing_changes_of_one_subscription_one_wins(container: Container) -> None:
    now = container.clock.now()
    uow, subs = container.uow, container.subscriptions

    async with uow.begin():
        person = Person(telegram_id=434343, language="en", created_at=now)
        uow.session.add(person)
        await uow.flush()
        await subs.get_or_create(person.id, now)
        await uow.commit()
    both_read = asyncio.Barrier(2)

    async def change(state: str) -> str:
        async with uow.begin():
            sub = await subs.of(person.id)
            assert sub is not None
            await both_read.wait()
            sub.state = state
            try:
                await uow.commit()
            except ConcurrentChange:
                return "lost"
        return "won"

    outcomes = sorted(await asyncio.gather(change("active"), change("canceled")))
    assert outcomes == ["lost", "won"]
