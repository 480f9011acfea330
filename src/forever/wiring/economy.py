"""Builds the economy use cases (issue 19) from the container's parts."""

from __future__ import annotations

from aiohttp import web

from forever.db.repositories.core import SqlPeople
from forever.db.repositories.economy import SqlAddonStore, SqlCreditStore, SqlEconomyHistory
from forever.db.repositories.staff import SqlAuditLog
from forever.services.credits import CreditLedger
from forever.services.economy_stats import EconomyStats
from forever.services.shop import Shop, ShopRefundParts
from forever.web.usage_api import UsageApi
from forever.wiring.container import Container
from forever.wiring.lifecycle import account_reader
from forever.wiring.points import points_ledger


def credit_ledger(container: Container) -> CreditLedger:
    return CreditLedger(
        uow=container.uow,
        people=SqlPeople(container.uow),
        store=SqlCreditStore(container.uow),
        clock=container.clock,
        on_usage=points_ledger(container).on_credits_used,
        notices=container.outbox,
        catalog=container.catalog,
    )


def shop(container: Container) -> Shop:
    reader = account_reader(container)

    async def plan_of(person_id: int) -> str | None:
        membership = (await reader.current(person_id)).membership
        return membership.plan_id if membership.has_access else None

    return Shop(
        uow=container.uow,
        people=SqlPeople(container.uow),
        addons=SqlAddonStore(container.uow),
        ledger=credit_ledger(container),
        catalog=container.catalog,
        plan_of=plan_of,
        clock=container.clock,
        lock=SqlCreditStore(container.uow).lock_person,
        wallet_reads=_WalletReads(container),
        refunds=ShopRefundParts(
            audit=SqlAuditLog(container.uow),
            outbox=container.outbox,
            kick=container.delivery_kick,
            end_addon=SqlAddonStore(container.uow).end,
        ),
        receipts=container.outbox,
    )


class _WalletReads:
    """The credit store's balance and history with the add-on store's purchases."""

    def __init__(self, container: Container) -> None:
        credits = SqlCreditStore(container.uow)
        self.balance = credits.balance
        self.history = credits.history
        self.entry = credits.entry
        self.of_person = SqlAddonStore(container.uow).of_person


def economy_stats(container: Container) -> EconomyStats:
    return EconomyStats(container.uow, SqlEconomyHistory(container.uow), container.clock)


def chat_dependencies(container: Container) -> dict[str, object]:
    return {"shop": shop(container), "economy_stats": economy_stats(container)}


def install_usage_routes(app: web.Application, container: Container) -> None:
    """POST /api/usage on the web server (off while USAGE_API_KEY is unset)."""
    key = container.settings.usage_api_key
    UsageApi(credit_ledger(container), key.get_secret_value() if key else None).install(app)
