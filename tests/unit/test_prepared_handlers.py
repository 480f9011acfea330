"""Process-wide dependencies are bound into handlers and filters once (what a middleware sets
per update still reaches them from the update's data), and plain filters run inline."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.filters import Filter
from aiogram.types import Message, TelegramObject, Update

from forever.telegram.prepared_handlers import prepare_handlers

TOKEN = "42:TEST"


def _update(text: str) -> dict[str, Any]:
    return {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 1764000000,
            "chat": {"id": 7, "type": "private"},
            "from": {"id": 7, "is_bot": False, "first_name": "Ann"},
            "text": text,
        },
    }


async def _feed(dispatcher: Dispatcher, *texts: str) -> None:
    """Each text as a private message, one update after the other."""
    bot = Bot(TOKEN)
    try:
        for text in texts:
            update = Update.model_validate(_update(text), context={"bot": bot})
            await dispatcher.feed_update(bot, update)
    finally:
        await bot.session.close()


class Prices:
    def __init__(self, name: str) -> None:
        self.name = name


class ForVip(Filter):
    async def __call__(self, message: Message, vip_words: set[str]) -> bool:
        return (message.text or "") in vip_words


async def test_handlers_and_filters_get_bound_services_and_per_update_values() -> None:
    seen: list[tuple[str, str, str]] = []
    router = Router()
    router.message.filter(lambda message, prices: prices.name == "live")  # the router's own

    @router.message(ForVip())
    async def vip(message: Message, prices: Prices, greeting: str) -> None:
        seen.append(("vip", prices.name, greeting))

    @router.message()
    async def anyone(message: Message, prices: Prices, greeting: str) -> None:
        seen.append(("anyone", prices.name, greeting))

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    dispatcher["prices"] = Prices("live")
    dispatcher["vip_words"] = {"gold"}
    dispatcher["greeting"] = "hello"

    async def in_their_language(
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        data["greeting"] = data["greeting"].upper()  # replaced per update, as zones are
        return await handler(event, data)

    dispatcher.message.outer_middleware(in_their_language)
    bound = prepare_handlers(dispatcher, per_update={"greeting"})

    assert set(bound) == {"prices", "vip_words"}
    assert set(dispatcher.workflow_data) == {"greeting"}
    await _feed(dispatcher, "gold", "plain")
    assert seen == [("vip", "live", "HELLO"), ("anyone", "live", "HELLO")]


async def test_a_router_filter_refuses_with_its_bound_service() -> None:
    handled: list[str] = []
    router = Router()
    router.message.filter(lambda message, prices: prices.name == "staff only")

    @router.message()
    async def staff(message: Message) -> None:
        handled.append(message.text or "")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    dispatcher["prices"] = Prices("live")
    prepare_handlers(dispatcher, per_update=())
    await _feed(dispatcher, "hi")
    assert handled == []


async def test_a_plain_filter_runs_on_the_event_loop_not_in_a_worker_thread() -> None:

    ran_in: list[int] = []
    handled: list[str] = []
    router = Router()

    def looks(message: Message) -> bool:
        ran_in.append(threading.get_ident())
        return message.text == "hi"

    @router.message(looks)
    async def hello(message: Message) -> None:
        handled.append(message.text or "")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    prepare_handlers(dispatcher, per_update=())
    await _feed(dispatcher, "hi", "bye")
    assert handled == ["hi"]
    assert ran_in == [threading.get_ident()] * 2
