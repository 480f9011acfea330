"""Builds the economy use cases (issue 19) from the container's parts."""

from __future__ import annotations

from aiohttp import web

from forever.db.repositories.core import SqlPeople
from forever.db.repositories.economy import SqlCreditStore
from forever.services.credits import CreditLedger
from forever.web.usage_api import UsageApi
from forever.wiring.container import Container


def credit_ledger(container: Container) -> CreditLedger:
    return CreditLedger(
        uow=container.uow,
        people=SqlPeople(container.uow),
        store=SqlCreditStore(container.uow),
        clock=container.clock,
    )


def install_usage_routes(app: web.Application, container: Container) -> None:
    """POST /api/usage on the web server (off while USAGE_API_KEY is unset)."""
    key = container.settings.usage_api_key
    UsageApi(credit_ledger(container), key.get_secret_value() if key else None).install(app)
