"""Odd updates a flooder sends (stickers, unknown commands, forged button presses, group
chatter) through the fake Bot API, and a recorder of the SQL the bot runs meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI, FakeMessage, FakeUser

GROUP = {"id": -1001234567890, "type": "supergroup", "title": "Yoga fans"}
# Tables only the background workers (outbox delivery, broadcasts, leases) read on their own.
_WORKER_TABLES = ("outbox", "broadcast", "leases")


async def sticker(tg: FakeBotAPI, user: FakeUser) -> None:
    user.record.started = True  # writing to the bot opens the private chat
    chat = user.chat
    body = {
        "message_id": chat.allocate_id(),
        "date": tg.state.now(),
        "chat": user.record.chat_json(),
        "from": user.to_json(),
        "sticker": {
            "file_id": "CAACAgIAAxkBAAEBflood",
            "file_unique_id": "AgADflood",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        },
    }
    await tg.send_update({"message": body}, wait=False)


async def group_message(tg: FakeBotAPI, user: FakeUser, number: int) -> None:
    body = {
        "message_id": 100_000 + number,
        "date": tg.state.now(),
        "chat": GROUP,
        "from": user.to_json(),
        "text": f"hello group {number}",
    }
    await tg.send_update({"message": body}, wait=False)


async def forged_press(user: FakeUser, message: FakeMessage, number: int) -> None:
    """A modified client presses a button with data the bot never offered."""
    forged = f"zz:{number}"
    message.reply_markup["inline_keyboard"][0][0]["callback_data"] = forged
    await user.press(forged, message=message, wait=False)


async def odd_updates(
    tg: FakeBotAPI, user: FakeUser, message: FakeMessage, count: int, start: int = 0
) -> None:
    """`count` odd updates from `user`, the four kinds in turn, without waiting."""
    for number in range(start, start + count):
        kind = number % 4
        if kind == 0:
            await sticker(tg, user)
        elif kind == 1:
            await user.send_text(f"/frobnicate{number}", wait=False)
        elif kind == 2:
            await forged_press(user, message, number)
        else:
            await group_message(tg, user, number)


@contextmanager
def sql_of_updates(runtime: Runtime) -> Iterator[list[str]]:
    """Every SQL statement run meanwhile, but the background workers' own polling."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not any(table in statement for table in _WORKER_TABLES):
            seen.append(statement)

    engine = runtime.container.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def writes(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().split(" ", 1)[0].upper() in _WRITES]


_WRITES = frozenset({"INSERT", "UPDATE", "DELETE"})


def dropped(runtime: Runtime) -> int:
    registry = runtime.container.metrics.registry
    return int(
        sum(
            registry.get_sample_value("forever_flood_dropped_total", {"update": kind}) or 0
            for kind in ("message", "callback_query")
        )
    )
