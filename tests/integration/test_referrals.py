"""Referrals on a real database (issue 19): racing first /start updates attribute once, and
racing payments of one referred person reward once (SQLite and PostgreSQL)."""

import asyncio

from sqlalchemy import func, select

from forever.app import Container
from forever.db.models import Event, Referral
from forever.domain.events import EventKind
from forever.services.referrals import AttributionOutcome
from forever.wiring.referrals import referral_rewards, referrals
from tests.conftest import START
from tests.integration.people import add_person


async def kinds(container: Container, kind: str) -> int:
    async with container.sessions() as session:
        query = select(func.count()).select_from(Event).where(Event.kind == kind)
        return int(await session.scalar(query) or 0)


async def test_racing_first_starts_attribute_once_and_racing_payments_reward_once(
    container: Container,
) -> None:
    ana = await add_person(container, telegram_id=11, first_name="Ana", email="a@example.com")
    bo = await add_person(container, telegram_id=12, first_name="Bo", email="b@example.com")
    use_case = referrals(container)
    code = (await use_case.invite(ana.id)).code
    assert (await use_case.invite(ana.id)).code == code

    results = await asyncio.gather(
        *(use_case.attribute(bo.id, f"r_{code}", first_contact=True) for _ in range(3))
    )
    outcomes = sorted(r.outcome.value for r in results if r is not None)
    assert outcomes == ["known", "known", "member"]
    assert await kinds(container, EventKind.REFERRED) == 1

    rewards = referral_rewards(container)

    async def pay(charge_id: str) -> None:
        async with container.uow.begin():
            await rewards.paid(bo.id, charge_id, START)
            await container.uow.commit()

    await asyncio.gather(pay("ch-a"), pay("ch-b"))
    assert await kinds(container, EventKind.REFERRAL_REWARDED) == 2  # one per side, once
    async with container.sessions() as session:
        row = await session.scalar(select(Referral))
    assert row is not None and row.reward_charge_id in ("ch-a", "ch-b")
    assert (row.referrer_days, row.referred_days) == (7, 7)

    # Refunding a payment that earned nothing changes nothing; the one that did, once.
    other = "ch-b" if row.reward_charge_id == "ch-a" else "ch-a"
    for charge_id in (other, row.reward_charge_id, row.reward_charge_id):
        async with container.uow.begin():
            await rewards.refunded(charge_id, START)
            await container.uow.commit()
    assert await kinds(container, EventKind.REFERRAL_REVOKED) == 2
    assert (await use_case.attribute(ana.id, f"r_{code}", first_contact=True)).outcome is (
        AttributionOutcome.SELF
    )
