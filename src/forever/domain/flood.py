"""The per-user flood guard: a token bucket for each Telegram user, kept in this process.

Each update a user sends takes a token; tokens come back at `rate` per second up to `burst`.
An update that finds no token is dropped (it takes none, so a flooder earns their way back
at the same `rate` as anyone). A *flood episode* starts with the first dropped update and
ends once the user's bucket is full again, that is once they kept under the rate for long
enough to earn back the whole burst; the user is told to slow down at most once per episode.

A full bucket is exactly what a user we have never seen gets, so a user idle that long is
forgotten: memory holds only the users of the last `burst / rate` seconds (2 s with the
defaults), and never more than `max_users`.
"""

from __future__ import annotations

import enum
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

TimeSource = Callable[[], float]
_EPSILON = 1e-9


class Verdict(enum.Enum):
    ADMIT = "admit"
    DROP = "drop"
    FIRST_DROP = "first_drop"  # dropped, and the first drop of a new episode

    @property
    def admitted(self) -> bool:
        return self is Verdict.ADMIT


@dataclass(slots=True)
class _Bucket:
    tokens: float
    last: float  # when `tokens` was last brought up to date (and the user last seen)
    flooding: bool = False  # an episode is under way
    warned: bool = False  # this episode's notice is claimed
    answers: int = 0  # dropped button presses answered this episode
    locale: str | None = None  # the person's language, once known


class FloodGuard:
    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: TimeSource = time.monotonic,
        max_users: int = 100_000,
    ) -> None:
        if rate <= 0 or burst < 1 or max_users < 1:
            raise ValueError("rate must be above 0, burst and max_users at least 1")
        self.rate = rate
        self.burst = burst
        self.max_users = max_users
        self._clock = clock
        # Seconds for an empty bucket to fill again: idle that long, a user is as new.
        self._full_after = burst / rate
        # Least recently seen first, so forgetting idle users is cheap.
        self._buckets: OrderedDict[int, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, user_id: int) -> Verdict:
        """Count one update from this user: admit it (a token taken) or drop it."""
        now = self._clock()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            bucket = self._buckets[user_id] = _Bucket(tokens=float(self.burst), last=now)
        else:
            self._buckets.move_to_end(user_id)
            if now > bucket.last:
                bucket.tokens = min(
                    float(self.burst), bucket.tokens + (now - bucket.last) * self.rate
                )
            bucket.last = max(bucket.last, now)
            if bucket.tokens >= self.burst - _EPSILON:
                # Calm long enough: the episode is over.
                bucket.flooding = bucket.warned = False
                bucket.answers = 0
        self._forget_idle(now)
        if bucket.tokens >= 1 - _EPSILON:
            bucket.tokens = max(bucket.tokens - 1, 0.0)
            return Verdict.ADMIT
        if bucket.flooding:
            return Verdict.DROP
        bucket.flooding = True
        return Verdict.FIRST_DROP

    def claim_notice(self, user_id: int) -> bool:
        """True once per flood episode: the caller tells the user to slow down."""
        bucket = self._buckets.get(user_id)
        if bucket is None or not bucket.flooding or bucket.warned:
            return False
        bucket.warned = True
        return True

    def claim_answer(self, user_id: int) -> bool:
        """True for the first `burst` dropped button presses of an episode: as many as a
        person tapping quickly makes; a script's hundreds more are left to time out."""
        bucket = self._buckets.get(user_id)
        if bucket is None or not bucket.flooding or bucket.answers >= self.burst:
            return False
        bucket.answers += 1
        return True

    def remember_locale(self, user_id: int, locale: str) -> None:
        """The person's language as identified for an admitted update (kept while the user
        is remembered), so a notice needs no database read."""
        bucket = self._buckets.get(user_id)
        if bucket is not None:
            bucket.locale = locale

    def locale_of(self, user_id: int) -> str | None:
        bucket = self._buckets.get(user_id)
        return bucket.locale if bucket is not None else None

    def _forget_idle(self, now: float) -> None:
        buckets = self._buckets
        while buckets:
            user_id, oldest = next(iter(buckets.items()))
            if now - oldest.last < self._full_after and len(buckets) <= self.max_users:
                return
            del buckets[user_id]
