"""The points ledger on a real database (issue 19): earned once per key, never negative, two
taps at once redeem once (SQLite here; PostgreSQL with FOREVER_TEST_DB=postgres), expiry
first-to-expire first, and the staff figures."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from forever.app import Container
from forever.db.models import AddonPurchase, OutboxMessage, Person, PointEntry
from forever.domain.clock import ManualClock
from forever.services.points import Outcome
from forever.services.staff import StaffTools
from forever.wiring.economy import credit_ledger
from forever.wiring.lifecycle import account_reader
from forever.wiring.points import points_ledger
from forever.wiring.staff import chat_dependencies
from tests.integration.people import add_person


async def test_earn_once_per_key_and_by_event_kind(container: Container) -> None:
    person = await add_person(container, telegram_id=21)
    ledger = points_ledger(container)
    first = await ledger.on_payment(person.id, timedelta(days=30), "ch-1")
    assert (first.outcome, first.balance, first.points) == (Outcome.DONE, 10, 10)
    again = await ledger.on_payment(person.id, timedelta(days=30), "ch-1")
    assert (again.outcome, again.balance) == (Outcome.REPEATED, 10)
    year = await ledger.on_payment(person.id, timedelta(days=365), "ch-2")
    assert year.points == 120  # twelve months paid at once
    referral = await ledger.earn_for("referral_rewarded", person.id, "friend-7")
    assert (referral.outcome, referral.balance) == (Outcome.DONE, 180)
    assert (await ledger.earn_for("referral_rewarded", person.id, "friend-7")).outcome is (
        Outcome.REPEATED
    )
    nothing = await ledger.earn_for("no_such_event", person.id, "x")
    assert nothing.outcome is Outcome.NOTHING


async def test_usage_milestones_earn_once_each(container: Container) -> None:
    person = await add_person(container, telegram_id=22)
    credits = credit_ledger(container)
    await credits.buy(22, 2000, charge_id="pack-1", pack_id="credits_100")
    await credits.use(22, 60, "u1")
    assert (await points_ledger(container).view(person.id)).balance == 0
    await credits.use(22, 60, "u2")  # 120 used: the 100 milestone
    await credits.use(22, 60, "u2")  # the same request again: counts once
    await credits.use(22, 900, "u3")  # 1020: the 1000 milestone
    await credits.use(22, 10, "u4")
    view = await points_ledger(container).view(person.id)
    assert view.balance == 5 + 25
    assert [e["reason"] for e in view.entries] == ["milestone_1000", "milestone_100"]


async def test_two_taps_at_once_redeem_once(container: Container) -> None:
    person = await add_person(container, telegram_id=23)
    ledger = points_ledger(container)
    await ledger.earn(person.id, 150, "gift-1", "test")
    # A week of membership costs 100 points: of three taps at once, one can be paid.
    await _give_membership(container, person.id)
    results = await asyncio.gather(
        *(ledger.redeem(23, "week", f"tap-{i}") for i in range(3)), return_exceptions=True
    )
    outcomes = sorted(r.outcome.value for r in results if not isinstance(r, BaseException))
    assert outcomes == ["done", "insufficient", "insufficient"], results
    assert (await ledger.view(person.id)).balance == 50
    snap = await account_reader(container).current(person.id)
    assert snap.membership.period_end is not None
    async with container.sessions() as session:
        rows = list(await session.scalars(select(PointEntry).order_by(PointEntry.id)))
    assert [r.balance_after for r in rows] == [150, 50]
    assert all(r.balance_after >= 0 for r in rows)


async def test_redeem_an_add_on_and_refusals(container: Container) -> None:
    person = await add_person(container, telegram_id=24)
    ledger = points_ledger(container)
    await ledger.earn(person.id, 400, "gift-2", "test")
    # Coaching is for Plus and Pro; without a membership it is refused, and days too.
    assert (await ledger.redeem(24, "coaching", "t1")).outcome is Outcome.NOT_ALLOWED
    assert (await ledger.redeem(24, "week", "t2")).outcome is Outcome.NEEDS_MEMBERSHIP
    assert (await ledger.redeem(24, "gold", "t3")).outcome is Outcome.UNKNOWN_REWARD
    await _give_membership(container, person.id)
    done = await ledger.redeem(24, "coaching", "t4")
    assert (done.outcome, done.balance) == (Outcome.DONE, 100)
    assert (await ledger.redeem(24, "coaching", "t4")).outcome is Outcome.REPEATED
    short = await ledger.redeem(24, "coaching", "t5")
    assert (short.outcome, short.balance, short.points) == (Outcome.INSUFFICIENT, 100, 300)
    async with container.sessions() as session:
        bought = list(await session.scalars(select(AddonPurchase)))
    assert [(b.addon_id, b.stars, b.telegram_payment_charge_id) for b in bought] == [
        ("coaching", 0, "points:t4")
    ]


async def test_points_expire_first_earned_first(container: Container, clock: ManualClock) -> None:
    person = await add_person(container, telegram_id=25)
    ledger = points_ledger(container)
    start = clock.now()
    await ledger.earn(person.id, 100, "old", "test")
    clock.advance(timedelta(days=100))
    await ledger.earn(person.id, 50, "newer", "test")
    await _give_membership(container, person.id, days=400)
    assert (await ledger.redeem(25, "week", "spend")).balance == 50  # took the old points
    clock.set(start + timedelta(days=366))  # the first 100 expired; 100 of them were spent
    assert await ledger.expire(clock.now()) == 0
    assert (await ledger.view(person.id)).balance == 50
    clock.set(start + timedelta(days=470))  # the newer 50 expired too
    assert await ledger.expire(clock.now()) == 1
    assert await ledger.expire(clock.now()) == 0  # once
    view = await ledger.view(person.id)
    assert view.balance == 0 and view.entries[0]["kind"] == "expire"
    figures = await ledger.figures(start - timedelta(days=1), clock.now())
    assert (figures.earned, figures.redeemed, figures.expired) == (150, 100, 50)
    assert (figures.outstanding, figures.outstanding_stars) == (0, 0)


async def test_outstanding_points_and_their_stars_value(container: Container) -> None:
    a = await add_person(container, telegram_id=26)
    b = await add_person(container, telegram_id=27)
    ledger = points_ledger(container)
    await ledger.earn(a.id, 101, "a1", "test")
    await ledger.earn(b.id, 40, "b1", "test")
    await ledger.earn(b.id, 10, "b2", "test")
    figures = await ledger.figures(
        container.clock.now() - timedelta(days=30), container.clock.now()
    )
    assert (figures.outstanding, figures.outstanding_stars, figures.earned) == (151, 76, 151)


async def _give_membership(container: Container, person_id: int, days: int = 30) -> None:
    tools = chat_dependencies(container)["staff_tools"]
    assert isinstance(tools, StaffTools)
    await tools.grant(staff_id=1, person_id=person_id, plan_id="plus", days=days)


async def test_expiry_notices_reach_everyone_once_but_not_the_blocked(
    container: Container, clock: ManualClock
) -> None:
    ledger = points_ledger(container)
    ledger.page_size = 2  # five people: three pages
    start = clock.now()
    people = [await add_person(container, telegram_id=40 + i) for i in range(5)]
    async with container.sessions.begin() as session:
        blocked = await session.get(Person, people[3].id)
        assert blocked is not None
        blocked.blocked_at = start
    for person in people:
        await ledger.earn(person.id, 10, f"gift-{person.id}", "test")
    clock.set(start + timedelta(days=365 - 10))
    assert await ledger.notify_expiring(clock.now()) == 4
    assert await ledger.notify_expiring(clock.now()) == 0  # once per expiry date
    async with container.sessions() as session:
        rows = list(
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.template == "points_expiring")
            )
        )
    assert sorted(r.person_id for r in rows) == sorted(p.id for i, p in enumerate(people) if i != 3)
    assert all(r.context["points"] == 10 and r.context["quiet_hours"] for r in rows)


async def test_take_back_once_never_below_zero_with_the_shortfall(container: Container) -> None:
    person = await add_person(container, telegram_id=29)
    ledger = points_ledger(container)
    await ledger.on_payment(person.id, timedelta(days=365), "ch-9")  # 120
    await ledger.earn(person.id, 30, "gift-9", "test")  # 150
    await _give_membership(container, person.id)
    assert (await ledger.redeem(29, "week", "tap-9")).balance == 50
    back = await ledger.take_back_payment("ch-9")
    assert (back.outcome, back.balance, back.points, back.shortfall) == (Outcome.DONE, 0, 50, 70)
    again = await ledger.take_back_payment("ch-9")
    assert (again.outcome, again.balance) == (Outcome.REPEATED, 0)
    assert (await ledger.take_back_payment("no-such-charge")).outcome is Outcome.NOTHING
    assert (await ledger.take_back("gift-9")).outcome is Outcome.DONE  # nothing left: 0 taken
    async with container.sessions() as session:
        rows = (await session.scalars(select(PointEntry).order_by(PointEntry.id))).all()
    assert [(r.kind, r.amount, r.balance_after) for r in rows][-2:] == [
        ("revoke", -50, 0),
        ("revoke", 0, 0),
    ]
    assert rows[-2].reason == "paid_month short 70"
