"""The sandbox's clock: real time plus an offset that only grows.

It starts at the real time and keeps ticking, so the page feels alive; the clock panel moves
it forward (never back: the database already holds what happened "before").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from forever.domain.clock import Clock, SystemClock, ensure_utc


class SandboxClock:
    def __init__(self, base: Clock | None = None) -> None:
        self._base = base or SystemClock()
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return self._base.now() + self._offset

    @property
    def offset(self) -> timedelta:
        return self._offset

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("the sandbox clock only moves forward")
        self._offset += delta
        return self.now()

    def until(self, instant: datetime) -> timedelta:
        """How far `instant` is ahead of now (negative if it is in the past)."""
        return ensure_utc(instant) - self.now()
