"""Running the product: the bot (polling or webhook), the web server and the scheduler.

Several instances may run against one PostgreSQL database behind one webhook: updates are
stored and claimed through the update inbox, and the scheduled sweeps run only on the
instance holding the `sweeps` lease.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import signal
from collections.abc import Sequence
from contextlib import suppress
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.exc import DBAPIError

from forever.app import Container, build_bot
from forever.config import ConfigError
from forever.db.leases import acquire_lease, release_lease
from forever.logs import describe_error
from forever.telegram import flood
from forever.telegram.access_port import check_chat_rights
from forever.telegram.bot_port import BotChatPort
from forever.telegram.broadcasts import BotPhotoUpload
from forever.telegram.commands import CommandMenus
from forever.telegram.inbox import UpdateProcessor
from forever.telegram.sending import keep_response_types
from forever.web.metrics import build_metrics_app
from forever.web.routes import route_installers
from forever.web.server import RouteInstaller, build_web_app, start_web
from forever.web.webhook import install_webhook
from forever.wiring import console, customers, economy
from forever.wiring.container import new_instance_id
from forever.wiring.dispatcher import build_dispatcher
from forever.wiring.email import Delivery, delivery, run_sweeps
from forever.wiring.instance import InstanceName
from forever.wiring.sending import build_sending
from forever.wiring.staff import BroadcastRunner, start_broadcast_worker

log = logging.getLogger(__name__)

SWEEP_MINUTES = 5
CATALOG_FOLLOW_SECONDS = 30
SWEEP_LEASE = "sweeps"
# Long enough to survive one missed run; short enough that a dead leader is replaced soon.
SWEEP_LEASE_TTL = timedelta(minutes=SWEEP_MINUTES * 2)
INBOX_RECOVERY_SECONDS = 15.0
DRAIN_TIMEOUT_SECONDS = 20.0


def allowed_updates(dispatcher: Dispatcher) -> list[str]:
    # Telegram only sends `subscription` updates when asked for them explicitly.
    return sorted(set(dispatcher.resolve_used_update_types()) | {"subscription"})


def webhook_path(url: str) -> str:
    """The local route for the webhook: the path of WEBHOOK_URL (the proxy forwards it)."""
    return urlsplit(url).path or "/"


class Runtime:
    """One process of Forever. `start` returns once everything serves; `stop` undoes it.

    It owns the process's Bot (and the chat port over it) and passes them to what needs
    them. `routes` adds route installers of the entry point's own (the sandbox's page) to the
    product's (web/routes.py)."""

    def __init__(
        self,
        container: Container,
        token: str,
        *,
        routes: Sequence[RouteInstaller[Container]] = (),
    ) -> None:
        self.container = container
        # Every call of this Bot goes through the send budget (answers at once, bulk paced,
        # 429s obeyed); the broadcast sender shares the same budget.
        sending, self._close_sending = build_sending(container)
        self.bot: Bot = build_bot(container.settings, token, container.metrics, sending=sending)
        self.chat = BotChatPort(self.bot)
        settings = container.settings
        # The command menu with Telegram, registered again when the owner changes its texts.
        self.menus = CommandMenus(self.bot, settings.default_locale, settings.admin_ids)
        self.dispatcher: Dispatcher = build_dispatcher(container)
        # The per-user flood guard asks at the door: the webhook before it stores an update,
        # or (polling) the dispatcher before its FSM and person middlewares.
        self.flood = flood.FloodGate(
            container.flood,
            bot=self.bot,
            renderer=container.renderer,
            staff_ids=settings.admin_ids | settings.support_ids,
            metrics=container.metrics,
        )
        if not self.webhook_mode:
            flood.install(self.dispatcher, self.flood)
        self.updates = UpdateProcessor(
            sessions=container.sessions,
            clock=container.clock,
            metrics=container.metrics,
            holder=container.instance,
            bot=self.bot,
            dispatcher=self.dispatcher,
            gate=self.flood if self.webhook_mode else None,
        )
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.web_port: int | None = None
        self._routes = list(routes)
        self._web_runner: web.AppRunner | None = None
        self.metrics_port: int | None = None
        self._metrics_runner: web.AppRunner | None = None
        self._polling: asyncio.Task[None] | None = None
        self._broadcasts: BroadcastRunner | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._dispatcher_started = False
        self.outbox: Delivery | None = None
        self._name: InstanceName | None = None
        self._heartbeat: asyncio.Task[None] | None = None

    @property
    def instance(self) -> str:
        return self.container.instance

    @property
    def webhook_mode(self) -> bool:
        return self.container.settings.webhook_url is not None

    async def start(
        self,
        *,
        polling: bool = True,
        scheduler: bool = True,
        handle_as_tasks: bool = True,
        inbox_recovery_seconds: float | None = INBOX_RECOVERY_SECONDS,
        broadcasts: bool = True,
    ) -> None:
        """Serve. In webhook mode (WEBHOOK_URL set) `polling` is ignored; the recovery pass
        over stored updates runs every `inbox_recovery_seconds` (None: only when called)."""
        settings = self.container.settings
        await self.follow_catalog()  # the console's newest catalog version, if any
        await self.check_chats()
        await self._own_instance_name()
        installers: list[RouteInstaller[Container]] = [
            *route_installers(),
            customers.install_email_routes,
            functools.partial(
                console.install_routes, photos=BotPhotoUpload(self.bot), menus=self.menus
            ),
            economy.install_usage_routes,
            *self._routes,
        ]
        if settings.webhook_url is not None and settings.webhook_secret is not None:
            installers.append(self._install_webhook)
        app = build_web_app(self.container, installers)
        self._web_runner, self.web_port = await start_web(app, settings.web_host, settings.web_port)
        log.info("web server on http://%s:%s", settings.web_host, self.web_port)
        self._metrics_runner, self.metrics_port = await start_web(
            build_metrics_app(self.container), settings.metrics_host, settings.metrics_port
        )
        log.info("metrics on http://%s:%s/metrics", settings.metrics_host, self.metrics_port)
        if scheduler:
            self.scheduler.add_job(
                self.sweep_once,
                "interval",
                minutes=SWEEP_MINUTES,
                id="sweeps",
                max_instances=1,
                coalesce=True,
            )
            # Every instance (not only the sweeping one) follows the console's catalog edits.
            self.scheduler.add_job(
                self.follow_catalog,
                "interval",
                seconds=CATALOG_FOLLOW_SECONDS,
                id="catalog",
                max_instances=1,
                coalesce=True,
            )
            self.scheduler.start()
        # The one delivery worker: drains every few seconds and at once when a use case
        # kicks it after queuing an urgent effect (the Stars edit of a one-tap cancel).
        self.outbox = delivery(self.container, self.chat, signal=self.container.delivery_kick)
        await self.outbox.start()
        await self.menus.register_all()
        await self._prepare_replies()
        if broadcasts:
            # Resumes unfinished broadcasts, then sends new ones as staff confirm them.
            self._broadcasts = start_broadcast_worker(self.container, self.bot)
            # Its first look prepares its queries: done before serving, not during the first
            # customers' updates.
            await self._broadcasts.worker.first_look()
        if settings.webhook_url is not None:
            await self.bot.set_webhook(
                str(settings.webhook_url),
                secret_token=settings.webhook_secret.get_secret_value()
                if settings.webhook_secret
                else None,
                allowed_updates=allowed_updates(self.dispatcher),
                drop_pending_updates=False,
            )
            log.info("webhook mode: %s", webhook_path(str(settings.webhook_url)))
            # start_polling runs the dispatcher's startup hooks itself; a webhook does not.
            await self.dispatcher.emit_startup(**self._workflow_data())
            self._dispatcher_started = True
            if inbox_recovery_seconds:
                self._recovery = asyncio.create_task(self._recover_forever(inbox_recovery_seconds))
        elif polling:
            await self.bot.delete_webhook(drop_pending_updates=False)
            self._polling = asyncio.create_task(
                self.dispatcher.start_polling(
                    self.bot,
                    allowed_updates=allowed_updates(self.dispatcher),
                    handle_signals=False,
                    close_bot_session=False,
                    handle_as_tasks=handle_as_tasks,
                    polling_timeout=25,
                )
            )

    async def _prepare_replies(self) -> None:
        """What the first updates after a start would otherwise make while people wait for
        their replies: the welcome in every language, the person lookup's statement and
        connection, the answer types of the usual replies."""
        self.container.views.warm_welcome()
        await self.dispatcher["identify_person"].prepare()
        keep_response_types(SendMessage, AnswerCallbackQuery, EditMessageText)

    async def check_chats(self) -> None:
        """Refuse to start when the bot may not manage a catalog chat (membership access):
        ConfigError, one line per problem."""
        problems = await check_chat_rights(self.bot, self.container.catalog)
        if problems:
            await self.bot.session.close()
            raise ConfigError("the bot cannot manage the catalog's chats:\n" + "\n".join(problems))

    async def _own_instance_name(self) -> None:
        """Own this instance's name (one live process per name), then take back at once what
        a killed predecessor of the same name left in flight."""
        container = self.container
        name = InstanceName(container.sessions, container.clock, container.instance)
        if not await name.claim():
            fallback = new_instance_id()
            log.error(
                "instance name %s is in use by another running process (give each instance "
                "its own INSTANCE_ID); this process runs as %s",
                container.instance,
                fallback,
            )
            container.instance = self.updates.holder = fallback
            name = InstanceName(container.sessions, container.clock, fallback)
            await name.claim()
        else:
            await name.reclaim()
        self._name = name
        self._heartbeat = asyncio.create_task(name.keep(), name="instance-name")

    def _install_webhook(self, app: web.Application, container: Container) -> None:
        settings = container.settings
        assert settings.webhook_url is not None and settings.webhook_secret is not None
        install_webhook(
            app,
            webhook_path(str(settings.webhook_url)),
            settings.webhook_secret.get_secret_value(),
            self.updates,
            container.metrics,
        )

    def _workflow_data(self) -> dict[str, Any]:
        return {
            **self.dispatcher.workflow_data,
            "bot": self.bot,
            "bots": [self.bot],
            "dispatcher": self.dispatcher,
        }

    async def follow_catalog(self) -> None:
        """Put the newest catalog version saved from the console in force here; the file's
        catalog stays if there is none, or if the database cannot be reached now."""
        try:
            if await console.follow_catalog(self.container, self.container.clock.now()):
                log.info("catalog: the console's newest version is in force")
            # The texts in force may have changed here (or on the sweep): the menu follows.
            if changed := await self.menus.follow():
                log.info("command menu registered again for %s", ", ".join(changed))
        except (OSError, TimeoutError, DBAPIError) as error:
            log.warning("catalog: could not read the console's versions: %s", describe_error(error))

    async def sweep_once(self) -> dict[str, int] | None:
        """Run the sweeps if this instance holds the sweeps lease; None when another does, or
        when the database cannot be reached (logged in one line and counted; each sweep is its
        own transaction, so nothing is half-done, and the next run does what is due)."""
        now = self.container.clock.now()
        try:
            async with self.container.sessions.begin() as session:
                leader = await acquire_lease(
                    session, SWEEP_LEASE, holder=self.instance, ttl=SWEEP_LEASE_TTL, now=now
                )
            if not leader:
                log.debug("sweeps: another instance holds the lease")
                return None
            results = await run_sweeps(self.container, now, self.chat)
        except (OSError, TimeoutError, DBAPIError) as error:
            log.error("sweeps skipped, the database is unreachable: %s", describe_error(error))
            self.container.metrics.errors.labels("sweeps").inc()
            return None
        self.container.metrics.sweeps.inc()
        for name, count in results.items():
            if count < 0:
                self.container.metrics.errors.labels(f"sweep_{name}").inc()
        log.info("sweeps done: %s", results)
        return results

    async def _recover_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.updates.recover_once()
            except Exception:
                log.exception("recovering stored updates failed")
                self.container.metrics.errors.labels("inbox_recovery").inc()

    async def stop(self, *, graceful: bool = True) -> None:
        """Stop serving. `graceful=False` is what a killed process leaves behind: in-flight
        updates are dropped (still claimed) and the sweeps lease is kept until it expires."""
        if self._recovery is not None:
            self._recovery.cancel()
            with suppress(asyncio.CancelledError):
                await self._recovery
        if self._polling is not None:
            with suppress(RuntimeError):
                await self.dispatcher.stop_polling()
            with suppress(asyncio.CancelledError):
                await self._polling
        if self._broadcasts is not None:
            await self._broadcasts.stop(graceful=graceful)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.outbox is not None:
            await self.outbox.stop(graceful=graceful)
        if self._web_runner is not None:
            await self._web_runner.cleanup()
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()
        if graceful:
            try:
                await asyncio.wait_for(self.updates.drain(), DRAIN_TIMEOUT_SECONDS)
            except TimeoutError:
                log.warning("stopping with updates still in flight; another instance will retry")
                await self.updates.abort()
            with suppress(Exception):  # best effort: the lease expires anyway
                async with self.container.sessions.begin() as session:
                    await release_lease(
                        session, SWEEP_LEASE, holder=self.instance, now=self.container.clock.now()
                    )
        else:
            await self.updates.abort()
        await self.flood.close()
        if self._dispatcher_started:
            # Its shutdown hooks include closing the FSM storage and its event isolation.
            await self.dispatcher.emit_shutdown(**self._workflow_data())
        elif self._polling is None:
            await self.dispatcher.fsm.close()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with suppress(asyncio.CancelledError):
                await self._heartbeat
        if graceful and self._name is not None:
            await self._name.release()
        await self.bot.session.close()
        with suppress(Exception):  # best effort: a Redis connection closing
            await self._close_sending()
        await self.container.close()


def freeze_start_up_objects() -> None:
    """Once serving: collect what start-up left behind, then take everything alive now (the
    imported modules, pydantic's and SQLAlchemy's tables, the container: some 300,000
    objects) out of the garbage collector's sight. They live as long as the process, and
    without this every full collection walks them all again: about 0.5 ms of CPU per update
    in `bench.profile_send`."""
    gc.collect()
    gc.freeze()


async def serve_forever(runtime: Runtime) -> None:
    """Run until SIGINT/SIGTERM, then stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runtime.stop()
