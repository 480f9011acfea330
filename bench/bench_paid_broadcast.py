"""Paid fast broadcasts, memory and start-up, with `bot.py run` as its own process.

The fake Bot API (30 messages/s for ordinary sends, 1000/s with allow_paid_broadcast, a Star
balance) and the simulated people run in one process (bench/paid_fake_process.py); the bot
runs exactly as deployed, `python bot.py run`, on SQLite, in another. Figures:
- start-up: from launching the process to serving (/healthz answers 200 and the first
  getUpdates reached Telegram);
- resident memory (VmRSS) idle after start-up, after a 10,000-recipient paid broadcast, and
  its peak (VmHWM);
- the paid broadcast: sustained rate first to last copy, 429s, duplicates, losses, the Stars
  the report states against what the fake took from the balance;
- the floor, measured in the same run: a bare aiogram loop copying the message to the same
  10,000 people with allow_paid_broadcast, as many in flight, no database.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import tempfile
import time
from asyncio.subprocess import Process
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import create_engine, insert

from forever.db.migrate import upgrade_to_head
from forever.db.models import Person
from forever.sandbox.fake_bot_api import DEFAULT_TOKEN

ROOT = Path(__file__).resolve().parents[1]
RECIPIENTS = 10_000
STARS = 2_500  # covers Forever's broadcast (1,000 ⭐) and the floor's (1,000 ⭐)
STAFF = 900001
FIRST_ID = 1_000_000
GOAL = 300.0  # messages/s (10 × the free limit)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM in kB."""
    found: dict[str, int] = {}
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = row.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def _seed(url: str, recipients: int) -> None:
    upgrade_to_head(url)
    engine = create_engine(url.replace("+aiosqlite", ""))
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            insert(Person),
            [
                {"telegram_id": t, "first_name": f"P{t}", "language": "en"}
                | {"created_at": now, "email_status": "none"}
                for t in range(FIRST_ID, FIRST_ID + recipients)
            ],
        )
    engine.dispose()


async def _read(stream: asyncio.StreamReader, key: str, within: float) -> Any:
    while True:
        text = await asyncio.wait_for(stream.readline(), within)
        if not text:
            raise RuntimeError(f"the fake Bot API process ended before sending {key!r}")
        data = json.loads(text)
        if key in data:
            return data[key]


async def _serving(port: int, process: Process, within: float = 60) -> float:
    """Poll /healthz until it answers 200; the monotonic time it did."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"bot.py run exited with {process.returncode}")
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return time.monotonic()
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.01)
    raise TimeoutError("/healthz did not answer in time")


async def main(recipients: int = RECIPIENTS) -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await asyncio.to_thread(_seed, url, recipients)
        fake = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.paid_fake_process",
            str(recipients),
            str(STARS),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"},
        )
        assert fake.stdin is not None and fake.stdout is not None
        try:
            base_url = await _read(fake.stdout, "url", 120)
            return await _measure(fake, base_url, url, recipients, Path(tmp))
        finally:
            fake.stdin.close()
            await _ended(fake)


_BARE_AIOGRAM = """
import json, time
started = time.monotonic()
from aiogram import Bot, Dispatcher  # noqa: F401  (what any aiogram bot imports)
import aiogram.types, aiogram.methods  # noqa: F401
took = time.monotonic() - started
rss = next(int(r.split()[1]) for r in open("/proc/self/status") if r.startswith("VmRSS"))
print(json.dumps({"seconds": took, "rss_kb": rss}))
"""


async def _bare_aiogram() -> dict[str, float]:
    """The floor of memory and start-up: a Python process that only imports aiogram."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _BARE_AIOGRAM, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    return dict(json.loads(out))


async def _ended(process: Process, within: float = 30) -> None:
    try:
        await asyncio.wait_for(process.wait(), within)
    except TimeoutError:
        process.kill()
        await process.wait()


