"""The receipt: a transactional email after every payment and renewal, confirming the
contract in text form (what was bought, for how many Stars, the period it covers, how it
renews and how to cancel in one tap).

A step of the payment use case: queued in the same unit of work as the payment, keyed by
Telegram's charge id, so a payment delivered twice sends one receipt. It needs no marketing
consent, only an address the person gave; it is rendered (in the person's language, with
the link to the bot) when it leaves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from forever.domain.payments import InvoiceKind
from forever.services.ports import Outbox, PeopleRepository

RECEIPT_TEMPLATE = "receipt"


def receipt_key(charge_id: str) -> str:
    return f"receipt:{charge_id}"[:200]


class PaymentRecorded(Protocol):
    """What a recorded payment gave (services.billing.PaymentResult)."""

    @property
    def outcome(self) -> str: ...  # activated | renewed | duplicate | unknown
    @property
    def person_id(self) -> int | None: ...
    @property
    def plan_id(self) -> str | None: ...
    @property
    def kind(self) -> str | None: ...  # an InvoiceKind value
    @property
    def period_end(self) -> datetime | None: ...
    @property
    def renews(self) -> bool: ...


class PaymentMade(Protocol):
    """Telegram's side of it (services.billing.IncomingPayment)."""

    @property
    def charge_id(self) -> str: ...
    @property
    def amount(self) -> int: ...


RECEIPTED = ("activated", "renewed")  # a duplicate or money for no invoice gets none


async def queue_receipt(
    outbox: Outbox,
    people: PeopleRepository,
    result: PaymentRecorded,
    paid: PaymentMade,
    now: datetime,
) -> bool:
    """Queue the receipt of one recorded payment (no commit). False when there is none to
    send (a duplicate, unknown money, no person or no address) or it was queued before."""
    person_id, plan_id = result.person_id, result.plan_id
    if result.outcome not in RECEIPTED or person_id is None or plan_id is None:
        return False
    person = await people.get(person_id)
    if person is None or not person.email or person.erased_at is not None:
        return False
    kind, period_end = result.kind, result.period_end
    try:
        period = InvoiceKind(kind).period if kind else None
    except ValueError:
        period = None
    context: dict[str, Any] = {
        "plan_id": plan_id,
        "kind": kind or "",
        "amount": paid.amount,
        "paid_at": now,
        "period_start": period_end - period if period_end and period else now,
        "period_end": period_end,
        "renews": result.renews,
        "renewal": result.outcome == "renewed",
        "charge_id": paid.charge_id,
    }
    return await outbox.enqueue(
        key=receipt_key(paid.charge_id),
        channel="email",
        person_id=person_id,
        template=RECEIPT_TEMPLATE,
        context=context,
        marketing=False,
        not_before=now,
        now=now,
    )
