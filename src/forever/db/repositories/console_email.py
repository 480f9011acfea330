"""The console's email broadcasts in SQL (services.console_email.EmailBroadcastStore)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Select, exists, func, select, update

from forever.db.models import AuditEntry, Consent, OutboxMessage, Person
from forever.db.repositories.broadcasts import recipients_query
from forever.db.repositories.customers import marketing_consent_given
from forever.db.transactions import SqlUnitOfWork
from forever.domain.segments import Segment
from forever.services.console_email import ACTION, KEY_PREFIX, EmailHistoryLine


def audience_query(segment: Segment) -> Select[int]:
    """The segment (as chat broadcasts select it) narrowed to people with an address and a
    confirmed, not withdrawn, marketing consent."""
    return (
        recipients_query(segment)
        .with_only_columns(Person.id)
        .where(Person.email.is_not(None))
        .where(exists(select(Consent.id).where(marketing_consent_given(Person.id))))
    )


class SqlConsoleEmails:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def audience(self, segment: Segment) -> list[int]:
        return list(await self._uow.session.scalars(audience_query(segment)))

    async def count_audience(self, segment: Segment) -> int:
        query = select(func.count()).select_from(audience_query(segment).order_by(None).subquery())
        return int(await self._uow.session.scalar(query) or 0)

    async def history(self, limit: int) -> list[EmailHistoryLine]:
        entries = list(
            await self._uow.session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == ACTION)
                .order_by(AuditEntry.id.desc())
                .limit(limit)
            )
        )
        lines = []
        for entry in entries:
            args = entry.arguments or {}
            ref = str(args.get("ref", ""))
            rows = await self._uow.session.execute(
                select(OutboxMessage.status, func.count())
                .where(OutboxMessage.idempotency_key.like(f"{KEY_PREFIX}:{ref}:%"))
                .group_by(OutboxMessage.status)
            )
            segment = args.get("segment") or {}
            label = " ".join(str(v) for v in (segment.get("kind"), segment.get("value")) if v)
            lines.append(
                EmailHistoryLine(
                    ref=ref,
                    created_by=entry.actor_telegram_id,
                    created_at=entry.at,
                    subject=str(args.get("subject", "")),
                    segment=label,
                    total=int(args.get("recipients", 0)),
                    send_at=str(args.get("send_at", "")),
                    counts=Counter({status: int(n) for status, n in rows}),
                )
            )
        return lines

    async def cancel_waiting(self, ref: str) -> int:
        result = await self._uow.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.idempotency_key.like(f"{KEY_PREFIX}:{ref}:%"))
            .where(OutboxMessage.status == "pending")
            .values(status="canceled")
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)
