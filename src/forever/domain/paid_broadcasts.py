"""Telegram's paid broadcasts: up to 1000 messages/s for 0.1 Star per message.

Amounts are kept in nanostars (StarAmount's `amount` plus `nanostar_amount`), so 0.1 Star
is exact. The cost staff see and that the balance must cover is rounded up to whole Stars.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

NANOS_PER_STAR = 1_000_000_000
NANOS_PER_MESSAGE = NANOS_PER_STAR // 10  # 0.1 Star


@dataclass(frozen=True, slots=True, order=True)
class Stars:
    """An amount of Telegram Stars, exact to the nanostar."""

    nanos: int

    @classmethod
    def of(cls, amount: int, nanostar_amount: int = 0) -> Stars:
        """From a Bot API StarAmount."""
        return cls(amount * NANOS_PER_STAR + nanostar_amount)

    @classmethod
    def whole(cls, stars: int) -> Stars:
        return cls(stars * NANOS_PER_STAR)

    def text(self) -> str:
        """`12`, `12.5`, `0.3`: no trailing zeros, no exponent."""
        value = Decimal(self.nanos) / NANOS_PER_STAR
        shown = f"{value:f}"
        if "." in shown:
            shown = shown.rstrip("0").rstrip(".")
        return shown


def cost(recipients: int) -> int:
    """Whole Stars a paid broadcast to `recipients` people may cost: 0.1 each, rounded up."""
    return -(-max(recipients, 0) * NANOS_PER_MESSAGE // NANOS_PER_STAR)


def affordable(balance: Stars, recipients: int) -> bool:
    return balance >= Stars.whole(cost(recipients))


def spent(messages: int) -> Stars:
    """What `messages` paid messages took from the balance."""
    return Stars(messages * NANOS_PER_MESSAGE)
