"""Erasure leaves no copy of a person behind: after "Yes, delete everything" no table of the
database holds their address, first name, username, or an unkeyed hash of the address, though
staff looked them up by address, they wrote to staff and were answered, gave consent, had
messages queued, and their updates were stored by the webhook inbox (as in webhook mode)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from forever.app import build_container
from forever.config import Settings
from forever.db.inbox import store_update
from forever.db.models import (
    AuditEntry,
    Base,
    Consent,
    OutboxMessage,
    Suppression,
    UpdateInbox,
)
from forever.db.repositories.suppressions import suppression_hash
from forever.domain.clock import ManualClock
from forever.domain.signing import email_hash
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.sandbox.fake_bot_api.groups import add_group, groups, join
from tests.conftest import STAFF_ID, TEST_TOKEN
from tests.e2e.staff_helpers import only_job, wait_for, wait_for_status
from tests.e2e.test_access import CLUB, PRO_ROOM, catalog_with_chats, join_links, settle
from tests.e2e.test_chat_payments import trial_user

ADDRESS = "Zeferina.Private@example.com"
FIRST_NAME = "Zeferina"
USERNAME = "zef_private"
USER_ID = 7301


def webhook_update(update_id: int, sender: dict[str, Any], text: str) -> dict[str, Any]:
    """A message update as the webhook inbox stores it (see tests/e2e/scaleout)."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1795000000,
            "chat": {"id": sender["id"], "type": "private", "first_name": sender["first_name"]},
            "from": sender,
            "text": text,
        },
    }


async def every_value(running_bot: Runtime) -> dict[str, str]:
    """Every row of every table, stringified, by table name (lowercased)."""
    found: dict[str, str] = {}
    async with running_bot.container.sessions() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(table))).all()
            found[table.name] = json.dumps(
                [[str(v) for v in row] for row in rows], ensure_ascii=False
            ).lower()
    return found


UNKNOWN_WORDS = "where is the kiwi-zanzibar lounge"


