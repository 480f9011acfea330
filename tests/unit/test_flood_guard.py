"""The per-user flood guard (domain/flood.py) on a fake clock: burst, rate, one notice per
episode, other users unaffected, and memory that forgets idle users."""

from __future__ import annotations

import pytest

from forever.config import ConfigError, load_settings
from forever.domain.flood import FloodGuard, Verdict
from tests.fake_time import FakeTime

ANA, BOB = 1001, 1002


def guard(time: FakeTime, rate: float = 5.0, burst: int = 10, **kw: int) -> FloodGuard:
    return FloodGuard(rate, burst, clock=time, **kw)


def admitted(g: FloodGuard, user: int, n: int) -> int:
    return sum(g.check(user).admitted for _ in range(n))


def test_a_burst_is_admitted_then_the_rest_dropped() -> None:
    time = FakeTime()
    g = guard(time)
    assert admitted(g, ANA, 10) == 10
    assert g.check(ANA) is Verdict.FIRST_DROP
    assert [g.check(ANA) for _ in range(3)] == [Verdict.DROP] * 3


def test_tokens_come_back_at_the_rate() -> None:
    time = FakeTime()
    g = guard(time)
    admitted(g, ANA, 10)
    time.now += 1.0  # five tokens back
    assert admitted(g, ANA, 50) == 5
    time.now += 0.19  # not quite one more
    assert not g.check(ANA).admitted
    time.now += 0.01
    assert g.check(ANA).admitted


def test_a_steady_flood_gets_exactly_the_rate() -> None:
    time = FakeTime()
    g = guard(time)
    let_in = 0
    for _ in range(10 * 100):  # 100 updates per second for ten seconds
        let_in += g.check(ANA).admitted
        time.now += 0.01
    assert let_in == 10 + 5 * 10 - 1  # the burst, then 5 a second (the last one not yet due)


def test_one_users_flood_leaves_another_untouched() -> None:
    time = FakeTime()
    g = guard(time)
    admitted(g, ANA, 500)
    assert admitted(g, BOB, 10) == 10


def test_one_notice_per_episode_and_a_new_episode_after_calm() -> None:
    time = FakeTime()
    g = guard(time)
    assert not g.claim_notice(ANA), "nothing dropped yet"
    admitted(g, ANA, 11)
    assert g.claim_notice(ANA)
    notices = 0
    for _ in range(300):  # keeps flooding for 30 s: still the same episode
        time.now += 0.1
        g.check(ANA)
        notices += g.claim_notice(ANA)
    assert notices == 0
    time.now += 2.0  # the whole burst earned back: the episode is over
    assert admitted(g, ANA, 10) == 10
    assert g.check(ANA) is Verdict.FIRST_DROP
    assert g.claim_notice(ANA)


def test_under_the_rate_is_never_an_episode() -> None:
    time = FakeTime()
    g = guard(time)
    for _ in range(1000):
        assert g.check(ANA) is Verdict.ADMIT
        time.now += 0.2
    assert not g.claim_notice(ANA)


def test_idle_users_are_forgotten() -> None:
    time = FakeTime()
    g = guard(time)
    for user in range(10_000):
        g.check(user)
    assert len(g) == 10_000
    time.now += 2.0  # each of them has a full bucket again
    g.check(ANA)
    assert len(g) == 1


def test_memory_is_capped_even_under_many_users_at_once() -> None:
    time = FakeTime()
    g = guard(time, max_users=1000)
    for user in range(50_000):
        g.check(user)
        assert len(g) <= 1000


def test_a_flooder_seen_recently_is_still_remembered() -> None:
    time = FakeTime()
    g = guard(time)
    admitted(g, ANA, 20)
    time.now += 1.0
    g.check(BOB)  # would forget ANA only if her bucket were full again
    assert admitted(g, ANA, 20) == 5


def test_the_locale_is_remembered_for_the_notice() -> None:
    time = FakeTime()
    g = guard(time)
    g.remember_locale(ANA, "it")  # not seen yet: nothing to remember it on
    assert g.locale_of(ANA) is None
    g.check(ANA)
    g.remember_locale(ANA, "ro")
    assert g.locale_of(ANA) == "ro"


@pytest.mark.parametrize(("rate", "burst"), [(0, 10), (-1, 10), (5, 0)])
def test_nonsense_settings_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        FloodGuard(rate, burst)


def test_settings_default_to_five_a_second_with_bursts_of_ten() -> None:
    settings = load_settings(_env_file=None)
    assert (settings.flood_rate, settings.flood_burst) == (5.0, 10)


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOOD_RATE", "2.5")
    monkeypatch.setenv("FLOOD_BURST", "4")
    settings = load_settings(_env_file=None)
    assert (settings.flood_rate, settings.flood_burst) == (2.5, 4)


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"flood_rate": 0}, "FLOOD_RATE:"),
        ({"flood_rate": "fast"}, "FLOOD_RATE:"),
        ({"flood_burst": 0}, "FLOOD_BURST:"),
        ({"flood_burst": 2.5}, "FLOOD_BURST:"),
        ({"flood_rate": 20, "flood_burst": 10}, "FLOOD_BURST: must be at least FLOOD_RATE"),
    ],
)
def test_bad_flood_settings_are_named(overrides: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None, **overrides)
    assert str(error.value).startswith(needle)


def test_only_the_first_presses_of_an_episode_are_answered() -> None:
    time = FakeTime()
    g = guard(time)
    admitted(g, ANA, 10)
    assert not g.claim_answer(ANA), "nothing dropped yet"
    g.check(ANA)
    answers = 0
    for _ in range(100):
        g.check(ANA)
        answers += g.claim_answer(ANA)
    assert answers == 10
    time.now += 2.0  # a new episode answers again
    admitted(g, ANA, 11)
    assert g.claim_answer(ANA)
