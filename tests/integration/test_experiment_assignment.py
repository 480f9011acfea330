"""Assignment across instances and restarts: two processes (two containers on one database)
exposing the same people at the same moment give each one arm, one row and one exposure
event; a restarted process with the same SECRET_KEY gives everyone the same arm again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from forever.app import build_container
from forever.config import Settings
from forever.db.models import Event, ExperimentAssignment, Person
from forever.domain.clock import ManualClock
from forever.domain.experiments import Surface
from forever.wiring.container import Container
from forever.wiring.experiments import experiment_chooser
from tests.conftest import ROOT, START

RUNNING = (
    (ROOT / "catalog.toml")
    .read_text(encoding="utf-8")
    .replace('status = "stopped"', 'status = "running"')
)


async def _expose(container: Container, person_id: int) -> str | None:
    chooser = experiment_chooser(container)
    async with container.uow.begin():
        choice = await chooser.choose(
            Surface.CANCEL_OFFER, person_id, now=START, reason="too_expensive", plan="plus"
        )
        await container.uow.commit()
    return choice.variant.id if choice else None


async def test_two_instances_and_a_restart_agree(settings: Settings, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(RUNNING, "utf-8")
    settings = settings.model_copy(update={"catalog_path": str(catalog)})
    one = build_container(settings, clock=ManualClock(START))
    two = build_container(settings, clock=ManualClock(START))
    try:
        async with one.sessions.begin() as session:
            people = [Person(first_name=f"P{i}", created_at=START) for i in range(40)]
            session.add_all(people)
            await session.flush()
            ids = [p.id for p in people]
        first = await asyncio.gather(*(_expose(one, pid) for pid in ids))
        second = await asyncio.gather(*(_expose(two, pid) for pid in ids))
        assert first == second and None not in first
        raced = await asyncio.gather(*(_expose(c, pid) for pid in ids for c in (one, two)))
        assert raced[0::2] == first and raced[1::2] == first
        async with one.sessions() as session:
            rows = await session.scalar(select(func.count()).select_from(ExperimentAssignment))
            events = await session.scalar(
                select(func.count()).select_from(Event).where(Event.kind == "experiment_exposed")
            )
        assert rows == events == 40
    finally:
        await one.close()
        await two.close()
    restarted = build_container(settings, clock=ManualClock(START))
    try:
        assert restarted.experiment_key == one.experiment_key  # derived from SECRET_KEY
        again = [await _expose(restarted, pid) for pid in ids]
        assert again == first
    finally:
        await restarted.close()


async def test_a_fresh_database_gives_the_same_arms_with_the_same_key(
    settings: Settings,
) -> None:
    """Without any recorded row the arm is the hash's: what another instance would choose."""
    from forever.domain.experiments import assign

    container = build_container(settings, clock=ManualClock(START))
    try:
        experiment = container.catalog.experiment("too_expensive_offer")
        assert experiment is not None
        other = build_container(settings, clock=ManualClock(START))
        try:
            assert [assign(other.experiment_key, experiment, p).id for p in range(50)] == [
                assign(container.experiment_key, experiment, p).id for p in range(50)
            ]
        finally:
            await other.close()
    finally:
        await container.close()
