"""A running trial-length experiment through the fake Bot API: each new member's trial lasts
their arm's days (the holdout the catalog's), recorded as the trial starts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from forever.config import Settings
from forever.db.models import ExperimentAssignment, Person
from forever.domain.events import EventKind
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from tests.conftest import ROOT, START
from tests.e2e.chat_helpers import events, snap
from tests.e2e.test_chat_payments import trial_user

EXPERIMENT = """
[[experiments]]
id = "longer_trial_test"
surface = "trial_length"
holdout = 0.5
variants = [{ id = "fortnight", trial_days = 14 }]
"""


@pytest.fixture
def e2e_settings(settings: Settings, tg: FakeBotAPI, tmp_path: Path) -> Settings:
    path = tmp_path / "catalog.toml"
    path.write_text((ROOT / "catalog.toml").read_text(encoding="utf-8") + EXPERIMENT, "utf-8")
    return settings.model_copy(update={"telegram_api_url": tg.base_url, "catalog_path": str(path)})


async def test_each_trial_lasts_the_arms_days(tg: FakeBotAPI, running_bot: Runtime) -> None:
    arms = set()
    for n in range(8):
        telegram_id = 5300 + n
        await trial_user(tg, telegram_id)
        async with running_bot.container.sessions() as session:
            person = await session.scalar(select(Person).where(Person.telegram_id == telegram_id))
            assert person is not None
            row = await session.scalar(
                select(ExperimentAssignment).where(ExperimentAssignment.person_id == person.id)
            )
        assert row is not None
        days = 14 if row.variant_id == "fortnight" else 7
        state = await snap(running_bot, telegram_id)
        assert state.membership.period_end == START + timedelta(days=days)
        started = [
            e for e in await events(running_bot, telegram_id) if e.kind == EventKind.TRIAL_STARTED
        ]
        assert [e.data["days"] for e in started] == [days]
        arms.add(row.variant_id)
    assert arms == {"fortnight", "holdout"}


def test_an_arm_may_not_shorten_the_promised_trial() -> None:
    from forever.domain.catalog import CatalogError, parse_catalog

    text = (ROOT / "catalog.toml").read_text(encoding="utf-8") + EXPERIMENT.replace("14", "5")
    with pytest.raises(CatalogError, match="at least the \\[trial\\] days \\(7\\)"):
        parse_catalog(text)
