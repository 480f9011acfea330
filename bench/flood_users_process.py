"""The Telegram side of the flood benchmark, in its own process: the fake Bot API, one user
flooding odd updates as fast as they can, and calm users taking turns to send /help, one
every 100 ms in all (each of the four every 400 ms: well within the guard's 5 a second).

Protocol on stdout: first line the base URL; then one JSON line of results. The process then
waits until the parent closes its stdin (the bot polls it until then).
Usage: python -m bench.flood_users_process TOKEN FLOOD_COUNT (0: the calm user alone).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from typing import Any

from forever.sandbox.fake_bot_api import FakeBotAPI, FakeEvent, FakeMessage, FakeUser

CALM_IDS = (20_001, 20_002, 20_003, 20_004)
FLOODER_ID = 20_100
HELPS = 60
HELP_EVERY = 0.1  # seconds
GROUP = {"id": -1009876543210, "type": "supergroup", "title": "Yoga fans"}
NOTICE = "faster than I can read them"


async def _first_reply(user: FakeUser, within: float = 30.0) -> FakeMessage:
    deadline = time.perf_counter() + within
    while not user.messages:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{user!r} got no reply")
        await asyncio.sleep(0.01)
    return user.messages[-1]


async def flood(tg: FakeBotAPI, user: FakeUser, keyboard: FakeMessage, count: int) -> None:
    """Stickers, unknown commands, forged button presses and group messages in turn, as fast
    as the loop lets one client push them."""
    for number in range(count):
        kind = number % 4
        if kind == 0:
            body: dict[str, Any] = {
                "message_id": user.chat.allocate_id(),
                "date": tg.state.now(),
                "chat": user.record.chat_json(),
                "from": user.to_json(),
                "sticker": {
                    "file_id": "CAACAgIAAxkBAAEBbench",
                    "file_unique_id": "AgADbench",
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                },
            }
            await tg.send_update({"message": body}, wait=False)
        elif kind == 1:
            await user.send_text(f"/frobnicate{number}", wait=False)
        elif kind == 2:
            forged = f"zz:{number}"
            keyboard.reply_markup["inline_keyboard"][0][0]["callback_data"] = forged
            await user.press(forged, message=keyboard, wait=False)
        else:
            body = {
                "message_id": 500_000 + number,
                "date": tg.state.now(),
                "chat": GROUP,
                "from": user.to_json(),
                "text": f"spam {number}",
            }
            await tg.send_update({"message": body}, wait=False)
        await asyncio.sleep(0)


async def serve(token: str, flood_count: int) -> None:
    async with FakeBotAPI(token, update_timeout=120.0) as tg:
        print(tg.base_url, flush=True)
        await tg.wait_until_polled()
        calm = [tg.add_user(user_id, f"Calm{user_id}") for user_id in CALM_IDS]
        flooder = tg.add_user(FLOODER_ID, "Flo")
        for user in [*calm, flooder]:
            await user.start()
        for user in calm:
            await _first_reply(user)
        keyboard = await _first_reply(flooder)
        replied_at: dict[int, list[float]] = {user.id: [] for user in calm}
        before = {user.id: len(user.messages) for user in calm}

        all_answered = asyncio.Event()

        def listen(event: FakeEvent) -> None:
            if event.kind == "message" and event.chat_id in replied_at:
                replied_at[event.chat_id].append(time.perf_counter())
                if sum(map(len, replied_at.values())) >= HELPS:
                    all_answered.set()

        tg.subscribe(listen)
        sent_at: dict[int, list[float]] = {user.id: [] for user in calm}
        started = time.perf_counter()
        flooding = asyncio.create_task(flood(tg, flooder, keyboard, flood_count))
        for number in range(HELPS):
            user = calm[number % len(calm)]
            sent_at[user.id].append(time.perf_counter())
            await user.send_text("/help", wait=False)
            await asyncio.sleep(HELP_EVERY)
        await flooding
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_answered.wait(), 120)
        wall = time.perf_counter() - started
        await asyncio.sleep(1.0)  # let the notice, if any, arrive
        # A user's i-th reply answers their i-th /help (each is answered once, in order).
        latencies = [
            r - s
            for user_id, sends in sent_at.items()
            for s, r in zip(sends, replied_at[user_id], strict=False)
        ]
        flooder_texts = [m.text or "" for m in flooder.messages[1:]]
        result = {
            "latencies": latencies,
            "helps": HELPS,
            "answered": sum(len(u.messages) - before[u.id] for u in calm),
            "flood": flood_count,
            "flooder_replies": len(flooder_texts),
            "notices": sum(NOTICE in text for text in flooder_texts),
            "wall": wall,
            "refused": len(tg.refused),
        }
        print(json.dumps(result), flush=True)
        await asyncio.to_thread(sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2])))
