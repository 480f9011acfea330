"""Broadcast throughput: 10,000 recipients against the fake Bot API enforcing 30 messages/s.

The whole product runs (Runtime: polling, the broadcast worker, SQLite); staff compose the
broadcast in chat as usual. Figures: sustained rate between the first and the last copy,
429s the fake answered, and per-recipient duplicates and losses.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from forever.app import build_container
from forever.config import load_settings
from forever.db.migrate import upgrade_to_head
from forever.db.models import Person
from forever.domain.clock import SystemClock
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import DEFAULT_TOKEN, FakeBotAPI, FakeEvent

ROOT = Path(__file__).resolve().parents[1]
RECIPIENTS = 10_000
FAKE_LIMIT = 30
STAFF = 900001


async def main(recipients: int = RECIPIENTS) -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await asyncio.to_thread(upgrade_to_head, url)
        async with FakeBotAPI(DEFAULT_TOKEN, max_per_second=FAKE_LIMIT) as fake:
            return await _run(fake, url, recipients)


async def _run(fake: FakeBotAPI, url: str, recipients: int) -> list[tuple[str, str]]:
    settings = load_settings(
        _env_file=None,
        database_url=url,
        bot_token=DEFAULT_TOKEN,
        secret_key="bench-secret-key-0123456789",
        catalog_path=str(ROOT / "catalog.toml"),
        admin_ids=str(STAFF),
        telegram_api_url=fake.base_url,
        web_port=0,
    )
    staff = fake.add_user(STAFF, "Sam", started=True)
    ids = range(1_000_000, 1_000_000 + recipients)
    for telegram_id in ids:
        fake.add_user(telegram_id, f"P{telegram_id}", started=True)
    copies: list[float] = []
    reported = asyncio.Event()

    def on_event(event: FakeEvent) -> None:
        if event.kind != "message":
            return
        if event.chat_id != STAFF:
            copies.append(time.monotonic())
        elif event.message is not None and "Delivered:" in (event.message.text or ""):
            reported.set()

    fake.subscribe(on_event)
    runtime = Runtime(build_container(settings, clock=SystemClock()), DEFAULT_TOKEN)
    async with runtime.container.sessions.begin() as session:
        await session.execute(
            insert(Person),
            [
                {"telegram_id": t, "first_name": f"P{t}", "language": "en"}
                | {"created_at": runtime.container.clock.now(), "email_status": "none"}
                for t in ids
            ],
        )
    await runtime.start(scheduler=False, handle_as_tasks=False)
    await fake.wait_until_polled()
    try:
        await staff.send_text("/broadcast")
        await staff.send_text("The spring timetable is out. See you on the mat!")
        await staff.press("No button")
        await staff.press("Everyone")
        # A person reads the preview before confirming; without this pause the bot's replies
        # to the staff member share the first second with the broadcast's first messages.
        await asyncio.sleep(1.5)
        started = time.monotonic()
        await staff.press(f"Send to {recipients + 1}")
        await reported.wait()
        elapsed = time.monotonic() - started
    finally:
        await runtime.stop()
    per_chat = fake.stats.deliveries
    duplicates = sum(1 for t in ids if per_chat[t] > 1)
    lost = sum(1 for t in ids if per_chat[t] == 0)
    span = copies[-1] - copies[0] if len(copies) > 1 else 0.0
    sustained = (len(copies) - 1) / span if span > 0 else 0.0
    return [
        ("recipients", f"{recipients:,}"),
        ("fake Bot API limit", f"{FAKE_LIMIT} messages/s (global, sliding 1 s window)"),
        ("bot budget (BROADCAST_RATE)", f"{settings.broadcast_rate:g} messages/s"),
        ("sends in flight (BROADCAST_CONCURRENCY)", str(settings.broadcast_concurrency)),
        ("sustained rate, first to last copy", f"{sustained:.2f} messages/s"),
        ("confirm to final report", f"{elapsed:.1f} s"),
        ("429 answers", str(fake.stats.too_many_requests)),
        ("duplicates", str(duplicates)),
        ("lost", str(lost)),
    ]


if __name__ == "__main__":
    for figure, value in asyncio.run(main()):
        print(f"{figure}: {value}")
