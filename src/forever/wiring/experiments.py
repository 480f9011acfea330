"""Wiring of experiments: the chooser other areas' use cases consult, and staff's desk."""

from __future__ import annotations

import secrets

from forever.db.repositories.experiments import SqlExperimentStore
from forever.db.repositories.prices import SqlKeptPrices
from forever.db.repositories.staff import SqlAuditLog
from forever.services.experiment_results import ExperimentDesk
from forever.services.experiments import ExperimentChooser, PersonalPrices
from forever.services.price_migration import PriceMigration
from forever.telegram.experiment_texts import ExperimentTexts
from forever.wiring.container import Container


def experiment_chooser(container: Container) -> ExperimentChooser:
    # A container built without a key (only by hand, in tests) still assigns consistently
    # within the process; the recorded rows keep everyone's arm beyond it.
    if not container.experiment_key:
        container.experiment_key = secrets.token_bytes(32)
    return ExperimentChooser(
        SqlExperimentStore(container.uow),
        container.events,
        container.catalog,
        container.experiment_key,
    )


def personal_prices(container: Container) -> PersonalPrices:
    return PersonalPrices(
        container.uow,
        experiment_chooser(container),
        container.clock,
        kept=SqlKeptPrices(container.uow),
    )


def experiment_desk(container: Container) -> ExperimentDesk:
    return ExperimentDesk(
        container.uow,
        SqlExperimentStore(container.uow),
        SqlAuditLog(container.uow),
        container.catalog,
        container.clock,
        history=SqlKeptPrices(container.uow),
    )


def price_migration(container: Container) -> PriceMigration:
    return PriceMigration(
        container.uow,
        SqlKeptPrices(container.uow),
        container.events,
        container.outbox,
        SqlAuditLog(container.uow),
        container.catalog,
        container.clock,
    )


def chat_dependencies(container: Container) -> dict[str, object]:
    """Dispatcher workflow data: each handler parameter of this name receives the value."""
    return {
        "experiment_desk": experiment_desk(container),
        "experiment_texts": ExperimentTexts(container.renderer),
        "personal_prices": personal_prices(container),
        "price_migration": price_migration(container),
    }
