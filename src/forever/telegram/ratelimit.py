"""The shared send budget kept in Redis: every instance using one prefix shares it.

The same two rules as `services.ratelimit.TokenBucket` (a token bucket and a sliding-window
cap), kept atomic across instances by Lua scripts. The broadcast sender sees it through the
`RateLimiter` port; `build_rate_limiter` picks this one or the in-process bucket.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from forever.services.ratelimit import (
    IN_FLIGHT_LIMIT,
    WINDOW,
    Permit,
    RateLimiter,
    Sleep,
    TimeSource,
    TokenBucket,
    default_burst,
    default_window_cap,
)

log = logging.getLogger(__name__)

# While Redis is unreachable (a restart), how often to try again.
REDIS_RETRY_SECONDS = 0.5

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
            down_since: float | None = None
            while True:
                now = self._clock()
                try:
                    wait = float(
                        await self._take(
                            keys=[self._bucket_key, self._pause_key, self._window_key],
                            args=[
                                repr(now),
                                repr(self.rate),
                                repr(self.burst),
                                str(self.window_cap or 0),
                                permit,
                                repr(now + IN_FLIGHT_LIMIT),
                            ],
                        )
                    )
                except (RedisConnectionError, RedisTimeoutError, OSError) as error:
                    # Redis restarting: nothing is sent without a permit; retry, say so once.
                    if down_since is None:
                        down_since = now
                        log.warning("send budget: Redis unreachable (%s); retrying", error)
                    await self._sleep(REDIS_RETRY_SECONDS)
                    continue
                if down_since is not None:
                    log.info("send budget: Redis is back after %.1f s", now - down_since)
                    down_since = None
                if wait <= 0:
                    return _RedisPermit(self, permit)
                await self._sleep(wait)

    async def pause(self, seconds: float) -> None:
        try:
            await self._pause(
                keys=[self._pause_key, self._bucket_key], args=[repr(self._clock()), repr(seconds)]
            )
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            # Without Redis this instance still waits (the caller retries after the pause).
            log.warning("send budget: could not share a %s s pause: %s", seconds, error)
            await self._sleep(seconds)

    async def _done(self, permit: str) -> None:
        if not self.window_cap:
            return
        try:
            await self.redis.zadd(self._window_key, {permit: self._clock() + WINDOW}, xx=True)
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            # The message went out; a permit not marked done lapses by itself (IN_FLIGHT_LIMIT).
            log.warning("send budget: could not mark a permit done: %s", error)


class _RedisPermit:
    __slots__ = ("_bucket", "_permit")

    def __init__(self, bucket: RedisTokenBucket, permit: str) -> None:
        self._bucket = bucket
        self._permit = permit

    async def done(self) -> None:
        await self._bucket._done(self._permit)


class _LoggedRetry(Retry):
    """redis-py's retry, saying in the log when Redis cannot be reached and it retries."""

    async def call_with_retry(
        self,
        do: Callable[[], Awaitable[Any]],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> Any:
        async def logged(error: Exception, *count: int) -> None:
            log.warning("Redis unreachable (%s); retrying", error)
            await fail(error, *count)

        return await super().call_with_retry(do, logged, is_retryable, with_failure_count)


def resilient_redis_options() -> dict[str, Any]:
    """Redis client options that survive a Redis restart: a command on a connection the
    restart closed is retried on a new one (with backoff, a few seconds in all), and idle
    connections are checked before use."""
    return {
        "retry": _LoggedRetry(ExponentialBackoff(cap=1.0, base=0.05), retries=8),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError, OSError],
        "health_check_interval": 15,
    }


def build_rate_limiter(
    rate: float, redis_url: str | None, *, prefix: str = "forever:tg-rate"
) -> tuple[RateLimiter, Callable[[], Awaitable[None]]]:
    """The limiter for these settings, and a function that closes what it opened."""
    burst, cap = default_burst(rate), default_window_cap(rate)
    if not redis_url:

        async def nothing() -> None:
            return None

        return TokenBucket(rate, burst, window_cap=cap), nothing
    client = Redis.from_url(redis_url, **resilient_redis_options())
    limiter = RedisTokenBucket(client, rate, burst, window_cap=cap, prefix=prefix)
    return limiter, client.aclose
