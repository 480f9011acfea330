"""Broadcast jobs: drafts, segments, confirmation, stopping, and their figures.

A broadcast is a persisted job: the `broadcasts` row plus one `broadcast_deliveries` row per
recipient, written in the same transaction that confirms it. The sender (broadcast_sender.py)
works through those rows, so a restart continues where it stopped and nobody gets two copies.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from forever.db.models import AuditEntry, Broadcast, BroadcastDelivery, Person, Subscription
from forever.domain.lifecycle import HAS_ACCESS, Billing, State
from forever.domain.segments import Segment, SegmentKind

ACTIVE_STATUSES = ("queued", "running")
# Statuses of a delivery that is settled (never sent again).
SETTLED = ("delivered", "blocked", "failed")


@dataclass(frozen=True, slots=True)
class Content:
    """What staff composed: a message in their chat to copy, with optional extras.

    `template_html` is set only when the text has placeholders; `kind` is the message type
    (text, photo, video, document), needed to know whether a personalised copy is a new text
    message or a copy with a new caption.
    """

    source_chat_id: int
    source_message_id: int
    kind: str
    template_html: str | None = None
    button_text: str | None = None
    button_url: str | None = None


def recipients_query(segment: Segment) -> Select[tuple[int, int]]:
    """(person id, chat id) of everyone in the segment who can receive a message."""
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


async def count_recipients(session: AsyncSession, segment: Segment) -> int:
    inner = recipients_query(segment).subquery()
    return int(await session.scalar(select(func.count()).select_from(inner)) or 0)


async def active_broadcast(session: AsyncSession) -> Broadcast | None:
    return await session.scalar(
        select(Broadcast)
        .where(Broadcast.status.in_(ACTIVE_STATUSES))
        .order_by(Broadcast.id)
        .limit(1)
    )


def audit(
    session: AsyncSession, actor: int, action: str, now: datetime, **arguments: Any
) -> AuditEntry:
    entry = AuditEntry(actor_telegram_id=actor, action=action, arguments=arguments, at=now)
    session.add(entry)
    return entry


async def create_draft(
    session: AsyncSession,
    *,
    staff_id: int,
    content: Content,
    segment: Segment,
    total: int,
    now: datetime,
) -> Broadcast:
    draft = Broadcast(
        created_by=staff_id,
        source_chat_id=content.source_chat_id,
        source_message_id=content.source_message_id,
        personalized_html=content.template_html,
        button_text=content.button_text,
        button_url=content.button_url,
        # The content kind rides along with the segment: both are fixed at confirmation.
        segment={**segment.to_json(), "content": content.kind},
        status="draft",
        total=total,
        created_at=now,
    )
    session.add(draft)
    await session.flush()
    return draft


@dataclass(frozen=True, slots=True)
class ConfirmResult:
    outcome: str  # queued | already | busy | empty | missing
    broadcast: Broadcast | None = None
    busy_with: Broadcast | None = None


async def confirm(
    session: AsyncSession, draft_id: int, *, staff_id: int, now: datetime
) -> ConfirmResult:
    """Turn a draft into a queued job with its recipients, exactly once.

    The status flip is a conditional UPDATE: a second tap (or a second instance handling the
    same tap) finds no draft and changes nothing.
    """
    draft = await session.get(Broadcast, draft_id)
    if draft is None:
        return ConfirmResult("missing")
    if draft.status != "draft":
        return ConfirmResult("already", draft)
    busy = await active_broadcast(session)
    if busy is not None:
        return ConfirmResult("busy", draft, busy)
    segment = Segment.from_json(draft.segment)
    flipped = await session.execute(
        update(Broadcast)
        .where(Broadcast.id == draft_id, Broadcast.status == "draft")
        .values(status="queued")
    )
    if flipped.rowcount != 1:  # type: ignore[attr-defined]
        return ConfirmResult("already", draft)
    rows = (await session.execute(recipients_query(segment))).all()
    if not rows:
        await session.execute(
            update(Broadcast).where(Broadcast.id == draft_id).values(status="draft")
        )
        return ConfirmResult("empty", draft)
    await session.execute(
        insert(BroadcastDelivery),
        [
            {
                "broadcast_id": draft_id,
                "person_id": person_id,
                "chat_id": chat_id,
                "status": "pending",
                "attempts": 0,
            }
            for person_id, chat_id in rows
        ],
    )
    await session.execute(update(Broadcast).where(Broadcast.id == draft_id).values(total=len(rows)))
    audit(
        session,
        staff_id,
        "broadcast_confirmed",
        now,
        broadcast=draft_id,
        segment=draft.segment,
        recipients=len(rows),
    )
    await session.refresh(draft)
    return ConfirmResult("queued", draft)


async def discard_draft(session: AsyncSession, draft_id: int) -> bool:
    result = await session.execute(
        update(Broadcast)
        .where(Broadcast.id == draft_id, Broadcast.status == "draft")
        .values(status="stopped")
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def request_stop(
    session: AsyncSession, broadcast_id: int, *, staff_id: int, now: datetime
) -> bool:
    """Ask the sender to stop; pending recipients stay unsent. False if it already ended."""
    result = await session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id, Broadcast.status.in_(ACTIVE_STATUSES))
        .values(status="stopped")
    )
    stopped = result.rowcount == 1  # type: ignore[attr-defined]
    if stopped:
        audit(session, staff_id, "broadcast_stopped", now, broadcast=broadcast_id)
    return stopped


async def delivery_counts(session: AsyncSession, broadcast_id: int) -> Counter[str]:
    rows = await session.execute(
        select(BroadcastDelivery.status, func.count())
        .where(BroadcastDelivery.broadcast_id == broadcast_id)
        .group_by(BroadcastDelivery.status)
    )
    return Counter({status: int(n) for status, n in rows.all()})
