"""The sandbox never talks to a real Telegram: a production-looking setup is refused."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from forever.config import ConfigError, load_settings
from forever.sandbox.command import refuse_real_telegram
from tests.conftest import ROOT

REAL_LOOKING = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def test_real_token_with_telegrams_address_is_refused() -> None:
    settings = load_settings(_env_file=None, bot_token=REAL_LOOKING)
    with pytest.raises(ConfigError, match=r"TELEGRAM_API_URL points to api\.telegram\.org"):
        refuse_real_telegram(settings)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"bot_token": REAL_LOOKING, "telegram_api_url": "http://127.0.0.1:8081"},
        {"bot_token": REAL_LOOKING, "telegram_api_url": "http://localhost:8081"},
    ],
)
def test_no_token_or_a_local_api_is_fine(overrides: dict[str, str]) -> None:
    refuse_real_telegram(load_settings(_env_file=None, **overrides))


def test_the_command_says_so_in_one_line_and_exits_2() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_"))}
    env["BOT_TOKEN"] = REAL_LOOKING
    result = subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), "sandbox"],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(ROOT),
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: sandbox: BOT_TOKEN is set")
    assert "Traceback" not in result.stderr
    assert REAL_LOOKING not in result.stderr
