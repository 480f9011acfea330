"""Broadcast jobs and their recipients in SQL: what composing them (services/broadcasts.py)
and sending them (services/broadcast_sender.py) read and write."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, insert, select, update

from forever.db.leases import acquire_lease, release_lease
from forever.db.models import Broadcast, BroadcastDelivery, Person, Subscription
from forever.db.transactions import SqlUnitOfWork
from forever.domain.lifecycle import HAS_ACCESS, Billing, State
from forever.domain.segments import Segment, SegmentKind
from forever.logs import redact
from forever.services.broadcast_sender import Claimed, DeliveryResult
from forever.services.broadcasts import ACTIVE_STATUSES, Content


def recipients_query(segment: Segment) -> Select[int, int | None]:
    """(person id, chat id) of everyone in the segment who can receive a message: the SQL
    form of services.broadcasts.reaches."""
    query = (
        select(Person.id, Person.telegram_id)
        .outerjoin(Subscription, Subscription.person_id == Person.id)
        .where(Person.telegram_id.is_not(None))
        .where(Person.blocked_at.is_(None))
        .where(Person.erased_at.is_(None))
    )
    access = [s.value for s in HAS_ACCESS]
    match segment.kind:
        case SegmentKind.ALL:
            pass
        case SegmentKind.TRIAL:
            query = query.where(Subscription.state == State.TRIAL.value)
        case SegmentKind.PAYING:
            query = query.where(
                Subscription.state.in_(
                    [State.ACTIVE.value, State.CANCEL_SCHEDULED.value, State.PAST_DUE.value]
                ),
                Subscription.billing.in_([Billing.MONTHLY.value, Billing.YEARLY.value]),
            )
        case SegmentKind.PLAN:
            query = query.where(
                Subscription.state.in_(access), Subscription.plan_id == segment.value
            )
        case SegmentKind.CANCELLED:
            query = query.where(
                (Subscription.state == State.CANCEL_SCHEDULED.value)
                | (
                    (Subscription.state == State.EXPIRED.value)
                    & Subscription.canceled_at.is_not(None)
                )
            )
        case SegmentKind.LAPSED:
            query = query.where(
                Subscription.state == State.EXPIRED.value, Subscription.canceled_at.is_(None)
            )
        case SegmentKind.PAUSED:
            query = query.where(Subscription.state == State.PAUSED.value)
        case SegmentKind.LANGUAGE:
            query = query.where(Person.language == segment.value)
    return query.order_by(Person.id)


def _lease_name(job_id: int) -> str:
    return f"broadcast:{job_id}"


class SqlBroadcasts:
    """services.broadcasts.BroadcastRepository and services.broadcast_sender.BroadcastJobs."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    # -- composing ---------------------------------------------------------------------------

    async def get(self, broadcast_id: int) -> Broadcast | None:
        return await self._uow.session.get(Broadcast, broadcast_id)

    async def active(self) -> Broadcast | None:
        return await self._uow.session.scalar(
            select(Broadcast)
            .where(Broadcast.status.in_(ACTIVE_STATUSES))
            .order_by(Broadcast.id)
            .limit(1)
        )

    async def count_recipients(self, segment: Segment) -> int:
        inner = recipients_query(segment).subquery()
        return int(await self._uow.session.scalar(select(func.count()).select_from(inner)) or 0)

    async def add_draft(
        self, *, staff_id: int, content: Content, segment: dict[str, Any], total: int, now: datetime
    ) -> Broadcast:
        draft = Broadcast(
            created_by=staff_id,
            source_chat_id=content.source_chat_id,
            source_message_id=content.source_message_id,
            personalized_html=content.template_html,
            button_text=content.button_text,
            button_url=content.button_url,
            segment=segment,
            status="draft",
            total=total,
            created_at=now,
            variants={k: v.to_json() for k, v in content.variants.items()} or None,
        )
        self._uow.session.add(draft)
        await self._uow.session.flush()
        return draft

    async def change_status(
        self, broadcast_id: int, *, only_from: Collection[str], to: str
    ) -> bool:
        # One conditional statement: of two racing taps (or instances) only one wins.
        result = await self._uow.session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id, Broadcast.status.in_(list(only_from)))
            .values(status=to)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def change_owner(self, broadcast_id: int, *, from_staff: int, to_staff: int) -> bool:
        result = await self._uow.session.execute(
            update(Broadcast)
            .where(
                Broadcast.id == broadcast_id,
                Broadcast.status == "draft",
                Broadcast.created_by == from_staff,
            )
            .values(created_by=to_staff)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def add_recipients(self, broadcast_id: int, segment: Segment) -> int:
        rows = (await self._uow.session.execute(recipients_query(segment))).all()
        if rows:
            await self._uow.session.execute(
                insert(BroadcastDelivery),
                [
                    {
                        "broadcast_id": broadcast_id,
                        "person_id": person_id,
                        "chat_id": chat_id,
                        "status": "pending",
                        "attempts": 0,
                    }
                    for person_id, chat_id in rows
                ],
            )
        return len(rows)

    async def delivery_counts(self, broadcast_id: int) -> Counter[str]:
        rows = await self._uow.session.execute(
            select(BroadcastDelivery.status, func.count())
            .where(BroadcastDelivery.broadcast_id == broadcast_id)
            .group_by(BroadcastDelivery.status)
        )
        return Counter({status: int(n) for status, n in rows.all()})

    # -- sending -----------------------------------------------------------------------------

    async def next_active(self) -> int | None:
        return await self._uow.session.scalar(
            select(Broadcast.id)
            .where(Broadcast.status.in_(ACTIVE_STATUSES))
            .order_by(Broadcast.id)
            .limit(1)
        )

    async def status_of(self, job_id: int) -> str | None:
        return await self._uow.session.scalar(
            select(Broadcast.status).where(Broadcast.id == job_id)
        )

    async def reclaim_sending(self, job_id: int, now: datetime) -> None:
        await self._uow.session.execute(
            update(BroadcastDelivery)
            .where(
                BroadcastDelivery.broadcast_id == job_id,
                BroadcastDelivery.status == "sending",
            )
            .values(status="pending", claimed_by=None, claimed_until=None, updated_at=now)
        )

    async def claim(
        self, job_id: int, limit: int, *, holder: str, until: datetime, now: datetime
    ) -> list[Claimed]:
        session = self._uow.session
        rows = (
            await session.execute(
                select(
                    BroadcastDelivery.id,
                    BroadcastDelivery.person_id,
                    BroadcastDelivery.chat_id,
                    BroadcastDelivery.attempts,
                    Person.first_name,
                    Person.language,
                )
                .join(Person, Person.id == BroadcastDelivery.person_id)
                .where(
                    BroadcastDelivery.broadcast_id == job_id,
                    BroadcastDelivery.status == "pending",
                )
                .order_by(BroadcastDelivery.id)
                .limit(limit)
            )
        ).all()
        if not rows:
            return []
        await session.execute(
            update(BroadcastDelivery)
            .where(BroadcastDelivery.id.in_([r.id for r in rows]))
            .values(status="sending", claimed_by=holder, claimed_until=until, updated_at=now)
        )
        return [
            Claimed(r.id, r.person_id, r.chat_id, r.first_name, r.attempts, r.language)
            for r in rows
        ]

    async def record_results(self, results: Sequence[DeliveryResult], now: datetime) -> None:
        if not results:
            return
        await self._uow.session.execute(
            update(BroadcastDelivery),
            [
                {
                    "id": r.delivery_id,
                    "status": r.status,
                    "attempts": r.attempts,
                    "message_id": r.message_id,
                    "error": None if r.error is None else redact(r.error)[:500],
                    "claimed_by": None,
                    "claimed_until": None,
                    "updated_at": now,
                }
                for r in results
            ],
        )

    async def release(self, delivery_ids: Sequence[int]) -> None:
        if not delivery_ids:
            return
        await self._uow.session.execute(
            update(BroadcastDelivery)
            .where(
                BroadcastDelivery.id.in_(list(delivery_ids)),
                BroadcastDelivery.status == "sending",
            )
            .values(status="pending", claimed_by=None, claimed_until=None)
        )

    async def take_lease(self, job_id: int, *, holder: str, ttl: timedelta, now: datetime) -> bool:
        return await acquire_lease(
            self._uow.session, _lease_name(job_id), holder=holder, ttl=ttl, now=now
        )

    async def release_lease(self, job_id: int, *, holder: str, now: datetime) -> None:
        await release_lease(self._uow.session, _lease_name(job_id), holder=holder, now=now)


class SqlBroadcastReplies:
    """services.staff_replies.BroadcastReplies: which broadcast a customer's message answers."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def broadcast_message(self, chat_id: int, message_id: int) -> int | None:
        return await self._uow.session.scalar(
            select(BroadcastDelivery.broadcast_id)
            .where(
                BroadcastDelivery.chat_id == chat_id,
                BroadcastDelivery.message_id == message_id,
                BroadcastDelivery.status == "delivered",
            )
            .limit(1)
        )

    async def latest_broadcast(self, chat_id: int, since: datetime) -> int | None:
        return await self._uow.session.scalar(
            select(BroadcastDelivery.broadcast_id)
            .where(
                BroadcastDelivery.chat_id == chat_id,
                BroadcastDelivery.status == "delivered",
                BroadcastDelivery.updated_at >= since,
            )
            .order_by(BroadcastDelivery.updated_at.desc(), BroadcastDelivery.id.desc())
            .limit(1)
        )
