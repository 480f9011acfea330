"""POST /api/usage (issue 19): the business's own systems spend a customer's credits.

Authenticated by `Authorization: Bearer <USAGE_API_KEY>`; refused (503) while the setting is
unset. Body: {"telegram_id": 123, "amount": 5, "request_id": "order-42"}. A repeated request id
counts once. Every refusal is JSON with an `error` that says what to fix.
"""

from __future__ import annotations

import hmac
import logging
from typing import Protocol

from aiohttp import web

from forever.services.credits import Outcome, Result

log = logging.getLogger(__name__)


class SpendCredits(Protocol):
    async def use(self, telegram_id: int, amount: object, request_id: object) -> Result: ...


def _error(status: int, message: str, **extra: object) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


class UsageApi:
    def __init__(self, ledger: SpendCredits, api_key: str | None) -> None:
        self.ledger = ledger
        self.api_key = api_key

    def install(self, app: web.Application) -> None:
        app.router.add_post("/api/usage", self.spend)

    async def spend(self, request: web.Request) -> web.Response:
        if not self.api_key:
            return _error(503, "the usage API is off: set USAGE_API_KEY to switch it on")
        header = request.headers.get("Authorization", "")
        given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if not given or not hmac.compare_digest(given.encode(), self.api_key.encode()):
            return _error(401, "missing or wrong API key (Authorization: Bearer <key>)")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the body must be JSON")
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object")
        telegram_id = body.get("telegram_id")
        if isinstance(telegram_id, bool) or not isinstance(telegram_id, int) or telegram_id <= 0:
            return _error(400, "telegram_id must be a positive whole number")
        try:
            result = await self.ledger.use(telegram_id, body.get("amount"), body.get("request_id"))
        except ValueError as exc:
            return _error(400, str(exc))
        if result.outcome is Outcome.UNKNOWN_PERSON:
            return _error(404, f"no customer has Telegram id {telegram_id}")
        if result.outcome is Outcome.INSUFFICIENT:
            return _error(402, "not enough credits", balance=result.balance)
        return web.json_response(
            {"balance": result.balance, "repeated": result.outcome is Outcome.REPEATED}
        )
