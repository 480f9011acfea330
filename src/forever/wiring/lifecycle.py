"""Wiring of the lifecycle area: its use cases, and what its chat handlers receive by name."""

from __future__ import annotations

from forever.db.repositories.lifecycle import SqlAccountReads, SqlLifecycleRecords
from forever.services.accounts import AccountReader, MarkBlocked
from forever.services.memberships import ExpireDueMemberships
from forever.services.retention import ResumeDuePauses, Retention
from forever.wiring.container import Container
from forever.wiring.experiments import experiment_chooser


def account_reader(container: Container) -> AccountReader:
    return AccountReader(
        container.uow,
        container.people_repo,
        container.subscriptions,
        SqlAccountReads(container.uow),
        container.clock,
    )


def retention(container: Container) -> Retention:
    return Retention(
        uow=container.uow,
        people=container.people_repo,
        subscriptions=container.subscriptions,
        events=container.events,
        outbox=container.outbox,
        reads=SqlAccountReads(container.uow),
        records=SqlLifecycleRecords(container.uow),
        catalog=container.catalog,
        clock=container.clock,
        kick=container.delivery_kick,
        experiments=experiment_chooser(container),
    )


def expire_due_memberships(container: Container) -> ExpireDueMemberships:
    return ExpireDueMemberships(container.uow, SqlLifecycleRecords(container.uow), container.events)


def resume_due_pauses(container: Container) -> ResumeDuePauses:
    return ResumeDuePauses(container.uow, SqlLifecycleRecords(container.uow), container.events)


def chat_dependencies(container: Container) -> dict[str, object]:
    """Dispatcher workflow data: each handler parameter of this name receives the value."""
    return {
        "retention": retention(container),
        "account_reader": account_reader(container),
        "mark_blocked": MarkBlocked(container.uow, container.people_repo, container.clock),
    }