async def test_after_erasure_no_table_holds_the_address_name_or_an_unkeyed_hash(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    user = tg.add_user(USER_ID, FIRST_NAME, username=USERNAME)
    await user.start()
    await user.press("Start my free trial")
    await user.send_text(ADDRESS)
    await user.press("Yes, email me")  # a consent, and a confirm email queued in the outbox
    staff = tg.user(STAFF_ID)
    await staff.send_text(f"/user {ADDRESS}")  # audited with the address
    assert USERNAME in staff.last_message.text

    # Webhook mode keeps the updates themselves for days: theirs, and staff's about them.
    container = running_bot.container
    now = clock.now()
    customer = {"id": USER_ID, "is_bot": False, "first_name": FIRST_NAME, "username": USERNAME}
    sam = {"id": STAFF_ID, "is_bot": False, "first_name": "Sam", "username": "sam_staff"}
    async with container.sessions.begin() as session:
        for update_id, sender, text in [
            (880001, customer, f"my email is {ADDRESS}"),
            (880002, sam, f"/user {ADDRESS}"),
            (880003, sam, f"Thanks {FIRST_NAME}, see you"),
        ]:
            body = webhook_update(update_id, sender, text)
            await store_update(
                session, update_id, body, holder="other", lease=timedelta(seconds=30), now=now
            )
        await session.execute(
            UpdateInbox.__table__.update()
            .where(UpdateInbox.update_id.in_([880001, 880002, 880003]))
            .values(processed_at=now)
        )

    # A text the bot does not understand is kept for the console's inbox (audited).
    await user.send_text(f"{FIRST_NAME} here, {UNKNOWN_WORDS}")

    # A broadcast they answer: their words reach staff (audited), and staff reply (audited).
    await staff.send_text("/broadcast")
    await staff.send_text("Class tonight at 7")
    await staff.press("No button")
    await staff.press("Everyone")
    await staff.press("Send to 2")
    await wait_for_status(container, await only_job(container), {"done"})
    news = next(m for m in user.messages if "Class tonight" in (m.text or ""))
    await user.send_text(f"It's {FIRST_NAME}, write to {ADDRESS}", reply_to=news)
    await wait_for(lambda: any("write to" in (m.text or "") for m in staff.messages), within=5)
    copy = next(m for m in reversed(staff.messages) if "write to" in (m.text or ""))
    await staff.press("Reply", message=copy)
    await staff.send_text(f"Sure {FIRST_NAME}, noted {ADDRESS}")
    await wait_for(lambda: "Sure" in (user.last_message.text or ""), within=5)

    before = await every_value(running_bot)
    assert ADDRESS.lower() in before["audit_log"] and ADDRESS.lower() in before["update_inbox"]
    assert UNKNOWN_WORDS in before["audit_log"]
    assert FIRST_NAME.lower() in before["people"]
    async with container.sessions() as session:
        assert await session.scalar(select(Consent.id).where(Consent.email.is_not(None)))
        assert await session.scalar(select(OutboxMessage.id))

    await user.send_text("/privacy")
    await user.press("Delete my data")
    await user.press("Yes, delete everything")
    assert "personal data is deleted" in user.last_message.text

    after = await every_value(running_bot)
    unkeyed = {
        hashlib.sha256(ADDRESS.lower().encode()).hexdigest(),
        hashlib.sha256(ADDRESS.encode()).hexdigest(),
        email_hash(ADDRESS),  # the suppression list's hash before it was keyed
    }
    left = {
        needle: [name for name, text in after.items() if needle in text]
        for needle in sorted(
            {ADDRESS.lower(), FIRST_NAME.lower(), USERNAME.lower(), UNKNOWN_WORDS, *unkeyed}
        )
    }
    assert {needle: tables for needle, tables in left.items() if tables} == {}
    # Where the customer was the actor (their answers, their texts), the audit log forgets them.
    async with container.sessions() as session:
        theirs = await session.scalars(
            select(AuditEntry.action).where(AuditEntry.actor_telegram_id == USER_ID)
        )
        assert list(theirs) == []
    # Still never mailed again, and still no second trial with that address.
    assert "suppressions" in after and after["suppressions"] != "[]"
    await user.start()
    await user.press("Start my free trial")
    await user.send_text(ADDRESS)
    assert "already used with this email" in user.last_message.text


async def test_legacy_unkeyed_rows_still_count_and_are_rekeyed_when_the_address_is_seen(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    """Rows from before migration 0004 hold the unkeyed hash: still honoured, and re-keyed
    (reason and date kept) as soon as a writer meets the address again."""
    old_erased, old_bounced = "gone@example.com", "Bounced@Example.com"
    async with running_bot.container.sessions.begin() as session:
        for address, reason in [(old_erased, "erased"), (old_bounced, "bounced")]:
            session.add(
                Suppression(
                    email_hash=email_hash(address),
                    reason=reason,
                    created_at=clock.now() - timedelta(days=400),
                    legacy=True,
                )
            )
    again = tg.add_user(7302, "Gina")
    await again.start()
    await again.press("Start my free trial")
    await again.send_text(old_erased)
    assert "already used with this email" in again.last_message.text

    user = tg.add_user(7303, "Bruno", username="bruno_b")
    await user.start()
    await user.press("Start my free trial")
    await user.send_text(old_bounced)
    await user.send_text("/privacy")
    await user.press("Delete my data")
    await user.press("Yes, delete everything")
    async with running_bot.container.sessions() as session:
        rows = {
            row.email_hash: (row.reason, row.legacy)
            for row in await session.scalars(select(Suppression))
        }
        keyed = suppression_hash(session, old_bounced)
    assert rows[keyed] == ("bounced", False)
    assert email_hash(old_bounced) not in rows
    assert rows[email_hash(old_erased)] == ("erased", True)  # not seen again: still legacy


@pytest.fixture
async def club_bot(
    e2e_settings: Settings, tmp_path: Path, clock: ManualClock, tg: FakeBotAPI
) -> AsyncIterator[Runtime]:
    """The bot with the access tests' catalog chats (a channel and a group)."""
    add_group(tg.state, CLUB, "Club channel", kind="channel")
    add_group(tg.state, PRO_ROOM, "Pro room")
    settings = e2e_settings.model_copy(update={"catalog_path": str(catalog_with_chats(tmp_path))})
    runtime = Runtime(build_container(settings, clock=clock), TEST_TOKEN)
    await runtime.start(scheduler=False, handle_as_tasks=False)
    await tg.wait_until_polled()
    yield runtime
    await runtime.stop()


async def test_an_erased_member_leaves_the_chats_and_no_access_table_keeps_their_id(
    tg: FakeBotAPI, club_bot: Runtime, clock: ManualClock
) -> None:
    gone, stays = await trial_user(tg, 7311), await trial_user(tg, 7312)
    await settle(tg, club_bot)
    for user in (gone, stays):
        await join(tg, user.id, join_links(user)["Club channel"])
    await settle(tg, club_bot)
    assert groups(tg.state)[CLUB].status(gone.id) == "member"
    await gone.send_text("/privacy")
    await gone.press("Delete my data")
    await gone.press("Yes, delete everything")
    await settle(tg, club_bot)
    await club_bot.sweep_once()
    await settle(tg, club_bot)
    assert groups(tg.state)[CLUB].status(gone.id) == "left"  # removed, and may come back
    assert groups(tg.state)[CLUB].status(stays.id) == "member"

    after = await every_value(club_bot)
    # The removal carried their id only until it was done; its audit entry never did.
    for table in ("access_grants", "access_members", "people", "outbox", "audit_log"):
        assert str(gone.id) not in after[table], table
    assert str(stays.id) in after["access_grants"] and str(stays.id) in after["access_members"]
