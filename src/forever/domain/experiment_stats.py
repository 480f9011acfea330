"""Statistics of an experiment, and a decision rule that stays valid when staff look every day.

Per arm: the rate of the outcome with a 95% Wilson score interval, the difference against the
control (the holdout, else the first variant) with Newcombe's hybrid score interval, and the
Stars per exposed person with a seeded percentile bootstrap interval.

The decision does not use those fixed-sample intervals: looking at a 95% interval every day
and stopping at the first one that excludes zero calls a false winner far more often than 5%.
It uses an always-valid confidence sequence for each difference of two rates (the normal
mixture boundary behind mSPRT, Robbins 1970 / Johari et al. 2017): with probability at least
1 - alpha the sequence covers the true difference at *every* look, so a winner called by it
is called with at most alpha false-positive risk however often anyone looks. Alpha is split
across the comparisons (Bonferroni). No call is made before each arm has `min_sample`
measured people.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

Z95 = 1.959963984540054  # the 97.5% point of the standard normal


def wilson(converted: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion; (0, 1) when there is no data."""
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= converted <= n:
        raise ValueError("converted must be between 0 and n")
    p = converted / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def newcombe_difference(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """95% interval of p1 - p2 (Newcombe 1998, method 10: from the two Wilson intervals)."""
    if n1 <= 0 or n2 <= 0:
        return (-1.0, 1.0)
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1)
    l2, u2 = wilson(k2, n2)
    d = p1 - p2
    return (
        d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    )


def bootstrap_mean(
    values: Sequence[float], *, seed: int = 18, rounds: int = 2000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean; seeded, so the same data give the same
    interval on every look."""
    n = len(values)
    if n == 0:
        return (0.0, 0.0)
    rng = random.Random(seed)  # noqa: S311 (resampling, not secrecy: seeded on purpose)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(rounds))
    tail = (1 - level) / 2
    low = means[math.floor(tail * (rounds - 1))]
    high = means[math.ceil((1 - tail) * (rounds - 1))]
    return (low, high)


def confidence_sequence(
    k1: int, n1: int, k2: int, n2: int, *, alpha: float, tau: float = 0.1
) -> tuple[float, float]:
    """An always-valid (1 - alpha) interval for p1 - p2 at this look.

    The normal-mixture boundary: with V the variance of the observed difference and a N(0,
    tau^2) mixture over the true difference, the half width is
    sqrt(V (V + tau^2) / tau^2 * (2 log(1/alpha) + log((V + tau^2) / V))). V is estimated
    with each rate pulled a little towards 1/2 (one success and one failure added), so an arm
    with no conversions yet does not claim zero variance."""
    if n1 <= 0 or n2 <= 0:
        return (-1.0, 1.0)
    q1 = (k1 + 1) / (n1 + 2)
    q2 = (k2 + 1) / (n2 + 2)
    v = q1 * (1 - q1) / n1 + q2 * (1 - q2) / n2
    t2 = tau * tau
    half = math.sqrt(v * (v + t2) / t2 * (2 * math.log(1 / alpha) + math.log((v + t2) / v)))
    d = k1 / n1 - k2 / n2
    return (d - half, d + half)


class Decision(StrEnum):
    RUNNING = "running"  # keep going: no call yet
    WINNER = "winner"  # one arm beats every other, by the always-valid rule
    NO_DIFFERENCE = "no_difference"  # every difference is known to be within the margin
    STOPPED = "stopped"  # staff stopped it (or it is stopped in the catalog)


@dataclass(frozen=True, slots=True)
class ArmData:
    """What the events say about one arm."""

    id: str
    holdout: bool
    exposed: int  # assigned at first exposure
    measured: int  # exposed long enough ago for the outcome to be known
    converted: int  # of the measured
    stars: tuple[int, ...] = ()  # Stars received per measured person (price experiments)


@dataclass(frozen=True, slots=True)
class ArmStats:
    id: str
    holdout: bool
    exposed: int
    measured: int
    converted: int
    rate: float | None
    ci: tuple[float, float]
    diff: float | None  # against the control; None for the control itself
    diff_ci: tuple[float, float] | None
    stars_per_exposed: float | None
    stars_ci: tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    winner: str | None
    arms: tuple[ArmStats, ...]
    control: str | None
    # why: stopped | needs_two_arms | min_sample | beats_all | within_margin |
    # no_clear_difference (staff texts say it in words)
    note: str = ""
    min_sample: int = 0
    margin: float = 0.0


def arm_stats(arm: ArmData, control: ArmData | None, *, with_stars: bool) -> ArmStats:
    rate = arm.converted / arm.measured if arm.measured else None
    diff = diff_ci = None
    if control is not None and control.id != arm.id and arm.measured and control.measured:
        diff = rate - control.converted / control.measured if rate is not None else None
        diff_ci = newcombe_difference(
            arm.converted, arm.measured, control.converted, control.measured
        )
    stars = stars_ci = None
    if with_stars and arm.measured:
        stars = sum(arm.stars) / arm.measured
        padded = list(arm.stars) + [0] * (arm.measured - len(arm.stars))
        stars_ci = bootstrap_mean(padded)
    return ArmStats(
        id=arm.id,
        holdout=arm.holdout,
        exposed=arm.exposed,
        measured=arm.measured,
        converted=arm.converted,
        rate=rate,
        ci=wilson(arm.converted, arm.measured),
        diff=diff,
        diff_ci=diff_ci,
        stars_per_exposed=stars,
        stars_ci=stars_ci,
    )


def decide(
    arms: Sequence[ArmData],
    *,
    alpha: float = 0.05,
    min_sample: int = 100,
    margin: float = 0.02,
    tau: float = 0.1,
    stopped: bool = False,
    with_stars: bool = False,
) -> Verdict:
    """The table and the call. A winner is the arm whose always-valid interval against every
    other arm lies above zero; "no difference" when every pair's interval lies within
    +-`margin`; otherwise "running". Nothing is called before each arm has `min_sample`
    measured people."""
    control = next((a for a in arms if a.holdout), arms[0] if arms else None)
    table = tuple(arm_stats(a, control, with_stars=with_stars) for a in arms)
    control_id = control.id if control else None

    def out(decision: Decision, winner: str | None, note: str) -> Verdict:
        return Verdict(decision, winner, table, control_id, note, min_sample, margin)

    if stopped:
        return out(Decision.STOPPED, None, "stopped")
    if len(arms) < 2:
        return out(Decision.RUNNING, None, "needs_two_arms")
    short = [a.id for a in arms if a.measured < min_sample]
    if short:
        return out(Decision.RUNNING, None, "min_sample")
    pairs = len(arms) * (len(arms) - 1) // 2
    level = alpha / pairs  # Bonferroni over every pair
    beats: dict[str, int] = {a.id: 0 for a in arms}
    within = True
    for i, a in enumerate(arms):
        for b in arms[i + 1 :]:
            low, high = confidence_sequence(
                a.converted, a.measured, b.converted, b.measured, alpha=level, tau=tau
            )
            if low > 0:
                beats[a.id] += 1
            elif high < 0:
                beats[b.id] += 1
            if low < -margin or high > margin:
                within = False
    best = [arm_id for arm_id, count in beats.items() if count == len(arms) - 1]
    if best:
        return out(Decision.WINNER, best[0], "beats_all")
    if within:
        return out(Decision.NO_DIFFERENCE, None, "within_margin")
    return out(Decision.RUNNING, None, "no_clear_difference")
