"""The credit ledger on a real database (issue 19): never negative, every entry once."""

import asyncio

import pytest
from sqlalchemy import func, select

from forever.app import Container
from forever.db.models import AuditEntry, CreditEntry
from forever.domain.economy import AmountError
from forever.services.credits import Outcome
from forever.wiring.economy import credit_ledger, shop
from tests.integration.people import add_person


async def test_buy_spend_and_repeat_by_request_id(container: Container) -> None:
    await add_person(container, telegram_id=7)
    ledger = credit_ledger(container)
    bought = await ledger.buy(7, 100, charge_id="ch-1", pack_id="credits_100")
    assert (bought.outcome, bought.balance) == (Outcome.DONE, 100)
    # Telegram delivers the same successful payment twice: credited once.
    again = await ledger.buy(7, 100, charge_id="ch-1", pack_id="credits_100")
    assert (again.outcome, again.balance) == (Outcome.REPEATED, 100)

    used = await ledger.use(7, "30", "req-a")
    assert (used.outcome, used.balance) == (Outcome.DONE, 70)
    repeated = await ledger.use(7, "30", "req-a")
    assert (repeated.outcome, repeated.balance) == (Outcome.REPEATED, 70)
    too_much = await ledger.use(7, 71, "req-b")
    assert (too_much.outcome, too_much.balance) == (Outcome.INSUFFICIENT, 70)


async def test_a_refund_after_spending_leaves_zero_and_records_the_shortfall(
    container: Container,
) -> None:
    await add_person(container, telegram_id=8)
    ledger = credit_ledger(container)
    await ledger.buy(8, 100, charge_id="ch-2", pack_id="credits_100")
    await ledger.use(8, 60, "r1")
    refunded = await ledger.refund(8, 100, charge_id="ch-2")
    assert (refunded.outcome, refunded.balance, refunded.shortfall) == (Outcome.DONE, 0, 60)
    assert (await ledger.use(8, 1, "r2")).outcome is Outcome.INSUFFICIENT


@pytest.mark.parametrize(
    ("amount", "request_id", "message"),
    [
        (-5, "x", "at least 1"),
        ("lots", "x", "whole number"),
        (10**9, "x", "at most"),
        (1, "", "request id"),
        (1, "a b", "without spaces"),
    ],
)
async def test_bad_usage_input_is_refused_before_anything_is_written(
    container: Container, amount: object, request_id: str, message: str
) -> None:
    await add_person(container, telegram_id=9)
    ledger = credit_ledger(container)
    await ledger.buy(9, 10, charge_id="ch-3", pack_id="credits_100")
    with pytest.raises((AmountError, ValueError), match=message):
        await ledger.use(9, amount, request_id)
    assert (await ledger.use(9, 10, "ok")).balance == 0


async def test_unknown_person(container: Container) -> None:
    assert (await credit_ledger(container).use(404, 1, "r")).outcome is Outcome.UNKNOWN_PERSON


async def test_concurrent_spends_never_overdraw(container: Container) -> None:
    await add_person(container, telegram_id=10)
    ledger = credit_ledger(container)
    await ledger.buy(10, 5, charge_id="ch-4", pack_id="credits_100")
    results = await asyncio.gather(
        *(ledger.use(10, 2, f"c{i}") for i in range(4)), return_exceptions=True
    )
    done = [r for r in results if not isinstance(r, BaseException) and r.outcome is Outcome.DONE]
    assert len(done) == 2
    final = await ledger.use(10, 1, "last")
    assert (final.outcome, final.balance) == (Outcome.DONE, 0)


async def test_two_confirmed_shop_refunds_at_once_refund_once(container: Container) -> None:
    """Staff tap "Refund" twice at the same instant (issue 19): one refund, one audit entry,
    the credits taken back once; the other call answers that it was already refunded."""
    await add_person(container, telegram_id=11)
    await credit_ledger(container).buy(11, 100, charge_id="ch-5", pack_id="credits_100", stars=50)
    store = shop(container)
    results = await asyncio.gather(
        store.staff_refund(staff_id=900001, charge_id="ch-5", note="twice"),
        store.staff_refund(staff_id=900001, charge_id="ch-5", note="twice"),
        return_exceptions=True,
    )
    outcomes = sorted(
        r.outcome.value for r in results if not isinstance(r, BaseException) and r is not None
    )
    assert outcomes == ["already", "ok"], results
    async with container.sessions() as session:
        audits = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "refund")
        )
        refunds = await session.scalar(
            select(func.count()).select_from(CreditEntry).where(CreditEntry.kind == "refund")
        )
    assert (audits, refunds) == (1, 1)
    assert (await credit_ledger(container).use(11, 1, "after")).outcome is Outcome.INSUFFICIENT
