"""Builds the referral use cases (issue 19) from the container's parts."""

from __future__ import annotations

from forever.db.repositories.referrals import SqlReferralStore
from forever.db.repositories.staff import SqlAuditLog
from forever.domain.catalog import Catalog
from forever.domain.signing import derive_key
from forever.services.referrals import ReferralRewards, Referrals
from forever.wiring.container import Container
from forever.wiring.points import points_ledger

REFERRAL_KEY_PURPOSE = "forever/referral-code/v1"


def referral_key(container: Container) -> bytes:
    # Derived from the experiment key (itself derived from SECRET_KEY): one way, its own use.
    return derive_key(container.experiment_key.hex() or "forever", REFERRAL_KEY_PURPOSE)


def referrals(container: Container) -> Referrals:
    def catalog() -> Catalog:
        return container.catalog  # the one in force now

    return Referrals(
        uow=container.uow,
        store=SqlReferralStore(container.uow),
        people=container.people_repo,
        events=container.events,
        audit=SqlAuditLog(container.uow),
        catalog=catalog,
        clock=container.clock,
        key=referral_key(container),
    )


def referral_rewards(container: Container) -> ReferralRewards:
    def catalog() -> Catalog:
        return container.catalog

    return ReferralRewards(
        store=SqlReferralStore(container.uow),
        people=container.people_repo,
        subscriptions=container.subscriptions,
        events=container.events,
        outbox=container.outbox,
        catalog=catalog,
        points=points_ledger(container),  # `[points.events] referral_rewarded`
    )


def chat_dependencies(container: Container) -> dict[str, object]:
    return {"referrals": referrals(container)}
