"""Staff refunds with in-memory fakes: what one refund writes in its transaction, and that a
payment is refunded once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from forever.domain.events import EventKind
from forever.services.ports import ConcurrentChange
from forever.services.refunds import RefundOutcome, StaffRefunds
from tests.fakes.staff import FakeStaffPayments
from tests.unit.test_staff_use_cases import CATALOG, NOW, STAFF, World


def refunds(world: World) -> tuple[StaffRefunds, FakeStaffPayments]:
    payments = FakeStaffPayments(world.store)
    tools = StaffRefunds(
        world.uow,
        world.directory,
        payments,
        world.people,
        world.subscriptions,
        world.events,
        world.audit,
        CATALOG,
        world.clock,
        world.outbox,
        world.delivery_kick,
    )
    return tools, payments


async def test_a_refund_of_a_renewal_shortens_access_stops_renewals_tells_and_audits() -> None:
    world = World()
    tools, payments = refunds(world)
    person = await world.member(42, "active", plan="plus", billing="monthly", language="ro")
    sub = world.store.subscriptions[1]
    sub.period_end, sub.auto_renew, sub.star_charge_id = NOW + timedelta(days=50), True, "c1"
    payments.add(person, "c1", NOW - timedelta(days=10))
    renewal = payments.add(person, "c2", NOW - timedelta(days=1), is_recurring=True)

    proposal = await tools.propose("42 charged twice")
    assert proposal.outcome is RefundOutcome.CHOOSE and proposal.note == "charged twice"
    assert [p.telegram_charge_id for p in proposal.payments] == ["c2", "c1"]
    commits = world.uow.commits
    done = await tools.refund(staff_id=STAFF, payment_id=renewal.id, note="charged twice")

    assert done.outcome is RefundOutcome.OK and not done.ended and done.told
    assert done.until == NOW + timedelta(days=20)
    assert (sub.state, sub.period_end, sub.auto_renew) == (
        "cancel_scheduled",
        NOW + timedelta(days=20),
        False,
    )
    assert renewal.refunded_at == NOW
    [event] = [e for e in world.store.events if e.kind == EventKind.REFUNDED]
    assert event.data["charge_id"] == "c2" and event.data["by"] == STAFF
    assert sorted((r.channel, r.template) for r in world.outbox.rows()) == [
        ("chat", "refund_made"),
        ("telegram", "edit_star_subscription"),
        ("telegram", "refund_star_payment"),
    ]
    told = next(r for r in world.outbox.rows() if r.template == "refund_made")
    assert told.context["until"] == NOW + timedelta(days=20) and told.context["amount"] == 300
    assert world.audit.actions() == ["refund"]
    assert world.uow.commits == commits + 1 and world.delivery_kick.queued_at_kick == [3]

    # Twice: refused, nothing more queued or changed.
    again = await tools.refund(staff_id=STAFF, payment_id=renewal.id)
    assert again.outcome is RefundOutcome.ALREADY
    assert len(world.outbox.rows()) == 3
    assert [e.kind for e in world.store.events].count(EventKind.REFUNDED) == 1
    assert (await tools.propose("c2")).outcome is RefundOutcome.ALREADY
    only = await tools.propose("42")
    assert only.outcome is RefundOutcome.OK and [p.id for p in only.payments] == [1]


async def test_refunding_the_only_month_ends_access_now() -> None:
    world = World()
    tools, payments = refunds(world)
    person = await world.member(43, "active", plan="plus", billing="monthly")
    sub = world.store.subscriptions[1]
    sub.period_end = NOW + timedelta(days=29)
    paid = payments.add(person, "c9", NOW - timedelta(days=1))
    done = await tools.refund(staff_id=STAFF, payment_id=paid.id)
    assert done.ended and done.until is None
    assert (sub.state, sub.period_end) == ("expired", NOW)
    ended = [e for e in world.store.events if e.kind == EventKind.ACCESS_ENDED]
    assert [e.data["reason"] for e in ended] == ["refund"]


async def test_a_refund_that_fails_to_commit_leaves_the_payment_unrefunded() -> None:
    world = World()
    tools, payments = refunds(world)
    person = await world.member(44, "active", plan="plus", billing="monthly")
    world.store.subscriptions[1].period_end = NOW + timedelta(days=29)
    paid = payments.add(person, "c7", NOW)
    world.uow.fail_next_commit_with_concurrent_change = True
    with pytest.raises(ConcurrentChange):
        await tools.refund(staff_id=STAFF, payment_id=paid.id)
    stored = await payments.get(paid.id)
    assert stored is not None and stored.refunded_at is None
    assert world.outbox.rows() == [] and world.audit.actions() == []


async def test_an_erased_person_cannot_be_refunded_through_telegram_so_nothing_is_marked() -> None:
    world = World()
    tools, payments = refunds(world)
    person = await world.member(45, "active", plan="plus", billing="monthly")
    paid = payments.add(person, "c5", NOW)
    world.store.people[person].telegram_id = None
    world.store.people[person].erased_at = NOW
    assert (await tools.propose("c5")).outcome is RefundOutcome.NOT_FOUND
    done = await tools.refund(staff_id=STAFF, payment_id=paid.id)
    assert done.outcome is RefundOutcome.NOT_FOUND
    assert paid.refunded_at is None and world.outbox.rows() == []
