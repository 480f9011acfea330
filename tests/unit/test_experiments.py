"""Experiments: the catalog format, sticky assignment, and statistics checked against published
numbers and against simulated populations (A/A and a known winner), looked at every day."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from forever.domain.catalog import CatalogError, parse_catalog
from forever.domain.experiment_outcomes import Happened, outcome
from forever.domain.experiment_stats import (
    ArmData,
    Decision,
    Verdict,
    bootstrap_mean,
    decide,
    newcombe_difference,
    wilson,
)
from forever.domain.experiments import (
    HOLDOUT,
    Audience,
    Experiment,
    ExperimentStatus,
    Surface,
    Variant,
    assign,
    running_for,
)
from forever.domain.signing import EXPERIMENT_KEY_PURPOSE, derive_key
from tests.fakes.lifecycle import CATALOG_PATH

KEY = derive_key("s" * 32, EXPERIMENT_KEY_PURPOSE)
BASE = CATALOG_PATH.read_text(encoding="utf-8").split("[[experiments]]")[0]


def _exp(**extra: object) -> Experiment:
    fields: dict[str, object] = {
        "id": "e1",
        "surface": Surface.CANCEL_OFFER,
        "variants": (Variant("a", 1, offer="discount_30"), Variant("b", 3, offer="lower_tier")),
        "holdout_share": 0.2,
    }
    fields.update(extra)
    return Experiment(**fields)  # type: ignore[arg-type]


# --- assignment ---------------------------------------------------------------------------


def test_assignment_is_sticky_and_keyed() -> None:
    e = _exp()
    first = [assign(KEY, e, p).id for p in range(500)]
    # The same key (another process, after a restart) gives everyone the same arm again.
    again = [assign(derive_key("s" * 32, EXPERIMENT_KEY_PURPOSE), e, p).id for p in range(500)]
    assert first == again
    other = [assign(derive_key("t" * 32, EXPERIMENT_KEY_PURPOSE), e, p).id for p in range(500)]
    assert other != first  # without the key nobody can predict the arms


def test_assignment_follows_holdout_share_and_weights() -> None:
    counts = Counter(assign(KEY, _exp(), p).id for p in range(20000))
    assert abs(counts[HOLDOUT] / 20000 - 0.2) < 0.015
    assert abs(counts["a"] / 20000 - 0.8 * 0.25) < 0.015
    assert abs(counts["b"] / 20000 - 0.8 * 0.75) < 0.015


def test_running_for_respects_audience_status_and_overrides() -> None:
    e = _exp(audience=Audience(reasons=frozenset({"too_expensive"})))
    assert running_for([e], Surface.CANCEL_OFFER, reason="too_expensive") is e
    assert running_for([e], Surface.CANCEL_OFFER, reason="technical") is None
    assert running_for([e], Surface.WINBACK_OFFER, reason="too_expensive") is None
    stopped = {"e1": ExperimentStatus.STOPPED}
    assert running_for([e], Surface.CANCEL_OFFER, reason="too_expensive", statuses=stopped) is None


# --- the catalog format -------------------------------------------------------------------

GOOD = """
[[experiments]]
id = "price_basic"
surface = "plan_price"
holdout = 0.5
audience = { plans = ["basic"] }
variants = [{ id = "cheaper", monthly_stars = 120 }]

