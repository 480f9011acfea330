"""The economy's figures in /stats (issue 19): add-on revenue, credit sales and consumption,
from the add-on purchases and the credit ledger (domain.economy.economy_kpis)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from forever.domain.clock import Clock
from forever.domain.economy import AddonSale, EconomyKpis, LedgerRow, economy_kpis
from forever.services.ports import UnitOfWork


class EconomyHistory(Protocol):
    async def sales(self, until: datetime) -> Sequence[AddonSale]: ...

    async def ledger(self, until: datetime) -> Sequence[LedgerRow]: ...


class EconomyStats:
    def __init__(self, uow: UnitOfWork, history: EconomyHistory, clock: Clock) -> None:
        self.uow = uow
        self.history = history
        self.clock = clock

    async def __call__(self, *, days: int) -> EconomyKpis:
        now = self.clock.now()
        async with self.uow.begin():
            sales = await self.history.sales(now)
            ledger = await self.history.ledger(now)
        return economy_kpis(sales, ledger, now - timedelta(days=days), now)
