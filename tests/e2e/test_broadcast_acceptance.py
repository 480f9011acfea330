"""Acceptance: big broadcasts through the fake Bot API enforcing a global flood limit.

The fake answers 429 past its limit and 403 for people who blocked the bot; the bot's
budget is set a little under the fake's limit (higher than Telegram's 30/s so the tests stay
short; the benchmark in bench/ runs at the real 30/s).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from forever.app import build_container
from forever.config import Settings
from forever.db.models import AuditEntry, Broadcast, Event, Person
from forever.domain.clock import ManualClock
from forever.domain.events import EventKind
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.services.broadcast_sender import SenderConfig
from tests.conftest import STAFF_ID, TEST_TOKEN
from tests.e2e.staff_helpers import add_people, only_job, wait_for, wait_for_status

pytestmark = pytest.mark.slow

FAKE_LIMIT = 250  # messages per second the fake accepts
BOT_RATE = 225.0  # the bot's budget


@pytest.fixture
async def flood_tg() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(TEST_TOKEN, update_timeout=30.0, max_per_second=FAKE_LIMIT) as fake:
        fake.add_user(STAFF_ID, "Sam", language_code="en", username="sam_staff", started=True)
        yield fake


def fast_settings(settings: Settings, tg: FakeBotAPI, rate: float) -> Settings:
    return settings.model_copy(
        update={
            "telegram_api_url": tg.base_url,
            "broadcast_rate": rate,
            "broadcast_concurrency": 16,
        }
    )


async def start_bot(settings: Settings, clock: ManualClock, tg: FakeBotAPI) -> Runtime:
    runtime = Runtime(build_container(settings, clock=clock), TEST_TOKEN)
    await runtime.start(scheduler=False, handle_as_tasks=False)
    await tg.wait_until_polled()
    return runtime


async def compose_and_confirm(tg: FakeBotAPI, total: int) -> None:
    staff = tg.user(STAFF_ID)
    await staff.send_text("/broadcast")
    await staff.send_text("Spring classes are open: book now")
    await staff.send_text("Book | https://forever.test/book")
    await staff.press("Everyone")
    await staff.press(f"Send to {total}")


async def test_2000_people_5_percent_blocked_and_429s_each_gets_one_copy(
    flood_tg: FakeBotAPI, settings: Settings, clock: ManualClock
) -> None:
    tg = flood_tg
    runtime = await start_bot(fast_settings(settings, tg, BOT_RATE), clock, tg)
    try:
        container = runtime.container
        ids = list(range(100_000, 102_000))
        await add_people(container, tg, ids)
        blocked = set(ids[::20])  # 5%
        for telegram_id in blocked:
            tg.block(telegram_id)
        await compose_and_confirm(tg, len(ids) + 1)
        tg.inject_429(6, retry_after=1, methods=["copyMessage"])
        async with container.sessions() as session:
            job_id = await session.scalar(select(Broadcast.id).where(Broadcast.status != "draft"))
        assert job_id is not None
        await wait_for_status(container, job_id, {"done"}, within=60)

        for telegram_id in ids:
            copies = [m for m in tg.user(telegram_id).messages if m.text]
            if telegram_id in blocked:
                assert copies == []
            else:
                assert len(copies) == 1, telegram_id
                assert copies[0].text == "Spring classes are open: book now"
                assert copies[0].button_texts == ["Book"]
        assert tg.stats.too_many_requests >= 6
        async with container.sessions() as session:
            marked = await session.scalar(
                select(func.count()).select_from(Person).where(Person.blocked_at.is_not(None))
            )
            events = await session.scalar(
                select(func.count())
                .select_from(Event)
                .where(Event.kind == EventKind.BLOCKED_BOT.value)
            )
        assert marked == len(blocked)
        assert events == len(blocked)
        # The report follows the job's last commit; wait for it to arrive.
        await wait_for(lambda: "Delivered:" in (tg.user(STAFF_ID).last_message.text or ""))
        report = tg.user(STAFF_ID).last_message.text
        assert f"Delivered: {len(ids) - len(blocked) + 1}" in report
        assert f"Blocked the bot: {len(blocked)}" in report
        assert "Failed: 0" in report
    finally:
        await runtime.stop()
    tg.assert_no_refused_calls(ignore_status={403, 429})


async def test_a_restart_mid_broadcast_sends_the_rest_and_nothing_twice(
    flood_tg: FakeBotAPI, settings: Settings, clock: ManualClock
) -> None:
    tg = flood_tg
    fast = fast_settings(settings, tg, 100.0)
    runtime = await start_bot(fast, clock, tg)
    ids = list(range(200_000, 200_600))
    try:
        await add_people(runtime.container, tg, ids)
        await compose_and_confirm(tg, len(ids) + 1)
        await wait_for(lambda: sum(tg.stats.deliveries[i] for i in ids) >= 150)
    finally:
        await runtime.stop()  # the process stops mid-way
    delivered_before = sum(tg.stats.deliveries[i] for i in ids)
    assert 150 <= delivered_before < len(ids)

    runtime = await start_bot(fast, clock, tg)
    try:
        async with runtime.container.sessions() as session:
            job_id = await session.scalar(select(Broadcast.id).where(Broadcast.status != "draft"))
        assert job_id is not None
        await wait_for_status(runtime.container, job_id, {"done"}, within=30)
        for telegram_id in ids:
            assert tg.stats.deliveries[telegram_id] == 1, telegram_id
        # The report follows the job's last commit; wait for it to arrive.
        await wait_for(lambda: "Delivered:" in (tg.user(STAFF_ID).last_message.text or ""))
        report = tg.user(STAFF_ID).last_message.text
        assert f"Delivered: {len(ids) + 1}" in report
    finally:
        await runtime.stop()
    tg.assert_no_refused_calls(ignore_status={429})


async def test_progress_is_edited_and_stop_halts_a_running_broadcast(
    flood_tg: FakeBotAPI, settings: Settings, clock: ManualClock
) -> None:
    tg = flood_tg
    container = build_container(fast_settings(settings, tg, 10.0), clock=clock)
    container.broadcasting.config = SenderConfig(concurrency=2, progress_interval=0.2)
    runtime = Runtime(container, TEST_TOKEN)
    await runtime.start(scheduler=False, handle_as_tasks=False)
    await tg.wait_until_polled()
    staff = tg.user(STAFF_ID)
    ids = list(range(300_000, 300_100))
    try:
        await add_people(container, tg, ids)
        await compose_and_confirm(tg, len(ids) + 1)
        await wait_for(lambda: sum(tg.stats.deliveries[i] for i in ids) >= 10)
        progress = next(m for m in staff.messages if "Stop" in m.button_texts)
        await wait_for(lambda: len(progress.history) >= 2)  # edited as it goes
        assert "/101" in progress.text and "/s" in progress.text

        # A second broadcast while this one runs is refused, and says why.
        await staff.send_text("/broadcast")
        assert "still sending" in staff.last_message.text

        await staff.press("Stop", message=progress)
        job_id = await only_job(container)
        await wait_for_status(container, job_id, {"stopped"})
        await wait_for(lambda: "Not sent" in (staff.last_message.text or ""))
        report = staff.last_message.text
        assert "stopped" in report
        delivered = sum(tg.stats.deliveries[i] for i in ids)
        assert delivered < len(ids)
        assert (
            f"Not sent (stopped): {len(ids) + 1 - delivered - 1}" in report or "Not sent" in report
        )
        assert "Stop" not in progress.button_texts
        async with container.sessions() as session:
            actions = (await session.scalars(select(AuditEntry.action))).all()
        assert "broadcast_stopped" in actions
    finally:
        await runtime.stop()
    # Nothing more was sent after the stop.
    assert sum(tg.stats.deliveries[i] for i in ids) == delivered
    tg.assert_no_refused_calls(ignore_status={429})


async def test_versions_per_language_survive_403s_429s_and_a_restart(
    flood_tg: FakeBotAPI, settings: Settings, clock: ManualClock
) -> None:
    """Romanian gets its personalised version (sendMessage), Italian its copied one
    (copyMessage), everyone else the default; blocked people are marked, 429s honoured, and a
    restart mid-way sends the rest in the right language and nobody twice."""
    tg = flood_tg
    fast = fast_settings(settings, tg, 100.0)
    runtime = await start_bot(fast, clock, tg)
    languages = {"en": range(400_000, 400_200), "ro": range(400_200, 400_400)}
    languages["it"] = range(400_400, 400_600)
    ids = [i for r in languages.values() for i in r]
    blocked = set(ids[::25])
    try:
        for language, people in languages.items():
            await add_people(runtime.container, tg, people, language=language)
        for telegram_id in blocked:
            tg.block(telegram_id)
        staff = tg.user(STAFF_ID)
        await staff.send_text("/broadcast")
        await staff.send_text("Spring classes are open")
        await staff.press("+ Română")
        await staff.send_text("Cursurile de primăvară încep, {{ name }}")
        await staff.press("+ Italiano")
        await staff.send_text("Aperte le lezioni di primavera")
        await staff.send_text("Book | https://forever.test/book")
        await staff.press("Everyone")
        await staff.press(f"Send to {len(ids) + 1}")
        tg.inject_429(4, retry_after=1, methods=["copyMessage", "sendMessage"])
        await wait_for(lambda: sum(tg.stats.deliveries[i] for i in ids) >= 150)
    finally:
        await runtime.stop()  # the process stops mid-way
    assert sum(tg.stats.deliveries[i] for i in ids) < len(ids) - len(blocked)

    runtime = await start_bot(fast, clock, tg)
    try:
        container = runtime.container
        await wait_for_status(container, await only_job(container), {"done"}, within=30)
        expected = {
            "en": lambda i: "Spring classes are open",
            "ro": lambda i: f"Cursurile de primăvară încep, P{i}",
            "it": lambda i: "Aperte le lezioni di primavera",
        }
        for language, people in languages.items():
            for telegram_id in people:
                copies = [m for m in tg.user(telegram_id).messages if m.text]
                if telegram_id in blocked:
                    assert copies == [], telegram_id
                    continue
                assert [m.text for m in copies] == [expected[language](telegram_id)]
                assert copies[0].button_texts == ["Book"]
        assert tg.stats.too_many_requests >= 4
        await wait_for(lambda: "Delivered:" in (tg.user(STAFF_ID).last_message.text or ""))
        report = tg.user(STAFF_ID).last_message.text
        assert f"Delivered: {len(ids) - len(blocked) + 1}" in report
        assert f"Blocked the bot: {len(blocked)}" in report
        async with container.sessions() as session:
            marked = await session.scalar(
                select(func.count()).select_from(Person).where(Person.blocked_at.is_not(None))
            )
        assert marked == len(blocked)
    finally:
        await runtime.stop()
    tg.assert_no_refused_calls(ignore_status={403, 429})
