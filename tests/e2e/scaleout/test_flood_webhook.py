"""The flood guard in webhook mode: a flooder's extra updates are acknowledged but never
stored in the update inbox; button presses among them are answered in the webhook's reply."""

from __future__ import annotations

from forever.domain.flood import FloodGuard
from forever.sandbox.fake_bot_api import FakeBotAPI
from tests.e2e.chat_helpers import unanswered_callbacks
from tests.e2e.flood_helpers import dropped, odd_updates
from tests.e2e.scaleout.harness import Cluster
from tests.e2e.scaleout.test_webhook import inbox_rows
from tests.fake_time import FakeTime


async def test_dropped_updates_are_not_stored_in_the_inbox(
    tg: FakeBotAPI, cluster: Cluster
) -> None:
    runtime = await cluster.add(flood_rate=5.0, flood_burst=10)
    time = FakeTime()
    runtime.flood.guard = FloodGuard(5.0, 10, clock=time)  # moves only when told
    flooder = tg.add_user(8001, "Flo", started=True)
    calm = tg.add_user(8002, "Calm", started=True)
    await flooder.start()
    await cluster.drain()  # answered after the webhook's 200
    welcome = flooder.last_message
    await odd_updates(tg, flooder, welcome, 120)
    await calm.send_text("/help")
    await tg.settle()
    await cluster.drain()
    await runtime.flood.close()

    assert "/plans" in calm.last_message.text
    assert dropped(runtime) == 120 - 9
    rows = await inbox_rows(runtime)
    # The flooder's /start, the nine odd updates the burst let in, the calm /help: no more.
    assert len(rows) == 1 + 9 + 1
    assert all(row.processed_at is not None for row in rows)
    notices = [m for m in flooder.messages if "faster than I can read them" in (m.text or "")]
    assert len(notices) == 1
    answers = [c for c in tg.calls_to("answerCallbackQuery") if c.via_webhook_reply]
    assert len(answers) == 30 - 2  # the forged presses dropped (two came within the burst)
    assert unanswered_callbacks(tg) == []
