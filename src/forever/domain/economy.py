"""Membership economy (issue 19): add-ons and pay-per-use credits, as pure rules.

The catalog describes what can be bought (`[[addons]]`, `[[credit_packs]]`); the ledger rules
here decide what an entry does to a balance. The balance never goes below zero: a debit larger
than the balance takes what is there and reports the shortfall (staff see it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

Localized = dict[str, str]

# The largest amount one usage call or ledger entry may carry (a guard against typos and
# overflowing sums, not a business limit).
MAX_AMOUNT = 1_000_000


@dataclass(frozen=True, slots=True)
class AddOn:
    """A one-off purchase with Stars: for `days` (a duration) or `quantity` units, never both."""

    id: str
    name: Localized
    description: Localized
    stars: int
    plans: tuple[str, ...] = ()  # empty: any plan (and people without one) may buy it
    days: int | None = None
    quantity: int | None = None
    chats: tuple[str, ...] = ()
    # Suggested (once per upgrade-prompt cap period) to a member whose plan may buy it once
    # their usage this month reaches this; None: never suggested.
    suggest_usage: int | None = None

    def available_to(self, plan_id: str | None) -> bool:
        return not self.plans or plan_id in self.plans


@dataclass(frozen=True, slots=True)
class CreditPack:
    id: str
    name: Localized
    credits: int
    stars: int


class AmountError(ValueError):
    """A usage or ledger amount that cannot be accepted; the message says why."""


def parse_amount(raw: object) -> int:
    """A whole positive number of credits, from a CLI argument or a JSON body."""
    if isinstance(raw, bool):
        raise AmountError("amount must be a whole number of credits, got a true/false value")
    if isinstance(raw, str):
        text = raw.strip()
        if not text.lstrip("+-").isdigit():
            raise AmountError(f"amount must be a whole number of credits, got {raw!r}")
        value = int(text)
    elif isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and raw.is_integer():
        value = int(raw)
    else:
        raise AmountError(f"amount must be a whole number of credits, got {raw!r}")
    if value <= 0:
        raise AmountError(f"amount must be at least 1, got {value}")
    if value > MAX_AMOUNT:
        raise AmountError(f"amount must be at most {MAX_AMOUNT}, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class Debit:
    """What a debit does: `taken` leaves the balance, `shortfall` could not be taken."""

    taken: int
    shortfall: int
    balance_after: int


def debit(balance: int, amount: int, *, partial: bool) -> Debit | None:
    """Take `amount` from `balance`.

    Usage is all or nothing (`partial=False`: None when the balance is too small). A refund of a
    pack whose credits were partly spent takes what is left (`partial=True`) and the rest is the
    shortfall, so the balance never goes negative.
    """
    if balance < 0 or amount <= 0:
        raise ValueError("a balance is never negative and a debit is positive")
    if amount <= balance:
        return Debit(taken=amount, shortfall=0, balance_after=balance - amount)
    if not partial:
        return None
    return Debit(taken=balance, shortfall=amount - balance, balance_after=0)


def crossed_low(before: int, after: int, threshold: int) -> bool:
    """Whether a debit took the balance across the low-balance threshold (from above it to
    it or below): the notice goes once per crossing, not at every call below it. A threshold
    of 0 turns the notice off."""
    return threshold > 0 and before > threshold >= after


def is_low(balance: int, threshold: int) -> bool:
    """Whether a balance that just fell deserves the low-balance notice."""
    return balance <= threshold


# --- the economy's figures in /stats (README "The numbers") ----------------------------------


@dataclass(frozen=True, slots=True)
class AddonSale:
    stars: int
    purchased_at: datetime
    refunded_at: datetime | None


@dataclass(frozen=True, slots=True)
class LedgerRow:
    kind: str  # purchase | usage | refund
    amount: int  # signed: + bought, - used or taken back
    at: datetime
    key: str  # buy:<charge> | use:<request> | refund:<charge>
    person_id: int
    stars: int | None = None  # on a purchase


@dataclass(frozen=True, slots=True)
class EconomyKpis:
    addons_sold: int  # add-ons bought in the period
    addon_stars: int  # their Stars
    addon_refunded_stars: int  # Stars of add-ons refunded in the period
    packs_sold: int  # credit packs bought in the period
    pack_stars: int
    pack_refunded_stars: int  # Stars of packs refunded in the period
    credits_sold: int  # credits those packs gave
    credits_used: int  # credits spent by usage in the period
    credit_users: int  # people who spent credits in the period

    @property
    def addon_revenue(self) -> int:
        return self.addon_stars - self.addon_refunded_stars

    @property
    def credit_revenue(self) -> int:
        return self.pack_stars - self.pack_refunded_stars

    def total_revenue(self, plan_revenue: int) -> int:
        return plan_revenue + self.addon_revenue + self.credit_revenue

    def arpu(self, plan_revenue: int, members: int) -> float | None:
        """All the period's revenue (plans, add-ons, credit packs; refunds taken off) per
        active member at its end; None without members."""
        return self.total_revenue(plan_revenue) / members if members else None


def economy_kpis(
    sales: Iterable[AddonSale], ledger: Iterable[LedgerRow], start: datetime, end: datetime
) -> EconomyKpis:
    """The period is (start, end]."""

    def within(at: datetime | None) -> bool:
        return at is not None and start < at <= end

    sales = list(sales)
    rows = list(ledger)
    paid = {r.key.removeprefix("buy:"): r.stars or 0 for r in rows if r.kind == "purchase"}
    bought = [r for r in rows if r.kind == "purchase" and within(r.at)]
    used = [r for r in rows if r.kind == "usage" and within(r.at)]
    refunds = [r for r in rows if r.kind == "refund" and within(r.at)]
    return EconomyKpis(
        addons_sold=sum(1 for s in sales if within(s.purchased_at)),
        addon_stars=sum(s.stars for s in sales if within(s.purchased_at)),
        addon_refunded_stars=sum(s.stars for s in sales if within(s.refunded_at)),
        packs_sold=len(bought),
        pack_stars=sum(r.stars or 0 for r in bought),
        pack_refunded_stars=sum(paid.get(r.key.removeprefix("refund:"), 0) for r in refunds),
        credits_sold=sum(r.amount for r in bought),
        credits_used=-sum(r.amount for r in used),
        credit_users=len({r.person_id for r in used}),
    )
