"""Keeping members: one-tap cancel (and undo), the optional reason and at most one matched
offer, pause and resume, and Telegram's own `subscription` updates.

Every tap takes the subscription version its button was made for: a button made for an
older state does nothing (STALE) and the caller shows the current view. Two racing taps:
the version check at commit lets one win; the other gets the current view, STALE, and
leaves nothing behind.

Effects that do not answer the tap leave through the outbox, written in the same
transaction: the Stars subscription edit (`editUserStarSubscription`) is a row of channel
`telegram`, and the delivery worker is kicked after the commit so it leaves within about a
second. The database never says cancelled unless the edit is queued with it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from forever.domain import lifecycle
from forever.domain.account import (
    Snapshot,
    Status,
    may_cancel,
    may_pause,
    may_resume,
    may_undo_cancel,
)
from forever.domain.catalog import CancelReason, Catalog, Offer, OfferKind
from forever.domain.clock import Clock
from forever.domain.events import EventKind
from forever.domain.experiments import Surface
from forever.domain.lifecycle import Billing, Membership, State
from forever.domain.offers import match_offer, offer_available, offer_window_start
from forever.domain.retention import TelegramChange, may_give_reason, telegram_change
from forever.services.accounts import AccountReads, make_snapshot, renewal_stars
from forever.services.experiments import Choice, ExperimentChooser
from forever.services.memberships import apply_membership, to_membership
from forever.services.ports import (
    ConcurrentChange,
    DeliveryKick,
    EventLog,
    Outbox,
    PeopleRepository,
    SubscriptionRepository,
    UnitOfWork,
)
from forever.services.records import PersonRecord, SubscriptionRecord
from forever.services.stars import queue_stars_edit

log = logging.getLogger(__name__)
T = TypeVar("T")

BOT = "bot"
TELEGRAM = "telegram"
# The outbox row that asks Telegram to stop (or restart) a Stars subscription's renewal.


class RetentionRecords(Protocol):
    """The reads of this area beyond a person and their subscription."""

    async def offer_accepted_since(self, person_id: int, since: datetime | None) -> bool: ...

    async def offers_made(
        self,
        person_id: int,
        since: datetime,
        before: datetime | None = None,
        *,
        taken_only: bool = False,
    ) -> Sequence[str]:
        """Ids of the offers shown to, accepted by or paid through by this person in
        [since, before) (a save offer shown, a save accepted, a win-back paid); with
        `taken_only`, the shown ones left out."""
        ...

    async def pauses_ending_by(self, now: datetime) -> Sequence[SubscriptionRecord]:
        """Paused subscriptions whose pause ended by `now`, locked for this transaction
        (rows another sweep holds are skipped)."""
        ...


@dataclass(frozen=True, slots=True)
class Result:
    status: Status
    snap: Snapshot
    offer: Offer | None = None
    # Resuming a Stars membership: renewals were stopped, so offer a new subscription link.
    needs_new_link: bool = False


@dataclass(frozen=True, slots=True)
class Accepted:
    result: Result
    lower_plan_id: str | None = None  # LOWER_TIER: the plan to offer a subscription link for


@dataclass(frozen=True, slots=True)
class SubscriptionChange:
    kind: TelegramChange  # CANCELED | REACTIVATED | FAILED | IGNORED
    snap: Snapshot | None = None


@dataclass(slots=True)
class _Step:
    """What one tap's step sees: the person and their membership, in one transaction."""

    person: PersonRecord
    sub: SubscriptionRecord
    m: Membership
    now: datetime
    loaded_version: int
    urgent: bool = False  # an effect was queued that must leave right after the commit


