"""services.console_people.PeopleIndex in SQL: the people list on indexes, keyset-paged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from forever.db.models import AuditEntry, Event, OutboxMessage, Payment, Person, Subscription
from forever.db.repositories.broadcasts import recipients_query
from forever.db.transactions import SqlUnitOfWork
from forever.domain.segments import Segment, SegmentKind
from forever.services.console_people import PaymentLine, PeopleFilter, PersonLine, TimelineItem
from forever.services.records import PersonRecord, SubscriptionRecord
from forever.services.staff import parse_who

COLUMNS = (
    Person.id,
    Person.telegram_id,
    Person.first_name,
    Person.username,
    Person.email,
    Person.language,
    Subscription.state,
    Subscription.plan_id,
    Person.created_at,
    Person.erased_at,
)


def _base(segment: str) -> Any:
    if segment:
        # The broadcast segment's own definition (who a broadcast to it would reach).
        query = recipients_query(Segment(SegmentKind(segment)))
        return query.with_only_columns(*COLUMNS).order_by(None)
    return select(*COLUMNS).outerjoin(Subscription, Subscription.person_id == Person.id)


class SqlConsolePeople:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def page(
        self, wanted: PeopleFilter, before: int | None, limit: int
    ) -> Sequence[PersonLine]:
        query = _base(wanted.segment)
        if wanted.state:
            query = query.where(Subscription.state == wanted.state)
        if wanted.plan:
            query = query.where(Subscription.plan_id == wanted.plan)
        if wanted.language:
            query = query.where(Person.language == wanted.language)
        text = wanted.query.strip()
        if text:
            try:
                field, value = parse_who(text)
            except ValueError:
                field, value = "name", text
            if field == "telegram_id":
                query = query.where(Person.telegram_id == int(value))
            elif field == "username":
                query = query.where(func.lower(Person.username) == str(value).lower())
            elif field == "email":
                query = query.where(func.lower(Person.email) == str(value).lower())
            else:
                # lower(first_name) LIKE 'prefix%': on PostgreSQL the text_pattern_ops index of
                # 0011_console serves it.
                escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                query = query.where(func.lower(Person.first_name).like(f"{escaped}%", escape="\\"))
        if before is not None:
            query = query.where(Person.id < before)
        rows: Any = await self._uow.session.execute(query.order_by(Person.id.desc()).limit(limit))
        return [
            PersonLine(
                id=r[0],
                telegram_id=r[1],
                first_name=r[2],
                username=r[3],
                email=r[4],
                language=r[5],
                state=r[6],
                plan_id=r[7],
                created_at=r[8],
                erased=r[9] is not None,
            )
            for r in rows
        ]

    async def person(self, person_id: int) -> PersonRecord | None:
        return await self._uow.session.get(Person, person_id)

    async def subscription(self, person_id: int) -> SubscriptionRecord | None:
        return await self._uow.session.scalar(
            select(Subscription).where(Subscription.person_id == person_id)
        )

    async def payments(self, person_id: int) -> Sequence[PaymentLine]:
        rows = await self._uow.session.scalars(
            select(Payment).where(Payment.person_id == person_id).order_by(Payment.id.desc())
        )
        return [
            PaymentLine(
                p.id, p.plan_id, p.billing, p.amount, p.currency, p.created_at, p.refunded_at
            )
            for p in rows
        ]

    async def timeline(self, person_id: int, limit: int) -> Sequence[TimelineItem]:
        session = self._uow.session
        events = await session.scalars(
            select(Event)
            .where(Event.person_id == person_id)
            .order_by(Event.at.desc(), Event.id.desc())
            .limit(limit)
        )
        items = [TimelineItem(e.at, "event", e.kind, dict(e.data or {})) for e in events]
        payments = await session.scalars(
            select(Payment)
            .where(Payment.person_id == person_id)
            .order_by(Payment.id.desc())
            .limit(limit)
        )
        items += [
            TimelineItem(
                p.created_at,
                "payment",
                f"{p.amount} {p.currency}",
                {"plan": p.plan_id, "billing": p.billing, "refunded": p.refunded_at is not None},
            )
            for p in payments
        ]
        messages = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.person_id == person_id)
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        )
        items += [
            TimelineItem(
                m.sent_at or m.created_at,
                "email" if m.channel == "email" else "chat",
                m.template,
                {"status": m.status},
            )
            for m in messages
        ]
        items.sort(key=lambda i: i.at, reverse=True)
        return items[:limit]


class SqlAuditIndex:
    """services.console_inbox.AuditIndex."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def page(
        self, actor: int | None, action: str, before: int | None, limit: int
    ) -> Sequence[AuditEntry]:
        query = select(AuditEntry)
        if actor is not None:
            query = query.where(AuditEntry.actor_telegram_id == actor)
        if action:
            query = query.where(AuditEntry.action == action)
        if before is not None:
            query = query.where(AuditEntry.id < before)
        rows = await self._uow.session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit))
        return rows.all()

    async def actions(self) -> Sequence[str]:
        return (await self._uow.session.scalars(select(AuditEntry.action).distinct())).all()

    async def latest_of(self, actions: Sequence[str], limit: int) -> Sequence[AuditEntry]:
        rows = await self._uow.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.in_(actions))
            .order_by(AuditEntry.id.desc())
            .limit(limit)
        )
        return rows.all()
