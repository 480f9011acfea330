"""Email pipeline throughput: outbox rows -> claim -> render -> MIME -> SMTP -> mark sent,
against raw aiosmtplib sends of one prebuilt message over the same pooled connections, both to
a local aiosmtpd sink in another process, in the same run."""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.smtp_sink_process import smtp_sink
from forever.app import build_container
from forever.config import SmtpSecurity, load_settings
from forever.db.migrate import upgrade_to_head
from forever.db.models import Person
from forever.domain.clock import ManualClock
from forever.mail.message import build_message
from forever.mail.sender import OutboxSender
from forever.mail.smtp import SmtpConfig, SmtpPool
from forever.services import outbox

ROOT = Path(__file__).resolve().parents[1]
MAILS = 3000
ROUNDS = 3
POOL = 4
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


async def _raw(pool: SmtpPool, count: int) -> float:
    message = build_message(
        mail_from="Forever <hello@forever.test>",
        to="someone@example.com",
        subject="Your Plus membership is cancelled",
        html="<html><body>"
        + "<p>Hello there, this is a typical paragraph.</p>" * 8
        + "</body></html>",
        text="Hello there, this is a typical paragraph.\n" * 8,
        key="raw",
        date=NOW,
    )
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            queue.get_nowait()
            await pool.send(message)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(pool.size)))
    return time.perf_counter() - started


async def _pipeline(port: int, count: int, db_dir: Path) -> tuple[float, int]:
    url = f"sqlite+aiosqlite:///{db_dir / 'bench.db'}"
    await asyncio.to_thread(upgrade_to_head, url)
    settings = load_settings(
        _env_file=None,
        database_url=url,
        secret_key="bench-secret-key-0123456789",
        catalog_path=str(ROOT / "catalog.toml"),
        mail_from="Forever <hello@forever.test>",
        public_url="https://forever.test",
        smtp_security="none",
    )
    container = build_container(settings, clock=ManualClock(NOW))
    pool = SmtpPool(
        SmtpConfig(host="127.0.0.1", port=port, security=SmtpSecurity.NONE, pool_size=POOL)
    )
    try:
        async with container.sessions.begin() as session:
            people = [
                Person(
                    telegram_id=i + 1,
                    first_name=f"Person {i}",
                    language=("en", "ro", "it")[i % 3],
                    email=f"p{i}@example.com",
                    created_at=NOW,
                )
                for i in range(count)
            ]
            session.add_all(people)
            await session.flush()
            rows = [
                {
                    "key": f"bench:{p.id}",
                    "channel": "email",
                    "person_id": p.id,
                    "template": "cancel_confirmed",
                    "context": {
                        "plan_name": "Plus",
                        "access_until": NOW + timedelta(days=9),
                        "canceled_at": NOW,
                    },
                    "marketing": False,
                    "not_before": NOW,
                }
                for p in people
            ]
            await outbox.enqueue_many(session, rows, NOW)
        sender = OutboxSender.from_container(container, smtp=pool, chat=None, batch_size=500)
        await pool.send(
            build_message(  # open a connection first, as the raw run does
                mail_from="Forever <hello@forever.test>",
                to="warm@example.com",
                subject="warm",
                html="<html></html>",
                text="warm",
                key="warm",
                date=NOW,
            )
        )
        started = time.perf_counter()
        report = await sender.drain()
        elapsed = time.perf_counter() - started
        return elapsed, report.sent
    finally:
        await pool.close()
        await container.close()


async def main() -> list[tuple[str, str]]:
    """Alternates raw and pipeline runs (the machine is shared: take the best of each)."""
    raw_rates: list[float] = []
    pipe_rates: list[float] = []
    with smtp_sink() as port:
        pool = SmtpPool(
            SmtpConfig(host="127.0.0.1", port=port, security=SmtpSecurity.NONE, pool_size=POOL)
        )
        try:
            await _raw(pool, 200)  # warm up: open the connections
            for _ in range(ROUNDS):
                raw_rates.append(MAILS / await _raw(pool, MAILS))
                with tempfile.TemporaryDirectory() as tmp:
                    seconds, sent = await _pipeline(port, MAILS, Path(tmp))
                assert sent == MAILS, sent
                pipe_rates.append(sent / seconds)
        finally:
            await pool.close()
    best_raw, best_pipe = max(raw_rates), max(pipe_rates)
    pairs = ", ".join(f"{p / r:.2f}" for p, r in zip(pipe_rates, raw_rates, strict=True))
    return [
        ("mails per run", f"{MAILS}, {ROUNDS} alternating rounds, pool of {POOL} connections"),
        (
            "raw aiosmtplib sendmail of prebuilt bytes (best / all)",
            f"{best_raw:,.0f} mails/s / " + ", ".join(f"{r:,.0f}" for r in raw_rates),
        ),
        (
            "outbox pipeline: claim, render en/ro/it, MIME, send, mark (best / all)",
            f"{best_pipe:,.0f} mails/s / " + ", ".join(f"{r:,.0f}" for r in pipe_rates),
        ),
        ("pipeline / raw, best vs best", f"{best_pipe / best_raw:.2f}"),
        ("pipeline / raw, per round", pairs),
    ]
