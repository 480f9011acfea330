"""`bot.py tick --at` as a black box: sweeps, hands the mail to SMTP, exits 0; again for the
same instant sends nothing new."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta

from sqlalchemy.ext.asyncio import create_async_engine

from forever.db.engine import make_session_factory
from forever.db.models import Consent, Person, Subscription
from tests.conftest import ROOT, START
from tests.smtp_sink import SmtpSink


async def seed(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with make_session_factory(engine).begin() as session:
            person = Person(
                telegram_id=77,
                first_name="Ana",
                language="en",
                email="ana@example.com",
                created_at=START - timedelta(days=60),
                last_seen_at=START - timedelta(days=20),
            )
            session.add(person)
            await session.flush()
            session.add(
                Consent(
                    person_id=person.id,
                    channel="email",
                    purpose="marketing",
                    email=person.email,
                    wording_version="v1",
                    wording_hash="0" * 64,
                    source="test",
                    token="tok",
                    asked_at=START,
                    confirmed_at=START,
                )
            )
            session.add(
                Subscription(
                    person_id=person.id,
                    state="cancel_scheduled",
                    plan_id="plus",
                    billing="monthly",
                    cancel_reason="too_expensive",
                    period_end=START - timedelta(days=7),
                    updated_at=START,
                )
            )
    finally:
        await engine.dispose()


def run_tick(url: str, port: int, at: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "BOT_"))},
        "DATABASE_URL": url,
        "SECRET_KEY": "test-secret-key-0123456789abcdef",
        "MAIL_FROM": "Forever <hello@forever.test>",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_SECURITY": "none",
        "CATALOG_PATH": str(ROOT / "catalog.toml"),
        "PUBLIC_URL": "https://forever.test",
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), "tick", "--at", at],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def test_tick_keeps_mail_while_smtp_is_down_and_sends_it_once_later(database_url: str) -> None:
    asyncio.run(seed(database_url))
    sink = SmtpSink()  # its port has no server yet: SMTP is down
    down = run_tick(database_url, sink.port, "2026-11-23T10:00:00Z")
    assert down.returncode == 0, down.stderr
    sink.start()
    try:
        at = "2026-11-23T11:00:00Z"  # after the first retry delay
        for _ in range(2):  # the second run for the same instant sends nothing new
            result = run_tick(database_url, sink.port, at)
            assert result.returncode == 0, result.stderr
        assert [r.message["Subject"] for r in sink.received] == [
            "Come back to Forever Yoga Club: 40% off"
        ]
    finally:
        sink.stop()
