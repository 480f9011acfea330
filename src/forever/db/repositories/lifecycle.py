"""The lifecycle area's reads: account views (consent, lookup by email), offers already
taken, and the sweeps' candidates (pauses that ended, memberships whose time is up)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select

from forever.db.models import Consent, Event, Payment, Person, Subscription
from forever.db.transactions import SqlUnitOfWork
from forever.domain.events import EventKind
from forever.domain.lifecycle import State


class SqlAccountReads:
    """services.accounts.AccountReads."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def latest_marketing_consent(self, person_id: int) -> Consent | None:
        return await self._uow.session.scalar(
            select(Consent)
            .where(Consent.person_id == person_id, Consent.purpose == "marketing")
            .order_by(Consent.asked_at.desc(), Consent.id.desc())
            .limit(1)
        )

    async def person_id_by_email(self, email: str) -> int | None:
        return await self._uow.session.scalar(
            select(Person.id)
            .where(func.lower(Person.email) == email.strip().lower())
            .order_by(Person.id)
            .limit(1)
        )

    async def charge_amount(self, charge_id: str) -> int | None:
        return await self._uow.session.scalar(
            select(Payment.amount).where(Payment.telegram_charge_id == charge_id)
        )


_OFFER_EVENTS = (
    EventKind.OFFER_SHOWN.value,
    EventKind.OFFER_ACCEPTED.value,
    EventKind.WINBACK_RECOVERED.value,
)


class SqlLifecycleRecords:
    """services.retention.RetentionRecords and services.memberships.ExpiryCandidates."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def offer_accepted_since(self, person_id: int, since: datetime | None) -> bool:
        query = select(Event.id).where(
            Event.person_id == person_id, Event.kind == EventKind.OFFER_ACCEPTED.value
        )
        if since is not None:
            query = query.where(Event.at >= since)
        return await self._uow.session.scalar(query.limit(1)) is not None

    async def offers_made(
        self,
        person_id: int,
        since: datetime,
        before: datetime | None = None,
        *,
        taken_only: bool = False,
    ) -> Sequence[str]:
        kinds = _OFFER_EVENTS[1:] if taken_only else _OFFER_EVENTS
        query = select(Event.data).where(
            Event.person_id == person_id, Event.kind.in_(kinds), Event.at >= since
        )
        if before is not None:
            query = query.where(Event.at < before)
        rows = await self._uow.session.scalars(query)
        return [str(d["offer"]) for d in rows if isinstance(d, dict) and d.get("offer")]

    async def pauses_ending_by(self, now: datetime) -> Sequence[Subscription]:
        rows = await self._uow.session.scalars(
            select(Subscription)
            .where(Subscription.state == State.PAUSED.value)
            .where(Subscription.paused_until <= now)
            .with_for_update(skip_locked=True)
        )
        return list(rows)

    async def ending_by(self, states: Sequence[str], now: datetime) -> Sequence[Subscription]:
        rows = await self._uow.session.scalars(
            select(Subscription)
            .where(Subscription.state.in_(list(states)))
            .where(Subscription.period_end <= now)
            .with_for_update(skip_locked=True)
        )
        return list(rows)
