"""Builds the points ledger (issue 19) from the container's parts."""

from __future__ import annotations

from datetime import datetime

from forever.db.repositories.core import SqlPeople
from forever.db.repositories.economy import SqlAddonStore
from forever.db.repositories.points import SqlPointStore
from forever.domain.catalog import Catalog
from forever.services.points import PointsLedger
from forever.wiring.container import Container
from forever.wiring.lifecycle import account_reader


def points_ledger(container: Container) -> PointsLedger:
    reader = account_reader(container)

    def catalog() -> Catalog:
        return container.catalog  # the one in force now

    async def plan_of(person_id: int) -> str | None:
        membership = (await reader.current(person_id)).membership
        return membership.plan_id if membership.has_access else None

    return PointsLedger(
        uow=container.uow,
        people=SqlPeople(container.uow),
        store=SqlPointStore(container.uow),
        catalog=catalog,
        clock=container.clock,
        subscriptions=container.subscriptions,
        addons=SqlAddonStore(container.uow),
        outbox=container.outbox,
        kick=container.delivery_kick,
        plan_of=plan_of,
    )


async def sweep(container: Container, now: datetime) -> int:
    """The scheduled points job: expiries due, then notices of expiries to come."""
    return await points_ledger(container).sweep(now)


def chat_dependencies(container: Container) -> dict[str, object]:
    return {"points": points_ledger(container)}
