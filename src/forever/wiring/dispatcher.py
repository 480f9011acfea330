"""Wiring of the chat: the dispatcher with its storage, middlewares, routers and the data
handlers receive by name (what every area shares, then each area's `chat_dependencies`).

Part of the composition root; only entry points import it (the Runtime)."""

from __future__ import annotations

from aiogram import Dispatcher
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage

from forever.config import Settings
from forever.telegram.errors import errors_router
from forever.telegram.middlewares import PersonMiddleware
from forever.telegram.prepared_handlers import prepare_handlers
from forever.telegram.ratelimit import resilient_redis_options
from forever.telegram.sending import AnsweringDispatcher
from forever.telegram.setup import setup_dispatcher
from forever.wiring import (
    access,
    console,
    customers,
    economy,
    email,
    experiments,
    lifecycle,
    points,
    promo,
    referrals,
    staff,
)
from forever.wiring.container import Container


def build_storage(settings: Settings) -> BaseStorage:
    if settings.redis_url:
        return RedisStorage.from_url(
            settings.redis_url,
            # A Redis restart costs a retry, not a failed update.
            connection_kwargs=resilient_redis_options(),
            key_builder=DefaultKeyBuilder(prefix=f"{settings.redis_prefix}:fsm", with_bot_id=True),
        )
    return MemoryStorage()


def build_dispatcher(container: Container, storage: BaseStorage | None = None) -> Dispatcher:
    storage = storage or build_storage(container.settings)
    # With Redis, updates of the same chat are serialised across every instance, not only
    # within this process (several instances behind one webhook).
    isolation = storage.create_isolation() if hasattr(storage, "create_isolation") else None
    # Handlers answer people: what they send skips the bulk budget (telegram/sending.py).
    dispatcher = AnsweringDispatcher(storage=storage, events_isolation=isolation)
    data: dict[str, object] = {}
    for area in (
        lifecycle,
        customers,
        email,
        staff,
        access,
        experiments,
        console,
        economy,
        promo,
        points,
        referrals,
    ):
        data.update(area.chat_dependencies(container))
    setup_dispatcher(
        dispatcher,
        renderer=container.renderer,
        catalog=container.catalog,
        views=container.views,
        labels=container.labels,
        person=PersonMiddleware(remember_locale=container.flood.remember_locale),
        errors=errors_router(container.uow, container.people_repo, container.clock),
        data=data,
    )
    access.install(dispatcher, container)
    prepare_handlers(dispatcher, per_update=PersonMiddleware.PER_UPDATE)
    return dispatcher
