"""A price experiment's yearly arm (issue 18): /plans shows each person their arm's monthly
and yearly prices and the saving reckoned from them; the yearly invoice charges exactly the
yearly price shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from forever.config import Settings
from forever.db.models import ExperimentAssignment, Person
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from tests.conftest import ROOT
from tests.e2e.test_chat_payments import trial_user

NNBSP = "\u202f"  # the thousands separator the bot writes

EXPERIMENT = """
[[experiments]]
id = "plus_price"
surface = "plan_price"
holdout = 0.5
audience = { plans = ["plus"] }
variants = [{ id = "cheaper", monthly_stars = 250, yearly_stars = 2400 }]
"""


@pytest.fixture
def e2e_settings(settings: Settings, tg: FakeBotAPI, tmp_path: Path) -> Settings:
    path = tmp_path / "catalog.toml"
    path.write_text((ROOT / "catalog.toml").read_text(encoding="utf-8") + EXPERIMENT, "utf-8")
    return settings.model_copy(update={"telegram_api_url": tg.base_url, "catalog_path": str(path)})


async def test_a_price_experiments_yearly_arm_is_shown_and_charged(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    arms = set()
    for n in range(8):
        telegram_id = 5720 + n
        user = await trial_user(tg, telegram_id)
        await user.send_text("/plans")
        async with running_bot.container.sessions() as session:
            person = await session.scalar(select(Person).where(Person.telegram_id == telegram_id))
            assert person is not None
            row = await session.scalar(
                select(ExperimentAssignment).where(ExperimentAssignment.person_id == person.id)
            )
        assert row is not None
        cheaper = row.variant_id == "cheaper"
        monthly, yearly, saving, percent = (
            (250, f"2{NNBSP}400", "600", 20) if cheaper else (300, f"3{NNBSP}000", "600", 17)
        )
        listed = user.last_message
        label = f"Plus · {yearly} ⭐ / year"
        assert label in listed.button_texts and f"Plus · {monthly} ⭐ / month" in (
            listed.button_texts
        )
        assert f"{monthly} ⭐ a month, or {yearly} ⭐ a year: save {saving} ⭐ ({percent}%)" in (
            listed.text
        )
        await user.press(label)
        invoice = user.last_message.invoice
        assert invoice is not None
        stars = int(yearly.replace(NNBSP, ""))
        assert invoice.total_amount == stars and f"{yearly} ⭐" in invoice.description
        paid = await user.pay(user.last_message)
        assert paid.accepted and paid.total_amount == stars
        arms.add(row.variant_id)
    assert arms == {"cheaper", "holdout"}
