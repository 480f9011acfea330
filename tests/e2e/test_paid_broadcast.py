"""The fast paid mode of /broadcast end to end: the preview prices it against the bot's Star
balance, a balance too small is refused before anything is sent, a paid broadcast reaches
everyone with allow_paid_broadcast and reports the Stars spent, and a 429 still pauses it."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from forever.app import build_container
from forever.config import Settings
from forever.db.models import AuditEntry, Broadcast, BroadcastDelivery
from forever.domain.clock import ManualClock
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI, FakeEvent, FakeUser
from tests.conftest import STAFF_ID, TEST_TOKEN
from tests.e2e.staff_helpers import add_people, only_job, wait_for, wait_for_status

CUSTOMERS = range(7001, 7026)  # 25 customers + the staff member: 26 recipients, 2.6 ⭐ → 3 ⭐
TEXT = "Doors open at 7 tonight"


async def compose(tg: FakeBotAPI) -> FakeUser:
    staff = tg.user(STAFF_ID)
    await staff.send_text("/broadcast")
    await staff.send_text(TEXT)
    await staff.press("No button")
    await staff.press("Everyone")
    return staff


def paid_copies(tg: FakeBotAPI, chat_id: int) -> list[bool]:
    """allow_paid_broadcast of each accepted copy sent to `chat_id`."""
    return [
        bool(c.params.get("allow_paid_broadcast"))
        for c in tg.calls_to("copyMessage")
        if c.ok and c.params.get("chat_id") == chat_id
    ]


async def test_the_preview_states_the_cost_and_the_balance(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    await add_people(running_bot.container, tg, CUSTOMERS)
    tg.set_star_balance(10)
    staff = await compose(tg)
    preview = staff.last_message.text
    assert "26 people" in preview
    assert "Fast paid mode" in preview
    assert "3 ⭐ for 26 people" in preview  # 26 × 0.1 = 2.6, rounded up
    assert "The bot's balance: 10 ⭐." in preview
    assert "⚡ Send fast (paid): 3 ⭐" in staff.last_message.button_texts
    assert "Send to 26" in staff.last_message.button_texts


async def test_a_balance_too_small_is_refused_before_anything_is_sent(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    container = running_bot.container
    await add_people(container, tg, CUSTOMERS)
    tg.set_star_balance(2, 900_000_000)  # 2.9 ⭐: covers 26 × 0.1, not the 3 ⭐ quoted
    staff = await compose(tg)
    assert "2.9 ⭐</b>, not enough for the fast mode" in staff.last_message.html
    await staff.press("⚡ Send fast (paid): 3 ⭐")
    refusal = staff.last_message.text
    assert refusal.startswith("Not sent.")
    assert "costs 3 ⭐ for 26 people" in refusal
    assert "only 2.9 ⭐" in refusal
    await tg.settle()
    for telegram_id in CUSTOMERS:
        assert tg.user(telegram_id).messages == []
    assert tg.stats.paid_messages == 0
    assert tg.star_balance == (2, 900_000_000)
    async with container.sessions() as session:
        statuses = (await session.scalars(select(Broadcast.status))).all()
    assert statuses == ["draft"]
    # The same draft still goes at the free pace.
    await staff.press("Send to 26")
    await wait_for_status(container, await only_job(container), {"done"})
    for telegram_id in CUSTOMERS:
        assert paid_copies(tg, telegram_id) == [False]


async def test_a_paid_broadcast_reaches_everyone_paid_and_reports_the_stars(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    container = running_bot.container
    await add_people(container, tg, CUSTOMERS)
    tg.set_star_balance(10)
    staff = await compose(tg)
    await staff.press("⚡ Send fast (paid): 3 ⭐")
    assert "at most 3 ⭐" in staff.last_message.text
    job_id = await only_job(container)
    await wait_for_status(container, job_id, {"done"})
    for telegram_id in CUSTOMERS:
        assert [m.text for m in tg.user(telegram_id).messages] == [TEXT]
        assert paid_copies(tg, telegram_id) == [True]
    await wait_for(lambda: "Delivered:" in (staff.last_message.text or ""))
    report = staff.last_message.text
    assert "Delivered: 26" in report
    assert "Stars spent (fast paid mode): 2.6 ⭐" in report
    assert tg.star_balance == (7, 400_000_000)  # 10 - 2.6
    async with container.sessions() as session:
        job = await session.get(Broadcast, job_id)
        audit = (
            await session.scalars(
                select(AuditEntry.arguments).where(AuditEntry.action == "broadcast_confirmed")
            )
        ).one()
    assert job is not None and job.paid
    assert audit["paid"] is True and audit["cost_stars"] == 3


async def test_a_balance_that_runs_out_mid_way_stops_the_job_and_loses_nobody(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    container = running_bot.container
    await add_people(container, tg, CUSTOMERS)
    tg.set_star_balance(3)
    staff = await compose(tg)
    # Spent elsewhere between the confirmation and the sends: 1 ⭐ left, 10 messages.
    real_execute = tg.execute

    async def spend_first(method: str, params: Any, uploads: Any = None) -> tuple[int, Any]:
        if method == "copyMessage" and tg.star_balance[0] == 3:
            tg.set_star_balance(1)
        return await real_execute(method, params, uploads)

    tg.execute = spend_first  # type: ignore[method-assign]
    await staff.press("⚡ Send fast (paid): 3 ⭐")
    job_id = await only_job(container)
    await wait_for_status(container, job_id, {"stopped"})
    await wait_for(lambda: "Delivered:" in (staff.last_message.text or ""))
    report = staff.last_message.text
    assert "Delivered: 10" in report
    assert "Not sent (stopped): 16" in report
    assert "Star balance ran out" in report
    assert "Stars spent (fast paid mode): 1 ⭐" in report
    assert max(len(tg.user(t).messages) for t in CUSTOMERS) <= 1  # nobody twice
    assert sum(paid_copies(tg, t) == [True] for t in [STAFF_ID, *CUSTOMERS]) == 10
    async with container.sessions() as session:
        counts = dict(
            (
                await session.execute(
                    select(BroadcastDelivery.status, func.count()).group_by(
                        BroadcastDelivery.status
                    )
                )
            ).all()
        )
    assert counts == {"delivered": 10, "pending": 16}  # the rest kept, to send later
    tg.assert_no_refused_calls(ignore_status={400})
    tg.calls.clear()  # the refused paid send is what this test is about


@pytest.fixture
async def paid_tg() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(TEST_TOKEN, update_timeout=30.0, star_balance=1000) as fake:
        fake.add_user(STAFF_ID, "Sam", language_code="en", username="sam_staff", started=True)
        yield fake


async def test_a_429_pauses_a_paid_broadcast_and_nobody_is_lost_or_doubled(
    paid_tg: FakeBotAPI, settings: Settings, clock: ManualClock
) -> None:
    tg = paid_tg
    settings = settings.model_copy(update={"telegram_api_url": tg.base_url})
    runtime = Runtime(build_container(settings, clock=clock), TEST_TOKEN)
    await runtime.start(scheduler=False, handle_as_tasks=False)
    await tg.wait_until_polled()
    ids = list(range(300_000, 300_600))
    copied_at: list[float] = []

    def on_event(event: FakeEvent) -> None:
        if event.kind == "message" and event.chat_id != STAFF_ID:
            copied_at.append(time.monotonic())

    tg.subscribe(on_event)
    try:
        container = runtime.container
        await add_people(container, tg, ids)
        staff = await compose(tg)
        tg.inject_429(3, retry_after=2, methods=["copyMessage"])
        await staff.press("⚡ Send fast (paid): 61 ⭐")
        await wait_for_status(container, await only_job(container), {"done"}, within=60)
        await wait_for(lambda: "Delivered:" in (staff.last_message.text or ""))
        assert "Delivered: 601" in staff.last_message.text
        assert "Stars spent (fast paid mode): 60.1 ⭐" in staff.last_message.text
    finally:
        await runtime.stop()
    for telegram_id in ids:
        assert [m.text for m in tg.user(telegram_id).messages] == [TEXT], telegram_id
        assert paid_copies(tg, telegram_id) == [True]
    assert tg.stats.too_many_requests == 3
    # The pause: 600 paid copies take well under a second at 900/s, so a gap of about
    # retry_after between two copies is the 429 being obeyed.
    gaps = [b - a for a, b in itertools.pairwise(copied_at)]
    assert max(gaps) >= 1.9
    assert tg.star_balance == (1000 - 61, 900_000_000)  # 601 × 0.1 = 60.1
    tg.assert_no_refused_calls(ignore_status={429})
