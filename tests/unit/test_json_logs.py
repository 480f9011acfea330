"""LOG_FORMAT=json: one JSON object per line, with the instance, no secrets, tracebacks kept."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from forever.logs import REDACTED, setup_logging

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456789:AAH-a-real-looking-token-abcdefghijk"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_lines_carry_level_logger_message_and_context(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    setup_logging("INFO", "json", secrets=("s3cret-value",), context={"instance": "web-1"})
    log = logging.getLogger("forever.test")
    log.info("user %s paid, key s3cret-value, token %s", 42, TOKEN, extra={"update_id": 7})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("it failed")
    log.debug("not shown at INFO")
    first, second = json_lines(capsys.readouterr().err)
    assert first["level"] == "INFO"
    assert first["logger"] == "forever.test"
    assert first["instance"] == "web-1"
    assert first["update_id"] == 7
    assert first["time"].endswith("+00:00")
    assert first["message"] == f"user 42 paid, key {REDACTED}, token {REDACTED}"
    assert second["level"] == "ERROR"
    assert "ValueError: boom" in second["exception"]
    assert TOKEN not in json.dumps([first, second])


def test_text_format_stays_the_default(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    setup_logging("INFO")
    logging.getLogger("forever.test").warning("plain %s", TOKEN)
    err = capsys.readouterr().err
    assert "WARNING forever.test: plain [REDACTED]" in err
    with pytest.raises(json.JSONDecodeError):
        json.loads(err.splitlines()[-1])


def test_the_cli_logs_json_when_asked(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LOG_FORMAT": "json",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'f.db'}",
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = json_lines(result.stderr)
    assert lines, "migrate logs at least its result"
    assert any(line["message"] == "database schema is up to date" for line in lines)
