"""Transactional mail leaves when it is queued, not at the delivery worker's next timer:
the customer taps "Yes, email me" and the confirmation link is at the SMTP server at once,
while the timer (OUTBOX_POLL_SECONDS) is an hour and the clock does not move."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from forever.app import build_container
from forever.config import Settings
from forever.domain.clock import ManualClock
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from tests.conftest import TEST_TOKEN
from tests.smtp_sink import Received, SmtpSink, smtp_sink_fixture  # noqa: F401 - fixture

# Far longer than any wait below: a mail that arrives was woken, not polled.
HOUR = 3600.0
MAIL_WITHIN = 5.0  # seconds: generous for a loaded machine, far below the timer


async def arrived(sink: SmtpSink, count: int) -> list[Received]:
    async with asyncio.timeout(MAIL_WITHIN):
        return await sink.arrived(count)


@pytest.fixture
async def bot_with_mail(
    e2e_settings: Settings, clock: ManualClock, tg: FakeBotAPI, smtp_sink: SmtpSink
) -> AsyncIterator[Runtime]:
    settings = e2e_settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": smtp_sink.port, "outbox_poll_seconds": HOUR}
    )
    runtime = Runtime(build_container(settings, clock=clock), TEST_TOKEN)
    await runtime.start(scheduler=False, handle_as_tasks=False)
    await tg.wait_until_polled()
    yield runtime
    await runtime.stop()
    tg.assert_no_refused_calls()


async def test_the_confirmation_mail_leaves_as_soon_as_the_customer_says_yes(
    tg: FakeBotAPI, bot_with_mail: Runtime, smtp_sink: SmtpSink
) -> None:
    before = bot_with_mail.container.clock.now()
    for number, address in enumerate(("lia@example.com", "mara@example.org")):
        user = tg.add_user(2400 + number, "Lia")
        await user.start()
        await user.press("Start my free trial")
        await user.send_text(address)
        await user.press("Yes, email me")
        assert "confirmation link" in user.last_message.text
        received = await arrived(smtp_sink, number + 1)
        assert received[-1].recipients == [address]
        body = received[-1].message.get_body(("plain",))
        assert body is not None and "https://forever.test/" in body.get_content()
    assert bot_with_mail.container.clock.now() == before  # nobody moved time on
