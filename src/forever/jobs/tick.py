"""`bot.py tick --at`: the sweeps for one instant, then hand over what they queued."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from forever.jobs.sweeps import run_sweeps

if TYPE_CHECKING:
    from forever.app import Container


async def run_due_work(container: Container, at: datetime) -> dict[str, int]:
    """Everything scheduled that is due at `at`, handed over; shared by `tick` and the
    sandbox's clock."""
    results = await run_sweeps(container, at)
    results.update(await drain_outbox(container))
    return results


async def tick(container: Container, at: datetime) -> dict[str, int]:
    try:
        return await run_due_work(container, at)
    finally:
        await container.close()


async def drain_outbox(container: Container) -> dict[str, int]:
    """Hand over everything due at the container's instant, through SMTP and the bot."""
    from forever.mail.worker import OutboxWorker

    bot = None
    chat = container.extras.get("chat_port")
    token = container.settings.bot_token
    if chat is None and token is not None:
        from forever.app import build_bot
        from forever.telegram.bot_port import BotChatPort

        bot = build_bot(container.settings, token.get_secret_value())
        chat = BotChatPort(bot)
    worker = OutboxWorker(container, chat)
    try:
        await worker.learn_bot_username()
        report = await worker.drain()
    finally:
        await worker.close()
        if bot is not None:
            await bot.session.close()
    return {
        "outbox_sent": report.sent,
        "outbox_retried": report.retried,
        "outbox_deferred": report.deferred,
        "outbox_failed": report.failed + report.suppressed,
    }
