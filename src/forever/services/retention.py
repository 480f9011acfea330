"""Keeping members: one-tap cancel (and undo), the optional reason and at most one matched
offer, pause and resume, and Telegram's own `subscription` updates.

Every use case takes the subscription version the person's button was made for: a button
made for an older state does nothing (STALE) and the caller shows the current view.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from forever.db.models import Event, Person, Subscription
from forever.domain import lifecycle
from forever.domain.catalog import CancelReason, Offer, OfferKind
from forever.domain.events import EventKind
from forever.domain.lifecycle import Action, Billing, Membership, State
from forever.domain.offers import match_offer
from forever.services.accounts import Snapshot, Status, make_snapshot, snapshot
from forever.services.events import record_event
from forever.services.memberships import apply_membership, subscription_for, to_membership
from forever.services.ports import ChatPort

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from forever.app import Container

log = logging.getLogger(__name__)
T = TypeVar("T")

BOT = "bot"
TELEGRAM = "telegram"


@dataclass(frozen=True, slots=True)
class Result:
    status: Status
    snap: Snapshot
    offer: Offer | None = None
    # Resuming a Stars membership: renewals were stopped, so offer a new subscription link.
    needs_new_link: bool = False


async def _load(
    session: AsyncSession, person_id: int, now: datetime
) -> tuple[Person, Subscription, Membership]:
    person = await session.get(Person, person_id)
    assert person is not None
    sub = await subscription_for(session, person_id, now)
    return person, sub, to_membership(sub)


def _is_stale(sub: Subscription, expected_version: int | None) -> bool:
    return expected_version is not None and sub.version != expected_version


@dataclass(frozen=True, slots=True)
class _Change:
    """What a use case's step sees: one transaction, the person and their membership."""

    session: AsyncSession
    person: Person
    sub: Subscription
    m: Membership
    now: datetime

    def result(self, status: Status) -> Result:
        return Result(status, make_snapshot(self.person, self.sub))

    async def done(self, **extra: Any) -> Result:
        return Result(Status.DONE, await _finish(self.session, self.person, self.sub), **extra)


async def _change(
    container: Container,
    person_id: int,
    expected_version: int | None,
    step: Callable[[_Change], Awaitable[T]],
    *,
    stale: Callable[[Result], T],
) -> T:
    """Run `step` in one transaction on the person's current membership, unless the button
    was made for an older version of it, or another tap changed it meanwhile: then the
    current view comes back as STALE (wrapped by `stale`)."""
    now = container.clock.now()
    try:
        async with container.sessions.begin() as session:
            person, sub, m = await _load(session, person_id, now)
            change = _Change(session, person, sub, m, now)
            if _is_stale(sub, expected_version):
                return stale(change.result(Status.STALE))
            return await step(change)
    except StaleDataError:
        return stale(await _current(container, person_id, Status.STALE))


def _as_is(result: Result) -> Result:
    return result


async def _finish(session: AsyncSession, person: Person, sub: Subscription) -> Snapshot:
    await session.flush()  # bumps the version the next buttons carry
    return make_snapshot(person, sub)


async def _current(container: Container, person_id: int, status: Status) -> Result:
    async with container.sessions.begin() as session:
        snap = await snapshot(session, person_id, container.clock.now())
    assert snap is not None
    return Result(status, snap)


# --- cancel and undo ----------------------------------------------------------------------


async def cancel(
    container: Container,
    chat: ChatPort,
    person_id: int,
    *,
    expected_version: int | None,
    source: str = BOT,
) -> Result:
    """One tap: renewal stopped at Telegram, access kept until the paid period ends."""

    async def step(c: _Change) -> Result:
        if c.m.state not in lifecycle.ALLOWED[Action.CANCEL]:
            return c.result(Status.NOT_ALLOWED)
        sub, telegram_id = c.sub, c.person.telegram_id
        if source == BOT and sub.auto_renew and sub.star_charge_id and telegram_id:
            await chat.cancel_star_subscription(telegram_id, sub.star_charge_id, True)
        await _apply_cancel(container, c.session, c.person, sub, c.m, source, c.now)
        return await c.done()

    return await _change(container, person_id, expected_version, step, stale=_as_is)


