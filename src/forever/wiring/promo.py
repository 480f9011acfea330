"""Builds the promo codes use case (issue 19) from the container's parts."""

from __future__ import annotations

from forever.db.repositories.promo import SqlPromoStore
from forever.db.repositories.staff import SqlAuditLog, SqlEventHistory
from forever.domain.catalog import Catalog
from forever.services.promo import Promos
from forever.wiring.container import Container


def promos(container: Container) -> Promos:
    def catalog() -> Catalog:
        return container.catalog  # the one in force now

    return Promos(
        uow=container.uow,
        store=SqlPromoStore(container.uow),
        subscriptions=container.subscriptions,
        events=container.events,
        audit=SqlAuditLog(container.uow),
        catalog=catalog,
        clock=container.clock,
        history=SqlEventHistory(container.uow),
    )


def chat_dependencies(container: Container) -> dict[str, object]:
    return {"promos": promos(container)}
