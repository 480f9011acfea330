"""A running win-back offer experiment: each win-back email's link carries the person's arm
(the holdout: no offer), chosen and recorded once at the first email with its exposure event;
later steps carry the same arm, and the chat reads the same offer from the signed link."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from forever.app import Container
from forever.config import Settings
from forever.db.models import Event, ExperimentAssignment
from forever.domain.experiments import HOLDOUT, assign
from forever.jobs.delivery import DeliveryWorker
from tests.conftest import ROOT, START
from tests.integration import test_journeys
from tests.integration.test_journeys import offer_in, person_with, text_of, tick
from tests.smtp_sink import SmtpSink, smtp_sink_fixture  # noqa: F401 - fixture

EXPERIMENT = """
[[experiments]]
id = "winback_expensive"
surface = "winback_offer"
holdout = 0.3
audience = { reasons = ["too_expensive"] }
variants = [{ id = "forty", offer = "comeback_40" }, { id = "lower", offer = "lower_tier" }]
"""
OFFERS = {"forty": "comeback_40", "lower": "lower_tier", HOLDOUT: "none"}


pool = test_journeys.pool  # the SMTP pool and delivery worker fixtures, shared
sender = test_journeys.sender


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    path = tmp_path / "catalog.toml"
    path.write_text((ROOT / "catalog.toml").read_text(encoding="utf-8") + EXPERIMENT, "utf-8")
    return settings.model_copy(update={"catalog_path": str(path)})


async def test_the_winback_link_carries_the_persons_arm_in_every_step(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink
) -> None:
    experiment = container.catalog.experiment("winback_expensive")
    assert experiment is not None
    people = []
    for n in range(10):
        pid = await person_with(
            container,
            telegram_id=100 + n,
            email=f"p{n}@example.com",
            state="cancel_scheduled",
            plan_id="plus",
            billing="monthly",
            cancel_reason="too_expensive",
            canceled_at=START - timedelta(days=20),
            period_end=START - timedelta(days=7),
        )
        people.append(pid)
    await tick(container, sender, START)  # access ends, win-back day 7
    assert len(smtp_sink.received) == 10
    async with container.sessions() as session:
        rows = {
            r.person_id: r.variant_id
            for r in (await session.scalars(select(ExperimentAssignment))).all()
        }
    assert sorted(rows) == sorted(people)
    for mail in smtp_sink.received:
        token = next(w for w in text_of(mail).split() if "start=" in w).split("start=")[1]
        pid, offer = offer_in(container, token)
        assert rows[pid] == assign(container.experiment_key, experiment, pid).id
        assert offer == OFFERS[rows[pid]]
    assert len(set(rows.values())) > 1

    # Step 2, 23 days later: the same arm, no second exposure.
    smtp_sink.received.clear()
    await tick(container, sender, START + timedelta(days=23))
    assert len(smtp_sink.received) == 10
    for mail in smtp_sink.received:
        token = next(w for w in text_of(mail).split() if "start=" in w).split("start=")[1]
        pid, offer = offer_in(container, token)
        assert offer == OFFERS[rows[pid]]
    async with container.sessions() as session:
        exposed = (
            await session.scalars(select(Event).where(Event.kind == "experiment_exposed"))
        ).all()
    assert sorted(e.person_id for e in exposed) == sorted(people)
