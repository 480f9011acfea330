"""Save offers after a cancel: which one (at most one) matches the reason given."""

from __future__ import annotations

from forever.domain.catalog import CancelReason, Catalog, Offer, OfferKind
from forever.domain.lifecycle import Billing, Membership, State

PAID = frozenset({Billing.MONTHLY, Billing.YEARLY})


def match_offer(catalog: Catalog, reason: CancelReason, m: Membership) -> Offer | None:
    """The catalog's offer for this reason, if it makes sense for this membership.

    Offers are for paying members who just cancelled: a trial has nothing to pause or
    discount, and a lower tier needs a tier below the current one.
    """
    offer = catalog.offer_for(reason)
    if offer is None or m.state is not State.CANCEL_SCHEDULED or m.billing not in PAID:
        return None
    if offer.kind is OfferKind.LOWER_TIER and (
        m.plan_id is None or catalog.next_tier_down(m.plan_id) is None
    ):
        return None
    if offer.kind is OfferKind.PAUSE and offer.months not in catalog.pause_months:
        return None
    return offer


def winback_offer(catalog: Catalog, offer_id: str, m: Membership) -> Offer | None:
    """A win-back link's offer, for someone without access (a pause has nothing to pause)."""
    offer = catalog.offers.get(offer_id)
    if offer is None or m.has_access or m.state is State.PAUSED:
        return None
    if offer.kind is OfferKind.PAUSE:
        return None
    return offer
