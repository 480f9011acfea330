"""Win-back deep links: `/start wb<token>` where the token signs
`<person_id>:<offer_id>:<last valid day>` (the day as a count of days since 1970-01-01 UTC, to
keep the link under Telegram's 64-character limit)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from forever.db.repositories.lifecycle_compat import current
from forever.domain.catalog import Offer, Plan
from forever.domain.offers import winback_offer
from forever.domain.signing import BadToken

if TYPE_CHECKING:
    from forever.app import Container

PREFIX = "wb"
PURPOSE = "winback"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _day_number(instant: datetime) -> int:
    return (instant.astimezone(UTC) - _EPOCH).days


def winback_start_parameter(
    container: Container, person_id: int, offer_id: str, valid_until: datetime
) -> str:
    """The link works through the whole UTC day of `valid_until` (what the email promises)."""
    body = f"{person_id}:{offer_id}:{_day_number(valid_until)}"
    return PREFIX + container.signer.sign_compact(PURPOSE, body)


@dataclass(frozen=True, slots=True)
class WinbackOffer:
    offer: Offer
    plan: Plan


async def read_winback(container: Container, person_id: int, parameter: str) -> WinbackOffer | None:
    """The offer behind a win-back link, if it is ours, for this person, and still fits."""
    if not parameter.startswith(PREFIX):
        return None
    try:
        body = container.signer.verify_compact(PURPOSE, parameter[len(PREFIX) :])
    except BadToken:
        return None
    owner, offer_id, last_day = [*body.split(":"), "", ""][:3]
    if owner != str(person_id) or not last_day.isdigit():
        return None
    if _day_number(container.clock.now()) > int(last_day):
        return None  # expired, as the email said
    snap = await current(container, person_id)
    offer = winback_offer(container.catalog, offer_id, snap.membership)
    if offer is None:
        return None
    catalog = container.catalog
    plan = catalog.plan(snap.membership.plan_id or "") or catalog.plan(catalog.trial.plan_id)
    if plan is None:
        return None
    if offer.kind.value == "lower_tier":
        lower = catalog.next_tier_down(plan.id)
        if lower is None:
            return None
        plan = lower
    return WinbackOffer(offer, plan)