[[experiments]]
id = "save_expensive"
surface = "cancel_offer"
holdout = 0.1
audience = { reasons = ["too_expensive"], languages = ["en", "it"] }
variants = [{ id = "d30", offer = "discount_30", weight = 2 }, { id = "nothing", offer = "none" }]
"""


def test_catalog_parses_experiments() -> None:
    catalog = parse_catalog(BASE + GOOD)
    price, save = catalog.experiments
    assert price.surface is Surface.PLAN_PRICE and price.variants[0].monthly_stars == 120
    assert price.arms()[0].holdout and price.status is ExperimentStatus.RUNNING
    assert save.audience.languages == frozenset({"en", "it"})
    assert [v.offer for v in save.variants] == ["discount_30", None]
    assert catalog.experiment("save_expensive") is save


def test_a_price_arm_may_set_the_yearly_price_too_or_only() -> None:
    text = GOOD.replace(
        '[{ id = "cheaper", monthly_stars = 120 }]',
        '[{ id = "cheaper", monthly_stars = 120, yearly_stars = 1200 },'
        ' { id = "year_only", yearly_stars = 1300 }]',
    )
    both, year_only = parse_catalog(BASE + text).experiments[0].variants
    assert (both.monthly_stars, both.yearly_stars) == (120, 1200)
    assert (year_only.monthly_stars, year_only.yearly_stars) == (None, 1300)


def test_shipped_catalog_experiment_changes_nothing_today() -> None:
    catalog = parse_catalog(CATALOG_PATH.read_text(encoding="utf-8"))
    assert catalog.experiments
    assert all(e.status is not ExperimentStatus.RUNNING for e in catalog.experiments)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'id = "x"\n'
            'surface = "cancel_offer"\nvariants = [{ id = "a", offer = "gone" }, '
            '{ id = "b", offer = "none" }]',
            "unknown offer 'gone'",
        ),
        (
            'id = "x"\nsurface = "somewhere"\nvariants = [{ id = "a", offer = "none" }]',
            "unknown surface 'somewhere'",
        ),
        (
            'id = "x"\n'
            'surface = "cancel_offer"\nvariants = [{ id = "a", offer = "discount_30",'
            ' weight = 0 }, { id = "b", offer = "none" }]',
            "weight: must be between 1 and 1000",
        ),
        (
            'id = "x"\n'
            'surface = "cancel_offer"\nholdout = 1.2\nvariants = [{ id = "a", offer = "none" }]',
            "holdout: a share from 0 to below 1",
        ),
        (
            'id = "x"\nsurface = "cancel_offer"\nvariants = [{ id = "a", offer = "none" }]',
            "two variants, or one and a holdout share",
        ),
        (
            'id = "x"\n'
            'surface = "plan_price"\nholdout = 0.5\nvariants = [{ id = "a", monthly_stars = 9 }]',
            "a price experiment names exactly one plan",
        ),
        (
            'id = "x"\n'
            'surface = "trial_length"\nholdout = 0.5\nvariants = [{ id = "a", offer = "none" }]',
            "a trial_length variant carries trial_days, not offer",
        ),
        (
            'id = "x"\n'
            'surface = "trial_length"\nholdout = 0.5\n'
            'variants = [{ id = "a", trial_days = 30, yearly_stars = 9 }]',
            "yearly_stars: a trial_length variant carries trial_days",
        ),
        (
            'id = "x"\nsurface = "plan_price"\nholdout = 0.5\naudience = { plans = ["basic"] }\n'
            'variants = [{ id = "a", yearly_stars = 0 }]',
            "yearly_stars: must be between 1 and 100000",
        ),
        (
            'id = "x"\n'
            'surface = "winback_offer"\nholdout = 0.5\n'
            'variants = [{ id = "a", offer = "pause_month" }]',
            "cannot win someone back",
        ),
        (
            'id = "x"\n'
            'surface = "cancel_offer"\nholdout = 0.5\naudience = { reasons = ["bored"] }\n'
            'variants = [{ id = "a", offer = "none" }]',
            "unknown 'bored'",
        ),
    ],
)
def test_catalog_experiment_mistakes_are_named(text: str, message: str) -> None:
    with pytest.raises(CatalogError, match="experiments\\[0\\]") as caught:
        parse_catalog(BASE + "[[experiments]]\n" + text + "\n")
    assert message in str(caught.value)


def test_overlapping_running_experiments_are_refused() -> None:
    two = (
        '[[experiments]]\nid = "one"\nsurface = "cancel_offer"\nholdout = 0.5\n'
        'audience = { reasons = ["too_expensive"] }\nvariants = [{ id = "a", offer = "none" }]\n'
        '[[experiments]]\nid = "two"\nsurface = "cancel_offer"\nholdout = 0.5\n'
        'audience = { plans = ["basic"] }\nvariants = [{ id = "a", offer = "none" }]\n'
    )
    with pytest.raises(CatalogError, match="overlaps running experiment 'one'"):
        parse_catalog(BASE + two)
    # A stopped one, or disjoint audiences, are fine.
    parse_catalog(BASE + two.replace('id = "two"', 'id = "two"\nstatus = "stopped"'))
    parse_catalog(BASE + two.replace('plans = ["basic"]', 'reasons = ["technical"]'))


# --- statistics against published numbers -------------------------------------------------


def test_wilson_interval_for_8_of_10() -> None:
    # 0.4902 to 0.9433: the Wilson score interval for 8/10 (e.g. statsmodels
    # proportion_confint(8, 10, method="wilson")).
    low, high = wilson(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert wilson(0, 10)[0] == 0.0 and wilson(0, 0) == (0.0, 1.0)


def test_difference_interval_matches_newcombe_1998() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80,
    # method 10 gives 0.0524 to 0.3339.
    low, high = newcombe_difference(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_bootstrap_is_seeded_and_covers_the_mean() -> None:
    values = [0] * 60 + [300] * 40
    first = bootstrap_mean(values)
    assert first == bootstrap_mean(values)  # the same every look
    assert first[0] < 120 < first[1]
    # about 120 +- 1.96 * 14.7 (the standard error of the mean)
    assert 85 < first[0] < 97 and 143 < first[1] < 155


# --- the decision rule in simulated populations, looked at every day ----------------------


def _simulate(rates: dict[str, float], seed: int, days: int, per_day: int) -> Verdict_:
    rng = random.Random(seed)
    counts = {arm: [0, 0] for arm in rates}
    first_call: tuple[int, Decision, str | None] | None = None
    for day in range(1, days + 1):
        for _ in range(per_day):
            arm = rng.choice(list(rates))
            counts[arm][0] += 1
            counts[arm][1] += rng.random() < rates[arm]
        arms = [
            ArmData(arm, arm == HOLDOUT, n, n, k) for arm, (n, k) in counts.items()
        ]  # every day staff look
        verdict = decide(arms)
        if verdict.decision is Decision.WINNER and first_call is None:
            first_call = (day, verdict.decision, verdict.winner, verdict)
            break
    return first_call


Verdict_ = tuple[int, Decision, str | None, Verdict] | None


def test_aa_tests_rarely_name_a_false_winner_even_when_checked_daily() -> None:
    false_winners = sum(
        _simulate({HOLDOUT: 0.15, "a": 0.15, "b": 0.15}, seed, days=90, per_day=30) is not None
        for seed in range(200)
    )
    # At most 5% of 200, looking after every one of 90 days (measured: 1 of 200).
    assert false_winners <= 10


def test_a_real_winner_is_named_with_the_right_sign() -> None:
    # One cancel offer truly saves 30%, another 15%, the holdout 5%. With 30 cancels a day
    # (about 10 per arm) the best offer is named, in every one of 40 populations, within 60
    # days (600 people per arm); half of them by day 30 (300 per arm). Measured: median day
    # 21, latest day 45.
    found = [
        _simulate({HOLDOUT: 0.05, "a": 0.30, "b": 0.15}, seed, days=60, per_day=30)
        for seed in range(40)
    ]
    named = [f for f in found if f is not None]
    assert len(named) == 40
    assert all(winner == "a" for _, _, winner, _ in named)
    days = sorted(day for day, _, _, _ in named)
    assert days[len(days) // 2] <= 30
    assert days[-1] <= 60  # the stated sample size: 60 days, about 600 people per arm
    # The right sign: the named offer saves more than the holdout, its interval above zero,
    # and the point estimates order the arms as the truth does (30% > 15% > 5%).
    for _, _, _, verdict in named:
        by_id = {a.id: a for a in verdict.arms}
        assert verdict.control == HOLDOUT
        a, b = by_id["a"], by_id["b"]
        assert a.diff is not None and a.diff_ci is not None and a.diff > 0 < a.diff_ci[0]
        assert b.diff is not None and a.diff > b.diff


def test_no_call_before_the_minimum_sample() -> None:
    arms = [ArmData(HOLDOUT, True, 50, 50, 0), ArmData("a", False, 50, 50, 50)]
    assert decide(arms).decision is Decision.RUNNING
    assert decide(arms, min_sample=20).winner == "a"


def test_no_difference_when_the_intervals_are_tight() -> None:
    arms = [
        ArmData(HOLDOUT, True, 200000, 200000, 20000),
        ArmData("a", False, 200000, 200000, 20100),
    ]
    verdict = decide(arms)
    assert verdict.decision is Decision.NO_DIFFERENCE
    a = verdict.arms[1]
    assert a.diff is not None and a.diff_ci is not None and a.diff_ci[0] < a.diff < a.diff_ci[1]


# --- outcomes per surface, from events ----------------------------------------------------

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _h(kind: str, days: float, **data: object) -> Happened:
    return Happened(kind, T0 + timedelta(days=days), dict(data))


def test_outcomes_wait_for_their_window() -> None:
    paid = [_h("payment", 3, amount=300)]
    assert not outcome(Surface.WINBACK_OFFER, T0, paid, T0 + timedelta(days=29)).measured
    assert outcome(Surface.WINBACK_OFFER, T0, paid, T0 + timedelta(days=30)).converted


def test_winback_and_trial_success_is_a_payment_inside_the_window() -> None:
    # Win-back: paying again within 30 days of the email; trial: paid within 60 days.
    for surface, days in ((Surface.WINBACK_OFFER, 30), (Surface.TRIAL_LENGTH, 60)):
        end = T0 + timedelta(days=days)
        inside = [_h("trial_started", 0.5), _h("payment", days - 1, amount=300)]
        late = [_h("payment", days + 1, amount=300)]
        assert not outcome(surface, T0, inside, end - timedelta(days=1)).measured, surface
        assert outcome(surface, T0, inside, end).converted, surface
        assert not outcome(surface, T0, late, end + timedelta(days=5)).converted, surface
        assert not outcome(surface, T0, [_h("access_ended", 3)], end).converted, surface


def test_cancel_offer_success_is_still_a_member_at_day_30() -> None:
    later = T0 + timedelta(days=40)
    saved = [_h("offer_accepted", 0.1), _h("payment", 20, amount=210)]
    lost = [_h("access_ended", 20)]
    undone_then_left = [_h("cancel_undone", 1), _h("canceled", 10), _h("access_ended", 25)]
    came_back = [_h("access_ended", 5), _h("payment", 12, amount=300)]
    assert outcome(Surface.CANCEL_OFFER, T0, saved, later).converted
    assert not outcome(Surface.CANCEL_OFFER, T0, lost, later).converted
    assert not outcome(Surface.CANCEL_OFFER, T0, undone_then_left, later).converted
    assert outcome(Surface.CANCEL_OFFER, T0, came_back, later).converted
    # After the window: not counted.
    assert not outcome(Surface.CANCEL_OFFER, T0, [_h("payment", 31)], later).converted


def test_price_outcome_counts_stars_received_less_refunds() -> None:
    events = [
        _h("payment", 1, amount=250, currency="XTR"),
        _h("payment", 31, amount=250, currency="XTR"),
        _h("refunded", 32, amount=250, currency="XTR"),
        _h("payment", 95, amount=250, currency="XTR"),  # after the 90 days
    ]
    got = outcome(Surface.PLAN_PRICE, T0, events, T0 + timedelta(days=100))
    assert got.converted and got.stars == 250


def test_upgrade_outcome_is_a_higher_plan_within_14_days() -> None:
    tiers = {"basic": 1, "plus": 2, "pro": 3}
    later = T0 + timedelta(days=20)
    up = [_h("plan_changed", 3, from_plan="plus", to_plan="pro")]
    down = [_h("plan_changed", 3, from_plan="plus", to_plan="basic")]
    trial_buys_pro = [_h("activated", 5, plan="pro", billing="monthly")]
    trial_buys_plus = [_h("activated", 5, plan="plus", billing="monthly")]
    assert outcome(Surface.UPGRADE_PROMPT, T0, up, later, tiers=tiers).converted
    assert not outcome(Surface.UPGRADE_PROMPT, T0, down, later, tiers=tiers).converted
    for bought, upgraded in ((trial_buys_pro, True), (trial_buys_plus, False)):
        got = outcome(Surface.UPGRADE_PROMPT, T0, bought, later, tiers=tiers, from_plan="plus")
        assert got.converted is upgraded
