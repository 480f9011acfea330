"""A running cancel-offer experiment through the fake Bot API: after "Too expensive" each member
sees their own arm's offer (the holdout none), recorded once with its exposure event; staff see
/experiments, one experiment's table and chart, and promote an arm (audited), after which
everyone gets it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from forever.config import Settings
from forever.db.models import AuditEntry, Event, ExperimentAssignment, ExperimentOverride
from forever.domain.experiments import HOLDOUT, assign
from forever.domain.signing import EXPERIMENT_KEY_PURPOSE, derive_key
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from tests.conftest import ROOT, STAFF_ID
from tests.e2e.test_chat_cancel import paying_user

EXPERIMENT = "too_expensive_offer"


@pytest.fixture
def e2e_settings(settings: Settings, tg: FakeBotAPI, tmp_path: Path) -> Settings:
    text = (ROOT / "catalog.toml").read_text(encoding="utf-8")
    path = tmp_path / "catalog.toml"
    path.write_text(text.replace('status = "stopped"', 'status = "running"'), encoding="utf-8")
    return settings.model_copy(update={"telegram_api_url": tg.base_url, "catalog_path": str(path)})


def expected_text(arm: str) -> str:
    return {
        "discount": "Would 30% off help?",
        "lower_tier": "<b>Basic</b> costs",
        HOLDOUT: "Thank you for telling us.",
    }[arm]


async def test_each_member_sees_their_arm_and_staff_promote_the_winner(
    tg: FakeBotAPI, running_bot: Runtime, e2e_settings: Settings
) -> None:
    container = running_bot.container
    experiment = container.catalog.experiment(EXPERIMENT)
    assert experiment is not None
    secret = e2e_settings.secret_key
    assert secret is not None
    key = derive_key(secret.get_secret_value(), EXPERIMENT_KEY_PURPOSE)
    arms: dict[int, str] = {}
    for n in range(6):
        user, _ = await paying_user(tg, 5100 + n)
        await user.send_text("/cancel")
        await user.press("Yes, cancel")
        await user.press("Too expensive")
        async with container.sessions() as session:
            row = await session.scalar(
                select(ExperimentAssignment).order_by(ExperimentAssignment.id.desc())
            )
        assert row is not None
        # The arm is the keyed hash's: the same in every process with this SECRET_KEY.
        assert row.variant_id == assign(key, experiment, row.person_id).id
        assert expected_text(row.variant_id) in user.last_message.html
        arms[row.person_id] = row.variant_id
    async with container.sessions() as session:
        exposed = (
            await session.scalars(select(Event).where(Event.kind == "experiment_exposed"))
        ).all()
    assert sorted(e.person_id for e in exposed) == sorted(arms)
    assert all(e.data["variant"] == arms[e.person_id] for e in exposed)

    staff = tg.user(STAFF_ID)
    await staff.send_text("/experiments")
    assert f"{EXPERIMENT}: offer after a cancel, running, 6 exposed" in staff.last_message.text
    await staff.send_text(f"/experiments {EXPERIMENT}")
    table, chart = staff.messages[-2:]
    assert "Success: still a member 30 days after the cancel" in table.text
    assert "Running: waiting until every arm has 100 people" in table.text
    assert chart.media is not None and chart.media.kind == "photo"
    assert chart.media.file.data[:8] == b"\x89PNG\r\n\x1a\n"
    await staff.send_text(f"/experiments promote {EXPERIMENT} lower_tier")
    assert (
        "Arm lower_tier of too_expensive_offer is now everyone's default" in staff.messages[-3].text
    )
    async with container.sessions() as session:
        override = await session.get(ExperimentOverride, EXPERIMENT)
        actions = (await session.scalars(select(AuditEntry.action))).all()
    assert override is not None and override.winner_variant_id == "lower_tier"
    assert actions == ["experiments", "experiment_results", "experiment_promote"]

    later, _ = await paying_user(tg, 5200)
    await later.send_text("/cancel")
    await later.press("Yes, cancel")
    await later.press("Too expensive")
    assert expected_text("lower_tier") in later.last_message.html
    async with container.sessions() as session:
        assert len((await session.scalars(select(ExperimentAssignment))).all()) == 6


async def test_experiments_is_for_staff_only_and_in_their_help(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    customer = tg.add_user(5500, "Eve")
    await customer.send_text("hello?")
    ordinary = customer.last_message.text
    await customer.send_text(f"/experiments promote {EXPERIMENT} discount")
    assert customer.last_message.text == ordinary
    await customer.send_text("/help")
    assert "/experiments" not in customer.last_message.text
    async with running_bot.container.sessions() as session:
        # Staff commands leave no trace; "hello?" went to the console's inbox.
        staff_actions = select(AuditEntry).where(AuditEntry.action != "customer_unknown")
        assert (await session.scalars(staff_actions)).all() == []
        assert await session.get(ExperimentOverride, EXPERIMENT) is None
    staff = tg.user(STAFF_ID)
    await staff.send_text("/help")
    assert "/experiments: Offer and price experiments" in staff.last_message.text
    await staff.send_text("/experiments nothing_here")
    assert "There is no experiment “nothing_here” in the catalog." in staff.last_message.text
    await staff.send_text("/experiments promote too many words here")
    assert "Use /experiments" in staff.last_message.text


async def test_staff_stop_an_experiment_in_chat_and_everyone_gets_the_default(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    container = running_bot.container
    first, _ = await paying_user(tg, 5300)
    await first.send_text("/cancel")
    await first.press("Yes, cancel")
    await first.press("Too expensive")
    staff = tg.user(STAFF_ID)
    await staff.send_text(f"/experiments stop {EXPERIMENT}")
    assert (
        f"Experiment {EXPERIMENT} is stopped: nobody new is assigned and everyone gets "
        "today's default." in staff.messages[-3].text
    )
    table = staff.messages[-2].text
    assert "stopped" in table.lower()
    await staff.send_text("/experiments")
    assert f"{EXPERIMENT}: offer after a cancel, stopped, 1 exposed" in staff.last_message.text
    async with container.sessions() as session:
        override = await session.get(ExperimentOverride, EXPERIMENT)
        entries = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    assert override is not None and override.status == "stopped"
    assert [e.action for e in entries] == ["experiment_stop", "experiments"]
    assert entries[0].actor_telegram_id == STAFF_ID
    assert entries[0].arguments.get("experiment") == EXPERIMENT

    # Someone new: the catalog's own offer for the reason, and no arm recorded.
    later, _ = await paying_user(tg, 5301)
    await later.send_text("/cancel")
    await later.press("Yes, cancel")
    await later.press("Too expensive")
    assert expected_text("discount") in later.last_message.html
    async with container.sessions() as session:
        assert len((await session.scalars(select(ExperimentAssignment))).all()) == 1
