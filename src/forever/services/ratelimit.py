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

`TokenBucket` keeps the budget in this process; `RedisTokenBucket` keeps it in Redis so several
instances share one budget. Both take their time source and sleep as arguments, so tests run
on a fake clock.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

TimeSource = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
_EPSILON = 1e-9
_WINDOW = 1.0  # seconds: Telegram counts messages per sliding second
# A permit whose holder never says done (a crashed process) stops counting after this long.
_IN_FLIGHT_LIMIT = 30.0


class Permit(Protocol):
    async def done(self) -> None:
        """The call this permit allowed has been answered."""
        ...


class RateLimiter(Protocol):
    """`acquire` waits until one more message is allowed; `pause` stops everyone a while."""

    async def acquire(self) -> Permit: ...

    async def pause(self, seconds: float) -> None: ...


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
        # permit number → when it stops counting (inf while its call is in flight)
        self._window: dict[int, float] = {}
        self._numbers = itertools.count()
        # Waiters take their turn in arrival order instead of racing on every refill.
        self._lock = asyncio.Lock()

    async def acquire(self) -> Permit:
        async with self._lock:
            while (wait := self._take()) > 0:
                await self._sleep(wait)
            number = next(self._numbers)
            if self.window_cap is not None:
                self._window[number] = math.inf
            return _LocalPermit(self, number)

    async def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._tokens = 0.0

    def _done(self, number: int) -> None:
        if number in self._window:
            self._window[number] = self._clock() + _WINDOW

    def _take(self) -> float:
        """Take a token and return 0, or return how long to wait for one."""
        now = self._clock()
        if now < self._paused_until:
            return self._paused_until - now
        if self.window_cap is not None:
            for number, until in list(self._window.items()):
                if until <= now:
                    del self._window[number]
            if len(self._window) >= self.window_cap:
                soonest = min(self._window.values())
                # All in flight: check again shortly (their answers will free the window).
                return soonest - now + _EPSILON if soonest < math.inf else 1 / self.rate
        start = max(self._last, self._paused_until)
        if now > start:
            self._tokens = min(self.burst, self._tokens + (now - start) * self.rate)
        self._last = now
        # The tolerance absorbs float rounding, which could otherwise ask for a wait so
        # short that the clock does not move.
        if self._tokens >= 1 - _EPSILON:
            self._tokens = max(self._tokens - 1, 0.0)
            return 0.0
        return (1 - self._tokens) / self.rate


class _LocalPermit:
    __slots__ = ("_bucket", "_number")

    def __init__(self, bucket: TokenBucket, number: int) -> None:
        self._bucket = bucket
        self._number = number

    async def done(self) -> None:
        self._bucket._done(self._number)


# Lua keeps read-check-take atomic across instances. Times are seconds (floats, passed as
# strings because Redis turns Lua numbers into integers). KEYS: bucket hash, pause key,
# window sorted set (member: permit id, score: when it stops counting).
_TAKE = """
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local permit = ARGV[5]
local in_flight_until = tonumber(ARGV[6])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if now < paused then
  return tostring(paused - now)
end
if cap > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) >= cap then
    local soonest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
    local wait = tonumber(soonest[2]) - now
    if wait > 1 then wait = 1 / rate end
    return tostring(wait + 1e-9)
  end
end
local data = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(data[1]) or 0
local ts = tonumber(data[2]) or now
if ts < paused then ts = paused end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
local wait = 0
if tokens >= 1 - 1e-9 then
  tokens = math.max(tokens - 1, 0)
  if cap > 0 then
    redis.call('ZADD', KEYS[3], in_flight_until, permit)
    redis.call('EXPIRE', KEYS[3], 3600)
  end
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
    """The same budget kept in Redis: every instance using `prefix` shares it.

    The time source must be comparable between machines (wall clock), not a monotonic one.
    """

    def __init__(
        self,
        redis: Redis,
        rate: float,
        burst: float = 1.0,
        *,
        window_cap: int | None = None,
        prefix: str = "forever:tg-rate",
        clock: TimeSource = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be above 0 and burst at least 1")
        self.redis = redis
        self.rate = rate
        self.burst = burst
        self.window_cap = window_cap
        self._bucket_key = f"{prefix}:bucket"
        self._pause_key = f"{prefix}:paused-until"
        self._window_key = f"{prefix}:window"
        self._clock = clock
        self._sleep = sleep
        self._take = redis.register_script(_TAKE)
        self._pause = redis.register_script(_PAUSE)
        self._lock = asyncio.Lock()

    async def acquire(self) -> Permit:
        # Local waiters queue here so one instance does not hammer Redis with retries.
        permit = uuid.uuid4().hex
        async with self._lock:
            while True:
                now = self._clock()
                wait = float(
                    await self._take(
                        keys=[self._bucket_key, self._pause_key, self._window_key],
                        args=[
                            repr(now),
                            repr(self.rate),
                            repr(self.burst),
                            str(self.window_cap or 0),
                            permit,
                            repr(now + _IN_FLIGHT_LIMIT),
                        ],
                    )
                )
                if wait <= 0:
                    return _RedisPermit(self, permit)
                await self._sleep(wait)

    async def pause(self, seconds: float) -> None:
        await self._pause(
            keys=[self._pause_key, self._bucket_key], args=[repr(self._clock()), repr(seconds)]
        )

    async def _done(self, permit: str) -> None:
        if self.window_cap:
            await self.redis.zadd(self._window_key, {permit: self._clock() + _WINDOW}, xx=True)


class _RedisPermit:
    __slots__ = ("_bucket", "_permit")

    def __init__(self, bucket: RedisTokenBucket, permit: str) -> None:
        self._bucket = bucket
        self._permit = permit

    async def done(self) -> None:
        await self._bucket._done(self._permit)


def build_rate_limiter(
    rate: float, redis_url: str | None, *, prefix: str = "forever:tg-rate"
) -> tuple[RateLimiter, Callable[[], Awaitable[None]]]:
    """The limiter for these settings, and a function that closes what it opened."""
    burst, cap = default_burst(rate), default_window_cap(rate)
    if not redis_url:

        async def nothing() -> None:
            return None

        return TokenBucket(rate, burst, window_cap=cap), nothing
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    limiter = RedisTokenBucket(client, rate, burst, window_cap=cap, prefix=prefix)
    return limiter, client.aclose