async def _measure(
    fake: Process, base_url: str, url: str, recipients: int, tmp: Path
) -> list[tuple[str, str]]:
    assert fake.stdin is not None and fake.stdout is not None
    web_port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "DATABASE"))},
        "DATABASE_URL": url,
        "BOT_TOKEN": DEFAULT_TOKEN,
        "TELEGRAM_API_URL": base_url,
        "SECRET_KEY": "bench-secret-key-0123456789",
        "CATALOG_PATH": str(ROOT / "catalog.toml"),
        "ADMIN_IDS": str(STAFF),
        "WEB_PORT": str(web_port),
        "METRICS_PORT": str(_free_port()),
        "LOG_LEVEL": "WARNING",
    }
    log = (tmp / "bot.log").open("wb")
    started = time.monotonic()
    bot = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bot.py"),
        "run",
        cwd=tmp,  # no .env of the checkout: only the settings above
        env=env,
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        healthy = await _serving(web_port, bot)
        polled = await _read(fake.stdout, "polled", 60)
        serving = max(healthy, polled) - started
        await asyncio.sleep(2.0)  # settled: start-up's garbage collected, timers armed
        idle = _memory(bot.pid)
        fake.stdin.write(b"go\n")
        await fake.stdin.drain()
        result = await _read(fake.stdout, "result", 900)
        await asyncio.sleep(1.0)
        after = _memory(bot.pid)
        fake.stdin.write(b"floor\n")
        await fake.stdin.drain()
        floor = await _read(fake.stdout, "floor", 600)
    finally:
        bot.send_signal(signal.SIGTERM)
        await _ended(bot)
        log.close()
    bare = await _bare_aiogram()
    rate = result["sustained"]
    ratio = rate / floor["rate"] if floor["rate"] else 0.0
    return [
        ("recipients", f"{recipients:,} (+ the staff member)"),
        ("fake Bot API limits", f"30 messages/s free, 1000/s paid; {STARS:,} ⭐ balance"),
        ("load average (1/5/15 min) at the end", " / ".join(f"{x:.2f}" for x in os.getloadavg())),
        ("start-up: launch to serving (/healthz 200 and getUpdates)", f"{serving:.2f} s"),
        ("  of which /healthz 200", f"{healthy - started:.2f} s"),
        ("  of which first getUpdates", f"{polled - started:.2f} s"),
        ("  floor: a process that only imports aiogram", f"{bare['seconds']:.2f} s"),
        ("resident memory idle (VmRSS)", f"{idle['VmRSS'] / 1024:.1f} MB"),
        ("  floor: a process that only imports aiogram", f"{bare['rss_kb'] / 1024:.1f} MB"),
        (
            f"resident memory after the {recipients:,} paid broadcast (VmRSS)",
            f"{after['VmRSS'] / 1024:.1f} MB (+{(after['VmRSS'] - idle['VmRSS']) / 1024:.1f})",
        ),
        ("peak resident memory (VmHWM)", f"{after['VmHWM'] / 1024:.1f} MB"),
        ("preview states cost and balance", "yes" if result["preview_states_cost"] else "NO"),
        ("paid button", result["paid_button"]),
        ("paid sustained rate, first to last copy", f"{rate:.1f} messages/s"),
        ("goal ≥ 300 messages/s", "met" if rate >= GOAL else "NOT met"),
        ("confirm to final report", f"{result['confirm_to_report']:.1f} s"),
        ("paid messages the fake counted", f"{result['paid_messages']:,}"),
        ("429 answers", str(result["too_many_requests"])),
        ("duplicates", str(result["duplicates"])),
        ("lost", str(result["lost"])),
        ("Stars spent per the report", f"{result['stars_reported']} ⭐"),
        ("Stars taken from the fake's balance", f"{result['stars_taken']:.1f} ⭐"),
        ("floor: bare aiogram paid copies, 48 in flight, no DB", f"{floor['rate']:.1f} messages/s"),
        ("  floor's 429 answers", str(floor["too_many_requests"])),
        ("Forever / floor", f"{ratio:.2f}"),
    ]


if __name__ == "__main__":
    for figure, value in asyncio.run(main()):
        print(f"{figure}: {value}")
