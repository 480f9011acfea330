"""Offers after a cancel and in win-back links: which one (at most one) fits the person.

The catalog maps each cancel reason to offers in order of preference; the first one that
fits the person's state, and that is not a gift they already had within the catalog's
period (`offer_once_per_days`), is made.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from forever.domain.catalog import CancelReason, Catalog, Offer, OfferKind
from forever.domain.lifecycle import Billing, Membership, State

PAID = frozenset({Billing.MONTHLY, Billing.YEARLY})


def offer_window_start(catalog: Catalog, now: datetime) -> datetime:
    """Gifts made since this instant count against the next one."""
    return now - timedelta(days=catalog.offer_once_per_days)


def fits(catalog: Catalog, offer: Offer, m: Membership) -> bool:
    """Whether this save offer makes sense for a membership whose cancel is scheduled."""
    if m.state is not State.CANCEL_SCHEDULED:
        return False
    paid = m.billing in PAID
    trial = m.billing is Billing.TRIAL
    if offer.kind is OfferKind.PAUSE:
        return paid and offer.months in catalog.pause_months
    if offer.kind is OfferKind.DISCOUNT:
        return paid and catalog.plan(m.plan_id or "") is not None
    if offer.kind is OfferKind.LONGER_TRIAL:
        return trial
    # LOWER_TIER: paying or trying, with a tier below
    return (paid or trial) and catalog.next_tier_down(m.plan_id or "") is not None


def match_offer(
    catalog: Catalog,
    reason: CancelReason,
    m: Membership,
    used: Collection[str] = (),
) -> Offer | None:
    """The first of the reason's offers that fits this membership and is not a gift (a
    discount, a longer trial) while `used` (offer ids made or taken within the period) holds
    one already."""
    gifted = any((o := catalog.offers.get(offer_id)) is not None and o.limited for offer_id in used)
    for offer in catalog.offers_for(reason):
        if offer.limited and gifted:
            continue
        if fits(catalog, offer, m):
            return offer
    return None


def winback_offer(
    catalog: Catalog, offer_id: str, m: Membership, used: Collection[str] = ()
) -> Offer | None:
    """A win-back link's offer, for someone without access (a pause has nothing to pause),
    and a discount only when no gift was taken within the period."""
    offer = catalog.offers.get(offer_id)
    if offer is None or m.has_access or m.state is State.PAUSED:
        return None
    if offer.kind in (OfferKind.PAUSE, OfferKind.LONGER_TRIAL):
        return None
    if offer.limited and any((o := catalog.offers.get(u)) is not None and o.limited for u in used):
        return None
    return offer


def offer_available(
    catalog: Catalog, offer_id: str | None, m: Membership, used: Collection[str] = ()
) -> bool:
    """Whether an experiment arm's save offer could be made to this membership: "no offer"
    always can; an offer must fit and, if a gift, not follow another gift within the period."""
    if offer_id is None:
        return True
    offer = catalog.offers.get(offer_id)
    if offer is None or not fits(catalog, offer, m):
        return False
    gifted = any((o := catalog.offers.get(u)) is not None and o.limited for u in used)
    return not (offer.limited and gifted)
