"""Yearly members are told in chat before their year ends and when it ended (issue 16,
item 6): the sweep on the fakes, and the policy that sends, defers or drops the rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from forever.domain.catalog import Catalog, EmailRules, Trigger, load_catalog
from forever.domain.marketing import Action, MarketingPolicy, Message, Recipient
from forever.services.renewals import QueueYearlyReminders, days_before
from tests.conftest import ROOT
from tests.fakes.core import FakeOutbox, FakePerson, FakeStore, FakeSubscription, FakeUnitOfWork
from tests.fakes.email import FakeYearlyMembers

CATALOG: Catalog = load_catalog(ROOT / "catalog.toml")
END = datetime(2027, 11, 23, 10, 0, tzinfo=UTC)
POLICY = MarketingPolicy.from_rules(EmailRules(), ZoneInfo("UTC"))


def sweep(store: FakeStore, page_size: int = 500) -> tuple[QueueYearlyReminders, FakeOutbox]:
    outbox = FakeOutbox(store)
    return QueueYearlyReminders(
        uow=FakeUnitOfWork(store),
        members=FakeYearlyMembers(store),
        outbox=outbox,
        catalog=CATALOG,
        page_size=page_size,
    ), outbox


def member(store: FakeStore, person_id: int, **fields: object) -> FakeSubscription:
    person = dict(telegram_id=1000 + person_id, first_name=f"P{person_id}")
    for name in ("email", "blocked_at", "erased_at", "telegram_id"):
        if name in fields:
            person[name] = fields.pop(name)
    store.people[person_id] = FakePerson(id=person_id, **person)  # type: ignore[arg-type]
    values: dict[str, object] = {
        "state": "active",
        "plan_id": "basic",
        "billing": "yearly",
        "period_end": END,
    }
    sub = FakeSubscription(id=person_id, person_id=person_id, **(values | fields))  # type: ignore[arg-type]
    store.subscriptions[sub.id] = sub
    return sub


def chat_rows(store: FakeStore) -> list[tuple[int | None, str, dict[str, object]]]:
    return [
        (r.person_id, r.key, r.context)
        for r in store.outbox.values()
        if r.channel == "chat" and r.template == "yearly_renewal"
    ]


def test_the_chat_reminder_comes_when_the_renewal_email_does() -> None:
    assert days_before(CATALOG) == 3


async def test_members_with_or_without_email_are_told_three_days_before_once() -> None:
    store = FakeStore()
    member(store, 1)  # no email
    member(store, 2, email="b@example.com")
    member(store, 3, billing="monthly")  # renews by itself: not this reminder
    member(store, 4, blocked_at=END)  # blocked the bot
    member(store, 5, telegram_id=None)  # no chat
    member(store, 6, period_end=END + timedelta(days=1))  # not due yet
    queue, _ = sweep(store)
    assert await queue(END - timedelta(days=4)) == 0
    assert await queue(END - timedelta(days=3)) == 2
    rows = chat_rows(store)
    assert [(p, k) for p, k, _ in rows] == [
        (1, "yearly:1:20271123:ending"),
        (2, "yearly:2:20271123:ending"),
    ]
    context = rows[0][2]
    assert context["step"] == "ending" and context["plan_id"] == "basic"
    assert context["until"] == END
    assert context["quiet_hours"] is True and context["trigger"] == Trigger.RENEWAL.value
    assert all(not r.marketing for r in store.outbox.values())  # transactional
    # Sweeps again, the same day or later, queue nothing new.
    assert await queue(END - timedelta(days=3)) == 0
    assert await queue(END - timedelta(days=1)) == 1  # only person 6, now due
    assert await queue(END - timedelta(hours=1)) == 0


async def test_the_end_is_said_once_after_the_year_expired() -> None:
    store = FakeStore()
    sub = member(store, 1)
    queue, _ = sweep(store)
    assert await queue(END - timedelta(days=2)) == 1  # the first step, late but in time
    sub.state = "expired"
    assert await queue(END) == 1
    assert await queue(END + timedelta(days=1)) == 0
    steps = [c["step"] for _, _, c in chat_rows(store)]
    assert steps == ["ending", "ended"]
    ended = chat_rows(store)[1]
    assert ended[1] == "yearly:1:20271123:ended"
    assert ended[2]["trigger"] == Trigger.ACCESS_ENDED.value


async def test_a_sweep_too_late_skips_the_step_and_a_renewed_member_is_not_told() -> None:
    store = FakeStore()
    member(store, 1, state="expired")
    member(store, 2, period_end=END + timedelta(days=365))  # renewed for another year
    queue, _ = sweep(store)
    assert await queue(END + timedelta(days=4)) == 0  # more than late_days after the end
    # Person 2 renewed: their year now ends a year later, nothing is said now.
    assert await queue(END - timedelta(days=2)) == 0
    assert chat_rows(store) == []


async def test_every_member_due_is_queued_across_pages() -> None:
    store = FakeStore()
    for person_id in range(1, 8):
        member(store, person_id)
    queue, _ = sweep(store, page_size=3)
    assert await queue(END - timedelta(days=2)) == 7


def test_the_reminder_waits_out_the_night_and_stops_when_no_longer_true() -> None:
    night = datetime(2027, 11, 20, 20, 30, tzinfo=UTC)  # 22:30 in Bucharest
    ending = Message(
        channel="chat",
        marketing=False,
        attempts=1,
        has_person=True,
        trigger=Trigger.RENEWAL,
        quiet_hours=True,
    )
    yearly = Recipient(telegram_id=7, state="active", billing="yearly", timezone="Europe/Bucharest")
    verdict = POLICY.verdict(ending, yearly, night)
    assert verdict.action is Action.DEFER
    assert verdict.not_before == datetime(2027, 11, 21, 6, 0, tzinfo=UTC)
    # No email consent needed, by day.
    assert POLICY.verdict(ending, yearly, night.replace(hour=10)).send
    # Switched to a monthly plan meanwhile: nothing to say any more.
    monthly = Recipient(telegram_id=7, state="active", billing="monthly")
    assert POLICY.verdict(ending, monthly, night.replace(hour=10)).action is Action.CANCEL
    ended = Message(
        channel="chat",
        marketing=False,
        attempts=1,
        has_person=True,
        trigger=Trigger.ACCESS_ENDED,
        quiet_hours=True,
    )
    back = Recipient(telegram_id=7, state="active", billing="yearly")
    assert POLICY.verdict(ended, back, night.replace(hour=10)).action is Action.CANCEL
