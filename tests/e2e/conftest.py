"""End-to-end harness: the real bot (Runtime: polling, web server) talking over HTTP to the
fake Telegram Bot API, with tests playing users through `tg`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from forever.app import build_container
from forever.config import Settings
from forever.domain.clock import ManualClock
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from tests.conftest import STAFF_ID, TEST_TOKEN


@pytest.fixture
async def tg() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(TEST_TOKEN, update_timeout=10.0) as fake:
        # The staff member opened the bot before, as staff do; customers are added by tests.
        fake.add_user(STAFF_ID, "Sam", language_code="en", username="sam_staff", started=True)
        yield fake


@pytest.fixture
def e2e_settings(settings: Settings, tg: FakeBotAPI) -> Settings:
    return settings.model_copy(update={"telegram_api_url": tg.base_url})


@pytest.fixture
async def running_bot(
    e2e_settings: Settings, clock: ManualClock, tg: FakeBotAPI
) -> AsyncIterator[Runtime]:
    """The bot, polling the fake API. handle_as_tasks=False: an update counts as handled (and
    `user.send_text` returns) only after its handler finished, so tests never sleep."""
    runtime = Runtime(build_container(e2e_settings, clock=clock), TEST_TOKEN)
    await runtime.start(scheduler=False, handle_as_tasks=False)
    await tg.wait_until_polled()
    yield runtime
    await runtime.stop()
    # Every call the bot made must be one Telegram would accept.
    tg.assert_no_refused_calls()
