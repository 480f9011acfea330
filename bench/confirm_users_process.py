"""The Telegram side of the confirmation-mail benchmark, in its own process: the fake Bot API
and customers who, one after another, start the bot, start the trial, give their address and
tap "Yes, email me" (which queues the double opt-in mail).

Protocol on stdout: first line the base URL; then one JSON line: for each address, the
`time.monotonic()` instants the address was sent, the tap was sent, and the bot's answer to
the tap arrived. The process then waits until the parent closes its stdin.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from forever.sandbox.fake_bot_api import FakeBotAPI


def address(number: int) -> str:
    return f"customer{number}@example.com"


async def serve(token: str, users: int) -> None:
    async with FakeBotAPI(token, update_timeout=60.0) as tg:
        print(tg.base_url, flush=True)
        await tg.wait_until_polled()
        times: dict[str, list[float]] = {}
        for number in range(users):
            user = tg.add_user(20_000 + number, f"Customer{number}")
            await user.start()
            await user.press("Start my free trial")
            given = time.monotonic()
            await user.send_text(address(number))
            tapped = time.monotonic()
            await user.press("Yes, email me")
            answered = time.monotonic()
            assert "confirmation link" in user.last_message.text, user.last_message.text
            times[address(number)] = [given, tapped, answered]
        print(json.dumps({"times": times, "refused": len(tg.refused)}), flush=True)
        await asyncio.to_thread(sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2])))
