"""The fast paid mode's arithmetic: 0.1 Star per message, the cost rounded up to whole Stars,
and the setting that caps its budget."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from forever.config import Settings
from forever.domain.paid_broadcasts import Stars, affordable, cost, spent


@pytest.mark.parametrize(
    ("recipients", "stars"), [(0, 0), (1, 1), (10, 1), (11, 2), (26, 3), (10_000, 1000)]
)
def test_the_cost_is_a_tenth_per_recipient_rounded_up(recipients: int, stars: int) -> None:
    assert cost(recipients) == stars


def test_the_balance_must_cover_the_rounded_up_cost() -> None:
    assert affordable(Stars.whole(3), 26)
    assert not affordable(Stars.of(2, 900_000_000), 26)  # 2.9 < 3 (2.6 exactly)
    assert affordable(Stars.of(0, 0), 0)


def test_amounts_read_as_people_write_them() -> None:
    assert spent(26).text() == "2.6"
    assert spent(10_000).text() == "1000"
    assert Stars.of(12, 500_000_000).text() == "12.5"
    assert Stars.of(0, 1).text() == "0.000000001"


def test_paid_broadcast_rate_is_checked(settings: Settings) -> None:
    base = settings.model_dump()
    with pytest.raises(ValidationError, match="paid_broadcast_rate"):
        Settings(**{**base, "paid_broadcast_rate": 1001})
    with pytest.raises(ValidationError, match="PAID_BROADCAST_RATE: at least BROADCAST_RATE"):
        Settings(**{**base, "broadcast_rate": 28, "paid_broadcast_rate": 20})
    assert Settings(**{**base, "paid_broadcast_rate": 1000}).paid_broadcast_rate == 1000
