"""Moving a plan's members to a new price from the preview's buttons (issue 18): Confirm moves
each member once, even tapped twice at once; Cancel moves nobody; a preview that no longer
says who moves moves nobody and shows the current one; forged buttons do nothing; every
step is in the audit log. The command form keeps working (tests/e2e/test_stable_prices.py)."""

from __future__ import annotations

from sqlalchemy import select

from forever.db.models import AuditEntry, Event, OutboxMessage
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI, FakeUser
from tests.conftest import STAFF_ID
from tests.e2e.chat_helpers import count, unanswered_callbacks
from tests.e2e.test_access import settle
from tests.e2e.test_chat_cancel import paying_user
from tests.e2e.test_stable_prices import sold_at


async def old_price_members(tg: FakeBotAPI, bot: Runtime, *ids: int) -> list[FakeUser]:
    users = []
    for telegram_id in ids:
        user, _ = await paying_user(tg, telegram_id)
        await sold_at(bot, telegram_id, 250)  # the catalog now says 300
        users.append(user)
    return users


async def audit_actions(bot: Runtime) -> list[str]:
    async with bot.container.sessions() as session:
        return list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


async def moved(bot: Runtime) -> list[Event]:
    async with bot.container.sessions() as session:
        return list(await session.scalars(select(Event).where(Event.kind == "price_migrated")))


async def test_confirm_moves_each_member_once_even_tapped_twice(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    members = await old_price_members(tg, running_bot, 5801, 5802)
    before = [len(m.messages) for m in members]
    staff = tg.user(STAFF_ID)
    await staff.send_text("/migrateprice plus")
    preview = staff.last_message
    assert "2 members of plus keep an older price" in preview.text
    assert "Tap Confirm below" in preview.text
    assert preview.button_texts == ["Confirm: move 2", "Cancel"]

    await staff.press("Confirm: move 2", message=preview, wait=False)
    await staff.press("Confirm: move 2", message=preview, wait=False)
    await tg.settle()
    await settle(tg, running_bot)
    answers = [m.text for m in staff.messages if m.message_id > preview.message_id]
    assert len(answers) == 2
    assert sum("Done: 2 members of plus are being told" in a for a in answers) == 1
    assert sum("Already done: nobody is left to move on plus" in a for a in answers) == 1
    assert preview.button_texts == []  # the buttons are gone once used
    assert unanswered_callbacks(tg) == []

    assert sorted(e.data["old"] for e in await moved(running_bot)) == [250, 250]
    assert await count(running_bot, OutboxMessage, template="price_change") == 2
    for member, seen in zip(members, before, strict=True):
        told = member.messages[seen:]
        assert len(told) == 1 and "the month costs 300 ⭐ instead of the 250 ⭐" in told[0].text
    assert await audit_actions(running_bot) == ["price_migration_preview", "price_migration"]
    async with running_bot.container.sessions() as session:
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "price_migration")
        )
    assert entry is not None and entry.actor_telegram_id == STAFF_ID
    assert entry.arguments["members"] == 2 and entry.arguments["confirmed"] == "button"


async def test_cancel_moves_and_tells_nobody(tg: FakeBotAPI, running_bot: Runtime) -> None:
    (member,) = await old_price_members(tg, running_bot, 5811)
    seen = len(member.messages)
    staff = tg.user(STAFF_ID)
    await staff.send_text("/migrateprice plus")
    preview = staff.last_message
    await staff.press("Cancel", message=preview)
    assert "Cancelled: nobody on plus was moved or told." in staff.last_message.text
    assert preview.button_texts == []
    await settle(tg, running_bot)
    assert len(member.messages) == seen
    assert await moved(running_bot) == []
    assert await audit_actions(running_bot) == [
        "price_migration_preview",
        "price_migration_cancelled",
    ]
    # The command form still works afterwards.
    await staff.send_text("/migrateprice plus confirm")
    assert "Done: 1 member of plus is being told" in staff.last_message.text


async def test_a_preview_that_no_longer_holds_moves_nobody_and_shows_the_current_one(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    await old_price_members(tg, running_bot, 5821)
    staff = tg.user(STAFF_ID)
    await staff.send_text("/migrateprice plus")
    old_preview = staff.last_message
    assert old_preview.button_texts == ["Confirm: move 1", "Cancel"]
    await old_price_members(tg, running_bot, 5822)  # one more keeps an older price now

    await staff.press("Confirm: move 1", message=old_preview)
    fresh = staff.last_message
    assert "Nobody was moved: who keeps an older price on plus has changed" in fresh.text
    assert "2 members of plus keep an older price" in fresh.text
    assert fresh.button_texts == ["Confirm: move 2", "Cancel"]
    assert old_preview.button_texts == []
    assert await moved(running_bot) == []

    await staff.press("Confirm: move 2", message=fresh)
    assert "Done: 2 members of plus are being told" in staff.last_message.text
    assert len(await moved(running_bot)) == 2


async def test_forged_or_foreign_buttons_move_nobody(tg: FakeBotAPI, running_bot: Runtime) -> None:
    await old_price_members(tg, running_bot, 5831)
    staff = tg.user(STAFF_ID)
    await staff.send_text("/migrateprice plus")
    preview = staff.last_message
    data = preview.inline_keyboard[0][0]["callback_data"]
    assert data.startswith("mp:ok:plus:")

    # A plan that is not in the catalog, and data that does not unpack.
    answers = []
    for forged in ("mp:ok:gold:0123abcd", "mp:ok:plus:not-hex!", "mp:yes:plus:0123abcd"):
        preview.reply_markup["inline_keyboard"][0][0]["callback_data"] = forged
        answers.append(await staff.press(forged, message=preview))
    assert staff.last_message is preview  # nothing said in the chat
    gold = answers[0]
    assert gold is not None and gold.show_alert
    assert gold.text == "There is no plan “gold” in the catalog."

    # A customer who somehow holds staff's button.
    customer, _ = await paying_user(tg, 5832)
    shown = customer.last_message
    shown.reply_markup["inline_keyboard"] = [[{"text": "x", "callback_data": data}]]
    await customer.press(data, message=shown)
    await tg.settle()
    assert await moved(running_bot) == []
    assert "price_migration" not in await audit_actions(running_bot)
    assert unanswered_callbacks(tg) == []
