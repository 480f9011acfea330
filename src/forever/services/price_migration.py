"""Stable prices, and the one way to change them for existing members (issue 18).

A catalog price change applies to new members: `Invoicing` charges a member what they last
paid in full for the plan (services/billing.py, `KeptPrices`). Staff may move the existing
members of a plan to today's catalog price with `/migrateprice`: a preview first (how many,
from which prices), then, on confirmation, one `price_migrated` event per member (what the
kept-price read honours from `effective_at` on), one chat notice each in their language, and
an audit entry. The new price applies from `effective_at`, `NOTICE` after the confirmation,
so every member hears of it at least that long before it is charged.

Idempotent: the notice is an outbox row keyed by person, plan, billing and new price, and a
member already migrated to that price is not counted again; a move is recorded only with a
notice newly queued, so two confirmations at once (a double tap) move each member once.

The preview carries a `token` naming exactly who would move from which price; a
confirmation that quotes it (the preview's Confirm button) goes ahead only while that is
still so, and otherwise moves nobody and says what is true now (`stale`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol

from forever.domain.catalog import Catalog
from forever.domain.clock import Clock
from forever.services.ports import EventLog, Outbox, UnitOfWork
from forever.services.staff import AuditLog

NOTICE = timedelta(days=30)
EVENT = "price_migrated"
TEMPLATE = "price_change"
BILLINGS = ("monthly", "yearly")


class Holder(NamedTuple):
    person_id: int
    billing: str  # "monthly" or "yearly" (also `invoices.billing`)
    paid: int  # the price they keep today


class PriceHolders(Protocol):
    async def holders(self, plan_id: str, now: datetime) -> list[Holder]:
        """Members of the plan now (active, cancel scheduled, past due or paused) with the
        price they keep for their billing (their last full-price payment, or a migration
        already in force)."""
        ...

    async def pending(self, person_id: int, plan_id: str, billing: str) -> int | None:
        """The new price of a migration of this member not yet in force, if any."""
        ...


@dataclass(frozen=True, slots=True)
class Preview:
    plan_id: str
    new: dict[str, int]  # billing -> catalog price
    moving: dict[str, Counter[int]] = field(default_factory=dict)  # billing -> old -> members
    effective_at: datetime | None = None
    token: str = ""  # names who would move from which price (see `token`)
    stale: bool = False  # a confirmation quoted another token: nobody was moved

    @property
    def members(self) -> int:
        return sum(sum(c.values()) for c in self.moving.values())


class PriceMigration:
    def __init__(
        self,
        uow: UnitOfWork,
        holders: PriceHolders,
        events: EventLog,
        outbox: Outbox,
        audit: AuditLog,
        catalog: Catalog,
        clock: Clock,
    ) -> None:
        self.uow = uow
        self.holders = holders
        self.events = events
        self.outbox = outbox
        self.audit = audit
        self.catalog = catalog
        self.clock = clock

    async def _moving(self, plan_id: str, now: datetime) -> tuple[dict[str, int], list[Holder]]:
        plan = self.catalog.plan(plan_id)
        assert plan is not None
        new = {"monthly": plan.monthly_stars, "yearly": plan.yearly_stars}
        moving = []
        for h in await self.holders.holders(plan_id, now):
            if h.billing not in new or h.paid == new[h.billing]:
                continue
            if await self.holders.pending(h.person_id, plan_id, h.billing) == new[h.billing]:
                continue  # already told about this very price
            moving.append(h)
        return new, moving

    async def preview(self, plan_id: str, *, staff_id: int) -> Preview | None:
        """Who would move, from which prices; None for a plan not in the catalog."""
        if self.catalog.plan(plan_id) is None:
            return None
        now = self.clock.now()
        async with self.uow.begin():
            new, moving = await self._moving(plan_id, now)
            self.audit.record(staff_id, "price_migration_preview", now, plan=plan_id)
            await self.uow.commit()
        return _preview(plan_id, new, moving, now + NOTICE)

    async def cancel(self, plan_id: str, *, staff_id: int) -> None:
        """Staff dismissed a preview: nobody moves; the audit log says so."""
        now = self.clock.now()
        async with self.uow.begin():
            self.audit.record(staff_id, "price_migration_cancelled", now, plan=plan_id)
            await self.uow.commit()

    async def migrate(
        self, plan_id: str, *, staff_id: int, expected: str | None = None, via: str = ""
    ) -> Preview | None:
        """Records each member's move, queues their notice, and audits it, in one commit.
        With `expected` (a preview's token), only if the preview still says who moves:
        otherwise nothing changes and the answer is today's preview, `stale`. `via` names
        where it was confirmed when not the chat ("console"), in the audit entry."""
        if self.catalog.plan(plan_id) is None:
            return None
        now = self.clock.now()
        effective = now + NOTICE
        async with self.uow.begin():
            new, moving = await self._moving(plan_id, now)
            if expected is not None and expected != token(plan_id, new, moving):
                return replace(_preview(plan_id, new, moving, effective), stale=True)
            plan = self.catalog.plan(plan_id)
            plan_names = plan.name if plan is not None else {}
            moved = []
            for h in moving:
                price = new[h.billing]
                queued = await self.outbox.enqueue(
                    key=f"price_change:{h.person_id}:{plan_id}:{h.billing}:{price}",
                    channel="chat",
                    person_id=h.person_id,
                    template=TEMPLATE,
                    context={
                        "plan_id": plan_id,
                        "billing": h.billing,
                        "old": h.paid,
                        "new": price,
                        "starts": effective,
                        "plan_names": dict(plan_names),
                    },
                    marketing=False,
                    not_before=now,
                    now=now,
                )
                if not queued:
                    continue  # another confirmation just moved them
                moved.append(h)
                self.events.record(
                    EVENT,
                    now,
                    h.person_id,
                    plan=plan_id,
                    billing=h.billing,
                    old=h.paid,
                    new=price,
                    effective_at=effective.isoformat(),
                )
            if expected is not None and moving and not moved:
                # A second tap raced the first and lost: it changed nothing, and says so.
                return replace(_preview(plan_id, new, [], effective), stale=True)
            self.audit.record(
                staff_id,
                "price_migration",
                now,
                plan=plan_id,
                members=len(moved),
                effective_at=effective.isoformat(),
                confirmed="button" if expected is not None else "command",
                **({"via": via} if via else {}),
            )
            await self.uow.commit()
        return _preview(plan_id, new, moved, effective)


def token(plan_id: str, new: dict[str, int], moving: list[Holder]) -> str:
    """8 hex digits naming the plan, its prices, and who would move from which price."""
    text = "|".join(
        [
            plan_id,
            ",".join(f"{b}={new[b]}" for b in sorted(new)),
            *sorted(f"{h.person_id}:{h.billing}:{h.paid}" for h in moving),
        ]
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def _preview(plan_id: str, new: dict[str, int], moving: list[Holder], at: datetime) -> Preview:
    counts: dict[str, Counter[int]] = {}
    for h in moving:
        counts.setdefault(h.billing, Counter())[h.paid] += 1
    return Preview(plan_id, new, counts, at, token(plan_id, new, moving))
