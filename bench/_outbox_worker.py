"""One outbox-draining instance for bench_outbox_scaleout, run as its own process.

Prints `ready` once connected, waits for `go` on stdin, drains the outbox, prints a JSON
report and exits. Channel `email` sends through SMTP; `chat` hands messages to a port that
only records them (no network), which leaves the outbox machinery itself to be measured.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Sent:
    ok: bool = True
    blocked: bool = False
    message_id: int | None = 1


class RecordingChat:
    def __init__(self) -> None:
        self.chat_ids: list[int] = []

    async def send_text(self, chat_id: int, html: str, keyboard: object = None) -> Sent:
        self.chat_ids.append(chat_id)
        return Sent()


async def run(database_url: str, smtp_port: int, name: str, channel: str) -> None:
    from sqlalchemy import text

    from forever.app import build_container
    from forever.config import load_settings
    from forever.mail.smtp import SmtpConfig, SmtpPool
    from forever.wiring.email import delivery_worker

    settings = load_settings(
        _env_file=None,
        database_url=database_url,
        secret_key="bench-secret-key-0123456789abcdef",
        catalog_path=str(ROOT / "catalog.toml"),
        mail_from="Forever <hello@forever.test>",
        public_url="https://forever.test",
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_security="none",
    )
    container = build_container(settings)
    pool = SmtpPool(SmtpConfig.from_settings(settings)) if channel == "email" else None
    chat = RecordingChat() if channel == "chat" else None
    sender = delivery_worker(container, smtp=pool, chat=chat, instance_id=name)
    # Before the clock starts: open the database pool and compile the templates once.
    async with container.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    for locale in ("en", "ro", "it"):
        env = container.renderer.env_for(locale)  # one environment per language (issue 21)
        for suffix in ("subject.txt.j2", "html.j2", "txt.j2"):
            env.get_template(f"email/consent_confirm.{suffix}")
        container.renderer.chat("help", locale, business="")
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    started = time.perf_counter()
    report = await sender.drain()
    seconds = time.perf_counter() - started
    if pool is not None:
        await pool.close()
    await container.close()
    result = {
        "instance": name,
        "sent": report.sent,
        "seconds": seconds,
        "chat_ids": chat.chat_ids if chat else [],
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]))
