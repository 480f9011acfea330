"""/broadcast end to end through the fake Bot API: compose, segment, preview, confirm, deliver."""

from __future__ import annotations

from sqlalchemy import func, select

from forever.db.models import AuditEntry, Broadcast, BroadcastDelivery
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from tests.conftest import STAFF_ID
from tests.e2e.staff_helpers import add_people, wait_for_status


async def test_text_broadcast_to_everyone(tg: FakeBotAPI, running_bot: Runtime) -> None:
    container = running_bot.container
    await add_people(container, tg, range(5001, 5011))
    staff = tg.user(STAFF_ID)
    await staff.send_text("/broadcast")
    assert "Send or forward" in staff.last_message.text
    await staff.send_text("Big news for {{ name }}!")
    assert "link button" in staff.last_message.text
    await staff.press("No button")
    assert "Who should receive it?" in staff.last_message.text
    await staff.press("Everyone")
    # The preview, personalised for the staff member, then the count.
    assert "Big news for Sam!" in staff.messages[-2].text
    assert "11 people" in staff.last_message.text  # 10 customers + the staff member
    # A double tap: the second press arrives before the bot removed the button.
    await staff.press("Send to 11", wait=False)
    await staff.press("Send to 11", wait=False)
    await tg.settle()
    async with container.sessions() as session:
        jobs = (await session.scalars(select(Broadcast).where(Broadcast.status != "draft"))).all()
    assert len(jobs) == 1
    await wait_for_status(container, jobs[0].id, {"done"})
    for telegram_id in range(5001, 5011):
        texts = [m.text for m in tg.user(telegram_id).messages]
        assert texts == [f"Big news for P{telegram_id}!"]
    report = staff.last_message.text
    assert "Delivered: 11" in report
    async with container.sessions() as session:
        n = await session.scalar(select(func.count()).select_from(BroadcastDelivery))
        audit = (await session.scalars(select(AuditEntry.action))).all()
    assert n == 11
    assert "broadcast_confirmed" in audit
