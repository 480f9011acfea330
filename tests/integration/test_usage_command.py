"""`bot.py usage <telegram id>`: the staff-free hook the business uses to feed usage."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from forever.app import build_container
from forever.cli import main
from forever.config import Settings
from forever.db.models import UsageCounter
from forever.services.people import TelegramUser
from forever.wiring import customers
from tests.conftest import ROOT


async def _add_person(settings: Settings) -> None:
    container = build_container(settings)
    try:
        await customers.build(container).identify_person(TelegramUser(7001, "Ana", None, "en"))
    finally:
        await container.close()


async def _counter(settings: Settings) -> tuple[str, int] | None:
    container = build_container(settings)
    try:
        async with container.sessions() as session:
            row = await session.scalar(select(UsageCounter))
            return (row.metric, row.value) if row else None
    finally:
        await container.close()


def test_usage_command_adds_to_the_counter(
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    asyncio.run(_add_person(settings))
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CATALOG_PATH", str(ROOT / "catalog.toml"))
    assert main(["usage", "7001", "--amount", "3"]) == 0
    assert capsys.readouterr().out.strip() == "3"
    assert main(["usage", "7001"]) == 0
    assert capsys.readouterr().out.strip() == "4"
    assert main(["usage", "7999"]) == 1
    assert "no customer" in capsys.readouterr().err
    assert main(["usage", "7001", "--amount", "0"]) == 2
    assert asyncio.run(_counter(settings)) == ("classes", 4)


async def _buy_credits(settings: Settings, credits: int) -> None:
    from forever.wiring.economy import credit_ledger

    container = build_container(settings)
    try:
        await credit_ledger(container).buy(7001, credits, charge_id="cli-1", pack_id="p")
    finally:
        await container.close()


def test_usage_command_spends_credits_once_per_request_id(
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    asyncio.run(_add_person(settings))
    asyncio.run(_buy_credits(settings, 10))
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CATALOG_PATH", str(ROOT / "catalog.toml"))
    assert main(["usage", "7001", "--credits", "4", "--request-id", "job-1"]) == 0
    assert capsys.readouterr().out.strip() == "6"
    assert main(["usage", "7001", "--credits", "4", "--request-id", "job-1"]) == 0
    assert capsys.readouterr().out.strip() == "6"  # the same request counts once
    assert main(["usage", "7001", "--credits", "7", "--request-id", "job-2"]) == 1
    assert "balance is 6" in capsys.readouterr().err
    for bad, message in [("-2", "at least 1"), ("ten", "whole number"), ("99999999", "at most")]:
        assert main(["usage", "7001", "--credits", bad, "--request-id", "x"]) == 2
        assert message in capsys.readouterr().err
    assert main(["usage", "7001", "--credits", "1"]) == 2
    assert "--request-id" in capsys.readouterr().err
