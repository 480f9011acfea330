"""/stats, /user, /grant and /audit through the fake Bot API, and that nobody else gets them."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from forever.db.models import AuditEntry, Event, OutboxMessage, Person, Subscription
from forever.domain.clock import ManualClock
from forever.domain.events import EventKind
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.telegram.commands import staff_commands
from tests.conftest import STAFF_ID, START
from tests.e2e.chat_helpers import events
from tests.e2e.test_chat_payments import subscribe_monthly, trial_user


def record_event(
    session: AsyncSession, kind: str, at: datetime, person_id: int | None = None, **data: Any
) -> None:
    """Seeds the event history directly, as the use cases' EventLog would write it."""
    session.add(Event(person_id=person_id, kind=kind, at=at, data=data))


@pytest.mark.parametrize(
    "command", ["/broadcast", "/stats", "/user 1", "/grant 1 plus 3", "/refund 1", "/audit"]
)
async def test_customers_get_the_ordinary_fallback_for_staff_commands(
    tg: FakeBotAPI, running_bot: Runtime, command: str
) -> None:
    user = tg.add_user(3001, "Eve")
    await user.send_text("hello?")
    ordinary = user.last_message.text
    await user.send_text(command)
    assert user.last_message.text == ordinary
    async with running_bot.container.sessions() as session:
        # Staff commands leave no trace; "hello?" went to the console's inbox.
        staff_actions = select(AuditEntry).where(AuditEntry.action != "customer_unknown")
        assert (await session.scalars(staff_actions)).all() == []


