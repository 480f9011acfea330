"""The email area's sweeps with in-memory fakes: journey emails and upgrade prompts are queued
once, in the policy's windows, for everyone due, however many."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from forever.domain.catalog import Catalog, load_catalog
from forever.domain.events import EventKind
from forever.domain.marketing import MarketingPolicy
from forever.services.journeys import SweepJourneys
from forever.services.upgrades import QueueUpgradePrompts
from tests.conftest import ROOT
from tests.fakes.core import FakeEventLog, FakePeople, FakeStore, FakeSubscription, FakeUnitOfWork
from tests.fakes.email import (
    FakeBulkOutbox,
    FakeGiftHistory,
    FakeJourneyCandidates,
    FakeUpgradeCandidates,
    email_data,
)

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
CATALOG: Catalog = load_catalog(ROOT / "catalog.toml")


def journeys(store: FakeStore) -> tuple[SweepJourneys, FakeUnitOfWork, FakeBulkOutbox]:
    uow, outbox = FakeUnitOfWork(store), FakeBulkOutbox(store)
    sweep = SweepJourneys(
        uow=uow,
        candidates=FakeJourneyCandidates(store),
        outbox=outbox,
        catalog=CATALOG,
        policy=MarketingPolicy.from_rules(CATALOG.email, ZoneInfo("UTC")),
        locale_for=lambda language: language if language in ("en", "ro", "it") else "en",
        start_link=lambda person, offer, until: f"wb-{person}-{offer}",
        gifts=FakeGiftHistory(store),
    )
    return sweep, uow, outbox


def subscribe(store: FakeStore, person_id: int, **fields: object) -> FakeSubscription:
    sub = FakeSubscription(id=len(store.subscriptions) + 1, person_id=person_id, **fields)  # type: ignore[arg-type]
    store.subscriptions[sub.id] = sub
    return sub


async def test_a_lapsed_member_gets_the_winback_once_with_the_offer_for_their_reason() -> None:
    store = FakeStore()
    people = FakePeople(store)
    ana = people.add(telegram_id=1, email="ana@example.com", created_at=NOW - timedelta(days=90))
    email_data(store).consents.add(ana.id)
    subscribe(
        store,
        ana.id,
        state="expired",
        plan_id="plus",
        billing="monthly",
        cancel_reason="too_expensive",
        period_end=NOW - timedelta(days=7, hours=1),
    )
    sweep, uow, outbox = journeys(store)
    assert await sweep(NOW) == 1
    [row] = outbox.rows()
    assert row.template == "winback" and row.marketing
    assert row.context["trigger"] == "access_ended"
    assert row.context["start_token"] == f"wb-{ana.id}-comeback_40"
    assert row.context["offer_kind"] == "discount"
    assert uow.commits >= 1
    assert await sweep(NOW) == 0  # the same instant again: nothing new


async def test_a_winback_email_makes_no_second_discount_within_the_period() -> None:
    store = FakeStore()
    people = FakePeople(store)
    ana = people.add(telegram_id=1, email="ana@example.com", created_at=NOW - timedelta(days=200))
    email_data(store).consents.add(ana.id)
    subscribe(
        store,
        ana.id,
        state="expired",
        plan_id="plus",
        billing="monthly",
        cancel_reason="too_expensive",
        period_end=NOW - timedelta(days=7, hours=1),
    )
    events = FakeEventLog(store)
    events.record(
        EventKind.WINBACK_RECOVERED, NOW - timedelta(days=60), ana.id, offer="comeback_40"
    )
    sweep, _, outbox = journeys(store)
    assert await sweep(NOW) == 1
    [row] = outbox.rows()
    assert row.template == "winback"
    assert row.context["offer_kind"] is None  # no second discount within 180 days
    assert row.context["start_token"] == f"wb-{ana.id}-none"


async def test_marketing_journeys_skip_people_without_consent_but_transactional_do_not() -> None:
    store = FakeStore()
    people = FakePeople(store)
    ana = people.add(telegram_id=1, email="ana@example.com", created_at=NOW - timedelta(hours=1))
    subscribe(store, ana.id, state="expired", plan_id="plus", billing="monthly",
              period_end=NOW - timedelta(days=7, hours=1))  # fmt: skip
    sweep, _, outbox = journeys(store)
    assert await sweep(NOW) == 1
    assert [r.template for r in outbox.rows()] == ["welcome"]


async def test_quiet_hours_set_when_a_queued_mail_may_leave() -> None:
    store = FakeStore()
    people = FakePeople(store)
    people.add(
        telegram_id=1,
        email="ana@example.com",
        timezone="Asia/Tokyo",  # 21:00 there
        created_at=NOW - timedelta(hours=1),
    )
    sweep, _, outbox = journeys(store)
    await sweep(NOW)
    [row] = outbox.rows()
    assert row.not_before == datetime(2026, 12, 1, 23, tzinfo=UTC)


def prompts(store: FakeStore) -> tuple[QueueUpgradePrompts, FakeUpgradeCandidates, FakeBulkOutbox]:
    candidates, outbox = FakeUpgradeCandidates(store), FakeBulkOutbox(store)
    use_case = QueueUpgradePrompts(
        uow=FakeUnitOfWork(store),
        candidates=candidates,
        events=FakeEventLog(store),
        outbox=outbox,
        catalog=CATALOG,
    )
    return use_case, candidates, outbox


def trial_members(store: FakeStore, count: int, started: datetime) -> None:
    people = FakePeople(store)
    for i in range(count):
        person = people.add(telegram_id=10_000 + i, first_name=f"M{i}", trial_used_at=started)
        subscribe(store, person.id, state="trial", plan_id="plus", billing="trial",
                  period_end=started + timedelta(days=CATALOG.trial.days))  # fmt: skip


async def test_650_trial_members_halfway_are_all_prompted_once() -> None:
    store = FakeStore()
    trial_members(store, 650, NOW - timedelta(days=4))
    use_case, candidates, outbox = prompts(store)
    assert await use_case(NOW) == 650
    assert candidates.pages == 2  # 500, then the 150 after them
    rows = outbox.rows("chat")
    assert len(rows) == 650 and len({r.person_id for r in rows}) == 650
    assert {r.template for r in rows} == {"upgrade_prompt"}
    assert rows[0].context == {"from_plan": "plus", "to_plan": "pro", "rule": "trial_progress",
                               "usage": 0, "quiet_hours": True}  # fmt: skip
    prompted = [e for e in store.events if e.kind == EventKind.UPGRADE_PROMPTED]
    assert len(prompted) == 650
    assert await use_case(NOW) == 0
    assert await use_case(NOW + timedelta(days=1)) == 0  # the cap period


async def test_no_prompt_before_halfway_nor_after_a_recent_cancel() -> None:
    store = FakeStore()
    trial_members(store, 2, NOW - timedelta(days=2))
    use_case, _, _ = prompts(store)
    assert await use_case(NOW) == 0
    FakeEventLog(store).record(EventKind.CANCELED, NOW, 1)
    assert await use_case(NOW + timedelta(days=2)) == 1  # only person 2
