"""Promo codes on a real database (issue 19): two uses at once of one code by one person
redeem once (the unique pair), and the limit holds when several people race for the last use.
Run on SQLite by default and on PostgreSQL with FOREVER_TEST_DB=postgres."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from forever.app import Container
from forever.db.models import Event, PromoCode, PromoRedemption, Subscription
from forever.domain.promo import REDEEMED_EVENT, Refusal
from forever.wiring.promo import promos
from tests.conftest import STAFF_ID, START
from tests.integration.people import add_person


async def _count(container: Container, model: object, *where: object) -> int:
    async with container.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)))


async def _trial(container: Container, telegram_id: int) -> int:
    """A person in a trial of Plus (so a days code applies to them)."""
    person = await add_person(container, telegram_id=telegram_id, email=f"{telegram_id}@x.test")
    async with container.sessions.begin() as session:
        session.add(
            Subscription(
                person_id=person.id,
                state="trial",
                plan_id="plus",
                billing="trial",
                period_end=START + timedelta(days=7),
                auto_renew=False,
                updated_at=START,
                version=1,
            )
        )
    return person.id


async def test_two_uses_at_once_by_one_person_redeem_once(container: Container) -> None:
    codes = promos(container)
    await codes.create(staff_id=STAFF_ID, text="WEEK days=7")
    person_id = await _trial(container, 7001)
    results = await asyncio.gather(*(codes.redeem(person_id, "week") for _ in range(3)))
    refusals = sorted((r.refusal.value if r.refusal else "applied") for r in results)
    assert refusals == ["already_used", "already_used", "applied"]
    # The days were added once, and the code counts one use.
    until = next(r.until for r in results if r.refusal is None)
    assert until == START + timedelta(days=14)
    assert await _count(container, PromoRedemption) == 1
    assert await _count(container, Event, Event.kind == REDEEMED_EVENT) == 1
    async with container.sessions() as session:
        assert await session.scalar(select(PromoCode.uses)) == 1


async def test_the_limit_holds_when_people_race_for_the_last_use(container: Container) -> None:
    codes = promos(container)
    await codes.create(staff_id=STAFF_ID, text="LAST2 percent=10 limit=2")
    people = [await _trial(container, 7100 + i) for i in range(5)]
    results = await asyncio.gather(*(codes.redeem(p, "LAST2") for p in people))
    applied = [r for r in results if r.refusal is None]
    assert len(applied) == 2
    assert {r.refusal for r in results if r.refusal is not None} == {Refusal.USED_UP}
    assert await _count(container, PromoRedemption) == 2
    async with container.sessions() as session:
        assert await session.scalar(select(PromoCode.uses)) == 2
