"""Referrals and partners (issue 19): /invite, the attribution of a first /start through a
`r_<code>` link, the reward when the referred person first pays (taken back when that payment
is refunded), and the partners' report for staff.

Attribution happens once per person, only on their first contact with the bot (the update
that created them), never to themselves. The reward is given inside the payment's own
transaction (`ReferralRewards.paid`, called by `billing.RecordPayment`), once per referred
person (the referral row keeps the charge id, unique); a staff refund of that charge calls
`ReferralRewards.refunded` inside the refund's transaction.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from forever.domain import lifecycle
from forever.domain.catalog import Catalog
from forever.domain.clock import Clock
from forever.domain.events import EventKind
from forever.domain.referrals import (
    Partner,
    ReferralRules,
    add_days,
    commission,
    personal_code,
    read_start,
    same_confirmed_email,
    take_days,
)
from forever.services.memberships import apply_membership, to_membership
from forever.services.ports import (
    EventLog,
    Outbox,
    PeopleRepository,
    SubscriptionRepository,
    UnitOfWork,
)
from forever.services.staff import AuditLog, can_be_told

# message_templates/chat/: what each side is told.
REWARD_GIVEN = "referral_reward"
REWARD_TAKEN = "referral_revoked"
SAME_EMAIL = "same_email"


class ReferralRecord(Protocol):
    person_id: int
    referrer_id: int | None
    partner_id: str | None
    code: str
    created_at: datetime
    reward_charge_id: str | None
    first_paid_at: datetime | None
    referrer_days: int
    referred_days: int
    reward_refused: str | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class PartnerTotals:
    partner_id: str
    referred: int
    paid: int
    stars: int


class ReferralStore(Protocol):
    async def code_of(self, person_id: int) -> str | None: ...

    async def add_code(self, person_id: int, code: str, now: datetime) -> None:
        """Insert unless this person has a code already (two /invite at once: one row)."""
        ...

    async def owner_of(self, code: str) -> int | None: ...

    async def add(
        self,
        *,
        person_id: int,
        referrer_id: int | None,
        partner_id: str | None,
        code: str,
        now: datetime,
    ) -> bool:
        """Insert the referral unless the person has one; True when this call did."""
        ...

    async def of_referred(self, person_id: int) -> ReferralRecord | None: ...

    async def by_charge(self, charge_id: str) -> ReferralRecord | None: ...

    async def claim_reward(self, person_id: int, charge_id: str, now: datetime) -> bool:
        """Set the first payment on a referral that has none yet; True when this call did
        (one reward however many payments race)."""
        ...

    async def counts_for(self, referrer_id: int) -> tuple[int, int]:
        """(people this member brought, of them rewarded and not taken back)."""
        ...

    async def partner_totals(self) -> Sequence[PartnerTotals]:
        """Per partner id: people referred, those with a payment not refunded, and the Stars
        of their payments (not refunded) since they were referred."""
        ...


class PointsHook(Protocol):
    """The points ledger (services.points.PointsLedger): the catalog's `[points.events]
    referral_rewarded` points for each side, and their taking back at a refund."""

    async def earn_for(self, event_kind: str, person_id: int, key: str) -> Any: ...

    async def take_back(self, key: str) -> Any: ...


POINTS_EVENT = "referral_rewarded"


class AttributionOutcome(StrEnum):
    MEMBER = "member"  # attributed to the member whose link it was
    PARTNER = "partner"  # attributed to a catalog partner
    SELF = "self"  # the person's own link
    KNOWN = "known"  # the person was known before this /start (or attributed already)
    INVALID = "invalid"  # no such code, or not a code at all


@dataclass(frozen=True, slots=True)
class Attribution:
    outcome: AttributionOutcome
    referrer_name: str | None = None
    partner: Partner | None = None
    referred_days: int = 0
    referrer_days: int = 0


@dataclass(frozen=True, slots=True)
class Invite:
    code: str
    referred: int
    rewarded: int
    rules: ReferralRules


@dataclass(frozen=True, slots=True)
class PartnerLine:
    partner_id: str
    name: str
    code: str
    percent: int
    referred: int
    paid: int
    stars: int

    @property
    def owed(self) -> int:
        return commission(self.stars, self.percent)


@dataclass(frozen=True, slots=True)
class PartnersReport:
    lines: tuple[PartnerLine, ...]
    at: datetime


CSV_HEADER = (
    "partner_id",
    "name",
    "code",
    "referred",
    "paid",
    "stars_received",
    "commission_percent",
    "commission_owed",
)


def partners_csv(lines: Sequence[PartnerLine]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for line in lines:
        writer.writerow(
            (
                line.partner_id,
                line.name,
                line.code,
                line.referred,
                line.paid,
                line.stars,
                line.percent,
                line.owed,
            )
        )
    return out.getvalue().encode("utf-8")


class Referrals:
    """/invite, the attribution at /start, and /partners for staff."""

    def __init__(
        self,
        uow: UnitOfWork,
        store: ReferralStore,
        people: PeopleRepository,
        events: EventLog,
        audit: AuditLog,
        catalog: Callable[[], Catalog],
        clock: Clock,
        key: bytes,
    ) -> None:
        self.uow = uow
        self.store = store
        self.people = people
        self.events = events
        self.audit = audit
        self.catalog = catalog
        self.clock = clock
        self.key = key

    async def invite(self, person_id: int) -> Invite:
        """The person's code (made and kept at the first ask) and how many they brought."""
        now = self.clock.now()
        async with self.uow.begin():
            code = await self.store.code_of(person_id)
            if code is None:
                await self.store.add_code(person_id, personal_code(self.key, person_id), now)
                code = await self.store.code_of(person_id)
                assert code is not None
            referred, rewarded = await self.store.counts_for(person_id)
            await self.uow.commit()
        return Invite(code, referred, rewarded, self.catalog().referrals)

    async def attribute(
        self, person_id: int, parameter: str | None, *, first_contact: bool
    ) -> Attribution | None:
        """A `/start r_<code>`: None when the parameter is no referral link."""
        code = read_start(parameter)
        if code is None:
            return None
        if not code:
            return Attribution(AttributionOutcome.INVALID)
        catalog = self.catalog()
        partner = catalog.partner_by_code(code)
        now = self.clock.now()
        async with self.uow.begin():
            referrer_id = None if partner is not None else await self.store.owner_of(code)
            referrer = await self.people.get(referrer_id) if referrer_id else None
            if partner is None and (referrer is None or referrer.erased_at is not None):
                return Attribution(AttributionOutcome.INVALID)  # unknown, or an erased member's
            if referrer_id == person_id:
                return Attribution(AttributionOutcome.SELF)
            if not first_contact:
                return Attribution(AttributionOutcome.KNOWN)
            added = await self.store.add(
                person_id=person_id,
                referrer_id=referrer_id,
                partner_id=partner.id if partner else None,
                code=code,
                now=now,
            )
            if not added:
                return Attribution(AttributionOutcome.KNOWN)
            self.events.record(
                EventKind.REFERRED,
                now,
                person_id,
                by="partner" if partner else "member",
                partner=partner.id if partner else None,
                referrer=referrer_id,
            )
            await self.uow.commit()
        if partner is not None:
            return Attribution(AttributionOutcome.PARTNER, partner=partner)
        return Attribution(
            AttributionOutcome.MEMBER,
            referrer_name=referrer.first_name if referrer else None,
            referred_days=catalog.referrals.referred_days,
            referrer_days=catalog.referrals.referrer_days,
        )

    async def partners(self, *, staff_id: int) -> PartnersReport:
        """Per catalog partner (then any id only the history knows): referred, paid, Stars
        received and the commission owed. The viewing is audited."""
        now = self.clock.now()
        catalog = self.catalog()
        async with self.uow.begin():
            totals = {t.partner_id: t for t in await self.store.partner_totals()}
            self.audit.record(staff_id, "partners", now)
            await self.uow.commit()
        lines: list[PartnerLine] = []
        for partner in catalog.partners:
            t = totals.pop(partner.id, PartnerTotals(partner.id, 0, 0, 0))
            lines.append(
                PartnerLine(
                    partner.id,
                    partner.name,
                    partner.code,
                    partner.commission_percent,
                    t.referred,
                    t.paid,
                    t.stars,
                )
            )
        for t in sorted(totals.values(), key=lambda t: t.partner_id):
            lines.append(
                PartnerLine(t.partner_id, t.partner_id, "", 0, t.referred, t.paid, t.stars)
            )
        return PartnersReport(tuple(lines), now)


class ReferralRewards:
    """The reward at the referred person's first payment, and its taking back at a refund.
    Both run inside the caller's transaction (the payment's, the refund's) and never commit."""

    def __init__(
        self,
        store: ReferralStore,
        people: PeopleRepository,
        subscriptions: SubscriptionRepository,
        events: EventLog,
        outbox: Outbox,
        catalog: Callable[[], Catalog],
        points: PointsHook | None = None,
    ) -> None:
        self.store = store
        self.people = people
        self.subscriptions = subscriptions
        self.events = events
        self.outbox = outbox
        self.catalog = catalog
        self.points = points

    async def paid(self, person_id: int, charge_id: str, now: datetime) -> bool:
        """A kept Stars payment of `person_id`: the reward when it is their first since they
        were referred. True when a message was queued (the caller kicks the sender)."""
        referral = await self.store.of_referred(person_id)
        if referral is None or referral.reward_charge_id is not None:
            return False
        if not await self.store.claim_reward(person_id, charge_id, now):
            return False  # another delivery of a payment got there first
        rules = self.catalog().referrals
        referred = await self.people.get(person_id)
        referrer = await self.people.get(referral.referrer_id) if referral.referrer_id else None
        if referrer is None:  # a partner's: the partner's share is the commission
            return False
        assert referred is not None
        if same_confirmed_email(
            referred.email, referred.email_status, referrer.email, referrer.email_status
        ):
            referral.reward_refused = SAME_EMAIL
            self.events.record(
                EventKind.REFERRAL_REWARD_REFUSED,
                now,
                person_id,
                referrer=referrer.id,
                charge_id=charge_id,
                reason=SAME_EMAIL,
            )
            return False
        referral.referrer_days = rules.referrer_days
        referral.referred_days = rules.referred_days
        told = False
        for who, role, days in (
            (referred, "referred", rules.referred_days),
            (referrer, "referrer", rules.referrer_days),
        ):
            points = await self._earn(who.id, charge_id, role)
            if days <= 0 and not points:
                continue
            until = await self._give(who.id, days, rules, now) if days > 0 else None
            self.events.record(
                EventKind.REFERRAL_REWARDED,
                now,
                who.id,
                role=role,
                days=days,
                points=points,
                charge_id=charge_id,
                referred=person_id,
            )
            if can_be_told(who):
                await self._tell(
                    who.id, REWARD_GIVEN, f"{charge_id}:{role}", role, days, until, now, points
                )
                told = True
        return told

    async def _earn(self, person_id: int, charge_id: str, role: str) -> int:
        """The referral's points for one side, once per (charge, side), in this transaction."""
        if self.points is None:
            return 0
        result = await self.points.earn_for(POINTS_EVENT, person_id, f"{charge_id}:{role}")
        return int(getattr(result, "points", 0) or 0) if _done(result) else 0

    async def refunded(self, charge_id: str, now: datetime) -> bool:
        """`charge_id` was refunded: if it earned a referral reward, the days are taken back
        from both sides. True when a message was queued."""
        referral = await self.store.by_charge(charge_id)
        if referral is None or referral.revoked_at is not None:
            return False
        referral.revoked_at = now
        if referral.reward_refused is not None or referral.referrer_id is None:
            return False
        told = False
        for who_id, role, days in (
            (referral.person_id, "referred", referral.referred_days),
            (referral.referrer_id, "referrer", referral.referrer_days),
        ):
            points, short = 0, 0
            if self.points is not None:
                back = await self.points.take_back(f"{POINTS_EVENT}:{charge_id}:{role}")
                if _done(back):
                    points, short = int(back.points), int(back.shortfall)
            if days <= 0 and not points and not short:
                continue
            row = await self.subscriptions.of(who_id) if days > 0 else None
            until = None
            if row is not None:
                taken = take_days(to_membership(row), now=now, days=days)
                apply_membership(row, taken, now)
                until = taken.period_end if taken.has_access else None
            self.events.record(
                EventKind.REFERRAL_REVOKED,
                now,
                who_id,
                role=role,
                days=days,
                points=points,
                points_shortfall=short,
                charge_id=charge_id,
                referred=referral.person_id,
            )
            who = await self.people.get(who_id)
            if can_be_told(who):
                await self._tell(
                    who_id, REWARD_TAKEN, f"{charge_id}:{role}", role, days, until, now, points
                )
                told = True
        return told

    async def _give(
        self, person_id: int, days: int, rules: ReferralRules, now: datetime
    ) -> datetime | None:
        """Bonus days at the end of the access running now; without access, a grant of the
        referral plan for those days. The new end of access."""
        row = await self.subscriptions.get_or_create(person_id, now)
        held = to_membership(row)
        longer = add_days(held, now=now, days=days)
        if longer is None:
            plan_id = rules.plan_id or self.catalog().trial.plan_id
            longer = lifecycle.grant(held, plan_id=plan_id, now=now, days=days)
            self.events.record(
                EventKind.GRANTED,
                now,
                person_id,
                plan=plan_id,
                days=days,
                by=None,
                source="referral",
            )
        apply_membership(row, longer, now)
        if longer.state is lifecycle.State.PAUSED:
            return None
        return longer.period_end

    async def _tell(
        self,
        person_id: int,
        template: str,
        key: str,
        role: str,
        days: int,
        until: datetime | None,
        now: datetime,
        points: int = 0,
    ) -> None:
        await self.outbox.enqueue(
            key=f"{template}:{key}"[:200],
            channel="chat",
            person_id=person_id,
            template=template,
            context={"role": role, "days": days, "until": until, "points": points},
            marketing=False,
            not_before=now,
            now=now,
        )


def _done(result: Any) -> bool:
    return str(getattr(result, "outcome", "")) == "done"
