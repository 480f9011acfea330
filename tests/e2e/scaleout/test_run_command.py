"""`bot.py run` as a black box in webhook mode: setWebhook, a user answered through the
webhook, JSON logs naming the instance, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from forever.db.models import UpdateInbox
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.sandbox.fake_bot_api.state import FakeEvent
from tests.conftest import ROOT, TEST_TOKEN
from tests.e2e.scaleout.harness import WEBHOOK_SECRET
from tests.processes import START_WITHIN, reap, spawn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
async def test_run_in_webhook_mode(tg: FakeBotAPI, database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "BOT_TOKEN": TEST_TOKEN,
        "SECRET_KEY": "test-secret-key-0123456789abcdef",
        "TELEGRAM_API_URL": str(tg.base_url),
        "DATABASE_URL": database_url,
        "CATALOG_PATH": str(ROOT / "catalog.toml"),
        "MAIL_FROM": "Forever <hello@forever.test>",
        "WEB_PORT": str(port),
        "WEBHOOK_URL": f"http://127.0.0.1:{port}/tg/hook",
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "LOG_FORMAT": "json",
    }
    process = await spawn(
        sys.executable,
        str(ROOT / "bot.py"),
        "run",
        env=env,
        cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
    )
    lines: list[dict[str, Any]] = []
    ready = asyncio.Event()

    async def read_logs() -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            line = json.loads(raw)  # every line is JSON
            lines.append(line)
            if line["message"].startswith("Forever is running"):
                ready.set()

    reader = asyncio.create_task(read_logs())
    try:
        await asyncio.wait_for(ready.wait(), START_WITHIN)
        assert tg.queue.webhook is not None
        assert tg.queue.webhook.url == env["WEBHOOK_URL"]
        assert tg.queue.webhook.secret_token == WEBHOOK_SECRET

        answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_event(event: FakeEvent) -> None:
            if event.kind == "message" and event.chat_id == 7001 and not answered.done():
                answered.set_result(None)

        tg.subscribe(on_event)
        user = tg.add_user(7001, "Ana")
        await user.start()  # returns when the webhook answered 200
        await asyncio.wait_for(answered, 20)
        assert "Welcome" in user.last_message.text
    finally:
        code = await reap(process)
        await reader
    assert code == 0
    instances = {line.get("instance") for line in lines}
    assert len(instances) == 1
    assert None not in instances
    assert TEST_TOKEN not in json.dumps(lines)

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(UpdateInbox.processed_at))).all()
    finally:
        await engine.dispose()
    assert len(rows) == 1
    assert rows[0].processed_at is not None
