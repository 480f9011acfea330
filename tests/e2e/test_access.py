"""Membership access end to end (issue 17): the real bot against the fake Bot API with a
channel and a group, join requests, expiry, the reconcile and the start-up check."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from forever.app import build_container
from forever.config import ConfigError, Settings
from forever.db.models import (
    AccessGrant,
    AccessMember,
    AuditEntry,
    OutboxMessage,
    Person,
    Subscription,
)
from forever.domain.clock import ManualClock
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI, FakeUser
from forever.sandbox.fake_bot_api.groups import JoinRefused, add_group, groups, join, leave
from tests.conftest import ROOT, STAFF_ID, TEST_TOKEN
from tests.e2e.test_chat_payments import subscribe_monthly, trial_user
from tests.e2e.test_chat_shop import confirm_refund

CLUB = -1001000000001
PRO_ROOM = -1001000000002

CHATS = f"""
[access]
grace_hours = 0
pause_removes = true

[[chats]]
key = "club"
chat_id = {CLUB}
kind = "channel"
name = {{ en = "Club channel", ro = "Canalul clubului", it = "Canale del club" }}

[[chats]]
key = "pro_room"
chat_id = {PRO_ROOM}
kind = "group"
name = {{ en = "Pro room", ro = "Camera Pro", it = "Stanza Pro" }}
"""


def catalog_with_chats(tmp_path: Path) -> Path:
    text = (ROOT / "catalog.toml").read_text(encoding="utf-8")
    text = text.replace('id = "basic"\n', 'id = "basic"\nchats = ["club"]\n', 1)
    text = text.replace('id = "plus"\n', 'id = "plus"\nchats = ["club"]\n', 1)
    text = text.replace('id = "pro"\n', 'id = "pro"\nchats = ["club", "pro_room"]\n', 1)
    path = tmp_path / "catalog.toml"
    path.write_text(text + CHATS, encoding="utf-8")
    return path


@pytest.fixture
async def tg(clock: ManualClock) -> AsyncIterator[FakeBotAPI]:
    """Telegram's clock is the test's: one-time links expire by it."""
    async with FakeBotAPI(
        TEST_TOKEN, update_timeout=10.0, wall_clock=lambda: clock.now().timestamp()
    ) as fake:
        fake.add_user(STAFF_ID, "Sam", language_code="en", username="sam_staff", started=True)
        yield fake


@pytest.fixture
def access_settings(e2e_settings: Settings, tmp_path: Path) -> Settings:
    return e2e_settings.model_copy(update={"catalog_path": str(catalog_with_chats(tmp_path))})


@pytest.fixture
async def access_bot(
    access_settings: Settings, clock: ManualClock, tg: FakeBotAPI
) -> AsyncIterator[Runtime]:
    add_group(tg.state, CLUB, "Club channel", kind="channel")
    add_group(tg.state, PRO_ROOM, "Pro room")
    runtime = Runtime(build_container(access_settings, clock=clock), TEST_TOKEN)
    await runtime.start(scheduler=False, handle_as_tasks=False)
    await tg.wait_until_polled()
    yield runtime
    await runtime.stop()
    tg.assert_no_refused_calls()


async def settle(tg: FakeBotAPI, bot: Runtime) -> None:
    """Let the outbox hand over what is due, and the bot take in what that caused."""
    assert bot.outbox is not None
    for _ in range(200):  # the runtime's own delivery loop may hold a row: wait for it
        await bot.outbox.drain()
        await tg.settle()
        async with bot.container.sessions() as session:
            busy = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.status.in_(("pending", "sending")),
                    OutboxMessage.not_before <= bot.container.clock.now(),
                )
            )
        if not busy:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the outbox did not settle")


def status(tg: FakeBotAPI, chat_id: int, user: FakeUser) -> str:
    return groups(tg.state)[chat_id].status(user.id)


def join_links(user: FakeUser) -> dict[str, str]:
    for message in reversed(user.messages):
        found = {b.text: b.target for row in message.buttons for b in row}
        if found and all(t and t.startswith("https://t.me/+") for t in found.values()):
            return {k: v for k, v in found.items() if v}
    raise AssertionError("no invite message")


async def test_trial_join_approved_then_expiry_removes_and_tells(
    tg: FakeBotAPI, access_bot: Runtime, clock: ManualClock
) -> None:
    ana = await trial_user(tg, 7101)
    await settle(tg, access_bot)
    links = join_links(ana)
    assert list(links) == ["Club channel"]  # a Plus trial opens the club, not the Pro room
    await join(tg, ana.id, links["Club channel"])
    await settle(tg, access_bot)
    assert status(tg, CLUB, ana) == "member"
    assert tg.calls_to("approveChatJoinRequest")

    clock.advance(timedelta(days=8))
    await access_bot.sweep_once()
    await settle(tg, access_bot)
    assert status(tg, CLUB, ana) == "left"  # removed, and free to come back (not banned)
    assert "membership has ended" in (ana.last_message.text or "")
    # Running the sweep again removes nobody twice.
    bans = len(tg.calls_to("banChatMember"))
    await access_bot.sweep_once()
    await settle(tg, access_bot)
    assert len(tg.calls_to("banChatMember")) == bans


async def test_a_shared_link_is_useless_to_a_non_member(
    tg: FakeBotAPI, access_bot: Runtime
) -> None:
    ana = await trial_user(tg, 7201)
    await settle(tg, access_bot)
    link = join_links(ana)["Club channel"]
    stranger = tg.add_user(7202, "Stranger", language_code="it")
    await join(tg, stranger.id, link)
    await settle(tg, access_bot)
    assert status(tg, CLUB, stranger) == "left"
    assert tg.calls_to("declineChatJoinRequest")
    assert "Canale del club" in (stranger.last_message.text or "")  # told in Italian, privately


async def test_reconcile_removes_a_stray_but_never_an_administrator(
    tg: FakeBotAPI, access_bot: Runtime
) -> None:
    club = groups(tg.state)[CLUB]
    stray = tg.add_user(7301, "Stray")
    admin = tg.add_user(7302, "Admin")
    link = next(iter(club.links), None)
    assert link is None  # nobody was invited yet
    from forever.sandbox.fake_bot_api.groups import _changed

    _changed(tg.methods, club, stray.id, "member")
    club.rights[admin.id] = {"can_invite_users": True}
    _changed(tg.methods, club, admin.id, "administrator")
    await tg.settle()
    results = await access_bot.sweep_once()
    assert results is not None and results["chat_access"] == 1
    await settle(tg, access_bot)
    assert status(tg, CLUB, stray) == "left"
    assert status(tg, CLUB, admin) == "administrator"
    # Staff are told what the reconcile did, and it is in the audit log.
    report = tg.user(STAFF_ID).last_message.text or ""
    assert "Access check: 1 person in the chats without access" in report
    assert f"Club channel ({CLUB}): 1" in report
    async with access_bot.container.sessions() as session:
        actions = [
            (e.action, e.arguments)
            for e in await session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]
    assert ("chat_reconcile", {"removed": {str(CLUB): 1}}) in actions
    assert any(a == "chat_removal" and args["reason"] == "stray" for a, args in actions)


async def test_start_refused_with_one_line_per_chat_problem(
    access_settings: Settings, clock: ManualClock, tg: FakeBotAPI
) -> None:
    add_group(tg.state, CLUB, "Club channel", kind="channel", can_restrict_members=False)
    add_group(tg.state, PRO_ROOM, "Pro room", bot_admin=False)
    runtime = Runtime(build_container(access_settings, clock=clock), TEST_TOKEN)
    with pytest.raises(ConfigError) as refused:
        await runtime.start(scheduler=False, handle_as_tasks=False)
    await runtime.container.close()
    lines = str(refused.value).splitlines()
    assert lines[1] == (
        f"catalog chat 'club' ({CLUB}): the bot's administrator rights lack can_restrict_members"
    )
    assert lines[2].startswith(f"catalog chat 'pro_room' ({PRO_ROOM}): the bot is member")
    assert len(lines) == 3


async def test_the_whole_walk_trial_expiry_pay_upgrade_cancel(
    tg: FakeBotAPI, access_bot: Runtime, clock: ManualClock
) -> None:
    ana = await trial_user(tg, 7401)
    await settle(tg, access_bot)
    await join(tg, ana.id, join_links(ana)["Club channel"])
    await settle(tg, access_bot)
    assert status(tg, CLUB, ana) == "member"

    clock.advance(timedelta(days=8))  # the trial ends
    await access_bot.sweep_once()
    await settle(tg, access_bot)
    assert status(tg, CLUB, ana) == "left"

    _, paid = await subscribe_monthly(ana)  # pays for Plus: invited again, approved again
    assert paid.accepted
    await settle(tg, access_bot)
    await join(tg, ana.id, join_links(ana)["Club channel"])
    await settle(tg, access_bot)
    assert status(tg, CLUB, ana) == "member"

    await subscribe_monthly(ana, "Pro · 600 ⭐ / month")  # the upgrade adds the Pro room only
    await settle(tg, access_bot)
    assert list(join_links(ana)) == ["Pro room"]
    await join(tg, ana.id, join_links(ana)["Pro room"])
    await settle(tg, access_bot)
    assert status(tg, PRO_ROOM, ana) == "member"

    await ana.send_text("/cancel")
    await ana.press("Yes, cancel")
    await settle(tg, access_bot)
    assert status(tg, CLUB, ana) == "member"  # access lasts until the paid period ends
    clock.advance(timedelta(days=60))
    await access_bot.sweep_once()
    await settle(tg, access_bot)
    assert status(tg, CLUB, ana) == "left" and status(tg, PRO_ROOM, ana) == "left"
    texts = [m.text or "" for m in ana.messages[-2:]]
    assert all("membership has ended" in t for t in texts)


async def test_staff_see_a_persons_chats_resend_the_invite_and_count_members(
    tg: FakeBotAPI, access_bot: Runtime
) -> None:
    ana = await trial_user(tg, 7501)
    await settle(tg, access_bot)
    await join(tg, ana.id, join_links(ana)["Club channel"])
    await settle(tg, access_bot)
    sam = tg.user(STAFF_ID)

    await sam.send_text("/access 7501")
    card = sam.last_message
    assert "Club channel: access given" in (card.text or "")
    assert "in the chat: yes" in (card.text or "")
    assert "Pro room: no access" in (card.text or "")
    invites = len([m for m in ana.messages if m.buttons])
    await sam.press("Send the invite again", message=card)
    await settle(tg, access_bot)
    assert len([m for m in ana.messages if m.buttons]) == invites + 1

    await sam.send_text("/stats")
    assert "Club channel: 1" in (sam.last_message.text or "")
    assert "Pro room: 0" in (sam.last_message.text or "")

    await sam.send_text("/audit")
    log = sam.last_message.text or ""
    assert "chat_join_approved" in log and "access_resend" in log and "access_lookup" in log


def forget_refused(tg: FakeBotAPI, *statuses: int) -> None:
    """The refusals a test caused on purpose (and asserted) are not bot mistakes."""
    tg.calls[:] = [c for c in tg.calls if c.ok or c.status not in statuses]


async def test_a_demoted_bot_alerts_staff_loses_nothing_and_retries_once_fixed(
    tg: FakeBotAPI, access_bot: Runtime, clock: ManualClock
) -> None:
    ana = await trial_user(tg, 7601)
    await settle(tg, access_bot)
    await join(tg, ana.id, join_links(ana)["Club channel"])
    await settle(tg, access_bot)
    club = groups(tg.state)[CLUB]
    club.rights[int(tg.bot_user["id"])]["can_restrict_members"] = False  # demoted

    clock.advance(timedelta(days=8))
    await access_bot.sweep_once()
    await settle(tg, access_bot)
    assert status(tg, CLUB, ana) == "member"  # not removed yet...
    alert = tg.user(STAFF_ID).last_message.text or ""
    assert "The bot cannot manage Club channel" in alert and "not enough rights" in alert

    club.rights[int(tg.bot_user["id"])]["can_restrict_members"] = True  # fixed
    clock.advance(timedelta(minutes=5))
    await settle(tg, access_bot)
    assert status(tg, CLUB, ana) == "left"  # ...removed as soon as the rights are back
    refused = [c for c in tg.refused if c.method == "banChatMember"]
    assert refused and all(c.description and "not enough rights" in c.description for c in refused)
    forget_refused(tg, 400)


async def test_a_demoted_bot_removes_each_person_once_however_many_sweeps_run_meanwhile(
    tg: FakeBotAPI, access_bot: Runtime, clock: ManualClock
) -> None:
    """The bot loses its rights while members' access ends; sweeps (and their reconcile) keep
    running every few minutes for hours. Once the rights are back, everyone is removed, told
    once, and banned exactly once: the waiting removal is not doubled by a later pass."""
    members = [await trial_user(tg, 7650 + n) for n in range(3)]
    await settle(tg, access_bot)
    for user in members:
        await join(tg, user.id, join_links(user)["Club channel"])
    await settle(tg, access_bot)
    club = groups(tg.state)[CLUB]
    club.rights[int(tg.bot_user["id"])]["can_restrict_members"] = False  # demoted

    clock.advance(timedelta(days=8))
    for _ in range(12):  # an hour of sweeps every 5 minutes, the removals failing meanwhile
        await access_bot.sweep_once()
        await settle(tg, access_bot)
        clock.advance(timedelta(minutes=5))
    assert all(status(tg, CLUB, u) == "member" for u in members)  # nothing done yet...
    alerts = [m for m in tg.user(STAFF_ID).messages if "cannot manage" in (m.text or "")]
    assert len(alerts) == 1  # staff alerted once an hour per chat, not once per failure

    club.rights[int(tg.bot_user["id"])]["can_restrict_members"] = True  # promoted again
    for _ in range(30):  # the waiting removals come round on their backoff
        clock.advance(timedelta(minutes=30))
        await access_bot.sweep_once()
        await settle(tg, access_bot)
    assert all(status(tg, CLUB, u) == "left" for u in members)  # ...nothing lost
    banned = [c.params["user_id"] for c in tg.calls_to("banChatMember") if c.ok]
    assert sorted(banned) == sorted(u.id for u in members)  # exactly one ban per person
    for user in members:
        told = [m.text or "" for m in user.messages]
        assert len([t for t in told if "Club channel" in t and "/plans" in t]) == 1  # told once
    forget_refused(tg, 400)


async def test_a_removal_given_up_while_the_bot_was_demoted_is_done_once_it_is_fixed(
    tg: FakeBotAPI, access_bot: Runtime, clock: ManualClock
) -> None:
    """The bot stays demoted longer than the outbox keeps retrying (about a day), so the
    removal is given up. Once the bot is promoted again the next sweep removes the person:
    banned once, told once, and not removed again by later sweeps."""
    ana = await trial_user(tg, 7680)
    await settle(tg, access_bot)
    await join(tg, ana.id, join_links(ana)["Club channel"])
    await settle(tg, access_bot)
    club = groups(tg.state)[CLUB]
    club.rights[int(tg.bot_user["id"])]["can_restrict_members"] = False  # demoted

    async def removals() -> list[str]:
        async with access_bot.container.sessions() as session:
            rows = await session.scalars(
                select(OutboxMessage.status).where(OutboxMessage.template == "access_remove")
            )
            return list(rows)

    clock.advance(timedelta(days=8))
    for _ in range(72):  # hourly sweeps while the removal is retried, until it is given up
        await access_bot.sweep_once()
        await settle(tg, access_bot)
        clock.advance(timedelta(hours=1))
        if "failed" in await removals():
            break
    # The outbox gave up on it (about a day); the next sweep queued it again, once.
    assert (await removals())[0] == "failed"
    assert status(tg, CLUB, ana) == "member"

    for _ in range(8):  # the bot is still demoted a while after the outbox gave up
        await access_bot.sweep_once()
        await settle(tg, access_bot)
        clock.advance(timedelta(hours=1))
    club.rights[int(tg.bot_user["id"])]["can_restrict_members"] = True  # promoted again
    for _ in range(24):  # the next day of sweeps
        await access_bot.sweep_once()
        await settle(tg, access_bot)
        clock.advance(timedelta(hours=1))
    assert status(tg, CLUB, ana) == "left"  # removed once the bot is fixed
    assert (await removals())[-1] == "sent"
    assert (await removals()).count("pending") == 0
    banned = [c.params["user_id"] for c in tg.calls_to("banChatMember") if c.ok]
    assert banned == [ana.id]  # exactly once
    told = [m.text or "" for m in ana.messages]
    assert len([t for t in told if "Club channel" in t and "/plans" in t]) == 1
    forget_refused(tg, 400)


async def test_429_while_removing_many_paced_all_removed_nobody_twice(
    tg: FakeBotAPI, access_bot: Runtime, clock: ManualClock
) -> None:
    members = []
    for n in range(12):
        user = await trial_user(tg, 7700 + n)
        members.append(user)
    await settle(tg, access_bot)
    for user in members:
        await join(tg, user.id, join_links(user)["Club channel"])
    await settle(tg, access_bot)
    assert all(status(tg, CLUB, u) == "member" for u in members)

    tg.inject_429(5, retry_after=3, methods=["banChatMember"])
    clock.advance(timedelta(days=8))
    await access_bot.sweep_once()
    await settle(tg, access_bot)
    clock.advance(timedelta(seconds=5))  # past Telegram's retry_after
    await settle(tg, access_bot)
    assert all(status(tg, CLUB, u) == "left" for u in members)
    banned = [c.params["user_id"] for c in tg.calls_to("banChatMember") if c.ok]
    assert sorted(banned) == sorted(u.id for u in members)  # each once
    assert len([c for c in tg.refused if c.status == 429]) == 5
    forget_refused(tg, 429)


async def test_a_member_who_left_by_themselves_is_not_banned_but_told(
    tg: FakeBotAPI, access_bot: Runtime, clock: ManualClock
) -> None:
    ana = await trial_user(tg, 7801)
    await settle(tg, access_bot)
    await join(tg, ana.id, join_links(ana)["Club channel"])
    await settle(tg, access_bot)
    leave(tg, ana.id, CLUB)
    await tg.settle()
    clock.advance(timedelta(days=8))
    await access_bot.sweep_once()
    await settle(tg, access_bot)
    assert not tg.calls_to("banChatMember")
    assert "membership has ended" in (ana.last_message.text or "")


async def test_the_bot_asks_for_member_and_join_request_updates(
    tg: FakeBotAPI, access_bot: Runtime
) -> None:
    allowed = tg.calls_to("getUpdates")[0].params["allowed_updates"]
    assert "chat_member" in allowed and "chat_join_request" in allowed


async def test_one_time_links_let_one_person_in_until_they_expire(
    e2e_settings: Settings, tmp_path: Path, clock: ManualClock, tg: FakeBotAPI
) -> None:
    path = catalog_with_chats(tmp_path)
    text = path.read_text(encoding="utf-8").replace(
        'kind = "group"\n', 'kind = "group"\njoin = "one_time"\nlink_hours = 2\n'
    )
    path.write_text(text, encoding="utf-8")
    add_group(tg.state, CLUB, "Club channel", kind="channel")
    add_group(tg.state, PRO_ROOM, "Pro room")
    settings = e2e_settings.model_copy(update={"catalog_path": str(path)})
    bot = Runtime(build_container(settings, clock=clock), TEST_TOKEN)
    await bot.start(scheduler=False, handle_as_tasks=False)
    await tg.wait_until_polled()
    try:
        ana = await trial_user(tg, 7901)
        await subscribe_monthly(ana, "Pro · 600 ⭐ / month")
        await settle(tg, bot)
        link = join_links(ana)["Pro room"]
        call = next(c for c in tg.calls_to("createChatInviteLink") if "member_limit" in c.params)
        assert int(call.params["member_limit"]) == 1
        stranger = tg.add_user(7902, "Stranger")
        clock.advance(timedelta(hours=3))
        with pytest.raises(JoinRefused, match="expired"):
            await join(tg, stranger.id, link)
        await tg.user(STAFF_ID).send_text("/access 7901")
        await tg.user(STAFF_ID).press("Send the invite again")
        await settle(tg, bot)
        fresh = join_links(ana)["Pro room"]
        assert fresh != link
        await join(tg, ana.id, fresh)
        await settle(tg, bot)
        assert status(tg, PRO_ROOM, ana) == "member"
        with pytest.raises(JoinRefused, match="used up"):
            await join(tg, stranger.id, fresh)
    finally:
        await bot.stop()
    tg.assert_no_refused_calls()


async def test_a_staff_grant_opens_the_chats_at_once(tg: FakeBotAPI, access_bot: Runtime) -> None:
    bob = tg.add_user(7951, "Bob", started=True)
    await bob.start()
    sam = tg.user(STAFF_ID)
    await sam.send_text("/grant 7951 pro 30")
    await sam.press("Grant")
    await settle(tg, access_bot)  # no sweep: the staff update itself carried it
    assert list(join_links(bob)) == ["Club channel", "Pro room"]


async def test_a_downgrade_keeps_the_old_plans_chat_until_its_paid_period_ends(
    tg: FakeBotAPI, access_bot: Runtime, clock: ManualClock
) -> None:
    bo = await trial_user(tg, 7901)
    await settle(tg, access_bot)
    await join(tg, bo.id, join_links(bo)["Club channel"])
    _, paid = await subscribe_monthly(bo, "Pro · 600 ⭐ / month")
    assert paid.accepted
    await settle(tg, access_bot)
    await join(tg, bo.id, join_links(bo)["Pro room"])
    await settle(tg, access_bot)
    assert status(tg, PRO_ROOM, bo) == "member"

    clock.advance(timedelta(days=10))
    _, paid = await subscribe_monthly(bo, "Basic · 150 ⭐ / month")  # Basic opens the club only
    assert paid.accepted
    await settle(tg, access_bot)
    await access_bot.sweep_once()
    await settle(tg, access_bot)
    assert status(tg, PRO_ROOM, bo) == "member"  # Pro was paid for 20 more days

    clock.advance(timedelta(days=19))
    await access_bot.sweep_once()
    await settle(tg, access_bot)
    assert status(tg, PRO_ROOM, bo) == "member"
    assert not tg.calls_to("banChatMember")

    clock.advance(timedelta(days=1, hours=1))  # the Pro period is over
    await access_bot.sweep_once()
    await settle(tg, access_bot)
    assert status(tg, PRO_ROOM, bo) == "left"
    assert status(tg, CLUB, bo) == "member"  # Basic still opens the club
    assert "does not include <b>Pro room</b>" in (bo.messages[-1].html or bo.messages[-1].text)


# The suite runs 300; FOREVER_ACCESS_BULK=5000 runs the size (about 1.5 min here: the
# fake Bot API waits as long as the bot keeps taking in the 10,000 chat_member updates the bans
# cause). bench/bench_access_removals.py measures it (docs/benchmarks.md).
BULK_MEMBERS = int(os.environ.get("FOREVER_ACCESS_BULK", "300"))


async def sending_rows(bot: Runtime) -> int:
    async with bot.container.sessions() as session:
        found = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sending")
        )
    return int(found or 0)


@pytest.fixture
async def bulk_bot(
    e2e_settings: Settings, tmp_path: Path, clock: ManualClock, tg: FakeBotAPI
) -> AsyncIterator[Runtime]:
    """The access bot with the bulk sending rate raised (the "you left" notes are paced by
    it): the test is about the removals' pacing under 429s, not the notes'."""
    add_group(tg.state, CLUB, "Club channel", kind="channel")
    add_group(tg.state, PRO_ROOM, "Pro room")
    settings = e2e_settings.model_copy(
        update={
            "catalog_path": str(catalog_with_chats(tmp_path)),
            "broadcast_rate": 1000.0,
            "paid_broadcast_rate": 1000.0,
        }
    )
    runtime = Runtime(build_container(settings, clock=clock), TEST_TOKEN)
    await runtime.start(scheduler=False, handle_as_tasks=False)
    await tg.wait_until_polled()
    yield runtime
    await runtime.stop()


async def test_429_while_removing_5000_expired_members_paced_all_removed_nobody_twice(
    tg: FakeBotAPI, bulk_bot: Runtime, clock: ManualClock
) -> None:
    """5,000 trial members of the club whose trials ended: Telegram answers 429 (retry after
    1 s) to some bans and unbans; every one is removed once, within well under a minute."""
    now = clock.now()
    club = groups(tg.state)[CLUB]
    first = 800_000
    async with bulk_bot.container.sessions.begin() as session:
        for n in range(BULK_MEMBERS):
            uid = first + n
            tg.add_user(uid, f"M{n}", language_code="en", started=True)
            club.statuses[uid] = "member"
            person = Person(telegram_id=uid, first_name=f"M{n}", language="en", created_at=now)
            session.add(person)
            await session.flush() if n % 500 == 499 else None
        await session.flush()
        people = (await session.execute(select(Person.id, Person.telegram_id))).all()
        for person_id, uid in people:
            if uid is None or uid < first:
                continue
            session.add(
                Subscription(
                    person_id=person_id,
                    state="trial",
                    plan_id="plus",
                    period_end=now + timedelta(days=7),
                    started_at=now,
                    updated_at=now,
                )
            )
            session.add(
                AccessGrant(
                    person_id=person_id,
                    chat_id=CLUB,
                    telegram_id=uid,
                    status="granted",
                    round=1,
                    granted_at=now,
                )
            )
            session.add(AccessMember(chat_id=CLUB, user_id=uid, status="member", updated_at=now))
    tg.inject_429(40, retry_after=1, methods=["banChatMember", "unbanChatMember"])
    clock.advance(timedelta(days=8))
    started = time.perf_counter()
    cpu = time.process_time()
    await bulk_bot.sweep_once()
    for _ in range(600):
        await settle(tg, bulk_bot)
        if all(club.status(first + n) == "left" for n in range(BULK_MEMBERS)):
            break
        # Rows retried later wait on the clock; move it only while no row is being sent
        # (moving it past a sending row's lease would hand that row to a second worker).
        for _wait in range(400):
            if not await sending_rows(bulk_bot):
                break
            await asyncio.sleep(0.05)
        clock.advance(timedelta(seconds=2))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"\n{BULK_MEMBERS} removals with 429s: {wall:.1f} s wall, {cpu:.1f} s CPU")  # noqa: T201
    assert all(club.status(first + n) == "left" for n in range(BULK_MEMBERS))
    banned = [c.params["user_id"] for c in tg.calls_to("banChatMember") if c.ok]
    assert len(banned) == BULK_MEMBERS and len(set(banned)) == BULK_MEMBERS  # nobody twice
    assert len([c for c in tg.refused if c.status == 429]) == 40
    assert wall < 45 * max(1, BULK_MEMBERS / 300)
    tg.assert_429s_obeyed(in_flight=0.05)  # every 429 obeyed (calls on their way excepted)
    forget_refused(tg, 429)


async def test_a_join_request_from_someone_who_never_started_the_bot_is_declined_with_a_note(
    tg: FakeBotAPI, access_bot: Runtime
) -> None:
    ana = await trial_user(tg, 7951)
    await settle(tg, access_bot)
    link = join_links(ana)["Club channel"]
    never = tg.add_user(7952, "Never", language_code="ro")  # never opened the bot
    assert not never.messages
    await join(tg, never.id, link)
    await settle(tg, access_bot)
    assert status(tg, CLUB, never) == "left"
    declined = [c.params["user_id"] for c in tg.calls_to("declineChatJoinRequest") if c.ok]
    assert declined == [never.id]
    assert "Canalul clubului" in (never.last_message.text or "")  # told, in Romanian
    assert not tg.calls_to("approveChatJoinRequest")


async def test_two_join_requests_at_once_are_each_answered_once(
    tg: FakeBotAPI, access_bot: Runtime
) -> None:
    ana, bob = await trial_user(tg, 7961), await trial_user(tg, 7962)
    await settle(tg, access_bot)
    link = join_links(ana)["Club channel"]
    await asyncio.gather(join(tg, ana.id, link), join(tg, bob.id, link))
    await settle(tg, access_bot)
    assert status(tg, CLUB, ana) == "member" and status(tg, CLUB, bob) == "member"
    approved = [c.params["user_id"] for c in tg.calls_to("approveChatJoinRequest") if c.ok]
    assert sorted(approved) == [ana.id, bob.id]  # one answer each
    # Asking again while inside changes nothing (Telegram sends no second request).
    await join(tg, ana.id, link)
    await settle(tg, access_bot)
    assert len(tg.calls_to("approveChatJoinRequest")) == 2


PRO_PASS = """
[[addons]]
id = "pro_pass"
name = { en = "Pro room pass", ro = "Acces Camera Pro", it = "Pass Stanza Pro" }
description = { en = "Three days.", ro = "Trei zile.", it = "Tre giorni." }
stars = 40
days = 3
chats = ["pro_room"]
"""


@pytest.fixture
async def addon_bot(
    e2e_settings: Settings, tmp_path: Path, clock: ManualClock, tg: FakeBotAPI
) -> AsyncIterator[Runtime]:
    """The access bot with an add-on that opens the Pro room for three days (issue 19)."""
    add_group(tg.state, CLUB, "Club channel", kind="channel")
    add_group(tg.state, PRO_ROOM, "Pro room")
    path = catalog_with_chats(tmp_path)
    path.write_text(path.read_text(encoding="utf-8") + PRO_PASS, encoding="utf-8")
    settings = e2e_settings.model_copy(update={"catalog_path": str(path)})
    runtime = Runtime(build_container(settings, clock=clock), TEST_TOKEN)
    await runtime.start(scheduler=False, handle_as_tasks=False)
    await tg.wait_until_polled()
    yield runtime
    await runtime.stop()
    tg.assert_no_refused_calls()


async def buy_pro_pass(
    tg: FakeBotAPI, bot: Runtime, user: FakeUser, label: str = "Pro room pass · 40 ⭐"
) -> str:
    await user.send_text("/shop")
    await user.press(label)
    paid = await user.pay(user.last_message)
    assert paid.accepted, paid.error_message
    await settle(tg, bot)
    return str(paid.charge_id)


async def test_an_add_on_opens_its_chat_until_it_ends_or_is_refunded(
    tg: FakeBotAPI, addon_bot: Runtime, clock: ManualClock
) -> None:
    ana = await trial_user(tg, 7801)  # a Plus trial: the club comes with the plan
    await settle(tg, addon_bot)
    club_link = join_links(ana)["Club channel"]
    await join(tg, ana.id, club_link)
    await buy_pro_pass(tg, addon_bot, ana)
    assert "Your Pro room pass opens Pro room." in (ana.last_message.text or "")
    await join(tg, ana.id, join_links(ana)["Pro room"])  # the join request is approved
    await settle(tg, addon_bot)
    assert status(tg, PRO_ROOM, ana) == "member" and status(tg, CLUB, ana) == "member"

    clock.advance(timedelta(days=3, minutes=1))  # the pass is over; the trial is not
    await addon_bot.sweep_once()
    await settle(tg, addon_bot)
    assert status(tg, PRO_ROOM, ana) == "left"
    assert status(tg, CLUB, ana) == "member"
    assert "add-on that opened Pro room has ended" in (ana.last_message.text or "")
    assert "/shop" in (ana.last_message.text or "")

    # Bought again: back in; refunded by staff: out at once, the plan's club kept.
    charge = await buy_pro_pass(tg, addon_bot, ana)
    await join(tg, ana.id, join_links(ana)["Pro room"])
    await settle(tg, addon_bot)
    assert status(tg, PRO_ROOM, ana) == "member"
    assert "The add-on has ended." in await confirm_refund(tg.user(STAFF_ID), f"/refund {charge}")
    await addon_bot.sweep_once()
    await settle(tg, addon_bot)
    assert status(tg, PRO_ROOM, ana) == "left" and status(tg, CLUB, ana) == "member"
    bans = [c.params["user_id"] for c in tg.calls_to("banChatMember") if c.ok]
    assert bans == [ana.id, ana.id]  # once per pass that ended, never the club

    # Someone without a membership may buy it too: the Pro room, and nothing else.
    bo = tg.add_user(7802, "Bo", language_code="it")
    await bo.start()
    await buy_pro_pass(tg, addon_bot, bo, "Pass Stanza Pro · 40 ⭐")
    assert "Pass Stanza Pro ti apre Stanza Pro." in (bo.last_message.text or "")
    assert list(join_links(bo)) == ["Stanza Pro"]
    await join(tg, bo.id, join_links(bo)["Stanza Pro"])
    await settle(tg, addon_bot)
    assert status(tg, PRO_ROOM, bo) == "member"
    declined = await join(tg, bo.id, club_link)  # Ana's club link, shared
    await settle(tg, addon_bot)
    assert declined is not None and status(tg, CLUB, bo) == "left"
