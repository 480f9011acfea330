"""Wakes this instance's delivery worker when another instance queues a row (PostgreSQL).

The queuing transaction sends `NOTIFY forever_outbox` (db/outbox.py, SqlOutbox); PostgreSQL
delivers it on commit to every connection that LISTENs. One dedicated asyncpg connection per
process listens (a pooled connection would be handed back and lose the LISTEN). If it drops,
it reconnects with a growing delay and logs; the worker's timer drains meanwhile, and every
(re)connection wakes the worker once, for what was queued while nobody listened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import URL, make_url

from forever.db.outbox import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0
# A connection can die without a word (a half-open TCP link): ask it a question this often.
HEALTH_CHECK_SECONDS = 30.0
APPLICATION_NAME = "forever-outbox-listener"


def connect_arguments(url: str | URL) -> dict[str, Any]:
    """asyncpg.connect() keywords for a SQLAlchemy `postgresql+asyncpg://` URL: the same
    server, credentials and options (such as `?ssl=require`) as the pool's connections."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return {"dsn": dsn, "server_settings": {"application_name": APPLICATION_NAME}}


class OutboxListener:
    """LISTENs for queued rows and calls `wake` for each NOTIFY from another instance (its
    own instance's rows already woke it in process)."""

    def __init__(
        self,
        url: str | URL,
        wake: Callable[[], None],
        *,
        instance_id: str,
        retry_first: float = RETRY_FIRST_SECONDS,
        retry_max: float = RETRY_MAX_SECONDS,
        health_check: float = HEALTH_CHECK_SECONDS,
    ) -> None:
        self._connect = connect_arguments(url)
        self._wake = wake
        self.instance_id = instance_id
        self.retry_first = retry_first
        self.retry_max = retry_max
        self.health_check = health_check
        self.connections = 0  # how many times it has (re)connected
        self.listening = asyncio.Event()  # set while a LISTEN is in place
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="outbox-listener")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def listening_for(self, connections: int = 1) -> None:
        """Until it listens on its `connections`-th connection (1: the first)."""
        async with self._changed:
            await self._changed.wait_for(
                lambda: self.connections >= connections and self.listening.is_set()
            )

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload != self.instance_id:
            self._wake()

    async def _run(self) -> None:
        delay = self.retry_first
        while True:
            try:
                conn = await asyncpg.connect(**self._connect)
            except Exception as exc:  # down, restarting, refusing: the timer drains meanwhile
                log.warning(
                    "cannot listen for queued outbox rows (%s: %s); retrying in %.1f s",
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            try:
                await self._listen(conn)
            except Exception as exc:  # whatever ended it, listen again
                log.warning(
                    "lost the outbox listener's connection (%s: %s); reconnecting",
                    type(exc).__name__,
                    exc,
                )
            finally:
                self.listening.clear()
                with contextlib.suppress(Exception):
                    await asyncio.shield(conn.close(timeout=2))
            delay = self.retry_first
            await asyncio.sleep(delay)  # a connection that keeps dropping: no busy loop

    async def _listen(self, conn: asyncpg.Connection) -> None:
        """Until the connection is lost (asyncpg calls the termination listener) or stops
        answering."""
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(NOTIFY_CHANNEL, self._notified)
        async with self._changed:
            self.connections += 1
            self.listening.set()
            self._changed.notify_all()
        if self.connections > 1:
            log.info("listening for queued outbox rows again")
        self._wake()  # rows queued while nobody listened are due now
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.health_check):
                    await lost.wait()
            if not lost.is_set():
                await conn.fetchval("SELECT 1", timeout=10)
        log.warning("the outbox listener's connection was closed; reconnecting")
