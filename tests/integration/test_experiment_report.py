"""`bot.py report experiments --json`: the contract scripts read, from assignments and events
in the database (a seeded history where one cancel offer clearly keeps more members)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from forever.app import build_container
from forever.cli import main
from forever.config import Settings
from forever.db.models import Event, ExperimentAssignment, Person
from forever.domain.events import EventKind
from tests.conftest import ROOT

# Converted out of 150 per arm: the holdout 8, the discount 60, the lower tier 22.
SEEDED = {"holdout": 8, "discount": 60, "lower_tier": 22}


async def _seed(settings: Settings) -> None:
    container = build_container(settings)
    exposed_at = datetime.now(UTC) - timedelta(days=60)
    try:
        async with container.sessions.begin() as session:
            for arm, converted in SEEDED.items():
                for n in range(150):
                    person = Person(telegram_id=None, first_name=f"{arm}{n}", created_at=exposed_at)
                    session.add(person)
                    await session.flush()
                    session.add(
                        ExperimentAssignment(
                            experiment_id="too_expensive_offer",
                            person_id=person.id,
                            variant_id=arm,
                            holdout=arm == "holdout",
                            surface="cancel_offer",
                            exposed_at=exposed_at,
                        )
                    )
                    kind = EventKind.PAYMENT if n < converted else EventKind.ACCESS_ENDED
                    session.add(
                        Event(
                            person_id=person.id,
                            kind=kind,
                            at=exposed_at + timedelta(days=10),
                            data={"amount": 210, "currency": "XTR"},
                        )
                    )
    finally:
        await container.close()


def test_report_experiments_json(
    settings: Settings,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    catalog = tmp_path / "catalog.toml"
    text = (ROOT / "catalog.toml").read_text(encoding="utf-8")
    catalog.write_text(text.replace('status = "stopped"', 'status = "running"'), "utf-8")
    asyncio.run(_seed(settings.model_copy(update={"catalog_path": str(catalog)})))
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CATALOG_PATH", str(catalog))
    assert main(["report", "experiments", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    [experiment] = found["experiments"]
    assert {k: experiment[k] for k in ("id", "surface", "status", "decision", "winner")} == {
        "id": "too_expensive_offer",
        "surface": "cancel_offer",
        "status": "running",
        "decision": "winner",
        "winner": "discount",
    }
    arms = {v["id"]: v for v in experiment["variants"]}
    assert set(arms) == set(SEEDED)
    for arm, converted in SEEDED.items():
        v = arms[arm]
        assert (v["exposed"], v["converted"], v["holdout"]) == (150, converted, arm == "holdout")
        assert v["rate"] == pytest.approx(converted / 150)
        assert v["ci"][0] < v["rate"] < v["ci"][1]
        assert v["stars_per_exposed"] is None  # only price experiments count Stars
    assert main(["report", "experiments"]) == 0
    assert "too_expensive_offer (cancel_offer, running): winner discount" in capsys.readouterr().out
