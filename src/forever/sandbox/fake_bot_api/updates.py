"""The update queue: long polling with offset confirmation, or webhook push.

An update counts as *handled* when the bot confirms it: with polling, by calling getUpdates
with an offset above its id (aiogram does this only after processing the previous batch when
``handle_as_tasks=False``); with a webhook, when the POST is answered with a 2xx status.
Test drivers await ``PendingUpdate.handled`` to return exactly then, without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .errors import conflict
from .http_body import Params, Uploads, read_webhook_reply

log = logging.getLogger(__name__)

# Telegram's default when allowed_updates was never set or set to [].
_NOT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class Outcome(enum.Enum):
    HANDLED = "handled"  # confirmed by the bot
    NOT_ALLOWED = "not_allowed"  # filtered out by allowed_updates, never delivered
    DROPPED = "dropped"  # drop_pending_updates, or the server stopped
    FAILED = "failed"  # the webhook kept failing and delivery was given up


@dataclass(eq=False)
class PendingUpdate:
    update_id: int
    kind: str
    payload: dict[str, Any]
    handled: asyncio.Future[Outcome]
    attempts: int = 0

    def resolve(self, outcome: Outcome) -> None:
        if not self.handled.done():
            self.handled.set_result(outcome)


@dataclass
class WebhookConfig:
    url: str
    secret_token: str | None = None
    max_connections: int = 40
    ip_address: str | None = None
    has_custom_certificate: bool = False
    last_error_date: int | None = None
    last_error_message: str | None = None


InlineCall = Callable[[str, Params, Uploads], Awaitable[None]]


@dataclass
class UpdateQueue:
    update_types: tuple[str, ...]
    wall_clock: Callable[[], float]
    webhook_retry_delay: float = 0.1
    webhook_max_attempts: int = 5
    webhook_timeout: float = 30.0
    first_update_id: int = 1
    pending: list[PendingUpdate] = field(default_factory=list)
    allowed: frozenset[str] | None = None
    webhook: WebhookConfig | None = None
    inline_call: InlineCall | None = None

    def __post_init__(self) -> None:
        self._next_id = self.first_update_id
        self._wakeup = asyncio.Event()
        self.polled = asyncio.Event()  # set by the first getUpdates call
        self._poller: asyncio.Future[None] | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._closed = False

    # -- producing -------------------------------------------------------------------------

    def is_allowed(self, kind: str) -> bool:
        if self.allowed is None:
            return kind not in _NOT_BY_DEFAULT
        return kind in self.allowed

    def push(self, kind: str, body: dict[str, Any]) -> PendingUpdate:
        return self.push_payload({kind: body})

    def push_payload(self, payload: dict[str, Any]) -> PendingUpdate:
        """Queue an update; update_id is assigned unless the payload forges one."""
        loop = asyncio.get_running_loop()
        if "update_id" in payload:
            update_id = payload["update_id"]
            if not isinstance(update_id, int) or isinstance(update_id, bool):
                raise ValueError("a forged update_id must be an integer")
            self._next_id = max(self._next_id, update_id + 1)
        else:
            update_id = self._next_id
            self._next_id += 1
            payload = {"update_id": update_id, **payload}
        kind = next((k for k in payload if k != "update_id"), "unknown")
        update = PendingUpdate(update_id, kind, payload, loop.create_future())
        if self._closed:
            update.resolve(Outcome.DROPPED)
        elif not self.is_allowed(kind):
            # Telegram never stores updates the bot did not subscribe to.
            update.resolve(Outcome.NOT_ALLOWED)
        else:
            self.pending.append(update)
            self._wakeup.set()
        return update

    @property
    def last_update_id(self) -> int:
        return self._next_id - 1

    # -- long polling ----------------------------------------------------------------------

    def set_allowed(self, allowed: list[str] | None) -> None:
        if allowed is None:
            return  # "If not specified, the previous setting will be used."
        self.allowed = frozenset(allowed) if allowed else None
        for update in [u for u in self.pending if not self.is_allowed(u.kind)]:
            self.pending.remove(update)
            update.resolve(Outcome.NOT_ALLOWED)

    def confirm(self, offset: int) -> None:
        if offset < 0:
            keep = self.pending[offset:]
            forgotten = self.pending[: len(self.pending) - len(keep)]
        else:
            forgotten = [u for u in self.pending if u.update_id < offset]
            keep = [u for u in self.pending if u.update_id >= offset]
        self.pending = keep
        for update in forgotten:
            update.resolve(Outcome.HANDLED)

    async def get_updates(
        self, offset: int | None, limit: int, poll_timeout: float, allowed: list[str] | None
    ) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise conflict(
                "can't use getUpdates method while webhook is active; use deleteWebhook to "
                "delete the webhook first"
            )
        if self._poller is not None and not self._poller.done():
            # Telegram ends the older long poll when another one starts.
            self._poller.set_result(None)
        poller: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._poller = poller
        self.polled.set()
        self.set_allowed(allowed)
        if offset is not None:
            self.confirm(offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, poll_timeout)
        try:
            while True:
                if self.pending or self._closed:
                    return [u.payload for u in self.pending[:limit]]
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return []
                self._wakeup.clear()
                waiter = asyncio.ensure_future(self._wakeup.wait())
                watched: set[asyncio.Future[Any]] = {waiter, poller}
                done, _ = await asyncio.wait(
                    watched, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                waiter.cancel()
                if poller in done and not self._closed:
                    raise conflict(
                        "terminated by other getUpdates request; make sure that only one bot "
                        "instance is running"
                    )
        finally:
            if self._poller is poller:
                self._poller = None

    # -- webhook ---------------------------------------------------------------------------

    def set_webhook(self, config: WebhookConfig, allowed: list[str] | None, drop: bool) -> None:
        self.webhook = config
        self.set_allowed(allowed)
        if drop:
            self.drop_pending()
        if self._poller is not None and not self._poller.done():
            self._poller.set_result(None)
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.create_task(self._deliver_loop(), name="fake-webhook")
        self._wakeup.set()

    async def delete_webhook(self, drop: bool) -> None:
        self.webhook = None
        if drop:
            self.drop_pending()
        await self._stop_webhook_task()

    async def _stop_webhook_task(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def drop_pending(self) -> None:
        dropped, self.pending = self.pending, []
        for update in dropped:
            update.resolve(Outcome.DROPPED)

    async def _deliver_loop(self) -> None:
        async with aiohttp.ClientSession() as session:
            while self.webhook is not None and not self._closed:
                if not self.pending:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                # One update at a time keeps the order (and the tests) deterministic.
                await self._deliver(session, self.webhook, self.pending[0])

    async def _deliver(
        self, session: aiohttp.ClientSession, config: WebhookConfig, update: PendingUpdate
    ) -> None:
        headers = {}
        if config.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = config.secret_token
        update.attempts += 1
        error: str | None = None
        try:
            async with session.post(
                config.url,
                json=update.payload,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
            ) as response:
                if 200 <= response.status < 300:
                    reply = await read_webhook_reply(response)
                    self._done(update, Outcome.HANDLED)
                    if reply is not None and self.inline_call is not None:
                        await self.inline_call(*reply)
                    return
                error = f"Wrong response from the webhook: {response.status} {response.reason}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"Connection failed: {exc.__class__.__name__}: {exc}"
        config.last_error_date = int(self.wall_clock())
        config.last_error_message = error
        log.info("webhook delivery of update %s failed: %s", update.update_id, error)
        if update.attempts >= self.webhook_max_attempts:
            self._done(update, Outcome.FAILED)
            return
        # Back off before retrying, waking early if the webhook is removed or we stop.
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), self.webhook_retry_delay * update.attempts)

    def _done(self, update: PendingUpdate, outcome: Outcome) -> None:
        if update in self.pending:
            self.pending.remove(update)
        update.resolve(outcome)

    # -- lifecycle -------------------------------------------------------------------------

    async def close(self) -> None:
        self._closed = True
        self._wakeup.set()
        if self._poller is not None and not self._poller.done():
            self._poller.set_result(None)
        await self._stop_webhook_task()
        self.drop_pending()

    async def settle(self) -> None:
        """Wait until every queued update has been confirmed (or otherwise resolved)."""
        while self.pending:
            await asyncio.wait({u.handled for u in self.pending})
