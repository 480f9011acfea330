"""What staff read and the audit log they leave, in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from forever.db.models import AuditEntry, Event, Person
from forever.db.transactions import SqlUnitOfWork
from forever.domain.kpi import EventRow


class SqlAuditLog:
    """services.staff.AuditLog: entries join the open transaction."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def record(self, actor: int, action: str, at: datetime, **arguments: Any) -> None:
        self._uow.session.add(
            AuditEntry(actor_telegram_id=actor, action=action, arguments=arguments, at=at)
        )


class SqlStaffDirectory:
    """services.staff.StaffDirectory."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def find_person(self, field: str, value: str | int) -> Person | None:
        if field == "telegram_id":
            condition = Person.telegram_id == int(value)
        elif field == "username":
            condition = func.lower(Person.username) == str(value).lower()
        elif field == "email":
            condition = func.lower(Person.email) == str(value).lower()
        else:
            raise ValueError(f"cannot look people up by {field!r}")
        return await self._uow.session.scalar(
            select(Person).where(condition, Person.erased_at.is_(None)).order_by(Person.id).limit(1)
        )

    async def recent_events(self, person_id: int, limit: int) -> Sequence[Event]:
        return (
            await self._uow.session.scalars(
                select(Event)
                .where(Event.person_id == person_id)
                .order_by(Event.at.desc(), Event.id.desc())
                .limit(limit)
            )
        ).all()

    async def recent_audit(self, limit: int) -> Sequence[AuditEntry]:
        return (
            await self._uow.session.scalars(
                select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
            )
        ).all()


class SqlEventHistory:
    """services.stats.EventHistory."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def until(self, end: datetime) -> list[EventRow]:
        rows = await self._uow.session.execute(
            select(Event.kind, Event.at, Event.person_id, Event.data)
            .where(Event.at <= end)
            .order_by(Event.at, Event.id)
        )
        return [EventRow(kind, at, person_id, data or {}) for kind, at, person_id, data in rows]
