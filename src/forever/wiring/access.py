"""Wiring of membership access (issue 17): its use cases, its sweep, the Bot API effects the
delivery worker runs for it, and the middleware that syncs a person after their own update."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiogram import BaseMiddleware, Dispatcher
from aiogram.types import TelegramObject

from forever.db.repositories.access import SqlAccessStore, SqlInviteLinks
from forever.db.repositories.staff import SqlAuditLog, SqlStaffDirectory
from forever.jobs.access_effects import AccessEffects
from forever.jobs.delivery import TelegramEffect
from forever.services.access import (
    AccessReport,
    AnswerJoinRequest,
    StaffAccess,
    SyncAccess,
    TrackMember,
)
from forever.services.ports import ChatPort
from forever.telegram.access_port import BotAccessPort
from forever.telegram.bot_port import BotChatPort
from forever.telegram.routers import access as access_router
from forever.wiring.container import Container

log = logging.getLogger(__name__)


def store(container: Container) -> SqlAccessStore:
    return SqlAccessStore(container.uow)


def sync_access(container: Container) -> SyncAccess:
    return SyncAccess(
        audit=SqlAuditLog(container.uow),
        uow=container.uow,
        store=store(container),
        events=container.events,
        outbox=container.outbox,
        catalog=container.catalog,
        staff_ids=container.settings.admin_ids,
        kick=container.delivery_kick,
    )


def chat_dependencies(container: Container) -> dict[str, object]:
    return {
        "sync_access": sync_access(container),
        "answer_join_request": AnswerJoinRequest(
            uow=container.uow,
            store=store(container),
            events=container.events,
            outbox=container.outbox,
            catalog=container.catalog,
            kick=container.delivery_kick,
            audit=SqlAuditLog(container.uow),
        ),
        "track_member": TrackMember(
            uow=container.uow, store=store(container), catalog=container.catalog
        ),
        "access_report": AccessReport(
            uow=container.uow, store=store(container), catalog=container.catalog
        ),
        "access_clock": container.clock,
        "staff_access": StaffAccess(
            uow=container.uow,
            store=store(container),
            directory=SqlStaffDirectory(container.uow),
            audit=SqlAuditLog(container.uow),
            outbox=container.outbox,
            catalog=container.catalog,
            clock=container.clock,
            kick=container.delivery_kick,
        ),
    }


def sweep(container: Container) -> Callable[[datetime], Awaitable[int]]:
    return sync_access(container).sweep


# Per container (process): when staff were last alerted that the bot lost its rights, per
# chat. Every delivery worker (the runtime's, and the ones sweeps drain with) shares it.
_ALERTED: dict[int, dict[int, datetime]] = {}  # by id(container), forgotten with it


def effects(container: Container, chat: ChatPort | None) -> dict[str, TelegramEffect]:
    """The access effects for the delivery worker, when a bot runs here."""
    if not container.catalog.chats or not isinstance(chat, BotChatPort):
        return {}
    alerted = _ALERTED.get(id(container))
    if alerted is None:
        alerted = _ALERTED[id(container)] = {}
        weakref.finalize(container, _ALERTED.pop, id(container), None)
    runner = AccessEffects(
        port=BotAccessPort(chat.bot),
        chat=chat,
        links=SqlInviteLinks(container.uow),
        renderer=container.renderer,
        catalog=container.catalog,
        staff_chat_ids=tuple(sorted(container.settings.admin_ids)),
        alerted=alerted,
    )
    return dict.fromkeys(AccessEffects.templates, runner)


class SyncAfterUpdate(BaseMiddleware):
    """After an update, the chats follow at once: the sender's (a trial started, a payment,
    a cancel, a plan change) and anyone's a staff action changed (a refund, a grant). The
    sweep catches what the clock changes."""

    def __init__(self, sync: SyncAccess, container: Container) -> None:
        self.sync = sync
        self.container = container

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        result = await handler(event, data)
        person = data.get("person")
        try:
            await self.sync.after_update(person.id if person else None, self.container.clock.now())
        except Exception:  # the sweep catches up; the update itself stands
            log.exception("access sync after an update failed")
        return result


def install(dispatcher: Dispatcher, container: Container) -> None:
    """The access router (join requests, chat members); with chats in the catalog, the
    middleware that syncs a person after their own update."""
    dispatcher.include_router(access_router.build_router())
    if not container.catalog.chats:
        return
    middleware = SyncAfterUpdate(sync_access(container), container)
    dispatcher.message.outer_middleware(middleware)
    dispatcher.callback_query.outer_middleware(middleware)
