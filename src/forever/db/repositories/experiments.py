"""Experiment assignments and staff's overrides, in SQL (services.experiments.ExperimentStore)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select

from forever.db.models import Event, ExperimentAssignment, ExperimentOverride
from forever.db.transactions import SqlUnitOfWork
from forever.db.upsert import insert_ignore
from forever.domain.experiment_outcomes import Happened

_CHUNK = 500  # people per IN (...) list


class SqlExperimentStore:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def assignment(self, experiment_id: str, person_id: int) -> ExperimentAssignment | None:
        return await self._uow.session.scalar(
            select(ExperimentAssignment).where(
                ExperimentAssignment.experiment_id == experiment_id,
                ExperimentAssignment.person_id == person_id,
            )
        )

    async def add_assignment(
        self,
        *,
        experiment_id: str,
        person_id: int,
        variant_id: str,
        holdout: bool,
        surface: str,
        at: datetime,
    ) -> bool:
        # ON CONFLICT DO NOTHING: two instances exposing one person at once both see the
        # same (hashed) arm, and only one row and one exposure event are written.
        return await insert_ignore(
            self._uow.session,
            ExperimentAssignment,
            experiment_id=experiment_id,
            person_id=person_id,
            variant_id=variant_id,
            holdout=holdout,
            surface=surface,
            exposed_at=at,
        )

    async def overrides(self) -> Sequence[ExperimentOverride]:
        return (await self._uow.session.scalars(select(ExperimentOverride))).all()

    async def set_override(
        self, experiment_id: str, status: str, winner: str | None, by: int, at: datetime
    ) -> None:
        row = await self._uow.session.get(ExperimentOverride, experiment_id)
        if row is None:
            row = ExperimentOverride(experiment_id=experiment_id)
            self._uow.session.add(row)
        row.status = status
        row.winner_variant_id = winner
        row.by_telegram_id = by
        row.at = at

    async def assignments(self, experiment_id: str) -> Sequence[ExperimentAssignment]:
        return (
            await self._uow.session.scalars(
                select(ExperimentAssignment)
                .where(ExperimentAssignment.experiment_id == experiment_id)
                .order_by(ExperimentAssignment.exposed_at, ExperimentAssignment.id)
            )
        ).all()

    async def exposure_counts(self) -> dict[str, int]:
        rows = await self._uow.session.execute(
            select(ExperimentAssignment.experiment_id, func.count()).group_by(
                ExperimentAssignment.experiment_id
            )
        )
        return {experiment_id: int(count) for experiment_id, count in rows}

    async def events_of(
        self, person_ids: Sequence[int], since: datetime
    ) -> Sequence[tuple[int, Happened]]:
        found: list[tuple[int, Happened]] = []
        for start in range(0, len(person_ids), _CHUNK):
            chunk = person_ids[start : start + _CHUNK]
            rows = await self._uow.session.execute(
                select(Event.person_id, Event.kind, Event.at, Event.data)
                .where(Event.person_id.in_(chunk), Event.at >= since)
                .order_by(Event.at, Event.id)
            )
            found.extend(
                (person_id, Happened(kind, at, data or {}))
                for person_id, kind, at, data in rows
                if person_id is not None
            )
        return found
