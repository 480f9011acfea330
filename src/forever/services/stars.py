"""Effects on a person's Stars at Telegram: stopping or restarting a subscription's renewals,
refunding a payment. Always an outbox row, written in the transaction of the change that needs
it and delivered after commit by the one delivery worker (retried; the member told and staff
alerted if Telegram keeps refusing)."""

from __future__ import annotations

from datetime import datetime

from forever.services.ports import Outbox

STARS_EDIT_CHANNEL = "telegram"
STARS_EDIT_TEMPLATE = "edit_star_subscription"
STARS_REFUND_TEMPLATE = "refund_star_payment"


async def queue_stars_edit(
    outbox: Outbox,
    *,
    key: str,
    person_id: int,
    telegram_id: int,
    charge_id: str,
    canceled: bool,
    now: datetime,
) -> bool:
    """`editUserStarSubscription(is_canceled=canceled)` once per `key`. The caller kicks the
    delivery worker after its commit so the edit leaves within about a second."""
    return await outbox.enqueue(
        key=key,
        channel=STARS_EDIT_CHANNEL,
        person_id=person_id,
        template=STARS_EDIT_TEMPLATE,
        context={"user_id": telegram_id, "charge_id": charge_id, "is_canceled": canceled},
        marketing=False,
        not_before=now,
        now=now,
    )


async def queue_refund(
    outbox: Outbox,
    *,
    person_id: int | None,
    telegram_id: int,
    charge_id: str,
    reason: str,
    now: datetime,
) -> bool:
    """`refundStarPayment` of one charge, once: the key is the charge id, so however many paths
    decide to refund the same payment, Telegram is asked once. `reason` is kept with the row
    (staff see it if Telegram keeps refusing). The caller kicks the worker after its commit."""
    return await outbox.enqueue(
        key=f"refund:{charge_id}"[:200],
        channel=STARS_EDIT_CHANNEL,
        person_id=person_id,
        template=STARS_REFUND_TEMPLATE,
        context={"user_id": telegram_id, "charge_id": charge_id, "reason": reason},
        marketing=False,
        not_before=now,
        now=now,
    )
