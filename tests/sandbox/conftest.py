"""A whole sandbox (fake Telegram, mail catcher, bot, page) in the test's event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from forever.config import load_settings
from forever.sandbox.world import Sandbox
from tests.conftest import ROOT


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    settings = load_settings(
        _env_file=None, catalog_path=str(ROOT / "catalog.toml"), log_level="WARNING"
    )
    box = await Sandbox.start(settings, db_path=tmp_path / "sandbox.db", port=0, scheduler=False)
    yield box
    await box.stop()
    box.fake.assert_no_refused_calls()


@pytest.fixture
async def http(sandbox: Sandbox) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=sandbox.url) as session:
        yield session
