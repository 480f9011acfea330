"""The console's broadcast queries (services.console_broadcasts.ConsoleBroadcastStore)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import func, select

from forever.db.models import Broadcast, BroadcastDelivery
from forever.db.repositories.broadcasts import SqlBroadcasts
from forever.db.transactions import SqlUnitOfWork
from forever.domain.segments import Segment
from forever.services.console_broadcasts import SEND_AT, HistoryLine


class SqlConsoleBroadcasts:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def count_recipients(self, segment: Segment) -> int:
        return await SqlBroadcasts(self._uow).count_recipients(segment)

    async def due_drafts(self, now: datetime) -> list[tuple[int, int]]:
        # Drafts are few (one per staff member at most, plus the scheduled ones).
        rows = await self._uow.session.execute(
            select(Broadcast.id, Broadcast.created_by, Broadcast.segment)
            .where(Broadcast.status == "draft")
            .order_by(Broadcast.id)
        )
        due = []
        for id_, author, segment in rows:
            when = (segment or {}).get(SEND_AT)
            if when and datetime.fromisoformat(when) <= now:
                due.append((id_, author))
        return due

    async def set_send_at(self, broadcast_id: int, when: datetime) -> None:
        job = await self._uow.session.get(Broadcast, broadcast_id)
        assert job is not None
        job.segment = {**job.segment, SEND_AT: when.isoformat()}
        await self._uow.session.flush()

    async def history(self, limit: int) -> list[HistoryLine]:
        jobs = list(
            await self._uow.session.scalars(
                select(Broadcast).order_by(Broadcast.id.desc()).limit(limit)
            )
        )
        counts: dict[int, Counter[str]] = {j.id: Counter() for j in jobs}
        if jobs:
            rows = await self._uow.session.execute(
                select(BroadcastDelivery.broadcast_id, BroadcastDelivery.status, func.count())
                .where(BroadcastDelivery.broadcast_id.in_(counts))
                .group_by(BroadcastDelivery.broadcast_id, BroadcastDelivery.status)
            )
            for id_, status, n in rows:
                counts[id_][status] = n
        return [
            HistoryLine(
                id=j.id,
                created_by=j.created_by,
                status=j.status,
                segment=j.segment or {},
                total=j.total,
                created_at=j.created_at,
                started_at=j.started_at,
                finished_at=j.finished_at,
                send_at=str((j.segment or {}).get(SEND_AT) or ""),
                counts=counts[j.id],
            )
            for j in jobs
        ]
