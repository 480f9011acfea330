"""The command line as operators meet it: --help everywhere, and one-line config errors."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from forever.config import ConfigError, load_settings
from forever.logs import REDACTED, redact

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def bot(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BOT_", "DATABASE_", "ADMIN_", "SECRET_", "SMTP_", "WEBHOOK"))
    }
    clean.update(env)
    return subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), *args],
        capture_output=True,
        text=True,
        env=clean,
        cwd=env.get("CWD", str(ROOT)),
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", ["run", "sandbox", "tick", "migrate", "usage"])
def test_every_command_has_help(command: str) -> None:
    result = bot(command, "--help")
    assert result.returncode == 0
    assert "usage: bot.py" in result.stdout


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["run"], {}, "BOT_TOKEN: required"),
        (["migrate"], {"DATABASE_URL": "nonsense"}, "DATABASE_URL: not a SQLAlchemy URL"),
        (["migrate"], {"ADMIN_IDS": "abc"}, "ADMIN_IDS: expected comma separated"),
        (["migrate"], {"SUPPORT_IDS": "1,x"}, "SUPPORT_IDS: expected comma separated"),
        (["migrate"], {"SMTP_PORT": "seventy"}, "SMTP_PORT:"),
        (["migrate"], {"METRICS_PORT": "70000"}, "METRICS_PORT:"),
        (["migrate"], {"METRICS_PORT": "nine"}, "METRICS_PORT:"),
        (
            ["migrate"],
            {"DEFAULT_LOCALE": "de"},
            "DEFAULT_LOCALE: must be one of en, ro, it, ru, es",
        ),
        (["migrate"], {"TIMEZONE": "Mars/Olympus"}, "TIMEZONE: unknown time zone"),
        (["run"], {"BOT_TOKEN": TOKEN}, "SECRET_KEY: required"),
        (["tick", "--at", "tomorrow"], {}, "--at: not an ISO instant"),
        (["tick", "--at", "2026-12-01T09:00:00"], {}, "--at: not an ISO instant"),
        (
            ["run"],
            {"BOT_TOKEN": TOKEN, "SECRET_KEY": "x" * 32, "CATALOG_PATH": "missing.toml"},
            "missing.toml: cannot read the catalog",
        ),
    ],
)
def test_bad_settings_end_with_one_line_and_exit_2(args, env, needle) -> None:
    result = bot(*args, **env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert "Traceback" not in result.stderr


def test_a_bad_token_is_never_echoed() -> None:
    almost = TOKEN[:-20]  # a real-looking token cut short by a copy-paste accident
    result = bot("run", BOT_TOKEN=almost, SECRET_KEY="x" * 32)
    assert result.returncode == 2
    assert almost not in result.stderr
    assert "BOT_TOKEN" in result.stderr


def test_settings_read_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("ADMIN_IDS=1, 2,3\nSUPPORT_IDS=4,5\nDEFAULT_LOCALE=it\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.admin_ids == frozenset({1, 2, 3})
    assert settings.support_ids == frozenset({4, 5})
    assert settings.default_locale == "it"


@pytest.mark.parametrize("locale", ["ru", "es"])
def test_russian_or_spanish_may_be_the_default_locale(locale: str) -> None:
    assert load_settings(_env_file=None, default_locale=locale).default_locale == locale


def test_webhook_needs_a_secret() -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET: required"):
        load_settings(_env_file=None, webhook_url="https://bot.example.com/tg")


def test_redaction_hides_tokens_anywhere_in_a_line() -> None:
    line = f"POST https://api.telegram.org/bot{TOKEN}/getMe failed"
    assert TOKEN not in redact(line)
    assert REDACTED in redact(line)
    assert redact("secret here", ("secret",)) == f"{REDACTED} here"
