"""Wiring of the staff area: its use cases, what its chat handlers receive by name, and the
broadcast sender that the runtime starts next to the bot."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiogram import Bot

from forever.db.repositories.broadcasts import SqlBroadcastReplies, SqlBroadcasts
from forever.db.repositories.refunds import SqlStaffPayments
from forever.db.repositories.staff import SqlAuditLog, SqlEventHistory, SqlStaffDirectory
from forever.services.broadcast_sender import BroadcastWorker, SenderConfig
from forever.services.broadcasts import BroadcastDesk
from forever.services.ratelimit import RateLimiter, SendBudget
from forever.services.refunds import StaffRefunds
from forever.services.staff import StaffTools
from forever.services.staff_replies import StaffReplies
from forever.services.stats import StaffStats
from forever.telegram.broadcasts import BroadcastRunner, TelegramBroadcastTransport
from forever.telegram.ratelimit import build_rate_limiter
from forever.telegram.staff_texts import StaffTexts
from forever.wiring.container import Container
from forever.wiring.points import points_ledger
from forever.wiring.referrals import referral_rewards

__all__ = ["BroadcastRunner", "chat_dependencies", "start_broadcast_worker"]

PAID_LIMIT = 1000  # paid broadcast messages Telegram accepts per second


def chat_dependencies(container: Container) -> dict[str, object]:
    """Dispatcher workflow data: each handler parameter of this name receives the value."""
    uow = container.uow
    audit = SqlAuditLog(uow)
    return {
        "staff_ids": container.settings.admin_ids,
        "staff_texts": StaffTexts(container.renderer),
        "broadcast_desk": BroadcastDesk(
            uow,
            SqlBroadcasts(uow),
            audit,
            container.clock,
            container.broadcasting,
            people=container.people_repo,
        ),
        "staff_tools": StaffTools(
            uow,
            SqlStaffDirectory(uow),
            container.people_repo,
            container.subscriptions,
            container.events,
            audit,
            container.catalog,
            container.clock,
            container.outbox,
            container.delivery_kick,
        ),
        "staff_refunds": StaffRefunds(
            uow,
            SqlStaffDirectory(uow),
            SqlStaffPayments(uow),
            container.people_repo,
            container.subscriptions,
            container.events,
            audit,
            container.catalog,
            container.clock,
            container.outbox,
            container.delivery_kick,
            follow_up=referral_rewards(container),
            points=points_ledger(container),
        ),
        "staff_stats": StaffStats(uow, SqlEventHistory(uow), audit, container.clock),
        "staff_replies": StaffReplies(
            uow,
            SqlBroadcastReplies(uow),
            container.people_repo,
            audit,
            container.outbox,
            container.delivery_kick,
            container.clock,
            container.signer,
            inbox_staff_ids(container),
            container.settings.default_locale,
        ),
    }


def inbox_staff_ids(container: Container) -> frozenset[int]:
    """Who receives customers' answers to broadcasts and may reply: owners and support."""
    settings = container.settings
    return settings.admin_ids | settings.support_ids


def start_broadcast_worker(container: Container, bot: Bot) -> BroadcastRunner:
    """Start sending broadcasts from this process (resuming unfinished ones first), on the
    budget the bot's session sends with (wiring/sending.py) when there is one."""
    settings = container.settings
    parts = container.broadcasting
    limiter: SendBudget | None = parts.limiter
    close: Callable[[], Awaitable[None]] = _nothing
    if limiter is None:
        limiter, close = build_rate_limiter(
            settings.broadcast_rate, settings.redis_url, prefix=f"{settings.redis_prefix}:tg-rate"
        )
    # Paid broadcasts: their own budget, never past Telegram's 1000 paid messages a second.
    paid_limiter: RateLimiter | None = parts.paid_limiter
    close_paid: Callable[[], Awaitable[None]] = _nothing
    if paid_limiter is None:
        paid_limiter, close_paid = build_rate_limiter(
            settings.paid_broadcast_rate,
            settings.redis_url,
            prefix=f"{settings.redis_prefix}:tg-rate-paid",
            max_window_cap=PAID_LIMIT,
        )
    worker = BroadcastWorker(
        container.uow,
        SqlBroadcasts(container.uow),
        container.people_repo,
        container.events,
        container.clock,
        TelegramBroadcastTransport(bot, StaffTexts(container.renderer), permits_held=True),
        limiter,
        parts.config
        or SenderConfig(
            concurrency=settings.broadcast_concurrency,
            paid_concurrency=settings.paid_broadcast_concurrency,
        ),
        default_locale=settings.default_locale,
        paid_limiter=paid_limiter,
        holder=container.instance,
    )
    parts.worker = worker
    worker.start()
    return BroadcastRunner(worker, close, close_paid)


async def _nothing() -> None:
    return None
