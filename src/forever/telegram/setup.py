"""Wires routers and middlewares into a dispatcher."""

from __future__ import annotations

from aiogram import Dispatcher

from forever.app import Container
from forever.telegram.errors import errors_router
from forever.telegram.labels import labels_of
from forever.telegram.middlewares import PersonMiddleware
from forever.telegram.routers import (
    account,
    common,
    plans,
    settings,
    signup,
    staff_broadcast,
    staff_tools,
)
from forever.telegram.routers.helpers import views_of


def setup_dispatcher(dispatcher: Dispatcher, container: Container) -> None:
    dispatcher["container"] = container
    dispatcher["renderer"] = container.renderer
    dispatcher["catalog"] = container.catalog
    # Handlers take `views: Views` and `labels: Labels` by name (views_of/labels_of are legacy).
    dispatcher["views"] = views_of(container)
    dispatcher["labels"] = labels_of(container)
    person = PersonMiddleware()
    dispatcher.message.outer_middleware(person)
    dispatcher.callback_query.outer_middleware(person)
    dispatcher.include_router(errors_router(container))
    # Feature routers go before `common`, whose fallback catches whatever is left.
    dispatcher.include_router(staff_broadcast.build_router())
    dispatcher.include_router(staff_tools.build_router())
    dispatcher.include_router(signup.build_router())
    dispatcher.include_router(plans.build_router())
    dispatcher.include_router(account.build_router())
    dispatcher.include_router(settings.build_router())
    dispatcher.include_router(common.build_router())
