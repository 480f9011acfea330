"""Builds the economy use cases (issue 19) from the container's parts."""

from __future__ import annotations

from forever.db.repositories.core import SqlPeople
from forever.db.repositories.economy import SqlCreditStore
from forever.services.credits import CreditLedger
from forever.wiring.container import Container


def credit_ledger(container: Container) -> CreditLedger:
    return CreditLedger(
        uow=container.uow,
        people=SqlPeople(container.uow),
        store=SqlCreditStore(container.uow),
        clock=container.clock,
    )
