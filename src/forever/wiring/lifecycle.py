"""Wiring of the lifecycle area: its use cases, and what its chat handlers receive by name."""

from __future__ import annotations

from forever.db.repositories.lifecycle import SqlAccountReads, SqlLifecycleRecords
from forever.domain.catalog import Offer, Plan
from forever.domain.payments import InvoiceKind
from forever.services import billing
from forever.services.accounts import AccountReader, MarkBlocked
from forever.services.memberships import ExpireDueMemberships
from forever.services.ports import ChatPort
from forever.services.retention import ResumeDuePauses, Retention
from forever.wiring.container import Container


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
    )


def expire_due_memberships(container: Container) -> ExpireDueMemberships:
    return ExpireDueMemberships(container.uow, SqlLifecycleRecords(container.uow), container.events)


def resume_due_pauses(container: Container) -> ResumeDuePauses:
    return ResumeDuePauses(container.uow, SqlLifecycleRecords(container.uow), container.events)


class BillingInvoices:
    """telegram.routers.account.Invoices on the billing area's functions of today: the link
    or invoice that answers a resume or an accepted offer. MERGE: the customers area's
    `invoicing` (services.billing.Invoicing) has the same two methods and the same
    dependency name; delete this class and its entry below once it is merged."""

    def __init__(self, container: Container) -> None:
        self._container = container

    async def subscription_link(
        self,
        chat: ChatPort,
        person_id: int,
        plan: Plan,
        *,
        title: str,
        description: str,
        offer: Offer | None = None,
    ) -> str:
        return await billing.subscription_link(
            self._container,
            chat,
            person_id,
            plan,
            title=title,
            description=description,
            offer=offer,
        )

    async def send_one_off(
        self,
        chat: ChatPort,
        chat_id: int,
        person_id: int,
        plan: Plan,
        kind: InvoiceKind,
        *,
        title: str,
        description: str,
        offer: Offer | None = None,
    ) -> bool:
        return await billing.send_one_off_invoice(
            self._container,
            chat,
            chat_id,
            person_id,
            plan,
            kind,
            title=title,
            description=description,
            offer=offer,
        )


def chat_dependencies(container: Container) -> dict[str, object]:
    """Dispatcher workflow data: each handler parameter of this name receives the value."""
    return {
        "retention": retention(container),
        "account_reader": account_reader(container),
        "invoicing": BillingInvoices(container),
        "mark_blocked": MarkBlocked(container.uow, container.people_repo, container.clock),
    }
