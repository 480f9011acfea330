"""Pure rules of the customer side: invoice payloads and pre-checkout checks, prices with
offers, offer matching, upgrade-prompt eligibility, and email normalisation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from forever.domain.catalog import CancelReason, UpgradeRules, load_catalog
from forever.domain.lifecycle import Billing, Membership, State
from forever.domain.offers import match_offer, winback_offer
from forever.domain.payments import (
    InvoiceFacts,
    InvoiceKind,
    Refusal,
    check_pre_checkout,
    make_payload,
    price,
    read_payload,
)
from forever.domain.signing import Signer
from forever.domain.upgrades import PromptFacts, PromptRule, upgrade_rule
from forever.services.signup import normalize_email

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog.toml")
SIGNER = Signer("unit-test-secret")


# --- payloads ----------------------------------------------------------------------------


def test_payload_round_trip_is_small_and_signed() -> None:
    payload = make_payload(SIGNER, 123456789)
    assert len(payload.encode()) < 128
    assert read_payload(SIGNER, payload) == 123456789


@pytest.mark.parametrize(
    "bad",
    ["", "garbage", "MTIz.AAAAAAAAAAAAAAAA", "x" * 200, "MTIz", "."],
)
def test_foreign_or_malformed_payloads_name_no_invoice(bad: str) -> None:
    assert read_payload(SIGNER, bad) is None


def test_a_tampered_or_foreign_key_payload_is_rejected() -> None:
    payload = make_payload(SIGNER, 7)
    _, mac = payload.split(".")
    other_body = make_payload(SIGNER, 8).split(".")[0]
    assert read_payload(SIGNER, f"{other_body}.{mac}") is None
    assert read_payload(Signer("another key"), payload) is None
    assert read_payload(SIGNER, Signer("x").sign("unsubscribe", "7")) is None


def _facts(**changes: object) -> InvoiceFacts:
    base = InvoiceFacts(
        payer_telegram_id=42,
        plan_exists=True,
        amount=300,
        currency="XTR",
        expires_at=NOW + timedelta(hours=1),
        paid=False,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("facts", "payer", "currency", "amount", "expected"),
    [
        (_facts(), 42, "XTR", 300, None),
        (None, 42, "XTR", 300, Refusal.UNKNOWN),
        (_facts(), 43, "XTR", 300, Refusal.WRONG_PAYER),
        (_facts(), 42, "XTR", 299, Refusal.WRONG_AMOUNT),
        (_facts(), 42, "EUR", 300, Refusal.WRONG_AMOUNT),
        (_facts(paid=True), 42, "XTR", 300, Refusal.PAID),
        (_facts(plan_exists=False), 42, "XTR", 300, Refusal.PLAN_GONE),
        (_facts(expires_at=NOW), 42, "XTR", 300, Refusal.STALE),
    ],
)
def test_pre_checkout_rules(
    facts: InvoiceFacts | None, payer: int, currency: str, amount: int, expected: Refusal | None
) -> None:
    got = check_pre_checkout(
        facts, payer_telegram_id=payer, currency=currency, amount=amount, now=NOW
    )
    assert got == expected


def test_prices_and_discounts() -> None:
    plus = CATALOG.plan("plus")
    assert plus is not None
    assert price(plus, InvoiceKind.SUBSCRIPTION) == 300
    assert price(plus, InvoiceKind.YEARLY) == 3000
    assert price(plus, InvoiceKind.ONE_MONTH, CATALOG.offers["discount_30"]) == 210
    assert price(plus, InvoiceKind.ONE_MONTH, CATALOG.offers["pause_month"]) == 300
    assert InvoiceKind.SUBSCRIPTION.renews and not InvoiceKind.YEARLY.renews
    assert InvoiceKind.ONE_MONTH.billing is Billing.MONTHLY
    assert InvoiceKind.YEARLY.period == timedelta(days=365)


# --- offers ------------------------------------------------------------------------------

CANCELED_PLUS = Membership(
    state=State.CANCEL_SCHEDULED,
    plan_id="plus",
    billing=Billing.MONTHLY,
    period_end=NOW + timedelta(days=10),
)


def test_each_reason_gets_its_catalog_offer_or_none() -> None:
    assert match_offer(CATALOG, CancelReason.TOO_EXPENSIVE, CANCELED_PLUS).id == "discount_30"
    assert match_offer(CATALOG, CancelReason.NOT_USING, CANCELED_PLUS).id == "pause_month"
    assert match_offer(CATALOG, CancelReason.OTHER, CANCELED_PLUS).id == "lower_tier"
    assert match_offer(CATALOG, CancelReason.MISSING_FEATURE, CANCELED_PLUS) is None
    assert match_offer(CATALOG, CancelReason.TECHNICAL, CANCELED_PLUS) is None


def test_a_trial_gets_the_first_offer_that_fits_a_trial() -> None:
    trial = replace(CANCELED_PLUS, billing=Billing.TRIAL)
    # No discount on a trial: the next in the list, the cheaper tier.
    assert match_offer(CATALOG, CancelReason.TOO_EXPENSIVE, trial).id == "lower_tier"
    # No pause for a trial: a longer trial instead.
    assert match_offer(CATALOG, CancelReason.NOT_USING, trial).id == "longer_trial"
    assert match_offer(CATALOG, CancelReason.MISSING_FEATURE, trial) is None
    # ...and a paying member never gets the longer trial.
    assert match_offer(CATALOG, CancelReason.TECHNICAL, CANCELED_PLUS) is None


def test_a_gift_goes_once_per_period_then_the_next_offer_in_the_list() -> None:
    used = ["comeback_40"]  # a discount had within the period
    assert match_offer(CATALOG, CancelReason.TOO_EXPENSIVE, CANCELED_PLUS, used).id == "lower_tier"
    # A pause or a lower tier had before does not use up the gift.
    assert match_offer(CATALOG, CancelReason.TOO_EXPENSIVE, CANCELED_PLUS, ["lower_tier"]).id == (
        "discount_30"
    )
    ended = replace(CANCELED_PLUS, state=State.EXPIRED)
    assert winback_offer(CATALOG, "comeback_40", ended, ["discount_30"]) is None
    assert winback_offer(CATALOG, "lower_tier", ended, ["discount_30"]).id == "lower_tier"
    assert winback_offer(CATALOG, "longer_trial", ended) is None


def test_no_offer_without_a_lower_tier() -> None:
    basic = replace(CANCELED_PLUS, plan_id="basic")
    assert match_offer(CATALOG, CancelReason.OTHER, basic) is None
    active = replace(CANCELED_PLUS, state=State.ACTIVE)
    assert match_offer(CATALOG, CancelReason.TOO_EXPENSIVE, active) is None


def test_winback_offers_only_for_people_without_access() -> None:
    ended = replace(CANCELED_PLUS, state=State.EXPIRED)
    assert winback_offer(CATALOG, "discount_30", ended).id == "discount_30"
    assert winback_offer(CATALOG, "pause_month", ended) is None
    assert winback_offer(CATALOG, "nonexistent", ended) is None
    assert winback_offer(CATALOG, "discount_30", CANCELED_PLUS) is None


# --- upgrade prompts ---------------------------------------------------------------------

RULES = UpgradeRules(cap_days=7, quiet_after_cancel_days=30, trial_progress=0.5, usage_ratio=1.0)


def _prompt(**changes: object) -> PromptFacts:
    base = PromptFacts(
        membership=Membership(state=State.TRIAL, plan_id="plus", billing=Billing.TRIAL),
        trial_started_at=NOW - timedelta(days=4),
        trial_days=7,
        usage=0,
        usage_limit=40,
        has_higher_tier=True,
        last_prompt_at=None,
        last_cancel_at=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_trial_progress_prompts_halfway() -> None:
    assert upgrade_rule(_prompt(), RULES, NOW) is PromptRule.TRIAL_PROGRESS
    early = _prompt(trial_started_at=NOW - timedelta(days=3))
    assert upgrade_rule(early, RULES, NOW) is None


def test_usage_prompts_at_the_limit() -> None:
    active = Membership(state=State.ACTIVE, plan_id="basic", billing=Billing.MONTHLY)
    assert upgrade_rule(_prompt(membership=active, usage=40), RULES, NOW) is PromptRule.USAGE
    assert upgrade_rule(_prompt(membership=active, usage=39), RULES, NOW) is None
    assert upgrade_rule(_prompt(membership=active, usage=99, usage_limit=None), RULES, NOW) is None


def test_cap_recent_cancel_state_and_top_tier_silence_prompts() -> None:
    assert upgrade_rule(_prompt(last_prompt_at=NOW - timedelta(days=6)), RULES, NOW) is None
    assert upgrade_rule(_prompt(last_prompt_at=NOW - timedelta(days=7)), RULES, NOW) is not None
    assert upgrade_rule(_prompt(last_cancel_at=NOW - timedelta(days=29)), RULES, NOW) is None
    assert upgrade_rule(_prompt(has_higher_tier=False), RULES, NOW) is None
    paused = Membership(state=State.PAUSED, plan_id="plus", billing=Billing.MONTHLY)
    assert upgrade_rule(_prompt(membership=paused, usage=99), RULES, NOW) is None
    off = replace(RULES, trial_progress=None)
    assert upgrade_rule(_prompt(), off, NOW) is None


# --- email addresses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ana@example.com", "ana@example.com"),
        ("  Ana@Example.COM ", "Ana@example.com"),
        ("a@b", None),
        ("not an email", None),
        ("ana@@example.com", None),
        ("x" * 5000 + "@example.com", None),
        ("", None),
    ],
)
def test_email_normalisation(text: str, expected: str | None) -> None:
    assert normalize_email(text) == expected
