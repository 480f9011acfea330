"""Referrals and partners through the fake Bot API (issue 19): /invite, who a first /start
through a `r_<code>` link is attributed to (never oneself, never someone known, once), the
reward at the referred person's first payment, no reward for a refunded payment or a second
account with the same confirmed email, /partners with its CSV, and /stats' referral
conversion."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import timedelta

from sqlalchemy import select

from forever.db.models import Person, PointEntry, Referral
from forever.domain.clock import ManualClock
from forever.domain.events import EventKind
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI, FakeUser
from forever.wiring.points import points_ledger
from tests.conftest import STAFF_ID, START
from tests.e2e.chat_helpers import count, events, snap
from tests.e2e.test_chat_payments import subscribe_monthly, trial_user
from tests.e2e.test_staff_refunds import messages_soon

LINK = re.compile(r"https://t\.me/forever_test_bot\?start=r_([a-z2-7]{10})")


async def invite_code(user: FakeUser) -> str:
    await user.send_text("/invite")
    found = LINK.search(user.last_message.text or "")
    assert found is not None, user.last_message.text
    return found.group(1)


async def newcomer(tg: FakeBotAPI, user_id: int, payload: str) -> tuple[FakeUser, str]:
    """A person whose very first contact is the link; (the user, the note said first)."""
    user = tg.add_user(user_id, f"User{user_id}")
    await user.start(payload)
    return user, user.messages[-2].text or ""


async def referral_of(bot: Runtime, telegram_id: int) -> Referral | None:
    async with bot.container.sessions() as session:
        person_id = await session.scalar(select(Person.id).where(Person.telegram_id == telegram_id))
        return await session.scalar(select(Referral).where(Referral.person_id == person_id))


async def set_email(bot: Runtime, telegram_id: int, email: str, status: str) -> None:
    async with bot.container.sessions.begin() as session:
        person = await session.scalar(select(Person).where(Person.telegram_id == telegram_id))
        assert person is not None
        person.email, person.email_status = email, status


async def test_invite_gives_a_stable_link_and_only_a_first_start_is_attributed(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    ana = tg.add_user(6001, "Ana")
    await ana.start()
    code = await invite_code(ana)
    invite = ana.last_message.text or ""
    assert "you get 7 days free and they get 7 days free" in invite
    assert await invite_code(ana) == code  # the same link every time

    # Her own link does nothing for her.
    await ana.start(f"r_{code}")
    assert "This is your own invite link" in (ana.messages[-2].text or "")

    # Bo's first contact is her link: attributed to her, and he is told what he gets.
    bo, note = await newcomer(tg, 6002, f"r_{code}")
    assert "You came through Ana’s invitation" in note and "you get 7 days free" in note
    assert "Start your free" in (bo.last_message.text or "") or bo.last_message.button_texts
    referral = await referral_of(running_bot, 6002)
    assert referral is not None and referral.partner_id is None
    assert referral.referrer_id == (await snap(running_bot, 6001)).person_id

    # Once per person: the link again changes nothing.
    await bo.start(f"r_{code}")
    assert "count only for people new to this bot" in (bo.messages[-2].text or "")
    # Someone who talked to the bot before is not attributed either.
    cy = tg.add_user(6003, "Cy")
    await cy.start()
    await cy.start(f"r_{code}")
    assert "count only for people new to this bot" in (cy.messages[-2].text or "")
    assert await referral_of(running_bot, 6003) is None

    # Unknown or malformed codes are refused clearly (and leave the newcomer unattributed).
    _, unknown = await newcomer(tg, 6004, "r_zzzzzzzzzz")
    _, short = await newcomer(tg, 6005, "r_a")
    _, odd = await newcomer(tg, 6006, "r_" + "x" * 40)
    assert all("This invite link is not valid" in t for t in (unknown, short, odd))
    assert await count(running_bot, Referral) == 1
    assert len(await events(running_bot, kind=EventKind.REFERRED)) == 1

    await ana.send_text("/invite")
    assert "So far 1 person has joined through your link; 0 of them paid" in (
        ana.last_message.text or ""
    )


async def test_two_starts_through_the_same_link_at_once_attribute_once(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    ana = tg.add_user(6101, "Ana")
    await ana.start()
    code = await invite_code(ana)
    rae = tg.add_user(6102, "Rae")
    await asyncio.gather(rae.start(f"r_{code}"), rae.start(f"r_{code}"))
    notes = [m.text or "" for m in rae.messages if "You came through" in (m.text or "")]
    assert len(notes) == 1
    assert await count(running_bot, Referral) == 1
    assert len(await events(running_bot, 6102, EventKind.REFERRED)) == 1


async def test_the_first_payment_rewards_both_once_and_a_refund_takes_it_back(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    ana = await trial_user(tg, 6201)  # in her trial: the days go to its end
    code = await invite_code(ana)
    bo, _ = await newcomer(tg, 6202, f"r_{code}")
    before = len(ana.messages)
    _, paid = await subscribe_monthly(bo)
    assert paid.accepted

    # Both get 7 days at the end of what they have, and are told.
    assert (await snap(running_bot, 6202)).membership.period_end == START + timedelta(days=37)
    assert (await snap(running_bot, 6201)).membership.period_end == START + timedelta(days=14)
    await messages_soon(ana, before)
    assert "Someone you invited has just paid for the first time" in (ana.messages[-1].text or "")
    for _ in range(150):
        if any("Thank you for your first payment" in (m.text or "") for m in bo.messages):
            break
        await asyncio.sleep(0.02)
    assert any("you get 7 days free" in (m.text or "") for m in bo.messages)
    rewarded = await events(running_bot, kind=EventKind.REFERRAL_REWARDED)
    assert sorted(e.data["role"] for e in rewarded) == ["referred", "referrer"]

    # The same payment delivered again, and a renewal, reward nothing more.
    again = dict(paid.message.to_json())
    again["message_id"] = paid.message.message_id + 1000
    await tg.send_update({"message": again})
    clock.advance(timedelta(days=1))
    assert (await tg.renew_subscription(bo, paid.charge_id)).accepted
    assert len(await events(running_bot, kind=EventKind.REFERRAL_REWARDED)) == 2
    assert (await snap(running_bot, 6201)).membership.period_end == START + timedelta(days=14)

    staff = tg.user(STAFF_ID)
    await staff.send_text("/stats")
    assert "Referral conversion (referred in the period who then paid): 1 of 1" in (
        staff.messages[-2].text or ""
    )

    # Staff refund the first payment: Ana's bonus days are taken back, and she is told.
    before = len(ana.messages)
    await staff.send_text(f"/refund {paid.charge_id}")
    await staff.press("Refund 300 ⭐")
    ana_end = (await snap(running_bot, 6201)).membership.period_end
    assert ana_end == START + timedelta(days=7)
    await messages_soon(ana, before)
    assert "was refunded, so the 7 days it gave you were taken back" in (
        ana.messages[-1].text or ""
    )
    revoked = await events(running_bot, kind=EventKind.REFERRAL_REVOKED)
    assert sorted(e.data["role"] for e in revoked) == ["referred", "referrer"]
    referral = await referral_of(running_bot, 6202)
    assert referral is not None and referral.revoked_at is not None
    await staff.send_text("/stats")
    assert "Referral conversion (referred in the period who then paid): 1 of 1" in (
        staff.messages[-2].text or ""  # the renewal is still a payment he kept
    )


async def test_no_reward_for_a_refunded_first_payment_when_it_is_the_only_one(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    ana = await trial_user(tg, 6251)
    code = await invite_code(ana)
    bo, _ = await newcomer(tg, 6252, f"r_{code}")
    _, paid = await subscribe_monthly(bo)
    staff = tg.user(STAFF_ID)
    await staff.send_text(f"/refund {paid.charge_id}")
    await staff.press("Refund 300 ⭐")
    assert (await snap(running_bot, 6251)).membership.period_end == START + timedelta(days=7)
    await staff.send_text("/stats")
    assert "Referral conversion (referred in the period who then paid): 0 of 1" in (
        staff.messages[-2].text or ""
    )


async def test_no_reward_for_a_second_account_with_the_same_confirmed_email(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    ana = await trial_user(tg, 6301)
    await set_email(running_bot, 6301, "ana@example.com", "confirmed")
    code = await invite_code(ana)
    bo, _ = await newcomer(tg, 6302, f"r_{code}")
    await set_email(running_bot, 6302, "Ana@Example.com", "unconfirmed")
    _, paid = await subscribe_monthly(bo)
    assert paid.accepted
    assert (await snap(running_bot, 6301)).membership.period_end == START + timedelta(days=7)
    assert (await snap(running_bot, 6302)).membership.period_end == START + timedelta(days=30)
    assert await events(running_bot, kind=EventKind.REFERRAL_REWARDED) == []
    refused = await events(running_bot, 6302, EventKind.REFERRAL_REWARD_REFUSED)
    assert [e.data["reason"] for e in refused] == ["same_email"]


async def test_partners_report_and_csv(tg: FakeBotAPI, running_bot: Runtime) -> None:
    _, note = await newcomer(tg, 6401, "r_lumen")
    assert "You came through Studio Lumen" in note
    quinn, _ = await newcomer(tg, 6402, "r_LUMEN")  # codes are read in lowercase
    _, paid = await subscribe_monthly(quinn)
    assert paid.accepted
    # A partner's people bring the partner a commission, not bonus days.
    assert await events(running_bot, kind=EventKind.REFERRAL_REWARDED) == []

    staff = tg.user(STAFF_ID)
    await staff.send_text("/partners")
    report = staff.messages[-2].text or ""
    assert "Studio Lumen (lumen, 20% commission)" in report
    assert "Referred: 2, paid: 1" in report
    assert "Stars received: 300 ⭐, commission owed: 60 ⭐" in report
    document = staff.last_message
    assert document.media is not None and document.media.kind == "document"
    assert document.media.file.file_name == "partners-2026-11-23.csv"
    rows = list(csv.reader(io.StringIO((document.media.file.data or b"").decode())))
    assert rows == [
        [
            "partner_id",
            "name",
            "code",
            "referred",
            "paid",
            "stars_received",
            "commission_percent",
            "commission_owed",
        ],
        ["studio_lumen", "Studio Lumen", "lumen", "2", "1", "300", "20", "60"],
    ]
    # Customers cannot ask for it.
    await quinn.send_text("/partners")
    assert "Studio Lumen" not in (quinn.last_message.text or "")


async def test_the_reward_gives_points_once_and_a_refund_takes_back_what_is_left(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    ana = await trial_user(tg, 6301)
    code = await invite_code(ana)
    bo, _ = await newcomer(tg, 6302, f"r_{code}")
    before = len(ana.messages)
    _, paid = await subscribe_monthly(bo)
    assert paid.accepted

    # Both get the catalog's 50 points on top of the days, and are told.
    await messages_soon(ana, before)
    assert "you get 7 days free and 50 points" in (ana.messages[-1].text or "")
    await ana.send_text("/points")
    assert "Your points: 50" in (ana.last_message.text or "")
    assert "earned +50 (invitation reward)" in (ana.last_message.text or "")
    await bo.send_text("/points")
    assert "Your points: 60" in (bo.last_message.text or "")  # 50 + 10 for the paid month

    # The same payment delivered again gives no more points.
    again = dict(paid.message.to_json())
    again["message_id"] = paid.message.message_id + 1000
    await tg.send_update({"message": again})
    assert await count(running_bot, PointEntry, reason="referral_rewarded") == 2

    # Ana spends 100 of her points (50 from the referral, 60 a gift): 10 are left.
    ana_id = (await snap(running_bot, 6301)).person_id
    await points_ledger(running_bot.container).earn(ana_id, 60, "gift-6301", "test")
    await ana.send_text("/points")
    await ana.press("7 extra days · 100 points")
    assert "You have 10 points left." in (ana.last_message.text or "")

    # Staff refund Bo's first payment: the points are taken back, never below zero.
    before = len(ana.messages)
    staff = tg.user(STAFF_ID)
    await staff.send_text(f"/refund {paid.charge_id}")
    await staff.press("Refund 300 ⭐")
    await messages_soon(ana, before)
    assert "were taken back, along with 10 points" in (ana.messages[-1].text or "")
    await ana.send_text("/points")
    assert "Your points: 0" in (ana.last_message.text or "")
    assert "taken back (refund) -10" in (ana.last_message.text or "")
    await bo.send_text("/points")
    assert "Your points: 0" in (bo.last_message.text or "")
    revoked = {
        e.data["role"]: e.data for e in await events(running_bot, kind=EventKind.REFERRAL_REVOKED)
    }
    assert revoked["referrer"]["points"] == 10 and revoked["referrer"]["points_shortfall"] == 40
    assert revoked["referred"]["points"] == 50 and revoked["referred"]["points_shortfall"] == 0
