"""A running price experiment through the fake Bot API: /plans shows each person their arm's
monthly price (the holdout the catalog's), recorded at that first showing; the subscription
link charges exactly that price, and the payment is kept (no mismatch refund)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from forever.config import Settings
from forever.db.models import ExperimentAssignment, Person
from forever.domain.events import EventKind
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from tests.conftest import ROOT
from tests.e2e.chat_helpers import events, snap
from tests.e2e.test_chat_payments import trial_user

EXPERIMENT = """
[[experiments]]
id = "plus_price"
surface = "plan_price"
holdout = 0.5
audience = { plans = ["plus"] }
variants = [{ id = "cheaper", monthly_stars = 250 }]
"""


@pytest.fixture
def e2e_settings(settings: Settings, tg: FakeBotAPI, tmp_path: Path) -> Settings:
    path = tmp_path / "catalog.toml"
    path.write_text((ROOT / "catalog.toml").read_text(encoding="utf-8") + EXPERIMENT, "utf-8")
    return settings.model_copy(update={"telegram_api_url": tg.base_url, "catalog_path": str(path)})


async def test_the_price_seen_is_the_price_charged(tg: FakeBotAPI, running_bot: Runtime) -> None:
    arms = set()
    for n in range(8):
        telegram_id = 5400 + n
        user = await trial_user(tg, telegram_id)
        await user.send_text("/plans")
        async with running_bot.container.sessions() as session:
            person = await session.scalar(select(Person).where(Person.telegram_id == telegram_id))
            assert person is not None
            row = await session.scalar(
                select(ExperimentAssignment).where(ExperimentAssignment.person_id == person.id)
            )
        assert row is not None and row.experiment_id == "plus_price"
        stars = 250 if row.variant_id == "cheaper" else 300
        label = f"Plus · {stars} ⭐ / month"
        assert label in user.last_message.button_texts
        assert "Basic · 150 ⭐ / month" in user.last_message.button_texts  # not in the test
        # Again: the same price, no second exposure.
        await user.send_text("/plans")
        assert label in user.last_message.button_texts
        await user.press(label)
        link_call = tg.calls_to("createInvoiceLink")[-1].params
        assert int(link_call["prices"][0]["amount"]) == stars
        paid = await user.press(user.last_message.button_texts[0])
        assert paid.accepted and paid.total_amount == stars
        state = await snap(running_bot, telegram_id)
        assert state.membership.state.value == "active" and state.renewal_stars == stars
        payments = [
            e for e in await events(running_bot, telegram_id) if e.kind == EventKind.PAYMENT
        ]
        assert [e.data["amount"] for e in payments] == [stars]
        exposed = [
            e for e in await events(running_bot, telegram_id) if e.kind == "experiment_exposed"
        ]
        assert len(exposed) == 1
        arms.add(row.variant_id)
    assert arms == {"cheaper", "holdout"}


async def test_staff_ask_what_if_in_chat(
    tg: FakeBotAPI, running_bot: Runtime, e2e_settings: Settings
) -> None:
    from sqlalchemy import select as sql_select

    from forever.db.models import AuditEntry
    from tests.conftest import STAFF_ID
    from tests.integration.test_experiment_report import _seed_prices

    await _seed_prices(e2e_settings)
    staff = tg.user(STAFF_ID)
    await staff.send_text("/whatif plus 250")
    report, chart = staff.messages[-2:]
    assert "What if plus cost 250 ⭐ a month?" in report.text
    assert "conversion 30%" in report.text and "Today, 300 ⭐:\n  conversion 20%" in report.text
    # Each estimate with its 95% range: conversion, churn, MRR and 12-month revenue.
    # Percentages and Stars as CLDR writes them in English: "30% (23.1%–37.6%)", "39,714 ⭐".
    number = r"([\d,]+(?:\.\d)?)"
    ranges = re.findall(rf"{number}(?:%| ⭐) \({number}%?–{number}%?\)", report.text)
    assert len(ranges) == 8  # four figures, at 250 and today
    as_float = [[float(x.replace(",", "")) for x in r] for r in ranges]
    assert all(low <= value <= high for value, low, high in as_float)
    assert "conversion 30% (23." in report.text  # Wilson's interval for 45 of 150
    assert chart.media is not None and chart.media.file.data[:8] == b"\x89PNG\r\n\x1a\n"
    await staff.send_text("/whatif plus 275")
    assert "275 ⭐: not enough data yet: 100 more people" in staff.messages[-2].text
    await staff.send_text("/whatif gold 5")
    assert "There is no plan “gold” in the catalog." in staff.last_message.text
    await staff.send_text("/whatif plus")
    assert "Use /whatif PLAN PRICE" in staff.last_message.text
    async with running_bot.container.sessions() as session:
        actions = (await session.scalars(sql_select(AuditEntry.action))).all()
    assert actions == ["whatif", "whatif"]  # an unknown plan is not looked up
    customer = tg.add_user(5600, "Eve")
    await customer.send_text("/whatif plus 250")
    assert "What if" not in (customer.last_message.text or "")
