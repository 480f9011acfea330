"""The in-process token bucket, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from forever.services.ratelimit import TokenBucket, default_burst
from tests.fake_time import FakeTime, max_in_window


async def take(bucket: TokenBucket, time: FakeTime, n: int) -> list[float]:
    stamps = []
    for _ in range(n):
        permit = await bucket.acquire()
        stamps.append(time())
        await permit.done()
    return stamps


async def test_sustains_the_rate_and_never_exceeds_telegrams_window() -> None:
    time = FakeTime()
    bucket = TokenBucket(28, default_burst(28), clock=time, sleep=time.sleep)
    stamps = await take(bucket, time, 28 * 10)
    assert max_in_window(stamps) <= 30
    steady = stamps[2:]  # after the initial burst
    rate = (len(steady) - 1) / (steady[-1] - steady[0])
    assert rate == pytest.approx(28, abs=0.05)


async def test_concurrent_waiters_share_one_budget() -> None:
    time = FakeTime()
    bucket = TokenBucket(10, 1, clock=time, sleep=time.sleep)
    stamps: list[float] = []

    async def worker() -> None:
        for _ in range(10):
            await bucket.acquire()
            stamps.append(time())

    await asyncio.gather(*(worker() for _ in range(5)))
    assert len(stamps) == 50
    assert max_in_window(sorted(stamps)) <= 11
    assert stamps[-1] - stamps[0] == pytest.approx(4.9, abs=0.01)


async def test_pause_stops_everyone_for_retry_after() -> None:
    time = FakeTime()
    bucket = TokenBucket(10, 1, clock=time, sleep=time.sleep)
    await bucket.acquire()
    await bucket.pause(3)
    before = time()
    await bucket.acquire()
    assert time() - before >= 3
    # No burst saved up during the pause.
    after = time()
    await bucket.acquire()
    assert time() - after == pytest.approx(0.1, abs=1e-6)


def test_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0)
    with pytest.raises(ValueError):
        TokenBucket(10, burst=0.5)


async def test_a_window_cap_keeps_a_margin_after_a_late_wake_up() -> None:
    time = FakeTime()
    bucket = TokenBucket(28, 2.8, window_cap=29, clock=time, sleep=time.sleep)
    stamps = await take(bucket, time, 100)
    time.now += 0.08  # the event loop was busy: a catch-up burst is due
    stamps += await take(bucket, time, 200)
    assert max_in_window(stamps) <= 29
    steady = stamps[2:]
    assert (len(steady) - 1) / (steady[-1] - steady[0]) >= 27.9


async def test_slow_answers_keep_the_window_under_the_cap() -> None:
    """Requests that take long to be answered keep counting until a second after the answer,
    so however late they reach Telegram, no second there sees more than the cap."""
    time = FakeTime()
    bucket = TokenBucket(28, 2.8, window_cap=29, clock=time, sleep=time.sleep)
    in_flight = [await bucket.acquire() for _ in range(29)]
    started = time()
    waiter = asyncio.create_task(bucket.acquire())
    for _ in range(20):
        await time.sleep(0.1)  # two seconds pass with all 29 still unanswered
    assert not waiter.done()
    answered = time()
    for permit in in_flight:
        await permit.done()
    permit = await waiter
    assert time() - answered >= 1.0 and time() - started >= 3.0
    await permit.done()


# --- answers and back-off (telegram/sending.py sends through these) ---------------------------


async def test_answers_go_out_at_once_and_bulk_yields_to_them() -> None:
    time = FakeTime()
    bucket = TokenBucket(28, default_burst(28), window_cap=30, clock=time, sleep=time.sleep)
    answers = [await bucket.answer() for _ in range(25)]
    assert time.sleeps == []  # no answer waited, though the bucket started empty
    for permit in answers:
        await permit.done()
    # The 25 answers fill most of this second's window: bulk gets the rest, then waits.
    stamps = await take(bucket, time, 10)
    assert max_in_window([1000.0] * 25 + stamps) <= 30
    assert sum(1 for s in stamps if s < 1001.0) == 5


async def test_a_429_pauses_answers_too_and_halves_bulk_until_it_recovers() -> None:
    time = FakeTime()
    bucket = TokenBucket(20, 2, window_cap=22, clock=time, sleep=time.sleep)
    await bucket.throttled(3)
    await bucket.throttled(3)  # a second 429 of the same flood: not a second halving
    before = time()
    await (await bucket.answer()).done()
    assert time() - before == pytest.approx(3)
    assert bucket.share() == pytest.approx(0.5)
    stamps = await take(bucket, time, 20)
    steady = stamps[2:]
    rate = (len(steady) - 1) / (steady[-1] - steady[0])
    assert 10 <= rate < 12  # about half of 20, recovering slowly
    time.now += 60
    assert bucket.share() == 1.0
    stamps = await take(bucket, time, 40)
    steady = stamps[3:]
    assert (len(steady) - 1) / (steady[-1] - steady[0]) == pytest.approx(20, abs=0.1)


async def test_while_backing_off_answers_keep_to_telegrams_window_ahead_of_bulk() -> None:
    """After a 429 the refused answers must not all come back at once into another 429."""
    time = FakeTime()
    bucket = TokenBucket(28, default_burst(28), window_cap=30, clock=time, sleep=time.sleep)
    await bucket.throttled(1)
    stamps: list[float] = []

    async def reply() -> None:
        permit = await bucket.answer()
        stamps.append(time())
        await permit.done()

    await asyncio.gather(*(reply() for _ in range(100)))
    assert len(stamps) == 100
    assert max_in_window(sorted(stamps)) <= 30
    assert min(stamps) >= 1001.0  # after the pause


async def test_repeated_floods_never_stop_bulk() -> None:
    time = FakeTime()
    bucket = TokenBucket(28, 2, clock=time, sleep=time.sleep)
    for _ in range(10):
        await bucket.throttled(1)
        time.now += 1
    assert bucket.share() == pytest.approx(1 / 16)
    before = time()
    await bucket.acquire()
    await bucket.acquire()
    assert time() - before < 1.0  # 1.75 per second at the floor


async def test_answers_alone_do_not_pile_up_in_the_window() -> None:
    time = FakeTime()
    bucket = TokenBucket(28, 2, window_cap=30, clock=time, sleep=time.sleep)
    for _ in range(1000):
        await (await bucket.answer()).done()
        time.now += 0.01
    assert len(bucket._window) <= 150  # about the last 1.25 s of answers


async def test_paused_for_tells_how_long_a_429_pause_has_left() -> None:
    time = FakeTime()
    bucket = TokenBucket(10, 1, clock=time, sleep=time.sleep)
    assert await bucket.paused_for() == 0
    await bucket.throttled(3)
    await time.sleep(1)
    assert await bucket.paused_for() == pytest.approx(2)
    await time.sleep(2)
    assert await bucket.paused_for() == 0
