"""Webhook updates, stored first and processed once across every instance.

The webhook stores an update in `update_inbox` (claimed by this instance for a lease) before
Telegram gets its 200, then processes it in the background. A crash after the 200 leaves the
row unprocessed; when its lease runs out any instance's recovery pass claims and processes
it. Telegram's redeliveries of an update id already stored are acknowledged and ignored.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any, Protocol

from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from forever.db import inbox
from forever.domain.clock import Clock
from forever.metrics import Metrics
from forever.telegram.flood import FloodGate

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 5


class UpdateProcessor:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        metrics: Metrics,
        holder: str,
        bot: Bot,
        dispatcher: Dispatcher,
        lease: timedelta = DEFAULT_LEASE,
        max_attempts: int = MAX_ATTEMPTS,
        concurrency: int = 64,
        gate: FloodGate | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.metrics = metrics
        self.holder = holder  # names this instance in the claims
        self.bot = bot
        self.dispatcher = dispatcher
        self.lease = lease
        self.max_attempts = max_attempts
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        # The flood guard, asked before an update is stored (webhook mode; polling asks in
        # the dispatcher instead, and stored updates were asked when they arrived).
        self.gate = gate

    def parse(self, body: dict[str, Any]) -> Update:
        """Raises pydantic's ValidationError when the body is not a Telegram Update."""
        return Update.model_validate(body, context={"bot": self.bot})

    def flood_check(self, update: object) -> tuple[bool, dict[str, Any] | None]:
        """(admitted, webhook reply): a dropped update is acknowledged and never stored; the
        reply, when there is one, is the Bot API call to make in the webhook's answer."""
        if self.gate is None or not isinstance(update, Update):
            return True, None
        screened = self.gate.screen(update, free_reply=True)
        reply = screened.reply
        if reply is None:
            return screened.admitted, None
        params = reply.model_dump(mode="json", exclude_none=True)
        return screened.admitted, {"method": reply.__api_method__, **params}

    async def store(self, update_id: int, body: dict[str, Any]) -> bool:
        """Persist a received update, claimed by this instance; False for a redelivery."""
        async with self.sessions.begin() as session:
            return await inbox.store_update(
                session,
                update_id,
                body,
                holder=self.holder,
                lease=self.lease,
                now=self.clock.now(),
            )

    def process_soon(self, update_id: int, body: dict[str, Any]) -> None:
        task = asyncio.create_task(self.process(update_id, body), name=f"update-{update_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def process(self, update_id: int, body: dict[str, Any]) -> None:
        """Feed a claimed update to the dispatcher, then mark it processed."""
        extra = {"update_id": update_id}
        async with self._slots:
            try:
                result = await self.dispatcher.feed_update(self.bot, self.parse(body))
                if isinstance(result, TelegramMethod):
                    await self.bot(result)
            except Exception:
                log.exception("update %s failed; it will be retried", update_id, extra=extra)
                self.metrics.errors.labels("update").inc()
                self.metrics.updates.labels("failed").inc()
                async with self.sessions.begin() as session:
                    await inbox.release_update(session, update_id, holder=self.holder)
                return
            async with self.sessions.begin() as session:
                done = await inbox.mark_processed(
                    session, update_id, holder=self.holder, now=self.clock.now()
                )
            if not done:
                # Our lease ran out mid-way and another instance took the update over.
                log.warning("update %s: lease lost while processing", update_id, extra=extra)
            self.metrics.updates.labels("processed").inc()

    async def recover_once(self, limit: int = 100) -> int:
        """Claim and process stored updates nobody holds (their instance died or gave up)."""
        now = self.clock.now()
        async with self.sessions() as session:
            candidates = await inbox.claimable_updates(session, now=now, limit=limit)
        recovered = 0
        for update_id in candidates:
            async with self.sessions.begin() as session:
                if not await inbox.claim_update(
                    session, update_id, holder=self.holder, lease=self.lease, now=now
                ):
                    continue  # another instance was quicker
                row = await inbox.load_update(session, update_id)
                if row is None:
                    continue
                body, attempts = row.body, row.attempts
                if attempts > self.max_attempts:
                    # A poison update: stop retrying it, keep it for inspection.
                    row.processed_at = now
                    log.error(
                        "update %s failed %s times; giving up",
                        update_id,
                        attempts - 1,
                        extra={"update_id": update_id},
                    )
                    self.metrics.updates.labels("given_up").inc()
                    continue
            log.info("recovering stored update %s", update_id, extra={"update_id": update_id})
            self.metrics.updates.labels("recovered").inc()
            await self.process(update_id, body)
            recovered += 1
        return recovered

    async def drain(self) -> None:
        """Wait until every update this instance started processing has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def abort(self) -> None:
        """Drop in-flight work as a crash would: rows stay claimed until their lease lapses."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


KEEP_PROCESSED = timedelta(days=7)  # far longer than Telegram keeps redelivering (24 hours)


class _HasSessions(Protocol):
    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]: ...


async def prune_update_inbox(container: _HasSessions, now: datetime) -> int:
    """Sweep: forget updates processed long ago (their ids can no longer come back)."""
    async with container.sessions.begin() as session:
        return await inbox.prune_processed(session, before=now - KEEP_PROCESSED)