async def _apply_cancel(
    container: Container,
    session: AsyncSession,
    person: Person,
    sub: Subscription,
    m: Membership,
    source: str,
    now: datetime,
) -> None:
    new = lifecycle.cancel(m, now=now)
    apply_membership(sub, new, now)
    sub.canceled_at = now
    sub.cancel_reason = None
    access_until = new.period_end or now
    record_event(
        session,
        EventKind.CANCELED,
        now,
        person.id,
        plan=sub.plan_id,
        source=source,
        access_until=access_until.isoformat(),
    )
    if person.email and person.email_status != "undeliverable":
        from forever.db import outbox  # owned by the email side

        plan = container.catalog.plan(sub.plan_id or "")
        await outbox.enqueue(
            session,
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


async def undo_cancel(
    container: Container,
    chat: ChatPort,
    person_id: int,
    *,
    expected_version: int | None,
    source: str = BOT,
) -> Result:
    """ "Keep my subscription": one tap while the paid period lasts."""

    async def step(c: _Change) -> Result:
        m, sub, now = c.m, c.sub, c.now
        if m.state is not State.CANCEL_SCHEDULED or (
            m.period_end is not None and m.period_end <= now
        ):
            return c.result(Status.NOT_ALLOWED)
        renews = bool(sub.star_charge_id) and m.billing is Billing.MONTHLY
        if renews and source == BOT and c.person.telegram_id:
            await chat.cancel_star_subscription(c.person.telegram_id, sub.star_charge_id, False)
        apply_membership(sub, lifecycle.undo_cancel(m, now=now, auto_renew=renews), now)
        sub.canceled_at = None
        sub.cancel_reason = None
        record_event(c.session, EventKind.CANCEL_UNDONE, now, c.person.id, source=source)
        return await c.done()

    return await _change(container, person_id, expected_version, step, stale=_as_is)


# --- why, and one offer --------------------------------------------------------------------


async def give_reason(
    container: Container,
    person_id: int,
    *,
    expected_version: int | None,
    reason: CancelReason | None,
) -> Result:
    """The optional answer to "why?"; returns the one offer matched to it, if any."""

    async def step(c: _Change) -> Result:
        m, sub = c.m, c.sub
        if (
            m.state not in (State.CANCEL_SCHEDULED, State.EXPIRED)
            or sub.canceled_at is None
            or sub.cancel_reason is not None
        ):
            return c.result(Status.STALE)
        if reason is None:
            return c.result(Status.DONE)
        sub.cancel_reason = reason.value
        record_event(c.session, EventKind.CANCEL_REASON, c.now, c.person.id, reason=reason.value)
        offer = match_offer(container.catalog, reason, m)
        if offer is not None:
            record_event(
                c.session,
                EventKind.OFFER_SHOWN,
                c.now,
                c.person.id,
                offer=offer.id,
                reason=reason.value,
            )
        return await c.done(offer=offer)

    return await _change(container, person_id, expected_version, step, stale=_as_is)


@dataclass(frozen=True, slots=True)
class Accepted:
    result: Result
    lower_plan_id: str | None = None  # LOWER_TIER: the plan to offer a subscription link for


async def accept_offer(
    container: Container, person_id: int, *, expected_version: int | None, offer_id: str
) -> Accepted:
    """Apply the offer that was shown: a pause takes effect now; a discount or a lower tier
    gets its invoice (sent by the caller) and takes effect when paid."""

    async def step(c: _Change) -> Accepted:
        m, sub, now = c.m, c.sub, c.now
        stale = Accepted(c.result(Status.STALE))
        if m.state is not State.CANCEL_SCHEDULED:
            return stale
        try:
            reason = CancelReason(sub.cancel_reason or "")
        except ValueError:
            return stale
        offer = match_offer(container.catalog, reason, m)
        if offer is None or offer.id != offer_id:
            return stale
        if await _accepted_since(c.session, c.person.id, sub.canceled_at):
            return stale
        record_event(c.session, EventKind.OFFER_ACCEPTED, now, c.person.id, offer=offer.id)
        lower = None
        if offer.kind is OfferKind.PAUSE:
            back = lifecycle.undo_cancel(m, now=now, auto_renew=False)
            paused = lifecycle.pause(
                back, now=now, months=offer.months, max_months=max(offer.months, 3)
            )
            apply_membership(sub, paused, now)
            sub.canceled_at = None
            sub.star_charge_id = None  # renewal already stopped; resume gives a new link
            sub.star_payload = None
            _record_pause(c, offer.months, paused)
        elif offer.kind is OfferKind.LOWER_TIER:
            plan = container.catalog.next_tier_down(m.plan_id or "")
            lower = plan.id if plan else None
        return Accepted(await c.done(offer=offer), lower)

    return await _change(container, person_id, expected_version, step, stale=Accepted)


async def _accepted_since(session: AsyncSession, person_id: int, since: datetime | None) -> bool:
    query = select(Event.id).where(
        Event.person_id == person_id, Event.kind == EventKind.OFFER_ACCEPTED.value
    )
    if since is not None:
        query = query.where(Event.at >= since)
    return await session.scalar(query.limit(1)) is not None


# --- pause and resume ----------------------------------------------------------------------


async def pause(
    container: Container,
    chat: ChatPort,
    person_id: int,
    *,
    expected_version: int | None,
    months: int,
) -> Result:
    """No charge while paused: a Stars subscription's renewal is stopped."""
    catalog = container.catalog

    async def step(c: _Change) -> Result:
        sub, telegram_id = c.sub, c.person.telegram_id
        if months not in catalog.pause_months or c.m.state is not State.ACTIVE:
            return c.result(Status.NOT_ALLOWED)
        if sub.auto_renew and sub.star_charge_id and telegram_id:
            await chat.cancel_star_subscription(telegram_id, sub.star_charge_id, True)
        paused = lifecycle.pause(
            c.m, now=c.now, months=months, max_months=max(catalog.pause_months)
        )
        apply_membership(sub, paused, c.now)
        sub.star_charge_id = None
        sub.star_payload = None
        _record_pause(c, months, paused)
        return await c.done()

    return await _change(container, person_id, expected_version, step, stale=_as_is)


def _record_pause(c: _Change, months: int, paused: Membership) -> None:
    until = paused.paused_until.isoformat() if paused.paused_until else None
    record_event(c.session, EventKind.PAUSED, c.now, c.person.id, months=months, until=until)


async def resume(container: Container, person_id: int, *, expected_version: int | None) -> Result:
    async def step(c: _Change) -> Result:
        if c.m.state is not State.PAUSED:
            return c.result(Status.NOT_ALLOWED)
        _apply_resume(c.session, c.sub, c.m, c.now)
        return await c.done(needs_new_link=c.m.billing is Billing.MONTHLY)

    return await _change(container, person_id, expected_version, step, stale=_as_is)


def _apply_resume(session: AsyncSession, sub: Subscription, m: Membership, now: datetime) -> None:
    apply_membership(sub, lifecycle.resume(m, now=now), now)
    record_event(session, EventKind.RESUMED, now, sub.person_id)


async def resume_due_pauses(container: Container, now: datetime) -> int:
    """Sweep: a pause that reached its end resumes by itself with the time that was left."""
    count = 0
    async with container.sessions.begin() as session:
        rows = await session.scalars(
            select(Subscription)
            .where(Subscription.state == State.PAUSED.value)
            .where(Subscription.paused_until <= now)
            .with_for_update(skip_locked=True)
        )
        for sub in rows:
            _apply_resume(session, sub, to_membership(sub), now)
            count += 1
    return count


# --- Telegram's own subscription updates ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubscriptionChange:
    kind: str  # canceled | reactivated | failed | ignored
    snap: Snapshot | None = None


async def telegram_subscription_update(
    container: Container, telegram_id: int, payload: str, state: str
) -> SubscriptionChange:
    """The person changed their Stars subscription in Telegram (or a renewal failed): the
    same change as the bot's own buttons, without calling Telegram back."""
    now = container.clock.now()
    try:
        async with container.sessions.begin() as session:
            person = await session.scalar(select(Person).where(Person.telegram_id == telegram_id))
            if person is None:
                return SubscriptionChange("ignored")
            sub = await subscription_for(session, person.id, now)
            m = to_membership(sub)
            if not payload or sub.star_payload != payload:
                log.info("subscription update for an old or unknown payload; ignored")
                return SubscriptionChange("ignored")
            if (
                state == "canceled"
                and m.state in lifecycle.ALLOWED[Action.CANCEL]
                and (m.auto_renew or m.state is State.PAST_DUE)
            ):
                await _apply_cancel(container, session, person, sub, m, TELEGRAM, now)
                kind = "canceled"
            elif (
                state == "active"
                and m.state is State.CANCEL_SCHEDULED
                and (m.period_end is None or m.period_end > now)
            ):
                apply_membership(sub, lifecycle.undo_cancel(m, now=now, auto_renew=True), now)
                sub.canceled_at = None
                sub.cancel_reason = None
                record_event(session, EventKind.CANCEL_UNDONE, now, person.id, source=TELEGRAM)
                kind = "reactivated"
            elif state == "failed" and m.state in lifecycle.ALLOWED[Action.PAYMENT_FAILED]:
                if m.state is not State.PAST_DUE:
                    apply_membership(sub, lifecycle.payment_failed(m), now)
                    record_event(session, EventKind.PAYMENT_FAILED, now, person.id, plan=m.plan_id)
                kind = "failed"
            else:
                return SubscriptionChange("ignored")
            return SubscriptionChange(kind, await _finish(session, person, sub))
    except StaleDataError:
        return SubscriptionChange("ignored")
