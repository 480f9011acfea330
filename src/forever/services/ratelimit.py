"""A global send budget for Telegram's ~30 messages/second limit.

Two rules together:
- a token bucket (`rate` per second, `burst` to catch up after a late wake-up), and
- a sliding-window cap: at most `window_cap` messages may be "in the window", where a message
  counts from the moment it was allowed until one second after Telegram answered it. Telegram
  counts a message when it arrives, which is somewhere between those two instants, so however
  late requests leave (a busy event loop, a slow network), no second at Telegram's end ever
  sees more than `window_cap` of ours.

`acquire` returns a permit; the sender calls `permit.done()` once the call was answered
(whatever the answer). A 429 pauses the whole budget (every sender) for `retry_after`.

Two kinds of sends share it (`SendBudget`):
- bulk (`acquire`: broadcasts, queued chat messages) keeps to the rate and the window cap;
- answers to a person's own action (`answer`) go out at once: they only wait while Telegram
  asked everyone to pause, and are counted into the window, so bulk yields to them.
`throttled` is how a 429 is reported: besides the pause, the bulk rate backs off (halves, once
per flood episode) and recovers linearly afterwards (`RECOVERY_PER_SECOND`). While it has not
recovered, answers too keep to Telegram's window (ahead of bulk) so they do not all retry at
once into another 429.

`TokenBucket` keeps the budget in this process; `telegram/ratelimit.py` has the one kept in
Redis, so several instances share one budget. Both take their time source and sleep as
arguments, so tests run on a fake clock. The sender sees either through the `RateLimiter` port.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

TimeSource = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
_EPSILON = 1e-9
_PRUNE_EVERY = 0.25  # seconds: how often answers alone clear finished permits off the window
WINDOW = 1.0  # seconds: Telegram counts messages per sliding second
# A permit whose holder never says done (a crashed process) stops counting after this long.
IN_FLIGHT_LIMIT = 30.0
# After a 429 the bulk rate halves (never below this share) and then grows back by this share
# of the configured rate each second: from half to full in 20 s.
BACKOFF_FLOOR = 1 / 16
RECOVERY_PER_SECOND = 0.025


class Permit(Protocol):
    async def done(self) -> None:
        """The call this permit allowed has been answered."""
        ...


class RateLimiter(Protocol):
    """`acquire` waits until one more message is allowed; `pause` stops everyone a while."""

    async def acquire(self) -> Permit: ...

    async def pause(self, seconds: float) -> None: ...


class SendBudget(RateLimiter, Protocol):
    """The budget every Bot API call of the process goes through (telegram/sending.py)."""

    async def answer(self) -> Permit:
        """Wait only while paused (or, while backing off, for room in Telegram's window);
        the answer then counts in the window like a bulk message."""
        ...

    async def throttled(self, seconds: float) -> None:
        """Telegram answered 429: pause everyone `seconds` and back the bulk rate off."""
        ...

    async def paused_for(self) -> float:
        """Seconds left of the pause a 429 asked for (0 when none): calls that post no
        message (bans, join answers) take no permit but wait this out too."""
        ...


def recovered_share(share: float, since: float, now: float) -> float:
    """The share of the configured rate bulk may use at `now`, `share` having been set at
    `since` (the end of the pause that followed a 429)."""
    if now <= since:
        return share
    return min(1.0, share + (now - since) * RECOVERY_PER_SECOND)


def backed_off(share: float) -> float:
    return max(BACKOFF_FLOOR, share / 2)


def default_burst(rate: float) -> float:
    """Room to catch up after the process was held up (a busy event loop, a starved CPU): up
    to half a second's worth. The window cap, not the burst, keeps each second at Telegram
    under the limit, so catching up never causes a 429."""
    return max(2.0, rate / 2)


def default_window_cap(rate: float) -> int:
    """Two messages over the rate: 28/s allows 30 in any second, Telegram's limit. (The cap
    counts each message until a second after its answer, so the slower the answers, the
    lower the rate it allows: 30 / (1 s + latency), still 28/s with 70 ms answers.)"""
    return math.floor(rate) + 2


class TokenBucket:
    """The budget inside one process."""

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        *,
        window_cap: int | None = None,
        clock: TimeSource = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be above 0 and burst at least 1")
        if window_cap is not None and window_cap < 1:
            raise ValueError("window_cap must be at least 1")
        self.rate = rate
        self.burst = burst
        self.window_cap = window_cap
        self._clock = clock
        self._sleep = sleep
        # Start empty: the first second of a broadcast leaves room for the bot's other
        # messages (the staff member's confirmation, the progress message).
        self._tokens = 0.0
        self._last = clock()
        self._paused_until = 0.0
        # The share of `rate` bulk may use: below 1 for a while after a 429.
        self._share = 1.0
        self._share_since = self._last
        # permit number → when it stops counting (inf while its call is in flight)
        self._window: dict[int, float] = {}
        self._pruned_at = self._last
        self._numbers = itertools.count()
        # Waiters take their turn in arrival order instead of racing on every refill.
        self._lock = asyncio.Lock()
        self._answer_lock = asyncio.Lock()

    async def acquire(self) -> Permit:
        async with self._lock:
            while (wait := self._take()) > 0:
                await self._sleep(wait)
            number = next(self._numbers)
            if self.window_cap is not None:
                self._window[number] = math.inf
            return _LocalPermit(self, number)

    async def answer(self) -> Permit:
        number = next(self._numbers)
        if not self._answer_lock.locked() and self._admit(number) == 0:
            return _LocalPermit(self, number)
        async with self._answer_lock:  # those who had to wait go in arrival order
            while (wait := self._admit(number)) > 0:
                await self._sleep(wait)
        return _LocalPermit(self, number)

    async def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._tokens = 0.0

    async def throttled(self, seconds: float) -> None:
        now = self._clock()
        if now >= self._paused_until:  # the first 429 of this flood: back off once
            self._share = backed_off(self.share(now))
        await self.pause(seconds)
        self._share_since = self._paused_until

    async def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._clock())

    def share(self, now: float | None = None) -> float:
        """The share of `rate` bulk may use now (1.0 unless a 429 came lately)."""
        now = self._clock() if now is None else now
        return recovered_share(self._share, self._share_since, now)

    def _admit(self, number: int) -> float:
        """Let an answer through (0) or say how long it must wait."""
        now = self._clock()
        if now < self._paused_until:
            return self._paused_until - now
        if self.window_cap is not None:
            if self.share(now) < 1:
                wait = self._window_wait(now, self.window_cap)
                if wait > 0:
                    return wait
            elif now - self._pruned_at >= _PRUNE_EVERY:
                self._prune(now)  # without bulk traffic, nothing else would
            self._window[number] = math.inf
        return 0.0

    def _prune(self, now: float) -> None:
        self._pruned_at = now
        for number, until in list(self._window.items()):
            if until <= now:
                del self._window[number]

    def _window_wait(self, now: float, cap: int) -> float:
        self._prune(now)
        if len(self._window) < cap:
            return 0.0
        soonest = min(self._window.values())
        # All in flight: check again shortly (their answers will free the window).
        return soonest - now + _EPSILON if soonest < math.inf else 1 / self.rate

    def _done(self, number: int) -> None:
        if number in self._window:
            self._window[number] = self._clock() + WINDOW

    def _take(self) -> float:
        """Take a token and return 0, or return how long to wait for one."""
        now = self._clock()
        if now < self._paused_until:
            return self._paused_until - now
        share = self.share(now)
        rate = self.rate * share
        if self.window_cap is not None:
            wait = self._window_wait(now, max(1, math.floor(self.window_cap * share)))
            if wait > 0:
                return wait
        start = max(self._last, self._paused_until)
        if now > start:
            self._tokens = min(self.burst, self._tokens + (now - start) * rate)
        self._last = now
        # The tolerance absorbs float rounding, which could otherwise ask for a wait so
        # short that the clock does not move.
        if self._tokens >= 1 - _EPSILON:
            self._tokens = max(self._tokens - 1, 0.0)
            return 0.0
        return (1 - self._tokens) / rate


class _LocalPermit:
    __slots__ = ("_bucket", "_number")

    def __init__(self, bucket: TokenBucket, number: int) -> None:
        self._bucket = bucket
        self._number = number

    async def done(self) -> None:
        self._bucket._done(self._number)
