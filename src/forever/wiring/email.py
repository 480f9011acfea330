"""Wiring of the email area: the journey and upgrade sweeps, the one delivery worker (email,
chat and telegram outbox rows), the scheduled sweeps list, `tick`, and what its chat handlers
receive by name."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from forever.db.notify import OutboxListener
from forever.db.outbox import SqlDeliveryStore
from forever.db.repositories.economy import SqlEconomyFacts
from forever.db.repositories.journeys import (
    SqlGiftHistory,
    SqlJourneyCandidates,
    SqlSweepRounds,
)
from forever.db.repositories.prices import SqlKeptPrices
from forever.db.repositories.renewals import SqlYearlyMembers
from forever.db.repositories.upgrades import SqlUpgradeCandidates
from forever.domain.marketing import MarketingPolicy
from forever.jobs.delivery import (
    STOP_GRACE_SECONDS,
    DeliveryLoop,
    DeliverySignal,
    DeliveryWorker,
    DrainReport,
)
from forever.jobs.sweeps import Sweep, run_all
from forever.logs import describe_error
from forever.mail.smtp import SmtpConfig, SmtpPool
from forever.services.credits import LOW_BALANCE_TEMPLATE
from forever.services.experiments import JourneyArms
from forever.services.journeys import SweepJourneys
from forever.services.ports import ChatPort
from forever.services.renewals import TEMPLATE as YEARLY_RENEWAL
from forever.services.renewals import QueueYearlyReminders
from forever.services.staff_replies import INBOX_MESSAGE
from forever.services.upgrades import ADDON_SUGGESTION, QueueUpgradePrompts
from forever.services.upgrades import TEMPLATE as UPGRADE_PROMPT
from forever.services.winback import winback_start_parameter
from forever.telegram.bot_port import BotChatPort, build_bot
from forever.telegram.economy_views import addon_suggestion_view, low_balance_view
from forever.telegram.inbox import prune_update_inbox
from forever.telegram.renewal_reminders import yearly_renewal_view
from forever.telegram.routers.staff_replies import inbox_message_view
from forever.telegram.sending import AdaptiveSending
from forever.telegram.staff_texts import StaffTexts
from forever.telegram.upgrade_prompts import upgrade_prompt_view
from forever.wiring import access, console, lifecycle, points
from forever.wiring.container import Container
from forever.wiring.experiments import experiment_chooser, personal_prices
from forever.wiring.sending import settings_budget

log = logging.getLogger(__name__)


def chat_dependencies(container: Container) -> dict[str, object]:
    """Dispatcher workflow data: each handler parameter of this name receives the value."""
    return {}


# --- use cases ---------------------------------------------------------------------------------


def marketing_policy(container: Container) -> MarketingPolicy:
    return MarketingPolicy.from_rules(
        container.catalog.email, ZoneInfo(container.settings.timezone)
    )


def journey_sweep(container: Container) -> SweepJourneys:
    return SweepJourneys(
        uow=container.uow,
        candidates=SqlJourneyCandidates(container.sessions),
        outbox=container.outbox,
        catalog=container.catalog,
        policy=marketing_policy(container),
        locale_for=container.renderer.locale_for,
        start_link=partial(winback_start_parameter, container.signer),
        gifts=SqlGiftHistory(container.sessions),
        rounds=SqlSweepRounds(container.sessions),
        arms=JourneyArms(experiment_chooser(container)),
    )


# The upgrade prompts and yearly reminders are handed over by the sweep itself right after
# they are queued (see _upgrade_prompts), so they are queued quietly: a worker woken by the
# commit would race the sweep's own drain for the rows.


def upgrade_sweep(container: Container) -> QueueUpgradePrompts:
    return QueueUpgradePrompts(
        experiments=experiment_chooser(container),
        uow=container.uow,
        candidates=SqlUpgradeCandidates(container.uow),
        economy=SqlEconomyFacts(container.uow),
        events=container.events,
        outbox=container.outbox.quiet(),
        catalog=container.catalog,
        prices=personal_prices(container),
    )


def yearly_reminder_sweep(container: Container) -> QueueYearlyReminders:
    return QueueYearlyReminders(
        uow=container.uow,
        members=SqlYearlyMembers(container.uow),
        outbox=container.outbox.quiet(),
        catalog=container.catalog,
        kept=SqlKeptPrices(container.uow),
    )


# --- the delivery worker -----------------------------------------------------------------------


def smtp_pool(container: Container) -> SmtpPool | None:
    if not container.settings.mail_from:
        log.warning("MAIL_FROM is not set: emails stay queued until it is")
        return None
    return SmtpPool(SmtpConfig.from_settings(container.settings))


def delivery_worker(
    container: Container,
    *,
    smtp: SmtpPool | None,
    chat: ChatPort | None,
    instance_id: str | None = None,
    **options: Any,
) -> DeliveryWorker:
    """The one delivery worker. `options` are DeliveryWorker's (rng, batch_size, lease,
    bot_username, ...) for tests and benchmarks."""
    settings = container.settings
    options.setdefault("bot_username", lambda: container.bot_username)
    options.setdefault("metrics", container.metrics)
    views = container.views
    return DeliveryWorker(
        store=SqlDeliveryStore(
            container.uow, instance_id or container.instance, container.one_trip
        ),
        clock=container.clock,
        renderer=container.renderer,
        catalog=container.catalog,
        signer=container.signer,
        public_url=str(settings.public_url),
        default_timezone=settings.timezone,
        mail_from=settings.mail_from,
        smtp=smtp,
        chat=chat,
        staff_chat_ids=sorted(settings.admin_ids),
        chat_views={
            UPGRADE_PROMPT: upgrade_prompt_view(views),
            YEARLY_RENEWAL: yearly_renewal_view(views),
            INBOX_MESSAGE: inbox_message_view(StaffTexts(container.renderer)),
            LOW_BALANCE_TEMPLATE: low_balance_view(views),
            ADDON_SUGGESTION: addon_suggestion_view(views),
        },
        effects=access.effects(container, chat),
        **options,
    )


USERNAME_RETRY_FIRST_SECONDS = 2.0
USERNAME_RETRY_MAX_SECONDS = 300.0


async def learn_bot_username(
    container: Container, chat: ChatPort | None, *, next_try: float | None = None
) -> bool:
    """Win-back links open the bot by its username: ask Telegram once. True when it is
    known. A failure is one warning line (the error, redacted; no traceback): Telegram being
    unreachable is an outage to report, not a bug."""
    bot = getattr(chat, "bot", None)
    if bot is None or container.bot_username:
        return bot is not None
    try:
        me = await bot.get_me()
    except Exception as exc:
        later = f"; next try in {next_try:.0f} s" if next_try is not None else ""
        log.warning(
            "could not ask Telegram for the bot's username: %s%s", describe_error(exc), later
        )
        return False
    container.bot_username = me.username
    return True


async def keep_learning_bot_username(
    container: Container,
    chat: ChatPort | None,
    *,
    first_delay: float = USERNAME_RETRY_FIRST_SECONDS,
    max_delay: float = USERNAME_RETRY_MAX_SECONDS,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Ask until Telegram answers: the delay doubles from `first_delay` up to `max_delay`,
    one log line per try."""
    delay = min(first_delay, max_delay)
    while not await learn_bot_username(container, chat, next_try=delay):
        await sleep(delay)
        delay = min(delay * 2, max_delay)


