"""Promo codes as pure rules (issue 19): what `/promo new` accepts, who may use a code, what it
takes off a price, and the /stats figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from forever.domain.promo import (
    CodeState,
    PromoError,
    PromoKind,
    PromoSpec,
    Refusal,
    check_redeem,
    code_from_start,
    discounted,
    figures,
    normalize_code,
    parse_spec,
)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
PLANS = ("basic", "plus", "pro")


def test_a_full_percent_code() -> None:
    spec = parse_spec("spring20 percent=20 plans=plus,pro limit=100 expires=2027-01-31", PLANS, NOW)
    assert spec == PromoSpec(
        "SPRING20",
        PromoKind.PERCENT,
        percent=20,
        plans=("plus", "pro"),
        limit=100,
        expires_at=datetime(2027, 2, 1, tzinfo=UTC),  # the whole last day counts
    )
    assert str(spec.last_day) == "2027-01-31"


def test_a_days_code_with_nothing_else() -> None:
    spec = parse_spec("WEEK days=14", PLANS, NOW)
    assert (spec.kind, spec.days, spec.plans, spec.limit, spec.expires_at) == (
        PromoKind.DAYS,
        14,
        (),
        None,
        None,
    )
    assert spec.applies_to("basic") and spec.applies_to(None)


@pytest.mark.parametrize(
    ("text", "problem", "value"),
    [
        ("", "missing_code", ""),
        ("ab percent=10", "bad_code", "ab"),
        ("SPRING!20 percent=10", "bad_code", "SPRING!20"),
        ("percent=10", "bad_code", "percent=10"),
        ("X" * 33 + " percent=10", "bad_code", "X" * 33),
        ("SPRING20", "one_kind", ""),
        ("SPRING20 percent=10 days=3", "one_kind", ""),
        ("SPRING20 percent=0", "bad_percent", "0"),
        ("SPRING20 percent=91", "bad_percent", "91"),
        ("SPRING20 percent=-5", "bad_percent", "-5"),
        ("SPRING20 percent=ten", "bad_percent", "ten"),
        ("SPRING20 percent=2.5", "bad_percent", "2.5"),
        ("SPRING20 days=0", "bad_days", "0"),
        ("SPRING20 days=366", "bad_days", "366"),
        ("SPRING20 days=99999999999999999999", "bad_days", "99999999999999999999"),
        ("SPRING20 percent=10 limit=0", "bad_limit", "0"),
        ("SPRING20 percent=10 limit=many", "bad_limit", "many"),
        ("SPRING20 percent=10 plans=plus,gold", "unknown_plan", "gold"),
        ("SPRING20 percent=10 expires=31/01/2027", "bad_expires", "31/01/2027"),
        ("SPRING20 percent=10 expires=2026-11-22", "past_expires", "2026-11-22"),
        ("SPRING20 percent=10 colour=red", "unknown_option", "colour"),
        ("SPRING20 percent=10 percent=20", "repeated_option", "percent"),
        ("SPRING20 percent=10 plus", "bad_option", "plus"),
        ("SPRING20 percent=", "bad_option", "percent="),
    ],
)
def test_bad_codes_are_refused_with_the_rule_they_break(
    text: str, problem: str, value: str
) -> None:
    with pytest.raises(PromoError) as caught:
        parse_spec(text, PLANS, NOW)
    assert (caught.value.problem, caught.value.value) == (problem, value)


def test_the_last_day_is_today_still_works_until_midnight() -> None:
    spec = parse_spec("TODAY percent=5 expires=2026-11-23", PLANS, NOW)
    assert spec.expires_at == datetime(2026, 11, 24, tzinfo=UTC)


def test_codes_are_read_in_any_case_and_from_start_links() -> None:
    assert normalize_code(" spring-20_x ") == "SPRING-20_X"
    assert normalize_code("é20") is None
    assert code_from_start("p_SPRING20") == "SPRING20"
    assert code_from_start("p_") == ""
    assert code_from_start("wb_abc") is None and code_from_start(None) is None


def _state(
    kind: PromoKind = PromoKind.PERCENT,
    *,
    plans: tuple[str, ...] = (),
    limit: int | None = None,
    uses: int = 0,
    expires_at: datetime | None = None,
    disabled: bool = False,
) -> CodeState:
    spec = PromoSpec(
        "CODE",
        kind,
        percent=20 if kind is PromoKind.PERCENT else None,
        days=7 if kind is PromoKind.DAYS else None,
        plans=plans,
        limit=limit,
        expires_at=expires_at,
    )
    return CodeState(spec, uses, disabled)


@pytest.mark.parametrize(
    ("code", "used_before", "plan", "extendable", "refusal"),
    [
        (None, False, "plus", True, Refusal.UNKNOWN),
        (_state(disabled=True, uses=9, limit=1), True, "plus", True, Refusal.DISABLED),
        (_state(expires_at=NOW), False, "plus", True, Refusal.EXPIRED),
        (_state(expires_at=NOW + timedelta(seconds=1)), False, "plus", True, None),
        (_state(limit=1, uses=1), True, "plus", True, Refusal.ALREADY_USED),
        (_state(limit=3, uses=3), False, "plus", True, Refusal.USED_UP),
        (_state(limit=3, uses=2), False, None, False, None),  # percent: for the next payment
        (_state(plans=("pro",)), False, "plus", True, None),  # percent: the next Pro payment
        (_state(PromoKind.DAYS, plans=("pro",)), False, "plus", True, Refusal.NOT_APPLICABLE),
        (_state(PromoKind.DAYS), False, None, False, Refusal.NO_MEMBERSHIP),
        (_state(PromoKind.DAYS, plans=("plus",)), False, "plus", True, None),
    ],
)
def test_who_may_use_a_code(
    code: CodeState | None,
    used_before: bool,
    plan: str | None,
    extendable: bool,
    refusal: Refusal | None,
) -> None:
    assert (
        check_redeem(code, now=NOW, used_before=used_before, plan_id=plan, extendable=extendable)
        is refusal
    )


@pytest.mark.parametrize(
    ("stars", "percent", "price"), [(300, 20, 240), (150, 33, 100), (1, 90, 1), (3000, 90, 300)]
)
def test_a_percent_off_rounds_down_and_never_below_one_star(
    stars: int, percent: int, price: int
) -> None:
    assert discounted(stars, percent) == price


def test_figures_count_the_period_only() -> None:
    def row(kind: str, days: int, **data: object) -> SimpleNamespace:
        return SimpleNamespace(kind=kind, at=NOW - timedelta(days=days), data=data)

    rows = [
        row("promo_redeemed", 40),  # before the period
        row("promo_redeemed", 3),
        row("promo_redeemed", 0),  # at the end: counted
        row("promo_paid", 2, discount=60),
        row("promo_paid", 31, discount=500),
        row("payment", 1, amount=240),
    ]
    f = figures(rows, NOW - timedelta(days=30), NOW)
    assert (f.redeemed, f.paid, f.discount_stars) == (2, 1, 60)
