"""A global send budget (token bucket) for Telegram's ~30 messages/second limit.

`TokenBucket` keeps the budget in this process; `RedisTokenBucket` keeps it in Redis so several
instances share one budget. Both take their time source and sleep as arguments, so tests run
on a fake clock. A 429 pauses the whole budget (every sender) for `retry_after` seconds.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

TimeSource = Callable[[], float]
_EPSILON = 1e-9
_WINDOW = 1.0  # seconds: Telegram counts messages per sliding second
Sleep = Callable[[float], Awaitable[None]]


class RateLimiter(Protocol):
    """One token per message. `acquire` waits for it; `pause` stops everyone for a while."""

    async def acquire(self) -> None: ...

    async def pause(self, seconds: float) -> None: ...


def default_burst(rate: float) -> float:
    """A little room to catch up after a late wake-up (the event loop is never exact),
    small enough that any one-second window stays at or under `rate` + burst messages:
    28/s gives at most 30 in a second, Telegram's limit."""
    return max(2.0, rate / 10)


class TokenBucket:
    """In-process token bucket.

    Any one-second window holds at most `rate` + `burst` sends, and at most `window_cap` if
    given: a cap of rate + 1 keeps a message of margin under Telegram's count for requests
    that arrive closer together than they left.
    """

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
        self._tokens = burst
        self._last = clock()
        self._paused_until = 0.0
        self._granted: deque[float] = deque()
        # Waiters take tokens in arrival order instead of racing on every refill.
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while (wait := self._take()) > 0:
                await self._sleep(wait)

    async def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._tokens = 0.0

    def _take(self) -> float:
        """Take a token and return 0, or return how long to wait for one."""
        now = self._clock()
        if now < self._paused_until:
            return self._paused_until - now
        if self.window_cap is not None:
            while self._granted and self._granted[0] <= now - _WINDOW:
                self._granted.popleft()
            if len(self._granted) >= self.window_cap:
                return self._granted[0] + _WINDOW - now + _EPSILON
        start = max(self._last, self._paused_until)
        if now > start:
            self._tokens = min(self.burst, self._tokens + (now - start) * self.rate)
        self._last = now
        # The tolerance absorbs float rounding, which could otherwise ask for a wait so
        # short that the clock does not move.
        if self._tokens >= 1 - _EPSILON:
            self._tokens = max(self._tokens - 1, 0.0)
            if self.window_cap is not None:
                self._granted.append(now)
            return 0.0
        return (1 - self._tokens) / self.rate


# Lua keeps read-refill-take atomic across instances. Times are seconds (floats, passed as
# strings because Redis turns Lua numbers into integers).
_TAKE = """
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if now < paused then
  return tostring(paused - now)
end
local data = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(data[1]) or burst
local ts = tonumber(data[2]) or now
if ts < paused then ts = paused end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
local wait = 0
if tokens >= 1 - 1e-9 then
  tokens = math.max(tokens - 1, 0)
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('EXPIRE', KEYS[1], 3600)
return tostring(wait)
"""

_PAUSE = """
local now = tonumber(ARGV[1])
local untl = now + tonumber(ARGV[2])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if untl > current then
  redis.call('SET', KEYS[1], tostring(untl), 'EX', math.ceil(tonumber(ARGV[2])) + 60)
end
redis.call('HSET', KEYS[2], 'tokens', '0', 'ts', tostring(untl))
return 1
"""


class RedisTokenBucket:
    """The same bucket kept in Redis: every instance using `prefix` shares one budget.

    The time source must be comparable between machines (wall clock), not a monotonic one.
    """

    def __init__(
        self,
        redis: Redis,
        rate: float,
        burst: float = 1.0,
        *,
        prefix: str = "forever:tg-rate",
        clock: TimeSource = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be above 0 and burst at least 1")
        self.redis = redis
        self.rate = rate
        self.burst = burst
        self._bucket_key = f"{prefix}:bucket"
        self._pause_key = f"{prefix}:paused-until"
        self._clock = clock
        self._sleep = sleep
        self._take = redis.register_script(_TAKE)
        self._pause = redis.register_script(_PAUSE)
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        # Local waiters queue here so one instance does not hammer Redis with retries.
        async with self._lock:
            while True:
                wait = float(
                    await self._take(
                        keys=[self._bucket_key, self._pause_key],
                        args=[repr(self._clock()), repr(self.rate), repr(self.burst)],
                    )
                )
                if wait <= 0:
                    return
                await self._sleep(wait)

    async def pause(self, seconds: float) -> None:
        await self._pause(
            keys=[self._pause_key, self._bucket_key], args=[repr(self._clock()), repr(seconds)]
        )


def build_rate_limiter(
    rate: float, redis_url: str | None, *, prefix: str = "forever:tg-rate"
) -> tuple[RateLimiter, Callable[[], Awaitable[None]]]:
    """The limiter for these settings, and a function that closes what it opened."""
    if not redis_url:

        async def nothing() -> None:
            return None

        cap = math.floor(rate) + 1
        return TokenBucket(rate, default_burst(rate), window_cap=cap), nothing
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    return RedisTokenBucket(client, rate, default_burst(rate), prefix=prefix), client.aclose
