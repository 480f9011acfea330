"""Fake of services.experiments.ExperimentStore on the shared FakeStore (rolled back with it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from forever.domain.experiment_outcomes import Happened
from tests.fakes.core import FakeStore


@dataclass
class FakeAssignment:
    experiment_id: str
    person_id: int
    variant_id: str
    holdout: bool
    surface: str
    exposed_at: datetime


@dataclass
class FakeOverride:
    experiment_id: str
    status: str
    winner_variant_id: str | None
    by_telegram_id: int
    at: datetime


class FakeExperimentStore:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        store.extra.setdefault("assignments", {})
        store.extra.setdefault("experiment_overrides", {})

    @property
    def rows(self) -> dict[tuple[str, int], FakeAssignment]:
        rows: dict[tuple[str, int], FakeAssignment] = self.store.extra["assignments"]
        return rows

    async def assignment(self, experiment_id: str, person_id: int) -> FakeAssignment | None:
        return self.rows.get((experiment_id, person_id))

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
        if (experiment_id, person_id) in self.rows:
            return False
        self.rows[(experiment_id, person_id)] = FakeAssignment(
            experiment_id, person_id, variant_id, holdout, surface, at
        )
        return True

    async def overrides(self) -> Sequence[FakeOverride]:
        return list(self.store.extra["experiment_overrides"].values())

    async def set_override(
        self, experiment_id: str, status: str, winner: str | None, by: int, at: datetime
    ) -> None:
        self.store.extra["experiment_overrides"][experiment_id] = FakeOverride(
            experiment_id, status, winner, by, at
        )

    async def assignments(self, experiment_id: str) -> Sequence[FakeAssignment]:
        return [r for r in self.rows.values() if r.experiment_id == experiment_id]

    async def exposure_counts(self) -> dict[str, int]:
        return dict(Counter(r.experiment_id for r in self.rows.values()))

    async def events_of(
        self, person_ids: Sequence[int], since: datetime
    ) -> Sequence[tuple[int, Happened]]:
        wanted = set(person_ids)
        return [
            (e.person_id, Happened(e.kind, e.at, e.data))
            for e in self.store.events
            if e.person_id in wanted and e.at >= since
        ]