class Delivery:
    """The running delivery worker of a process: drains when kicked and every `interval`
    seconds (OUTBOX_POLL_SECONDS) as a fallback. `signal` (a DeliverySignal,
    services.ports.DeliveryKick) may be built first: the container's outbox kicks it after
    each commit that queued a row due now. On PostgreSQL a listener kicks it too when another
    instance queues one. The runtime calls `start()` once the event loop runs, `stop()` at
    the end."""

    def __init__(
        self,
        container: Container,
        chat: ChatPort | None,
        *,
        signal: DeliverySignal | None = None,
        interval: float | None = None,
    ) -> None:
        self.container = container
        self.chat = chat
        self.smtp = smtp_pool(container)
        worker = delivery_worker(container, smtp=self.smtp, chat=chat)
        settings = container.settings
        seconds = interval if interval is not None else settings.outbox_poll_seconds
        self.loop = DeliveryLoop(worker, seconds, signal)
        self.listener: OutboxListener | None = None
        self._learning: asyncio.Task[None] | None = None
        if container.engine.dialect.name == "postgresql":
            self.listener = OutboxListener(
                container.engine.url, self.loop.kick, instance_id=container.instance
            )

    @property
    def worker(self) -> DeliveryWorker:
        return self.loop.worker

    def kick(self) -> None:
        self.loop.kick()

    async def start(self) -> None:
        if not await learn_bot_username(
            self.container, self.chat, next_try=USERNAME_RETRY_FIRST_SECONDS
        ):
            # Mails go on meanwhile (their bot links are blank until it is known).
            self._learning = asyncio.create_task(
                keep_learning_bot_username(
                    self.container, self.chat, first_delay=USERNAME_RETRY_FIRST_SECONDS
                ),
                name="learn-bot-username",
            )
        self.loop.start()
        if self.listener is not None:
            self.listener.start()

    async def drain(self) -> DrainReport:
        return await self.loop.drain_once()

    async def stop(self, *, graceful: bool = True) -> None:
        """`graceful=False` is what a killed process leaves behind: a drain in progress is
        dropped at once (its claimed rows wait for their lease), not given time to finish."""
        learning, self._learning = self._learning, None
        if learning is not None:
            learning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await learning
        if self.listener is not None:
            await self.listener.stop()
        await self.loop.stop(STOP_GRACE_SECONDS if graceful else 0.0)
        if self.smtp is not None:
            await self.smtp.close()


