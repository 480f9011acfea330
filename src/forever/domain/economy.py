"""Membership economy (issue 19): add-ons and pay-per-use credits, as pure rules.

The catalog describes what can be bought (`[[addons]]`, `[[credit_packs]]`); the ledger rules
here decide what an entry does to a balance. The balance never goes below zero: a debit larger
than the balance takes what is there and reports the shortfall (staff see it).
"""

from __future__ import annotations

from dataclasses import dataclass

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
