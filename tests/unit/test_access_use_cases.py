"""Membership access rules through the use cases, on fakes (issue 17)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from forever.domain.catalog import AccessRules, Catalog, load_catalog
from forever.domain.economy import AddOn
from forever.services.access import (
    APPROVE,
    DECLINE,
    INVITE,
    REMOVE,
    AddonHolding,
    AnswerJoinRequest,
    SyncAccess,
)
from tests.conftest import ROOT, START
from tests.e2e.test_access import CLUB, PRO_ROOM, catalog_with_chats
from tests.fakes.access import FakeAccessStore
from tests.fakes.core import (
    FakeEventLog,
    FakeOutbox,
    FakePeople,
    FakeStore,
    FakeSubscription,
    FakeUnitOfWork,
)

STAFF = 999


@pytest.fixture
def catalog(tmp_path) -> Catalog:  # type: ignore[no-untyped-def]
    assert ROOT.exists()
    return load_catalog(catalog_with_chats(tmp_path))


class World:
    def __init__(self, catalog: Catalog) -> None:
        self.store = FakeStore()
        self.uow = FakeUnitOfWork(self.store)
        self.access = FakeAccessStore(self.store)
        self.outbox = FakeOutbox(self.store)
        self.events = FakeEventLog(self.store)
        self.people = FakePeople(self.store)
        self.catalog = catalog

    def sync(self, catalog: Catalog | None = None) -> SyncAccess:
        return SyncAccess(
            uow=self.uow,
            store=self.access,
            events=self.events,
            outbox=self.outbox,
            catalog=catalog or self.catalog,
            staff_ids=[STAFF],
        )

    def member(self, telegram_id: int, state: str, plan: str) -> FakeSubscription:
        person = self.people.add(telegram_id=telegram_id)
        sub = FakeSubscription(len(self.store.subscriptions) + 1, person.id, state, plan)
        self.store.subscriptions[sub.id] = sub
        return sub

    def rows(self, template: str) -> list[dict[str, object]]:
        return [r.context for r in self.outbox.rows() if r.template == template]


async def test_a_trial_opens_its_plans_chats_once(catalog: Catalog) -> None:
    world = World(catalog)
    world.member(1, "trial", "plus")
    await world.sync().sweep(START)
    await world.sync().sweep(START + timedelta(minutes=5))
    assert [r["chats"] for r in world.rows(INVITE)] == [[CLUB]]


async def test_removal_waits_for_the_grace_period(catalog: Catalog) -> None:
    graceful = replace(catalog, access=AccessRules(grace_hours=24))
    world = World(graceful)
    sub = world.member(1, "trial", "plus")
    await world.sync().sweep(START)
    sub.state = "expired"
    await world.sync().sweep(START + timedelta(hours=1))
    assert world.rows(REMOVE) == []
    await world.sync().sweep(START + timedelta(hours=26))
    assert [(r["chat_id"], r["reason"]) for r in world.rows(REMOVE)] == [(CLUB, "ended")]


async def test_back_within_the_grace_period_keeps_the_chat(catalog: Catalog) -> None:
    world = World(replace(catalog, access=AccessRules(grace_hours=24)))
    sub = world.member(1, "active", "plus")
    await world.sync().sweep(START)
    sub.state = "expired"
    await world.sync().sweep(START + timedelta(hours=1))
    sub.state = "active"
    await world.sync().sweep(START + timedelta(hours=30))
    assert world.rows(REMOVE) == [] and len(world.rows(INVITE)) == 1


@pytest.mark.parametrize(("pause_removes", "removed"), [(True, True), (False, False)])
async def test_a_pause_removes_only_when_the_catalog_says(
    catalog: Catalog, pause_removes: bool, removed: bool
) -> None:
    world = World(replace(catalog, access=AccessRules(pause_removes=pause_removes)))
    sub = world.member(1, "active", "plus")
    await world.sync().sweep(START)
    sub.state = "paused"
    await world.sync().sweep(START + timedelta(minutes=1))
    assert [r["reason"] for r in world.rows(REMOVE)] == (["paused"] if removed else [])
    sub.state = "active"  # resumed: invited again
    await world.sync().sweep(START + timedelta(minutes=2))
    assert len(world.rows(INVITE)) == (2 if removed else 1)


async def test_a_downgrade_removes_only_what_the_new_plan_does_not_give(
    catalog: Catalog,
) -> None:
    world = World(catalog)
    sub = world.member(1, "active", "pro")
    await world.sync().sweep(START)
    assert world.rows(INVITE)[0]["chats"] == [CLUB, PRO_ROOM]
    sub.plan_id = "basic"  # the lower tier took effect at the end of the paid period
    await world.sync().sweep(START + timedelta(days=30))
    assert [(r["chat_id"], r["reason"]) for r in world.rows(REMOVE)] == [(PRO_ROOM, "plan")]


async def test_staff_are_never_removed_and_the_erased_are_removed_untold(
    catalog: Catalog,
) -> None:
    world = World(catalog)
    staff = world.member(STAFF, "trial", "plus")
    gone = world.member(2, "trial", "plus")
    await world.sync().sweep(START)
    staff.state = gone.state = "expired"
    world.store.people[gone.person_id].telegram_id = None  # erased
    await world.sync().sweep(START + timedelta(days=8))
    assert [(r["user_id"], r["tell"]) for r in world.rows(REMOVE)] == [(2, False)]


async def test_the_reconcile_removes_strays_once_and_spares_members(catalog: Catalog) -> None:
    world = World(catalog)
    world.member(1, "active", "plus")
    await world.sync().sweep(START)
    for user in (1, 50, STAFF):
        await world.access.set_member(CLUB, user, "member", START)
    assert await world.sync().sweep(START + timedelta(minutes=1)) == 1
    assert await world.sync().sweep(START + timedelta(minutes=2)) == 0
    assert [(r["user_id"], r["reason"]) for r in world.rows(REMOVE)] == [(50, "stray")]


async def test_a_removal_still_waiting_is_never_queued_again_by_a_later_reconcile(
    catalog: Catalog,
) -> None:
    world = World(catalog)
    sub = world.member(1, "trial", "plus")
    await world.sync().sweep(START)
    await world.access.set_member(CLUB, 1, "member", START)  # seen joining
    sub.state = "expired"
    await world.sync().sweep(START + timedelta(days=8))
    # The ban has not happened yet (a demoted bot, a 429): the bot still sees them in the chat.
    for minutes in range(5, 65, 5):
        await world.sync().sweep(START + timedelta(days=8, minutes=minutes))
    assert [(r["user_id"], r["reason"]) for r in world.rows(REMOVE)] == [(1, "ended")]


async def test_a_removal_the_outbox_gave_up_on_is_queued_again_once(catalog: Catalog) -> None:
    world = World(catalog)
    sub = world.member(1, "trial", "plus")
    await world.sync().sweep(START)
    await world.access.set_member(CLUB, 1, "member", START)  # seen joining
    sub.state = "expired"
    ended = START + timedelta(days=8)
    await world.sync().sweep(ended)
    # Still retried by the outbox (the bot demoted): not queued again.
    await world.sync().sweep(ended + timedelta(hours=20))
    assert len(world.rows(REMOVE)) == 1
    # Given up after about a day: the next sweep queues it again, once, and tells them.
    (first,) = [r for r in world.store.outbox.values() if r.template == REMOVE]
    first.status = "failed"
    await world.sync().sweep(ended + timedelta(days=2))
    await world.sync().sweep(ended + timedelta(days=2, minutes=5))
    await world.sync().sweep(ended + timedelta(days=3))
    rows = world.rows(REMOVE)
    assert [(r["user_id"], r["reason"], r["tell"]) for r in rows] == [
        (1, "ended", True),
        (1, "ended", True),
    ]


def with_pass(catalog: Catalog) -> Catalog:
    """A catalog whose add-on `pro_pass` opens the Pro room for three days."""
    pro_pass = AddOn(
        id="pro_pass",
        name={"en": "Pro room pass", "ro": "Acces Camera Pro", "it": "Pass Stanza Pro"},
        description={"en": ".", "ro": ".", "it": "."},
        stars=40,
        days=3,
        chats=("pro_room",),
    )
    return replace(catalog, addons=(*catalog.addons, pro_pass))


async def test_an_add_on_opens_its_chats_and_closes_them_when_it_ends(catalog: Catalog) -> None:
    world = World(with_pass(catalog))
    sub = world.member(1, "active", "plus")
    bought = [AddonHolding(sub.person_id, "pro_pass", START + timedelta(days=3), None)]
    world.store.extra["addon_purchases"] = bought
    await world.sync().sweep(START)
    assert [(r["chats"], r["addon_id"]) for r in world.rows(INVITE)] == [
        ([CLUB, PRO_ROOM], "pro_pass")
    ]
    await world.sync().sweep(START + timedelta(days=2))
    assert world.rows(REMOVE) == []
    await world.sync().sweep(START + timedelta(days=3))  # its days are over
    assert [(r["chat_id"], r["reason"]) for r in world.rows(REMOVE)] == [(PRO_ROOM, "addon")]


async def test_a_refunded_add_on_closes_only_what_the_plan_does_not_open(
    catalog: Catalog,
) -> None:
    world = World(with_pass(catalog))
    sub = world.member(1, "active", "pro")  # Pro opens the Pro room anyway
    held = AddonHolding(sub.person_id, "pro_pass", START + timedelta(days=3), None)
    world.store.extra["addon_purchases"] = [held]
    await world.sync().sweep(START)
    world.store.extra["addon_purchases"] = [replace(held, refunded_at=START)]
    await world.sync().sweep(START + timedelta(hours=1))
    assert world.rows(REMOVE) == []  # the plan still opens both chats
    sub.state = "expired"
    await world.sync().sweep(START + timedelta(days=40))
    assert sorted((r["chat_id"], r["reason"]) for r in world.rows(REMOVE)) == sorted(
        [(CLUB, "ended"), (PRO_ROOM, "ended")]
    )


async def test_join_requests_approve_members_and_decline_others_once(catalog: Catalog) -> None:
    world = World(catalog)
    world.member(1, "trial", "plus")
    await world.sync().sweep(START)
    answer = AnswerJoinRequest(
        uow=world.uow,
        store=world.access,
        events=world.events,
        outbox=world.outbox,
        catalog=catalog,
    )
    assert await answer(CLUB, 1, 1000, START, "en") is True
    assert await answer(PRO_ROOM, 1, 1000, START, "en") is False  # Plus has no Pro room
    assert await answer(CLUB, 77, 1000, START, "ro") is False
    assert await answer(CLUB, 77, 1000, START, "ro") is False  # the same request twice
    assert await answer(-5, 1, 1000, START, "en") is None  # not a catalog chat
    assert len(world.rows(APPROVE)) == 1 and len(world.rows(DECLINE)) == 2
    notes = [r for r in world.outbox.rows("chat") if r.template == "access_declined"]
    assert [n.context["chat_id"] for n in notes] == [1, 77]
