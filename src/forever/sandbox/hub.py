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

    async def stream(self, keepalive: float = 15.0) -> AsyncIterator[dict[str, Any] | None]:
        """Yield events as they come; None every `keepalive` seconds of silence."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        try:
            while not self._closed:
                try:
                    event = await asyncio.wait_for(queue.get(), keepalive)
                except TimeoutError:
                    yield None
                    continue
                if event is _CLOSED:
                    return
                yield event
        finally:
            self._queues.discard(queue)

    def close(self) -> None:
        """End every stream (so the web server can stop without waiting for them)."""
        self._closed = True
        for queue in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(_CLOSED)

    @property
    def listeners(self) -> int:
        return len(self._queues)
