"""Wires routers and middlewares into a dispatcher.

Everything comes in as an argument from the composition root (forever.app): this module
builds nothing and knows no container. Handler parameters are filled by name from the
dispatcher's data: `renderer`, `catalog`, `views`, `labels`, plus what each area's wiring
module names (wiring/<area>.py `chat_dependencies`); once every router is in, the services
among them are bound into each handler (telegram/prepared_handlers.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from aiogram import BaseMiddleware, Dispatcher, Router

from forever.domain.catalog import Catalog
from forever.rendering import Renderer
from forever.telegram.labels import Labels
from forever.telegram.middlewares import IgnoreGroupChatter
from forever.telegram.routers import (
    account,
    common,
    plans,
    points,
    promo,
    referrals,
    settings,
    shop,
    signup,
    staff_access,
    staff_broadcast,
    staff_console,
    staff_experiments,
    staff_replies,
    staff_tools,
)
from forever.telegram.staff_filter import IsAnyStaff
from forever.telegram.views import Views


def setup_dispatcher(
    dispatcher: Dispatcher,
    *,
    renderer: Renderer,
    catalog: Catalog,
    views: Views,
    labels: Labels,
    person: BaseMiddleware,
    errors: Router,
    data: Mapping[str, object] | None = None,
) -> None:
    """`person` reads who wrote (outer middleware of messages and button presses); `errors`
    is the last line of defence; `data` is merged into the dispatcher's data."""
    dispatcher.workflow_data.update(data or {})
    dispatcher["renderer"] = renderer
    dispatcher["catalog"] = catalog
    dispatcher["views"] = views
    dispatcher["labels"] = labels
    dispatcher.message.outer_middleware(IgnoreGroupChatter())
    dispatcher.message.outer_middleware(person)
    dispatcher.callback_query.outer_middleware(person)
    # Feature routers go before `common`, whose fallback catches whatever is left.
    dispatcher.include_router(_staff_routers())
    dispatcher.include_router(promo.build_router())  # before signup: start=p_CODE links
    dispatcher.include_router(signup.build_router())
    dispatcher.include_router(shop.build_router())  # before plans: its payloads
    dispatcher.include_router(points.build_router())
    dispatcher.include_router(referrals.build_router())
    dispatcher.include_router(plans.build_router())
    dispatcher.include_router(account.build_router())
    dispatcher.include_router(settings.build_router())
    # Text no feature expects that answers a broadcast goes to staff, not to the fallback.
    dispatcher.include_router(staff_replies.build_router())
    dispatcher.include_router(common.build_router())
    # Only errors reach it (no router before it handles them): last, so that messages and
    # button presses do not pass through it on their way to the feature routers.
    dispatcher.include_router(errors)


def _staff_routers() -> Router:
    """The staff routers, in their order, under one parent whose single check turns away
    everyone who is neither staff nor console staff (support): a customer's update skips
    them all at once instead of being tried against each one's filter. Each keeps its own
    filter, so who reaches what is unchanged."""
    staff = Router(name="staff")
    staff.message.filter(IsAnyStaff())
    staff.callback_query.filter(IsAnyStaff())
    staff.include_routers(
        staff_broadcast.build_router(),
        staff_tools.build_router(),
        staff_console.build_router(),
        staff_access.build_router(),
        staff_experiments.build_router(),
        promo.build_staff_router(),
    )
    return staff
