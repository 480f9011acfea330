"""Running the product: the bot (polling), the web server and the scheduler together."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import suppress

from aiogram import Bot, Dispatcher
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from forever.app import Container, build_bot, build_dispatcher
from forever.jobs.sweeps import run_sweeps
from forever.mail.worker import DRAIN_SECONDS, OutboxWorker
from forever.telegram.bot_port import BotChatPort
from forever.telegram.commands import register_commands
from forever.web.routes import route_installers
from forever.web.server import build_web_app, start_web

log = logging.getLogger(__name__)

SWEEP_MINUTES = 5


def allowed_updates(dispatcher: Dispatcher) -> list[str]:
    # Telegram only sends `subscription` updates when asked for them explicitly.
    return sorted(set(dispatcher.resolve_used_update_types()) | {"subscription"})


class Runtime:
    """One process of Forever. `start` returns once everything serves; `stop` undoes it."""

    def __init__(self, container: Container, token: str) -> None:
        self.container = container
        self.bot: Bot = build_bot(container.settings, token)
        self.dispatcher: Dispatcher = build_dispatcher(container)
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.web_port: int | None = None
        self._web_runner = None
        self._polling: asyncio.Task[None] | None = None
        self.outbox: OutboxWorker | None = None

    async def start(
        self, *, polling: bool = True, scheduler: bool = True, handle_as_tasks: bool = True
    ) -> None:
        settings = self.container.settings
        self.container.extras["bot"] = self.bot
        app = build_web_app(self.container, route_installers())
        self._web_runner, self.web_port = await start_web(app, settings.web_host, settings.web_port)
        log.info("web server on http://%s:%s", settings.web_host, self.web_port)
        if scheduler:
            self.scheduler.add_job(
                self._sweep,
                "interval",
                minutes=SWEEP_MINUTES,
                id="sweeps",
                max_instances=1,
                coalesce=True,
            )
            chat = self.container.extras.get("chat_port") or BotChatPort(self.bot)
            self.outbox = OutboxWorker(self.container, chat)
            await self.outbox.learn_bot_username()
            self.scheduler.add_job(
                self.outbox.drain,
                "interval",
                seconds=DRAIN_SECONDS,
                id="outbox",
                max_instances=1,
                coalesce=True,
            )
            self.scheduler.start()
        await register_commands(self.bot, settings.default_locale, settings.admin_ids)
        if polling:
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

    async def _sweep(self) -> None:
        results = await run_sweeps(self.container, self.container.clock.now())
        log.info("sweeps done: %s", results)

    async def stop(self) -> None:
        if self._polling is not None:
            with suppress(RuntimeError):
                await self.dispatcher.stop_polling()
            with suppress(asyncio.CancelledError):
                await self._polling
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.outbox is not None:
            await self.outbox.close()
        if self._web_runner is not None:
            await self._web_runner.cleanup()
        await self.bot.session.close()
        await self.container.close()


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
