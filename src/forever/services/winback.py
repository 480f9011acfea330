"""Win-back deep links: `/start wb<token>` where the token signs `<person_id>:<offer_id>`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from forever.domain.catalog import Offer, Plan
from forever.domain.offers import winback_offer
from forever.domain.signing import BadToken
from forever.services.accounts import current

if TYPE_CHECKING:
    from forever.app import Container

PREFIX = "wb"
PURPOSE = "winback"


def winback_start_parameter(container: Container, person_id: int, offer_id: str) -> str:
    return PREFIX + container.signer.sign_compact(PURPOSE, f"{person_id}:{offer_id}")


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
    owner, _, offer_id = body.partition(":")
    if owner != str(person_id):
        return None
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
