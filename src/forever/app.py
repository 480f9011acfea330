"""Composition root: builds the engine, services, bot, dispatcher, scheduler and web server.

Nothing else constructs these; handlers and jobs receive what they need from here.
"""

from __future__ import annotations

import logging
import secrets

from aiogram import Dispatcher
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage

from forever.config import Settings
from forever.db.engine import make_engine, make_session_factory
from forever.domain.catalog import load_catalog
from forever.domain.clock import Clock, SystemClock
from forever.domain.signing import Signer
from forever.rendering import Renderer
from forever.telegram.bot_port import build_bot
from forever.wiring import customers, email, lifecycle, staff
from forever.wiring.container import Container, new_instance_id

__all__ = ["Container", "build_bot", "build_container", "build_dispatcher", "new_instance_id"]

log = logging.getLogger(__name__)


def build_container(settings: Settings, clock: Clock | None = None) -> Container:
    clock = clock or SystemClock()
    catalog = load_catalog(settings.catalog_path)
    renderer = Renderer(default_locale=settings.default_locale, timezone=settings.timezone)
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    # Without SECRET_KEY (only allowed for sandbox and migrate) links last one process.
    secret = (
        settings.secret_key.get_secret_value() if settings.secret_key else secrets.token_hex(32)
    )
    return Container(
        settings=settings,
        clock=clock,
        catalog=catalog,
        renderer=renderer,
        engine=engine,
        sessions=sessions,
        signer=Signer(secret),
    )


def build_storage(settings: Settings) -> BaseStorage:
    if settings.redis_url:
        from aiogram.fsm.storage.base import DefaultKeyBuilder
        from aiogram.fsm.storage.redis import RedisStorage

        return RedisStorage.from_url(
            settings.redis_url,
            key_builder=DefaultKeyBuilder(prefix=f"{settings.redis_prefix}:fsm", with_bot_id=True),
        )
    return MemoryStorage()


def build_dispatcher(container: Container, storage: BaseStorage | None = None) -> Dispatcher:
    from forever.telegram.setup import setup_dispatcher

    storage = storage or build_storage(container.settings)
    # With Redis, updates of the same chat are serialised across every instance, not only
    # within this process (several instances behind one webhook).
    isolation = storage.create_isolation() if hasattr(storage, "create_isolation") else None
    dispatcher = Dispatcher(storage=storage, events_isolation=isolation)
    setup_dispatcher(dispatcher, container)
    for area in (lifecycle, customers, email, staff):
        dispatcher.workflow_data.update(area.chat_dependencies(container))
    return dispatcher
