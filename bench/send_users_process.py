"""The Telegram side of the sending benchmark, in its own process (as in bench_chat): the fake
Bot API and customers who send `/start` and time the bot's reply from the moment they wrote.

    python -m bench.send_users_process TOKEN USERS [--telegram-limit]

Protocol on stdout: first line the base URL; then, once the bot polls, one JSON line of
results; the process then waits until the parent closes its stdin. With `--telegram-limit`
the fake enforces Telegram's 30 messages per second for everything and watches every 429.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from forever.sandbox.fake_bot_api import FakeBotAPI, FakeEvent, FakeUser

FIRST_ID = 20_000
SEQUENTIAL = 100
GIVE_UP_AFTER = 120.0  # seconds: a reply not here by then counts as lost


class Replies:
    """Resolves one waiter per chat on the bot's next message there."""

    def __init__(self) -> None:
        self.waiting: dict[int, asyncio.Future[float]] = {}

    def __call__(self, event: FakeEvent) -> None:
        if event.kind not in ("message", "invoice") or event.chat_id is None:
            return
        future = self.waiting.pop(event.chat_id, None)
        if future is not None and not future.done():
            future.set_result(time.perf_counter())


async def ask(user: FakeUser, replies: Replies) -> float | None:
    """Send /start; milliseconds until the reply, None if it never came."""
    future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    replies.waiting[user.id] = future
    started = time.perf_counter()
    await user.send_text("/start", wait=False)
    try:
        answered = await asyncio.wait_for(future, GIVE_UP_AFTER)
    except TimeoutError:
        replies.waiting.pop(user.id, None)
        return None
    return (answered - started) * 1000


async def burst(people: list[FakeUser], replies: Replies) -> list[float | None]:
    return list(await asyncio.gather(*(ask(u, replies) for u in people)))


async def serve(token: str, users: int, telegram_limit: bool) -> None:
    limit = FakeBotAPI.TELEGRAM_LIMIT if telegram_limit else None
    async with FakeBotAPI(token, update_timeout=GIVE_UP_AFTER, max_per_second=limit) as tg:
        print(tg.base_url, flush=True)
        replies = Replies()
        tg.subscribe(replies)
        await tg.wait_until_polled()
        people = [tg.add_user(FIRST_ID + i, f"User{i}") for i in range(users)]
        result: dict[str, object] = {}
        cpu = time.process_time()
        result["first_contact_burst"] = await burst(people, replies)
        result["fake_cpu_first_ms"] = (time.process_time() - cpu) * 1000
        if not telegram_limit:
            cpu = time.process_time()
            result["returning_burst"] = await burst(people, replies)
            result["fake_cpu_returning_ms"] = (time.process_time() - cpu) * 1000
            result["one_at_a_time"] = [await ask(u, replies) for u in people[:SEQUENTIAL]]
        watch = tg.retry_after_watch
        result["too_many_requests"] = watch.told
        result["early_retries"] = len(watch.early)
        result["refused_other"] = sum(1 for c in tg.refused if c.status != 429)
        print(json.dumps(result), flush=True)
        await asyncio.to_thread(sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2]), "--telegram-limit" in sys.argv[3:]))
