"""Running the outbox sender in a process: `Runtime` drains it every few seconds,
`bot.py tick` drains it once after the sweeps."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from forever.mail.sender import DrainReport, OutboxSender
from forever.mail.smtp import SmtpConfig, SmtpPool

if TYPE_CHECKING:
    from forever.app import Container
    from forever.services.ports import ChatPort

log = logging.getLogger(__name__)

DRAIN_SECONDS = 5


class OutboxWorker:
    def __init__(self, container: Container, chat: ChatPort | None) -> None:
        self.container = container
        settings = container.settings
        self.smtp: SmtpPool | None = None
        if settings.mail_from:
            self.smtp = SmtpPool(SmtpConfig.from_settings(settings))
        else:
            log.warning("MAIL_FROM is not set: emails stay queued until it is")
        self.chat = chat
        self._sender: OutboxSender | None = None

    @property
    def sender(self) -> OutboxSender:
        # Built on first use, so the bot's username (for win-back links) is known by then.
        if self._sender is None:
            self._sender = OutboxSender.from_container(
                self.container,
                smtp=self.smtp,
                chat=self.chat,
                instance_id=self.container.instance,
                metrics=self.container.metrics,
            )
        return self._sender

    async def learn_bot_username(self) -> None:
        bot = getattr(self.chat, "bot", None)
        if bot is None or self.container.extras.get("bot_username"):
            return
        try:
            me = await bot.get_me()
        except Exception:
            log.warning("could not ask Telegram for the bot's username", exc_info=True)
            return
        self.container.extras["bot_username"] = me.username

    async def drain(self) -> DrainReport:
        try:
            return await self.sender.drain()
        except Exception:  # the database may be restarting: the next round tries again
            log.exception("outbox drain failed")
            return DrainReport()

    async def close(self) -> None:
        if self.smtp is not None:
            await self.smtp.close()
