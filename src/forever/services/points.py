"""Points (issue 19): earned by the catalog's rules, redeemed for an add-on or extra days of
membership, expired first-to-expire first with a notice in chat before.

Every entry carries an idempotency key (the charge id of the payment, the milestone, the
caller's event key, the tap), so a repeat counts once. Every write locks the person first and
runs in one transaction: two taps redeeming the same points at once redeem once, and the
balance never goes below zero.

Other areas award points through `PointsLedger.earn_for(event_kind, person_id, key)`: the
catalog's `[points.events]` says how many points each kind is worth (none: nothing happens).
The referral reward calls it with `referral_rewarded`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from forever.domain import points as rules
from forever.domain.catalog import Catalog
from forever.domain.clock import Clock
from forever.domain.lifecycle import Membership, State
from forever.domain.points import Lot
from forever.services.memberships import apply_membership, to_membership
from forever.services.ports import (
    DeliveryKick,
    Outbox,
    PeopleRepository,
    SubscriptionRepository,
    UnitOfWork,
)
from forever.services.shop import POINTS_CHARGE_PREFIX, AddonStore
from forever.services.staff import can_be_told

EARN, REDEEM, EXPIRE, REVOKE = "earn", "redeem", "expire", "revoke"
EXPIRY_NOTICE = "points_expiring"  # message_templates/chat/


class PointStore(Protocol):
    async def lock_person(self, person_id: int) -> None:
        """Serialize ledger writes for one person (before the balance is read)."""
        ...

    async def entry(self, idempotency_key: str) -> Any: ...

    async def balance(self, person_id: int) -> int: ...

    async def lots(self, person_id: int) -> list[Lot]: ...

    async def taken(self, person_id: int) -> int: ...

    async def add(
        self,
        *,
        person_id: int,
        kind: str,
        amount: int,
        balance_after: int,
        reason: str,
        idempotency_key: str,
        expires_at: datetime | None,
        at: datetime,
    ) -> Any: ...

    async def history(self, person_id: int, limit: int = 5) -> Sequence[Any]: ...

    async def people_with_lots_by(
        self, until: datetime, after: int = 0, limit: int = 500
    ) -> list[int]:
        """People with points expiring by `until` not yet expired, ids above `after`."""
        ...

    async def outstanding(self) -> int: ...

    async def credits_consumed(self, person_id: int) -> int:
        """Credits the person used in total (the credit ledger's usage entries)."""
        ...

    async def totals(self, start: datetime, end: datetime) -> dict[str, int]: ...


class Outcome(StrEnum):
    DONE = "done"
    REPEATED = "repeated"  # the same key was seen before: nothing new was written
    NOTHING = "nothing"  # the catalog awards no points for this
    INSUFFICIENT = "insufficient"
    UNKNOWN_REWARD = "unknown_reward"  # gone from the catalog, or forged
    NOT_ALLOWED = "not_allowed"  # the person's plan may not have this add-on
    NEEDS_MEMBERSHIP = "needs_membership"  # extra days are for a membership running now
    UNKNOWN_PERSON = "unknown_person"


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    balance: int = 0
    points: int = 0  # earned or spent by this call
    reward: rules.Reward | None = None
    until: datetime | None = None  # extra days: the membership's new end; add-on: its end
    shortfall: int = 0  # taken back: what was already spent (or expired) and stays so


@dataclass(frozen=True, slots=True)
class PointsView:
    """What /account and /points show: the balance, the next expiry, the last entries."""

    balance: int
    expiring: rules.Expiring | None
    entries: tuple[dict[str, Any], ...]
    rewards: tuple[rules.Reward, ...]


@dataclass(frozen=True, slots=True)
class PointsFigures:
    """/stats: points outstanding now (and their value in Stars), and what moved in the period."""

    outstanding: int
    outstanding_stars: int
    earned: int
    redeemed: int
    expired: int


class PointsLedger:
    def __init__(
        self,
        uow: UnitOfWork,
        people: PeopleRepository,
        store: PointStore,
        catalog: Callable[[], Catalog],
        clock: Clock,
        subscriptions: SubscriptionRepository | None = None,
        addons: AddonStore | None = None,  # a redeemed add-on: 0 Stars, charge id points:<key>
        outbox: Outbox | None = None,
        kick: DeliveryKick | None = None,
        plan_of: Callable[[int], Any] | None = None,
        page_size: int = 500,
    ) -> None:
        self.page_size = page_size  # people read at a time by the sweeps
        self.uow = uow
        self.people = people
        self.store = store
        self.catalog = catalog
        self.clock = clock
        self.subscriptions = subscriptions
        self.addons = addons
        self.outbox = outbox
        self.kick = kick
        self.plan_of = plan_of  # async person id -> the plan giving access now, or None

    @property
    def rules(self) -> rules.PointsRules:
        return self.catalog().points

    # --- earning ------------------------------------------------------------------------

    async def earn(self, person_id: int, points: int, key: str, reason: str) -> Result:
        """Add `points` once per `key`. Joins a transaction already open (a payment's), so the
        points are kept exactly when what earned them is."""
        if points <= 0:
            return Result(Outcome.NOTHING)
        now = self.clock.now()
        async with self.uow.begin():
            await self.store.lock_person(person_id)
            seen = await self.store.entry(key)
            if seen is not None:
                return Result(Outcome.REPEATED, seen.balance_after)
            balance = await self._expire_due(person_id, now)
            after = balance + min(points, rules.MAX_POINTS)
            await self.store.add(
                person_id=person_id,
                kind=EARN,
                amount=after - balance,
                balance_after=after,
                reason=reason[:48],
                idempotency_key=key,
                expires_at=self.rules.expires_at(now),
                at=now,
            )
            await self.uow.commit()
        return Result(Outcome.DONE, after, after - balance)

    async def earn_for(self, event_kind: str, person_id: int, key: str) -> Result:
        """The generic hook: the points `[points.events]` gives `event_kind`, once per `key`
        (e.g. `earn_for("referral_rewarded", referrer_id, f"referral:{referred_id}")`)."""
        return await self.earn(
            person_id, self.rules.for_event(event_kind), f"{event_kind}:{key}", event_kind
        )

    async def take_back(self, key: str) -> Result:
        """Take back what the earning `key` gave (a refunded payment's, a revoked referral's),
        once. The balance never goes below zero: points already redeemed or expired stay so,
        and the entry's shortfall (`reason` ends with `short <n>`) says how many. Joins a
        transaction already open (the refund's)."""
        async with self.uow.begin():
            earned = await self.store.entry(key)
            if earned is None or earned.kind != EARN:
                return Result(Outcome.NOTHING)
            await self.store.lock_person(earned.person_id)
            seen = await self.store.entry(f"revoke:{key}")
            if seen is not None:
                return Result(Outcome.REPEATED, seen.balance_after, -seen.amount)
            now = self.clock.now()
            balance = await self._expire_due(earned.person_id, now)
            taken = min(earned.amount, balance)
            shortfall = earned.amount - taken
            reason = earned.reason if not shortfall else f"{earned.reason[:30]} short {shortfall}"
            await self.store.add(
                person_id=earned.person_id,
                kind=REVOKE,
                amount=-taken,
                balance_after=balance - taken,
                reason=reason[:48],
                idempotency_key=f"revoke:{key}"[:160],
                expires_at=None,
                at=now,
            )
            await self.uow.commit()
        return Result(Outcome.DONE, balance - taken, taken, shortfall=shortfall)

    async def take_back_payment(self, charge_id: str) -> Result:
        """A refunded membership payment: the points it earned (`paid:<charge id>`)."""
        return await self.take_back(f"paid:{charge_id}")

    async def on_payment(self, person_id: int, period: timedelta, charge_id: str) -> Result:
        """A paid membership period (a purchase or a renewal): points per month paid."""
        points = rules.earned_for_payment(self.rules, period)
        return await self.earn(person_id, points, f"paid:{charge_id}", "paid_month")

    async def on_credits_used(self, person_id: int, used: int) -> int:
        """The credit ledger's hook (its transaction is open, the usage entry written)."""
        after = await self.store.credits_consumed(person_id)
        return await self.on_usage(person_id, after - used, after)

    async def on_usage(self, person_id: int, before: int, after: int) -> int:
        """Credits consumed in total went from `before` to `after`: each milestone reached
        earns once (its key is the milestone). Returns the points earned."""
        earned = 0
        for milestone in rules.milestones_crossed(self.rules, before, after):
            done = await self.earn(
                person_id,
                milestone.points,
                f"milestone:{person_id}:{milestone.credits}",
                f"milestone_{milestone.credits}",
            )
            earned += done.points if done.outcome is Outcome.DONE else 0
        return earned

    async def hold(self, person_id: int) -> None:
        """Lock the person's points first in a transaction that will change their membership
        and then earn (a payment): a redemption of extra days takes the person, then the
        membership, and the same order everywhere means nobody waits in a circle."""
        await self.store.lock_person(person_id)

    # --- redeeming ----------------------------------------------------------------------

    async def redeem(self, telegram_id: int, reward_id: str, key: str) -> Result:
        """Spend points on a reward of the catalog, all or nothing, once per `key` (the tap)."""
        reward = self.rules.reward(reward_id)
        if reward is None:
            return Result(Outcome.UNKNOWN_REWARD)
        now = self.clock.now()
        catalog = self.catalog()
        async with self.uow.begin():
            person = await self.people.by_telegram_id(telegram_id)
            if person is None:
                return Result(Outcome.UNKNOWN_PERSON)
            await self.store.lock_person(person.id)
            seen = await self.store.entry(f"redeem:{key}")
            if seen is not None:
                return Result(Outcome.REPEATED, seen.balance_after, -seen.amount, reward)
            balance = await self._expire_due(person.id, now)
            spent = rules.spend(balance, reward.points)
            if spent is None:
                await self.uow.commit()  # keeps an expiry found on the way
                return Result(Outcome.INSUFFICIENT, balance, reward.points, reward)
            until: datetime | None
            if reward.addon is not None:
                addon = catalog.addon(reward.addon)
                if addon is None or self.addons is None:
                    return Result(Outcome.UNKNOWN_REWARD, balance, reward=reward)
                plan = await self.plan_of(person.id) if self.plan_of is not None else None
                if not addon.available_to(plan):
                    return Result(Outcome.NOT_ALLOWED, balance, reward=reward)
                until = now + timedelta(days=addon.days) if addon.days else None
                await self.addons.add(
                    person_id=person.id,
                    addon_id=addon.id,
                    stars=0,
                    quantity=addon.quantity,
                    charge_id=f"{POINTS_CHARGE_PREFIX}{key}"[:255],
                    at=now,
                    ends_at=until,
                )
            else:
                until = await self._extra_days(person.id, reward.days or 0, now)
                if until is None:
                    return Result(Outcome.NEEDS_MEMBERSHIP, balance, reward=reward)
            await self.store.add(
                person_id=person.id,
                kind=REDEEM,
                amount=-reward.points,
                balance_after=spent.balance_after,
                reason=reward.id,
                idempotency_key=f"redeem:{key}",
                expires_at=None,
                at=now,
            )
            await self.uow.commit()
        return Result(Outcome.DONE, spent.balance_after, reward.points, reward, until)

    async def _extra_days(self, person_id: int, days: int, now: datetime) -> datetime | None:
        """Move the end of a running membership `days` later (state, plan and renewal stay as
        they are); None when there is no membership running now."""
        if self.subscriptions is None or days <= 0:
            return None
        row = await self.subscriptions.get_or_create(person_id, now)
        membership = to_membership(row)
        end = _aware(membership.period_end)
        if not _running(membership) or end is None or end <= now:
            return None
        longer = replace(membership, period_end=end + timedelta(days=days))
        apply_membership(row, longer, now)
        return longer.period_end

    # --- expiry -------------------------------------------------------------------------

    async def _expire_due(self, person_id: int, now: datetime) -> int:
        """Inside a locked transaction: write the expiry due now (if any), return the balance."""
        balance = await self.store.balance(person_id)
        lots = await self.store.lots(person_id)
        due = rules.due_to_expire(lots, await self.store.taken(person_id), now)
        cutoff = max(
            (lot.expires_at for lot in lots if lot.expires_at and lot.expires_at <= now),
            default=None,
        )
        if cutoff is None:
            return balance
        key = f"expire:{person_id}:{cutoff.isoformat()}"
        if await self.store.entry(key) is not None:
            return balance
        due = min(due, balance)
        await self.store.add(
            person_id=person_id,
            kind=EXPIRE,
            amount=-due,
            balance_after=balance - due,
            reason="expired",
            idempotency_key=key,
            expires_at=cutoff,  # the last instant this expiry covers
            at=now,
        )
        return balance - due

    async def expire(self, now: datetime) -> int:
        """Sweep: expire the points due at `now`, one person per transaction. Returns how many
        people lost points."""
        done = 0
        for person_id in await self._people_with_lots_by(now):
            async with self.uow.begin():
                await self.store.lock_person(person_id)
                before = await self.store.balance(person_id)
                after = await self._expire_due(person_id, now)
                await self.uow.commit()
            done += after < before
        return done

    async def notify_expiring(self, now: datetime) -> int:
        """Sweep: tell each person whose points expire within the catalog's `notice_days`,
        once per expiry date (the outbox key). Returns how many notices were queued."""
        points_rules = self.rules
        if self.outbox is None or not points_rules.expire_months:
            return 0
        horizon = now + timedelta(days=points_rules.notice_days)
        queued = 0
        for person_id in await self._people_with_lots_by(horizon):
            async with self.uow.begin():
                person = await self.people.get(person_id)
                if not can_be_told(person):
                    continue
                lots = [
                    Lot(lot.points, _aware(lot.expires_at))
                    for lot in await self.store.lots(person_id)
                ]
                taken = await self.store.taken(person_id)
                soon = rules.expiring_within(lots, taken, now, points_rules.notice_days)
                if soon is None:
                    continue
                fresh = await self.outbox.enqueue(
                    key=f"points-expiring:{person_id}:{soon.by.date().isoformat()}",
                    channel="chat",
                    person_id=person_id,
                    template=EXPIRY_NOTICE,
                    context={
                        "points": soon.points,
                        "by": soon.by,
                        "balance": await self.store.balance(person_id),
                        # Not at night in the person's zone: the worker defers it to morning.
                        "quiet_hours": True,
                    },
                    marketing=False,
                    not_before=now,
                    now=now,
                )
                await self.uow.commit()
            queued += fresh
        return queued  # the outbox wakes the delivery worker after each commit

    async def _people_with_lots_by(self, until: datetime) -> list[int]:
        """Every person with points expiring by `until`, read a page at a time."""
        page = self.page_size
        found: list[int] = []
        while True:
            async with self.uow.begin():
                batch = await self.store.people_with_lots_by(
                    until, after=found[-1] if found else 0, limit=page
                )
            found.extend(batch)
            if len(batch) < page:
                return found

    async def sweep(self, now: datetime) -> int:
        """The scheduled job: expire what is due, then queue the notices of what comes next."""
        expired = await self.expire(now)
        return expired + await self.notify_expiring(now)

    # --- reading ------------------------------------------------------------------------

    async def view(self, person_id: int, last: int = 5) -> PointsView:
        now = self.clock.now()
        points_rules = self.rules
        async with self.uow.begin():
            balance = await self.store.balance(person_id)
            lots = [
                Lot(lot.points, _aware(lot.expires_at)) for lot in await self.store.lots(person_id)
            ]
            taken = await self.store.taken(person_id)
            history = await self.store.history(person_id, last)
        due = rules.due_to_expire(lots, taken, now)
        soon = rules.expiring_within(lots, taken, now, max(points_rules.notice_days, 31))
        entries = tuple(
            {"kind": e.kind, "amount": e.amount, "reason": e.reason, "at": e.created_at}
            for e in history
        )
        return PointsView(max(0, balance - due), soon, entries, points_rules.rewards)

    async def figures(self, start: datetime, end: datetime) -> PointsFigures:
        async with self.uow.begin():
            outstanding = await self.store.outstanding()
            totals = await self.store.totals(start, end)
        return PointsFigures(
            outstanding=outstanding,
            outstanding_stars=rules.liability_stars(outstanding, self.rules),
            earned=totals[EARN],
            redeemed=totals[REDEEM],
            expired=totals[EXPIRE],
        )


def _running(m: Membership) -> bool:
    return m.state in (State.TRIAL, State.ACTIVE, State.CANCEL_SCHEDULED)


def _aware(at: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; they were stored in UTC."""
    if at is None or at.tzinfo is not None:
        return at
    return at.replace(tzinfo=UTC)
