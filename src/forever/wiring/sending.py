"""Wiring of sending: the process's send budget (Redis when REDIS_URL is set) and the session
middleware that every Bot API call of the runtime's Bot goes through (telegram/sending.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from forever.config import Settings
from forever.services.ratelimit import SendBudget
from forever.telegram.ratelimit import build_rate_limiter
from forever.telegram.sending import AdaptiveSending
from forever.wiring.container import Container

Close = Callable[[], Awaitable[None]]


def build_sending(container: Container) -> tuple[AdaptiveSending, Close]:
    """The middleware over the budget tests or benchmarks set in `container.broadcasting`, or
    one built from the settings (the broadcast sender then shares it); and what closes what
    was opened here."""
    parts = container.broadcasting
    if parts.limiter is not None:
        return AdaptiveSending(parts.limiter), _nothing
    budget, close = settings_budget(container.settings)
    parts.limiter = budget

    async def close_budget() -> None:
        if parts.limiter is budget:
            parts.limiter = None
        await close()

    return AdaptiveSending(budget), close_budget


def settings_budget(settings: Settings) -> tuple[SendBudget, Close]:
    """The budget every instance with these settings shares (one per bot)."""
    return build_rate_limiter(
        settings.broadcast_rate, settings.redis_url, prefix=f"{settings.redis_prefix}:tg-rate"
    )


async def _nothing() -> None:
    return None
