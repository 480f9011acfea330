"""The shared send budget kept in Redis: every instance using one prefix shares it.

The same rules as `services.ratelimit.TokenBucket` (a token bucket, a sliding-window cap,
answers that skip the bucket, the pause and back-off after a 429), kept atomic across
instances by Lua scripts. The broadcast sender sees it through the
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
    BACKOFF_FLOOR,
    IN_FLIGHT_LIMIT,
    RECOVERY_PER_SECOND,
    WINDOW,
    Permit,
    SendBudget,
    Sleep,
    TimeSource,
    TokenBucket,
    default_burst,
    default_window_cap,
    recovered_share,
)

log = logging.getLogger(__name__)

# While Redis is unreachable (a restart), how often to try again.
REDIS_RETRY_SECONDS = 0.5

# Lua keeps read-check-take atomic across instances. Times are seconds (floats, passed as
# strings because Redis turns Lua numbers into integers). KEYS: bucket hash (tokens, ts, and
# the bulk share of the rate after a 429 with the time it was set), pause key, window sorted
# set (member: permit id, score: when it stops counting). ARGV[7] is '1' for an answer: it
# waits only while paused (or, while the share is below 1, for room under the full cap) and
# takes no token.
_TAKE = """
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local permit = ARGV[5]
local in_flight_until = tonumber(ARGV[6])
local answer = ARGV[7] == '1'
local recovery = tonumber(ARGV[8])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if now < paused then
  return tostring(paused - now)
end
local data = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'share', 'since')
local share = tonumber(data[3]) or 1
local since = tonumber(data[4]) or now
if now > since then share = math.min(1, share + (now - since) * recovery) end
if cap > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  local limit = cap
  if not answer then limit = math.max(1, math.floor(cap * share)) end
  if (not answer or share < 1) and redis.call('ZCARD', KEYS[3]) >= limit then
    local soonest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
    local wait = tonumber(soonest[2]) - now
    if wait > 1 then wait = 1 / rate end
    return tostring(wait + 1e-9)
  end
end
if answer then
  if cap > 0 then
    redis.call('ZADD', KEYS[3], in_flight_until, permit)
    redis.call('EXPIRE', KEYS[3], 3600)
  end
  return '0'
end
rate = rate * share
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

# KEYS: pause key, bucket hash. ARGV: now, seconds, and for a 429 (ARGV[3] == '1') the floor
# and recovery of the share: it halves once per flood (not when already paused).
_PAUSE = """
local now = tonumber(ARGV[1])
local untl = now + tonumber(ARGV[2])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[3] == '1' then
  local data = redis.call('HMGET', KEYS[2], 'share', 'since')
  local share = tonumber(data[1]) or 1
  local since = tonumber(data[2]) or now
  if now > since then share = math.min(1, share + (now - since) * tonumber(ARGV[5])) end
  if now >= current then share = math.max(tonumber(ARGV[4]), share / 2) end
  redis.call('HSET', KEYS[2], 'share', tostring(share), 'since', tostring(math.max(untl, current)))
end
if untl > current then
  redis.call('SET', KEYS[1], tostring(untl), 'EX', math.ceil(tonumber(ARGV[2])) + 60)
end
redis.call('HSET', KEYS[2], 'tokens', '0', 'ts', tostring(math.max(untl, current)))
redis.call('EXPIRE', KEYS[2], 3600)
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
        self._answer_lock = asyncio.Lock()

    async def acquire(self) -> Permit:
        # Local waiters queue here so one instance does not hammer Redis with retries.
        permit = uuid.uuid4().hex
        async with self._lock:
            while (wait := await self._try(permit, answer=False)) > 0:
                await self._sleep(wait)
        return _RedisPermit(self, permit)

    async def answer(self) -> Permit:
        permit = uuid.uuid4().hex
        if not self._answer_lock.locked() and await self._try(permit, answer=True) <= 0:
            return _RedisPermit(self, permit)
        async with self._answer_lock:
            while (wait := await self._try(permit, answer=True)) > 0:
                await self._sleep(wait)
        return _RedisPermit(self, permit)

    async def _try(self, permit: str, *, answer: bool) -> float:
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
                            "1" if answer else "0",
                            repr(RECOVERY_PER_SECOND),
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
            return wait

    async def pause(self, seconds: float) -> None:
        try:
            await self._pause(
                keys=[self._pause_key, self._bucket_key],
                args=[repr(self._clock()), repr(seconds), "0"],
            )
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            # Without Redis this instance still waits (the caller retries after the pause).
            log.warning("send budget: could not share a %s s pause: %s", seconds, error)
            await self._sleep(seconds)

    async def throttled(self, seconds: float) -> None:
        try:
            await self._pause(
                keys=[self._pause_key, self._bucket_key],
                args=[
                    repr(self._clock()),
                    repr(seconds),
                    "1",
                    repr(BACKOFF_FLOOR),
                    repr(RECOVERY_PER_SECOND),
                ],
            )
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            # Without Redis this instance still waits (the caller retries after the pause).
            log.warning("send budget: could not share a %s s pause: %s", seconds, error)
            await self._sleep(seconds)

    async def paused_for(self) -> float:
        try:
            raw = await self.redis.get(self._pause_key)
        except (RedisConnectionError, RedisTimeoutError, OSError):
            return 0.0  # the caller's own 429 handling still waits its pause out
        return max(0.0, float(raw) - self._clock()) if raw is not None else 0.0

    async def current_share(self) -> float:
        """The share of `rate` bulk may use now, as every instance sees it."""
        raw = await self.redis.hmget(self._bucket_key, ["share", "since"])
        if raw[0] is None:
            return 1.0
        now = self._clock()
        return recovered_share(float(raw[0]), float(raw[1] or now), now)

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
    rate: float,
    redis_url: str | None,
    *,
    prefix: str = "forever:tg-rate",
    max_window_cap: int | None = None,
) -> tuple[SendBudget, Callable[[], Awaitable[None]]]:
    """The limiter for these settings, and a function that closes what it opened.

    `max_window_cap`: a hard limit the window cap may not pass (paid broadcasts: 1000/s)."""
    burst, cap = default_burst(rate), default_window_cap(rate)
    if max_window_cap is not None:
        cap = min(cap, max_window_cap)
    if not redis_url:

        async def nothing() -> None:
            return None

        return TokenBucket(rate, burst, window_cap=cap), nothing
    client = Redis.from_url(redis_url, **resilient_redis_options())
    limiter = RedisTokenBucket(client, rate, burst, window_cap=cap, prefix=prefix)
    return limiter, client.aclose
