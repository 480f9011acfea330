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


PRICE_EXPERIMENT = """
[[experiments]]
id = "plus_price"
surface = "plan_price"
holdout = 0.5
audience = { plans = ["plus"] }
variants = [{ id = "cheaper", monthly_stars = 250 }]
"""
# Measured per arm (price): shown, paid, of them left again within 90 days.
PRICE_SEEDED = {"holdout": (300, 150, 30, 6), "cheaper": (250, 150, 45, 3)}


async def _seed_prices(settings: Settings) -> None:
    container = build_container(settings)
    exposed_at = datetime.now(UTC) - timedelta(days=120)
    try:
        async with container.sessions.begin() as session:
            for arm, (stars, shown, paid, left) in PRICE_SEEDED.items():
                for n in range(shown):
                    person = Person(first_name=f"{arm}{n}", created_at=exposed_at)
                    session.add(person)
                    await session.flush()
                    session.add(
                        ExperimentAssignment(
                            experiment_id="plus_price",
                            person_id=person.id,
                            variant_id=arm,
                            holdout=arm == "holdout",
                            surface="plan_price",
                            exposed_at=exposed_at,
                        )
                    )
                    if n < paid:
                        session.add(
                            Event(
                                person_id=person.id,
                                kind=EventKind.PAYMENT,
                                at=exposed_at + timedelta(days=1),
                                data={"amount": stars, "currency": "XTR"},
                            )
                        )
                    if n < left:
                        session.add(
                            Event(
                                person_id=person.id,
                                kind=EventKind.ACCESS_ENDED,
                                at=exposed_at + timedelta(days=31),
                                data={},
                            )
                        )
    finally:
        await container.close()


def test_report_whatif_json(
    settings: Settings,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text((ROOT / "catalog.toml").read_text("utf-8") + PRICE_EXPERIMENT, "utf-8")
    asyncio.run(_seed_prices(settings.model_copy(update={"catalog_path": str(catalog)})))
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CATALOG_PATH", str(catalog))
    assert main(["report", "whatif", "--plan", "plus", "--price", "250", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert (found["plan_id"], found["price"], found["today_price"]) == ("plus", 250, 300)
    assert found["monthly_new"] == pytest.approx(300 / 120 * 30, rel=0.01)
    at, today = found["at_price"], found["today"]
    assert at["conversion"]["value"] == pytest.approx(0.30)
    assert at["paid_churn_90d"]["value"] == pytest.approx(3 / 45)
    assert today["conversion"]["value"] == pytest.approx(0.20)
    assert at["conversion"]["low"] < 0.30 < at["conversion"]["high"]
    assert at["revenue_12m"]["low"] < at["revenue_12m"]["value"] < at["revenue_12m"]["high"]
    # A price nobody was shown: no estimate, and how many people it needs.
    assert main(["report", "whatif", "--plan", "plus", "--price", "275", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["at_price"] is None and found["needed_at_price"] == 100
    assert main(["report", "whatif", "--plan", "plus", "--price", "275"]) == 0
    assert "at 275 Stars: not enough data; 100 more measured people" in capsys.readouterr().out
    assert main(["report", "whatif", "--plan", "gold", "--price", "5"]) == 1
    assert main(["report", "whatif", "--plan", "plus"]) == 2


CONTRACT = {"id", "surface", "status", "decision", "winner", "variants"}
VARIANT_CONTRACT = {"id", "holdout", "exposed", "converted", "rate", "ci", "stars_per_exposed"}


async def _stop(settings: Settings, experiment_id: str) -> list[str]:
    from sqlalchemy import select

    from forever.db.models import AuditEntry
    from forever.wiring.experiments import experiment_desk

    container = build_container(settings)
    try:
        await experiment_desk(container).stop(experiment_id, staff_id=77)
        async with container.sessions() as session:
            return list((await session.scalars(select(AuditEntry.action))).all())
    finally:
        await container.close()


def test_report_contract_for_a_price_test_and_after_staff_stop_it(
    settings: Settings,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every key of the contract, with its type; Stars per exposed person for a price test;
    and `stopped` (no winner) once staff stop it, with the audit entry."""
    catalog = tmp_path / "catalog.toml"
    catalog.write_text((ROOT / "catalog.toml").read_text("utf-8") + PRICE_EXPERIMENT, "utf-8")
    seeded = settings.model_copy(update={"catalog_path": str(catalog)})
    asyncio.run(_seed_prices(seeded))
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CATALOG_PATH", str(catalog))
    assert main(["report", "experiments", "--json"]) == 0
    found = {e["id"]: e for e in json.loads(capsys.readouterr().out)["experiments"]}
    price = found["plus_price"]
    assert set(price) >= CONTRACT and price["surface"] == "plan_price"
    assert price["status"] == "running"
    assert price["decision"] in ("running", "winner", "no_difference")
    assert price["winner"] is None or price["winner"] in ("holdout", "cheaper")
    arms = {v["id"]: v for v in price["variants"]}
    assert set(arms) == {"holdout", "cheaper"}
    for arm, (stars, shown, paid, _) in PRICE_SEEDED.items():
        v = arms[arm]
        assert set(v) >= VARIANT_CONTRACT
        assert (v["holdout"], v["exposed"], v["converted"]) == (arm == "holdout", shown, paid)
        assert isinstance(v["ci"], list) and len(v["ci"]) == 2
        assert v["ci"][0] <= v["rate"] <= v["ci"][1]
        # Stars received per exposed (measured) person: each payer paid the arm's price once.
        assert v["stars_per_exposed"] == pytest.approx(stars * paid / shown)

    assert asyncio.run(_stop(seeded, "plus_price")) == ["experiment_stop"]
    assert main(["report", "experiments", "--json"]) == 0
    found = {e["id"]: e for e in json.loads(capsys.readouterr().out)["experiments"]}
    stopped = found["plus_price"]
    assert (stopped["status"], stopped["decision"], stopped["winner"]) == (
        "stopped",
        "stopped",
        None,
    )
    # What was measured stays readable after the stop.
    assert {v["id"]: v["exposed"] for v in stopped["variants"]} == {"holdout": 150, "cheaper": 150}