def delivery(
    container: Container, chat: ChatPort | None, signal: DeliverySignal | None = None
) -> Delivery:
    return Delivery(container, chat, signal=signal)


# --- scheduled sweeps and `tick` -----------------------------------------------------------------


def sweeps(container: Container, chat: ChatPort | None = None) -> list[tuple[str, Sweep]]:
    """Ordered: state changes first, then what they cause (messages to send)."""
    return [
        ("console_catalog", partial(console.follow_catalog, container)),
        ("expire_memberships", lifecycle.expire_due_memberships(container)),
        ("resume_pauses", lifecycle.resume_due_pauses(container)),
        ("email_journeys", journey_sweep(container)),
        ("upgrade_prompts", partial(_upgrade_prompts, container, chat)),
        ("yearly_reminders", partial(_yearly_reminders, container, chat)),
        ("prune_update_inbox", partial(prune_update_inbox, container)),
        ("chat_access", access.sweep(container)),
        ("scheduled_broadcasts", partial(console.send_due_broadcasts, container)),
        ("points", partial(points.sweep, container)),
    ]


async def _yearly_reminders(container: Container, chat: ChatPort | None, now: datetime) -> int:
    """Queue the yearly members' chat reminders due, then hand them over at once when a bot
    runs here (else the outbox drain delivers them). Returns how many were delivered now."""
    await yearly_reminder_sweep(container)(now)
    if chat is None:
        return 0
    await learn_bot_username(container, chat)
    report = await delivery_worker(container, smtp=None, chat=chat).drain()
    return report.sent_by_template.get(YEARLY_RENEWAL, 0)


async def _upgrade_prompts(container: Container, chat: ChatPort | None, now: datetime) -> int:
    """Queue who is due, then hand the prompts over at once when a bot runs here (else the
    outbox drain delivers them). Returns how many prompts were delivered now."""
    await upgrade_sweep(container)(now)
    if chat is None:
        return 0
    await learn_bot_username(container, chat)
    report = await delivery_worker(container, smtp=None, chat=chat).drain()
    return report.sent_by_template.get(UPGRADE_PROMPT, 0)


async def run_sweeps(
    container: Container, now: datetime, chat: ChatPort | None = None
) -> dict[str, int]:
    """Run every sweep for `now`; one failing sweep is logged and does not stop the rest."""
    return await run_all(sweeps(container, chat), now)


async def drain_outbox(container: Container, chat: ChatPort | None = None) -> dict[str, int]:
    """Hand over everything due at the container's instant, through SMTP and the bot."""
    bot = None
    close_budget = None
    token = container.settings.bot_token
    if chat is None and token is not None:
        # `tick` sends within the running instances' budget and obeys 429s as they do.
        budget, close_budget = settings_budget(container.settings)
        bot = build_bot(
            container.settings, token.get_secret_value(), sending=AdaptiveSending(budget)
        )
        chat = BotChatPort(bot)
    smtp = smtp_pool(container)
    try:
        await learn_bot_username(container, chat)
        worker = delivery_worker(container, smtp=smtp, chat=chat)
        report = await DeliveryLoop(worker).drain_once()
    finally:
        if smtp is not None:
            await smtp.close()
        if bot is not None:
            await bot.session.close()
        if close_budget is not None:
            await close_budget()
    return {
        "outbox_sent": report.sent,
        "outbox_retried": report.retried,
        "outbox_deferred": report.deferred,
        "outbox_failed": report.failed + report.suppressed,
    }


async def run_due_work(
    container: Container, at: datetime, chat: ChatPort | None = None
) -> dict[str, int]:
    """Everything scheduled that is due at `at`, handed over; shared by `tick` and the
    sandbox's clock (which passes its running bot's chat)."""
    results = await run_sweeps(container, at, chat)
    results.update(await drain_outbox(container, chat))
    return results


async def tick(container: Container, at: datetime) -> dict[str, int]:
    try:
        return await run_due_work(container, at)
    finally:
        await container.close()