async def test_help_lists_the_staff_commands_for_staff_only(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    staff = tg.user(STAFF_ID)
    await staff.send_text("/help")
    text = staff.last_message.text
    assert "/plans" in text  # the customer's commands too
    assert "For staff" in text
    for line in (
        "/broadcast: Send a message to a segment",
        "/stats: Retention and money numbers",
        "/user: Look up a person",
        "/grant: Give someone access",
        "/refund: Refund a payment",
        "/audit: Recent staff actions",
        "/access: A person's private chats; re-send an invite",
    ):
        assert line in text
    # The staff menu has it too, and /help names it in each language.
    menus = [c.params for c in tg.calls_to("setMyCommands") if "chat_id" in str(c.params)]
    assert menus and all("access" in str(params["commands"]) for params in menus)
    for locale, words in (("ro", "retrimite invitația"), ("it", "reinvia l'invito")):
        assert any(c.command == "access" and words in c.description for c in staff_commands(locale))
    customer = tg.add_user(3002, "Eve")
    await customer.send_text("/help")
    assert "/plans" in customer.last_message.text
    for hint in (
        "staff",
        "/broadcast",
        "/stats",
        "/user",
        "/grant",
        "/refund",
        "/audit",
        "/access",
    ):
        assert hint not in customer.last_message.text


async def seed_history(running_bot: Runtime) -> None:
    """Ten paying members over a month; two of them leave, one cancels with a reason."""
    container = running_bot.container
    async with container.sessions.begin() as session:
        people = [
            Person(telegram_id=7000 + i, first_name=f"M{i}", created_at=START) for i in range(12)
        ]
        session.add_all(people)
        await session.flush()
        t0 = START - timedelta(days=40)
        for i, p in enumerate(people[:10]):
            record_event(session, EventKind.SIGNED_UP, t0, p.id, language="en")
            record_event(session, EventKind.TRIAL_STARTED, t0, p.id, plan="plus", days=7)
            record_event(
                session,
                EventKind.PAYMENT,
                t0 + timedelta(days=7),
                p.id,
                plan="plus" if i < 6 else "basic",
                billing="monthly",
                amount=300 if i < 6 else 150,
            )
        for p in people[10:]:
            record_event(session, EventKind.SIGNED_UP, START - timedelta(days=3), p.id)
            record_event(session, EventKind.TRIAL_STARTED, START - timedelta(days=3), p.id)
        record_event(session, EventKind.CANCELED, START - timedelta(days=12), people[0].id)
        record_event(
            session,
            EventKind.CANCEL_REASON,
            START - timedelta(days=12),
            people[0].id,
            reason="too_expensive",
        )
        for p in people[:2]:
            record_event(
                session,
                EventKind.ACCESS_ENDED,
                START - timedelta(days=5),
                p.id,
                previous_state="cancel_scheduled",
            )


async def test_stats_show_the_funnel_money_and_a_chart(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    await seed_history(running_bot)
    staff = tg.user(STAFF_ID)
    await staff.send_text("/stats")
    report, chart = staff.messages[-2], staff.messages[-1]
    assert "Last 30 days" in report.text
    assert "Trials started: 2, converted to paid: 0" in report.text
    assert "Active members: 8" in report.text
    assert "MRR: 1\u202f800 ⭐" in report.text  # 4 × 300 + 4 × 150
    assert "Too expensive 1" in report.text  # the reason by its name, not its key
    assert "too_expensive" not in report.text
    assert "paid memberships at the start that ended): 20.0% (2 of 10)" in report.text
    assert chart.media is not None and chart.media.kind == "photo"
    assert chart.media.file.data[:8] == b"\x89PNG\r\n\x1a\n"


async def test_stats_count_a_small_story_as_a_person_would(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    """Ana pays, cancels (too expensive), turns down 30% off, and her month ends; Bo cancels
    his trial; Cy's trial runs out. Only Ana's ending is paid churn (the old /stats said
    "200.0% (2 paid memberships ended, 1 paying at the start)")."""
    from forever.wiring.email import run_sweeps

    ana = await trial_user(tg, 5001)
    bo = await trial_user(tg, 5002)
    await trial_user(tg, 5003)  # Cy
    _, paid = await subscribe_monthly(ana)
    assert paid.accepted
    clock.advance(timedelta(days=2))
    await ana.send_text("/cancel")
    await ana.press("Yes, cancel")
    await ana.press("Too expensive")
    assert "30% off" in ana.last_message.text
    await ana.press("No, thanks")
    await bo.send_text("/cancel")
    await bo.press("Yes, cancel")
    await bo.press("Not using it enough")
    clock.advance(timedelta(days=29))  # 31 days after the start: every access has ended
    await run_sweeps(running_bot.container, clock.now(), running_bot.chat)
    ended = await events(running_bot, kind=EventKind.ACCESS_ENDED.value)
    assert sorted(e.data["billing"] for e in ended) == ["monthly", "trial", "trial"]

    staff = tg.user(STAFF_ID)
    await staff.send_text("/stats")  # the 30 days from day 1 to day 31
    report = staff.messages[-2].text
    # At day 1 one paid membership (Ana's); it ended; the trials that ended are not churn.
    assert "paid memberships at the start that ended): 1 of 1 (too few" in report
    assert "begun since ended" not in report
    assert "Cancellations: 2 (1 in a trial)" in report
    assert "reasons: Too expensive 1, Not using it enough 1" in report
    assert "30% off: 0 of 1 (too few" in report  # shown to Ana, not taken
    assert "paid access ending): 0 of 1 (too few" in report  # Ana has not come back
    assert "MRR: 0 ⭐ (-300 ⭐, -100.0% since the start: 300 ⭐)" in report
    assert "Net revenue retention: 0.0% (0 ⭐ of 300 ⭐)" in report
    assert "Active members: 0" in report
    assert "%" not in report.split("Paid churn")[1].split("\n")[0]  # 1 paying: no percentage


@pytest.mark.parametrize("argument", ["abc", "0", "-3", "99999", "1.5"])
async def test_stats_refuse_a_period_that_is_not_a_number_of_days(
    tg: FakeBotAPI, running_bot: Runtime, argument: str
) -> None:
    staff = tg.user(STAFF_ID)
    await staff.send_text(f"/stats {argument}")
    assert "whole number of days" in staff.last_message.text


async def test_user_lookup_by_id_username_and_email(tg: FakeBotAPI, running_bot: Runtime) -> None:
    ana = tg.add_user(4001, "Ana", username="ana_k")
    await ana.start()
    async with running_bot.container.sessions.begin() as session:
        person = await session.scalar(select(Person).where(Person.telegram_id == 4001))
        assert person is not None
        person.email = "ana@example.com"
    staff = tg.user(STAFF_ID)
    for query in ("4001", "@ana_k", "ANA@example.com"):
        await staff.send_text(f"/user {query}")
        card = staff.last_message.text
        assert (
            "Ana" in card and "4001" in card and "signed up" in card
        )  # the event named, not its code
    await staff.send_text("/user 999999")
    assert "Nobody found" in staff.last_message.text
    await staff.send_text("/user")
    assert "Look someone up" in staff.last_message.text


async def test_grant_is_confirmed_by_a_tap_once(tg: FakeBotAPI, running_bot: Runtime) -> None:
    ana = tg.add_user(4002, "Ana")
    await ana.start()
    staff = tg.user(STAFF_ID)
    await staff.send_text("/grant 4002 plus 30")
    assert "Plus" in staff.last_message.text and "30" in staff.last_message.text
    await staff.press("Grant", wait=False)
    await staff.press("Grant", wait=False)  # a double tap grants once
    await tg.settle()
    assert "Done" in staff.messages[-1].text or "Done" in staff.messages[-2].text
    container = running_bot.container
    async with container.sessions() as session:
        person = await session.scalar(select(Person).where(Person.telegram_id == 4002))
        sub = await session.scalar(select(Subscription).where(Subscription.person_id == person.id))
        grants = (
            await session.scalars(select(Event).where(Event.kind == EventKind.GRANTED.value))
        ).all()
        actions = (await session.scalars(select(AuditEntry.action))).all()
    assert sub.state == "active" and sub.plan_id == "plus" and sub.billing == "grant"
    assert sub.period_end == START + timedelta(days=30)
    assert len(grants) == 1 and grants[0].data["by"] == STAFF_ID
    assert actions.count("grant") == 1
    await staff.send_text("/audit")
    assert "grant" in staff.last_message.text


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/grant 4003 plus thirty", "not a number of days"),
        ("/grant 4003 plus 0", "not a number of days"),
        ("/grant 4003 gold 30", "Unknown plan"),
        ("/grant 123456 plus 30", "Nobody found"),
        ("/grant 4003", "Give access"),
    ],
)
async def test_grant_bad_input(
    tg: FakeBotAPI, running_bot: Runtime, command: str, expected: str
) -> None:
    await tg.add_user(4003, "Bo").start()
    staff = tg.user(STAFF_ID)
    await staff.send_text(command)
    assert expected in staff.last_message.text
    async with running_bot.container.sessions() as session:
        granted = select(Event).where(Event.kind == EventKind.GRANTED.value)
        assert (await session.scalars(granted)).all() == []


async def test_grant_tells_the_customer_in_their_language_and_staff_see_it(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    ioana = tg.add_user(4004, "Ioana", language_code="ro")
    await ioana.start()
    before = len(ioana.messages)
    staff = tg.user(STAFF_ID)
    await staff.send_text("/grant 4004 pro 30")
    await staff.press("Grant")
    done = staff.last_message.text
    assert "Done" in done and "told in chat (Română)" in done
    # The message leaves through the outbox after the commit; the worker is woken at once.
    for _ in range(150):
        if len(ioana.messages) > before:
            break
        await asyncio.sleep(0.02)
    told = ioana.messages[-1].text
    assert "Pro" in told and "30 de zile" in told
    assert "23 decembrie 2026" in told  # START + 30 days, in words, in Romanian

    async def grant_rows() -> list[tuple[str, str]]:
        async with running_bot.container.sessions() as session:
            rows = await session.scalars(
                select(OutboxMessage).where(OutboxMessage.template == "grant_received")
            )
            return [(r.channel, r.status) for r in rows]

    # The worker records the delivery right after handing it over.
    for _ in range(150):
        if await grant_rows() != [("chat", "sending")]:
            break
        await asyncio.sleep(0.02)
    assert await grant_rows() == [("chat", "sent")]


async def test_a_grant_to_someone_who_blocked_the_bot_says_they_were_not_told(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    bo = tg.add_user(4005, "Bo")
    await bo.start()
    async with running_bot.container.sessions.begin() as session:
        person = await session.scalar(select(Person).where(Person.telegram_id == 4005))
        person.blocked_at = START
    staff = tg.user(STAFF_ID)
    await staff.send_text("/grant 4005 plus 3")
    await staff.press("Grant")
    assert "could not be told" in staff.last_message.text
    async with running_bot.container.sessions() as session:
        assert (await session.scalars(select(OutboxMessage))).all() == []