class Retention:
    """The retention use cases. Each commits once, or not at all on a stale tap."""

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        people: PeopleRepository,
        subscriptions: SubscriptionRepository,
        events: EventLog,
        outbox: Outbox,
        reads: AccountReads,
        records: RetentionRecords,
        catalog: Catalog,
        clock: Clock,
        kick: DeliveryKick,
        experiments: ExperimentChooser | None = None,
    ) -> None:
        self.uow = uow
        self.experiments = experiments
        self.people = people
        self.subscriptions = subscriptions
        self.events = events
        self.outbox = outbox
        self.reads = reads
        self.records = records
        self.catalog = catalog
        self.clock = clock
        self.kick = kick

    # --- the guarded step ----------------------------------------------------------------

    async def _snapshot(self, c: _Step) -> Snapshot:
        consent = await self.reads.latest_marketing_consent(c.person.id)
        return make_snapshot(c.person, c.sub, consent, await renewal_stars(self.reads, c.sub))

    async def _result(self, c: _Step, status: Status, **extra: Any) -> Result:
        if status is Status.DONE:
            await self.uow.flush()  # bumps the version the next buttons carry
        return Result(status, await self._snapshot(c), **extra)

    async def _current(self, person_id: int) -> Result:
        now = self.clock.now()
        async with self.uow.begin():
            c = await self._load(person_id, now)
            result = await self._result(c, Status.STALE)
            await self.uow.commit()
        return result

    async def _load(self, person_id: int, now: datetime) -> _Step:
        person = await self.people.get(person_id)
        if person is None:
            raise LookupError(f"no person {person_id}")
        sub = await self.subscriptions.get_or_create(person_id, now)
        return _Step(person, sub, to_membership(sub), now, sub.version)

    async def _change(
        self,
        person_id: int,
        expected_version: int | None,
        step: Callable[[_Step], Awaitable[T]],
        *,
        stale: Callable[[Result], T],
    ) -> T:
        """Run `step` in one transaction on the person's current membership, unless the
        button was made for an older version of it, or another tap changed it meanwhile:
        then nothing is written and the current view comes back as STALE."""
        now = self.clock.now()
        try:
            async with self.uow.begin():
                c = await self._load(person_id, now)
                if expected_version is not None and c.sub.version != expected_version:
                    return stale(await self._result(c, Status.STALE))
                out = await step(c)
                await self.uow.commit()
        except ConcurrentChange:
            return stale(await self._current(person_id))
        if c.urgent:
            self.kick.kick()
        return out

    async def _edit_stars(self, c: _Step, *, canceled: bool) -> None:
        """Queue `editUserStarSubscription` with this change. The key names the version the
        change was made from, so a step is queued once however often it is retried."""
        assert c.person.telegram_id is not None and c.sub.star_charge_id is not None
        await queue_stars_edit(
            self.outbox,
            key=f"stars-edit:{c.person.id}:{c.loaded_version}",
            person_id=c.person.id,
            telegram_id=c.person.telegram_id,
            charge_id=c.sub.star_charge_id,
            canceled=canceled,
            now=c.now,
        )
        c.urgent = True

    # --- cancel and undo -----------------------------------------------------------------

    async def cancel(self, person_id: int, *, expected_version: int | None) -> Result:
        """One tap: renewal stopped at Telegram, access kept until the paid period ends."""

        async def step(c: _Step) -> Result:
            if not may_cancel(c.m):
                return await self._result(c, Status.NOT_ALLOWED)
            if c.sub.auto_renew and c.sub.star_charge_id and c.person.telegram_id:
                await self._edit_stars(c, canceled=True)
            await self._apply_cancel(c, BOT)
            return await self._result(c, Status.DONE)

        return await self._change(person_id, expected_version, step, stale=_as_is)

    async def _apply_cancel(self, c: _Step, source: str) -> None:
        person, sub, now = c.person, c.sub, c.now
        new = lifecycle.cancel(c.m, now=now)
        apply_membership(sub, new, now)
        sub.canceled_at = now
        sub.cancel_reason = None
        access_until = new.period_end or now
        self.events.record(
            EventKind.CANCELED,
            now,
            person.id,
            plan=sub.plan_id,
            source=source,
            access_until=access_until.isoformat(),
        )
        if person.email and person.email_status != "undeliverable":
            plan = self.catalog.plan(sub.plan_id or "")
            await self.outbox.enqueue(
                key=f"cancel_confirmed:{person.id}:{now.isoformat()}",
                channel="email",
                person_id=person.id,
                template="cancel_confirmed",
                context={
                    "name": person.first_name or "",
                    "plan_name": plan.name[person.language] if plan else (sub.plan_id or ""),
                    "access_until": access_until,
                    "canceled_at": now,
                },
                marketing=False,
                not_before=now,
                now=now,
            )

    async def undo_cancel(self, person_id: int, *, expected_version: int | None) -> Result:
        """ "Keep my subscription": one tap while the paid period lasts."""

        async def step(c: _Step) -> Result:
            if not may_undo_cancel(c.m, c.now):
                return await self._result(c, Status.NOT_ALLOWED)
            renews = bool(c.sub.star_charge_id) and c.m.billing is Billing.MONTHLY
            if renews and c.person.telegram_id:
                await self._edit_stars(c, canceled=False)
            self._apply_undo(c, renews, BOT)
            return await self._result(c, Status.DONE)

        return await self._change(person_id, expected_version, step, stale=_as_is)

    def _apply_undo(self, c: _Step, renews: bool, source: str) -> None:
        apply_membership(c.sub, lifecycle.undo_cancel(c.m, now=c.now, auto_renew=renews), c.now)
        c.sub.canceled_at = None
        c.sub.cancel_reason = None
        self.events.record(EventKind.CANCEL_UNDONE, c.now, c.person.id, source=source)

    # --- why, and one offer --------------------------------------------------------------

    async def give_reason(
        self, person_id: int, *, expected_version: int | None, reason: CancelReason | None
    ) -> Result:
        """The optional answer to "why?"; returns the one offer matched to it, if any."""

        async def step(c: _Step) -> Result:
            sub = c.sub
            if not may_give_reason(
                c.m, canceled_at=sub.canceled_at, cancel_reason=sub.cancel_reason
            ):
                return await self._result(c, Status.STALE)
            if reason is None:
                return await self._result(c, Status.DONE)
            sub.cancel_reason = reason.value
            self.events.record(EventKind.CANCEL_REASON, c.now, c.person.id, reason=reason.value)
            used = await self.records.offers_made(
                c.person.id, offer_window_start(self.catalog, c.now)
            )
            offer, choice = await self._save_offer(c, reason, used, exposure=True)
            if offer is not None:
                arm = (
                    {"experiment": choice.experiment.id, "variant": choice.variant.id}
                    if choice
                    else {}
                )
                self.events.record(
                    EventKind.OFFER_SHOWN,
                    c.now,
                    c.person.id,
                    offer=offer.id,
                    reason=reason.value,
                    **arm,
                )
            return await self._result(c, Status.DONE, offer=offer)

        return await self._change(person_id, expected_version, step, stale=_as_is)

    async def accept_offer(
        self, person_id: int, *, expected_version: int | None, offer_id: str
    ) -> Accepted:
        """Apply the offer that was shown: a pause or a longer trial takes effect now; a
        discount or a lower tier gets its subscription link (sent by the caller), a Stars
        subscription that renews at the price the offer stated, and takes effect when paid."""

        async def step(c: _Step) -> Accepted:
            offer = await self._offer_still_open(c, offer_id)
            if offer is None:
                return Accepted(await self._result(c, Status.STALE))
            self.events.record(EventKind.OFFER_ACCEPTED, c.now, c.person.id, offer=offer.id)
            lower = None
            if offer.kind is OfferKind.PAUSE:
                back = lifecycle.undo_cancel(c.m, now=c.now, auto_renew=False)
                paused = lifecycle.pause(
                    back, now=c.now, months=offer.months, max_months=max(offer.months, 3)
                )
                apply_membership(c.sub, paused, c.now)
                c.sub.canceled_at = None
                c.sub.star_charge_id = None  # renewal already stopped; resume gives a new link
                c.sub.star_payload = None
                self._record_pause(c, offer.months, paused)
            elif offer.kind is OfferKind.LONGER_TRIAL:
                back = lifecycle.undo_cancel(c.m, now=c.now, auto_renew=False)
                end = (back.period_end or c.now) + timedelta(days=offer.days)
                apply_membership(c.sub, replace(back, period_end=end), c.now)
                c.sub.canceled_at = None
                c.sub.cancel_reason = None
                self.events.record(
                    EventKind.CANCEL_UNDONE, c.now, c.person.id, source="offer", offer=offer.id
                )
            elif offer.kind is OfferKind.LOWER_TIER:
                plan = self.catalog.next_tier_down(c.m.plan_id or "")
                lower = plan.id if plan else None
            return Accepted(await self._result(c, Status.DONE, offer=offer), lower)

        return await self._change(person_id, expected_version, step, stale=Accepted)

    async def _offer_still_open(self, c: _Step, offer_id: str) -> Offer | None:
        """The offer matched to the reason given for this cancel, if not taken already."""
        if c.m.state is not State.CANCEL_SCHEDULED:
            return None
        try:
            reason = CancelReason(c.sub.cancel_reason or "")
        except ValueError:
            return None
        # Gifts made before this cancel count; the one shown for it does not.
        used = await self.records.offers_made(
            c.person.id, offer_window_start(self.catalog, c.now), before=c.sub.canceled_at
        )
        offer, _ = await self._save_offer(c, reason, used, exposure=False)
        if offer is None or offer.id != offer_id:
            return None
        if await self.records.offer_accepted_since(c.person.id, c.sub.canceled_at):
            return None
        return offer

    async def _save_offer(
        self, c: _Step, reason: CancelReason, used: Sequence[str], *, exposure: bool
    ) -> tuple[Offer | None, Choice | None]:
        """The offer after this reason: the catalog's, unless a cancel_offer experiment holds
        the person; then their arm's (the holdout: none). `exposure` records a first
        exposure; without it, the arm already shown (accepting what was offered)."""
        default = match_offer(self.catalog, reason, c.m, used)
        if self.experiments is None:
            return default, None
        choice = await self.experiments.choose(
            Surface.CANCEL_OFFER,
            c.person.id,
            now=c.now,
            reason=reason.value,
            plan=c.m.plan_id,
            language=c.person.language,
            eligible=lambda v: offer_available(self.catalog, v.offer, c.m, used),
            record=exposure,
        )
        if choice is None:
            return default, None
        arm_offer = self.catalog.offers.get(choice.variant.offer or "")
        if arm_offer is not None and not offer_available(self.catalog, arm_offer.id, c.m, used):
            arm_offer = None  # e.g. a gift taken since: nothing rather than another offer
        return arm_offer, choice

    # --- pause and resume ----------------------------------------------------------------

    async def pause(self, person_id: int, *, expected_version: int | None, months: int) -> Result:
        """No charge while paused: a Stars subscription's renewal is stopped."""
        catalog = self.catalog

        async def step(c: _Step) -> Result:
            sub = c.sub
            if months not in catalog.pause_months or not may_pause(c.m):
                return await self._result(c, Status.NOT_ALLOWED)
            if sub.auto_renew and sub.star_charge_id and c.person.telegram_id:
                await self._edit_stars(c, canceled=True)
            paused = lifecycle.pause(
                c.m, now=c.now, months=months, max_months=max(catalog.pause_months)
            )
            apply_membership(sub, paused, c.now)
            sub.star_charge_id = None
            sub.star_payload = None
            self._record_pause(c, months, paused)
            return await self._result(c, Status.DONE)

        return await self._change(person_id, expected_version, step, stale=_as_is)

    def _record_pause(self, c: _Step, months: int, paused: Membership) -> None:
        until = paused.paused_until.isoformat() if paused.paused_until else None
        self.events.record(EventKind.PAUSED, c.now, c.person.id, months=months, until=until)

    async def resume(self, person_id: int, *, expected_version: int | None) -> Result:
        async def step(c: _Step) -> Result:
            if not may_resume(c.m):
                return await self._result(c, Status.NOT_ALLOWED)
            apply_resume(self.events, c.sub, c.m, c.now)
            return await self._result(c, Status.DONE, needs_new_link=c.m.billing is Billing.MONTHLY)

        return await self._change(person_id, expected_version, step, stale=_as_is)

    # --- Telegram's own subscription updates ---------------------------------------------

    async def telegram_update(
        self, telegram_id: int, payload: str, state: str
    ) -> SubscriptionChange:
        """The person changed their Stars subscription in Telegram (or a renewal failed):
        the same change as the bot's own buttons, without calling Telegram back."""
        now = self.clock.now()
        ignored = SubscriptionChange(TelegramChange.IGNORED)
        try:
            async with self.uow.begin():
                person = await self.people.by_telegram_id(telegram_id)
                if person is None:
                    return ignored
                c = await self._load(person.id, now)
                if not payload or c.sub.star_payload != payload:
                    log.info("subscription update for an old or unknown payload; ignored")
                    return ignored
                kind = telegram_change(c.m, state, now)
                if kind is TelegramChange.IGNORED:
                    return ignored
                if kind is TelegramChange.CANCELED:
                    await self._apply_cancel(c, TELEGRAM)
                elif kind is TelegramChange.REACTIVATED:
                    self._apply_undo(c, True, TELEGRAM)
                elif kind is TelegramChange.FAILED:
                    apply_membership(c.sub, lifecycle.payment_failed(c.m), now)
                    self.events.record(EventKind.PAYMENT_FAILED, now, c.person.id, plan=c.m.plan_id)
                else:  # told again about a failure already recorded
                    kind = TelegramChange.FAILED
                result = await self._result(c, Status.DONE)
                await self.uow.commit()
        except ConcurrentChange:
            return ignored
        return SubscriptionChange(kind, result.snap)


def _as_is(result: Result) -> Result:
    return result


def apply_resume(events: EventLog, sub: SubscriptionRecord, m: Membership, now: datetime) -> None:
    apply_membership(sub, lifecycle.resume(m, now=now), now)
    events.record(EventKind.RESUMED, now, sub.person_id)


class ResumeDuePauses:
    """Sweep: a pause that reached its end resumes by itself with the time that was left."""

    def __init__(self, uow: UnitOfWork, records: RetentionRecords, events: EventLog) -> None:
        self.uow = uow
        self.records = records
        self.events = events

    async def __call__(self, now: datetime) -> int:
        count = 0
        async with self.uow.begin():
            for sub in await self.records.pauses_ending_by(now):
                apply_resume(self.events, sub, to_membership(sub), now)
                count += 1
            await self.uow.commit()
        return count
