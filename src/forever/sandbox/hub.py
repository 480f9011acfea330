"""Fan-out of sandbox events to the page's server-sent-event streams."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000
_CLOSED: dict[str, Any] = {"type": "closed"}


class EventHub:
    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[dict[str, Any]]] = set()
        self._closed = False

    def publish(self, event: dict[str, Any]) -> None:
        for queue in list(self._queues):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                # A stalled page: drop it; it reconnects and reloads the whole state.
                log.warning("sandbox page too slow for its event stream; dropping it")
                self._queues.discard(queue)

    def subscribe(self) -> Subscription:
        """Start listening now (events from this moment on are kept for the subscriber)."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        return Subscription(self, queue)

    def listening(self, queue: asyncio.Queue[dict[str, Any]]) -> bool:
        """False once the hub closed or dropped this subscriber for falling behind."""
        return not self._closed and queue in self._queues

    def _forget(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._queues.discard(queue)

    def close(self) -> None:
        """End every stream (so the web server can stop without waiting for them)."""
        self._closed = True
        for queue in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(_CLOSED)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def listeners(self) -> int:
        return len(self._queues)


class Subscription:
    def __init__(self, hub: EventHub, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._hub = hub
        self._queue = queue

    async def events(self, keepalive: float = 15.0) -> AsyncIterator[dict[str, Any] | None]:
        """Yield events as they come; None every `keepalive` seconds of silence."""
        try:
            while self._hub.listening(self._queue):
                try:
                    event = await asyncio.wait_for(self._queue.get(), keepalive)
                except TimeoutError:
                    yield None
                    continue
                if event is _CLOSED:
                    return
                yield event
        finally:
            self.close()

    def close(self) -> None:
        self._hub._forget(self._queue)
