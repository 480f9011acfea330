"""Win-back deep links: `/start wb<token>` where the token signs
`<person_id>:<offer_id>:<last valid day>` (the day as a count of days since 1970-01-01 UTC, to
keep the link under Telegram's 64-character limit)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from forever.domain.catalog import Catalog, Offer, OfferKind, Plan
from forever.domain.lifecycle import Membership
from forever.domain.offers import winback_offer
from forever.domain.signing import BadToken, Signer

PREFIX = "wb"
PURPOSE = "winback"


class OfferHistory(Protocol):
    """Offers a person had: win-back discounts go once per the catalog's period."""

    async def offers_made(
        self,
        person_id: int,
        since: datetime,
        before: datetime | None = None,
        *,
        taken_only: bool = False,
    ) -> Sequence[str]: ...


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _day_number(instant: datetime) -> int:
    return (instant.astimezone(UTC) - _EPOCH).days


def winback_start_parameter(
    signer: Signer, person_id: int, offer_id: str, valid_until: datetime
) -> str:
    """The link works through the whole UTC day of `valid_until` (what the email promises)."""
    body = f"{person_id}:{offer_id}:{_day_number(valid_until)}"
    return PREFIX + signer.sign_compact(PURPOSE, body)


@dataclass(frozen=True, slots=True)
class WinbackOffer:
    offer: Offer
    plan: Plan


def read_winback(
    signer: Signer,
    catalog: Catalog,
    person_id: int,
    parameter: str,
    membership: Membership,
    now: datetime,
    used: Collection[str] = (),
) -> WinbackOffer | None:
    """The offer behind a win-back link, if it is ours, for this person, and still fits
    (`used`: offers the person had within the catalog's period; a discount goes once)."""
    if not parameter.startswith(PREFIX):
        return None
    try:
        body = signer.verify_compact(PURPOSE, parameter[len(PREFIX) :])
    except BadToken:
        return None
    owner, offer_id, last_day = [*body.split(":"), "", ""][:3]
    if owner != str(person_id) or not last_day.isdigit():
        return None
    if _day_number(now) > int(last_day):
        return None  # expired, as the email said
    offer = winback_offer(catalog, offer_id, membership, used)
    if offer is None:
        return None
    plan = catalog.plan(membership.plan_id or "") or catalog.plan(catalog.trial.plan_id)
    if plan is None:
        return None
    if offer.kind is OfferKind.LOWER_TIER:
        lower = catalog.next_tier_down(plan.id)
        if lower is None:
            return None
        plan = lower
    return WinbackOffer(offer, plan)
