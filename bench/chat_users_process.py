"""The Telegram side of the chat benchmark, in its own process: the fake Bot API and the
simulated customers. Telegram is not in the bot's process in real life, and sharing one
interpreter would bill the fake's work (HTML checks, spec validation, 200 clients) to the
bot's handler latency.

Protocol on stdout: first line the base URL; after the journeys one JSON line of results.
The process then waits until the parent closes its stdin (the bot polls it until then).
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import time

from forever.sandbox.fake_bot_api import FakeBotAPI, FakeUser


async def journey(user: FakeUser) -> None:
    await user.start()
    await user.press("Start my free trial")
    await user.press("Skip")
    await user.send_text("/plans")
    await user.press("Plus · 300 ⭐ / month")
    paid = await user.press(user.last_message.button_texts[0])
    assert getattr(paid, "accepted", False), paid
    await user.send_text("/cancel")
    await user.press("Yes, cancel")
    await user.press("Too expensive")
    await user.press("No, thanks")


async def serve(token: str, users: int) -> None:
    async with FakeBotAPI(token, update_timeout=120.0) as tg:
        print(tg.base_url, flush=True)
        await tg.wait_until_polled()
        people = [tg.add_user(10_000 + i, f"User{i}") for i in range(users)]
        started = time.perf_counter()
        await asyncio.gather(*(journey(u) for u in people))
        wall = time.perf_counter() - started
        posted = collections.Counter(call.method for call in tg.calls if call.ok)
        result = {"wall": wall, "refused": len(tg.refused), "calls": dict(posted)}
        print(json.dumps(result), flush=True)
        await asyncio.to_thread(sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2])))
