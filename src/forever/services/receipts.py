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
from typing import Any

from forever.domain.payments import InvoiceKind
from forever.services.ports import Outbox, PeopleRepository

RECEIPT_TEMPLATE = "receipt"


def receipt_key(charge_id: str) -> str:
    return f"receipt:{charge_id}"[:200]


async def queue_receipt(
    outbox: Outbox,
    people: PeopleRepository,
    *,
    person_id: int | None,
    charge_id: str,
    plan_id: str | None,
    kind: str | None,
    amount: int,
    period_end: datetime | None,
    renews: bool,
    renewal: bool,
    now: datetime,
) -> bool:
    """Queue the receipt of one recorded payment (no commit). False when there is nobody to
    send it to (no person, no address) or it was queued before."""
    if person_id is None or plan_id is None:
        return False
    person = await people.get(person_id)
    if person is None or not person.email or person.erased_at is not None:
        return False
    try:
        period = InvoiceKind(kind).period if kind else None
    except ValueError:
        period = None
    context: dict[str, Any] = {
        "plan_id": plan_id,
        "kind": kind or "",
        "amount": amount,
        "paid_at": now,
        "period_start": period_end - period if period_end and period else now,
        "period_end": period_end,
        "renews": renews,
        "renewal": renewal,
        "charge_id": charge_id,
    }
    return await outbox.enqueue(
        key=receipt_key(charge_id),
        channel="email",
        person_id=person_id,
        template=RECEIPT_TEMPLATE,
        context=context,
        marketing=False,
        not_before=now,
        now=now,
    )
