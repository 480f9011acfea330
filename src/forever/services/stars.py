"""Stopping or restarting a Stars subscription's renewals: always an outbox row, written in
the transaction of the change that needs it and delivered after commit by the one delivery
worker (retried; the member told and staff alerted if Telegram keeps refusing)."""

from __future__ import annotations

from datetime import datetime

from forever.services.ports import Outbox

STARS_EDIT_CHANNEL = "telegram"
STARS_EDIT_TEMPLATE = "edit_star_subscription"


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
