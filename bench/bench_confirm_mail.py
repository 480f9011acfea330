"""Confirmation mail latency: from the customer's message with their address (through the fake
Bot API over HTTP) to the double opt-in mail at an SMTP server, on SQLite and PostgreSQL.

Customers (`confirm_users_process`, with the fake Bot API in its own process) go one after
another: /start, "Start my free trial", the address, "Yes, email me" (this tap queues the
mail). The SMTP sink (`smtp_sink_process report`, its own process) notes when each mail
arrives. All three processes read the machine's monotonic clock. The bot runs here (`Runtime`,
polling), with the delivery worker's timer at its default (OUTBOX_POLL_SECONDS, 5 s): a mail
that arrives sooner was woken by its commit.

Figures per database: p50 / p95 / max from the address message to the mail, from the tap to
the mail, and, as the floor measured in the same run, from the tap to the bot's answer in the
chat. Needs the PostgreSQL server of the tests for the second part (FOREVER_BENCH_PG_URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._bot_settings import TOKEN, bench_settings
from bench._databases import database_at_head
from bench.smtp_sink_process import free_port
from forever.app import build_container
from forever.db.outbox import SqlOutbox
from forever.domain.clock import ManualClock
from forever.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
CUSTOMERS = int(os.environ.get("FOREVER_BENCH_CONFIRM_CUSTOMERS", "120"))
DATABASES = os.environ.get("FOREVER_BENCH_CONFIRM_DATABASES", "sqlite,postgres").split(",")
GOAL_P95 = 1.0  # seconds, issue 15
# Also measure the timer alone (the worker not woken by the commit), as before issue 15.
TIMER_ONLY = os.environ.get("FOREVER_BENCH_CONFIRM_TIMER_ONLY") == "1"


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


async def _child(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )


async def _end(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), 15)
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def _arrivals(
    sink: asyncio.subprocess.Process, into: dict[str, float], changed: asyncio.Event
) -> None:
    assert sink.stdout is not None
    while line := await sink.stdout.readline():
        recipient, at = line.decode().split()
        into.setdefault(recipient, float(at))
        changed.set()


async def _all_arrived(arrived: dict[str, float], count: int, changed: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(30):
            while len(arrived) < count:
                await changed.wait()
                changed.clear()


async def _run(kind: str, *, wake: bool = True) -> dict[str, Any]:
    arrived: dict[str, float] = {}
    port = free_port()
    sink = await _child("bench.smtp_sink_process", str(port), "report")
    changed = asyncio.Event()
    reading = asyncio.create_task(_arrivals(sink, arrived, changed))
    users = await _child("bench.confirm_users_process", TOKEN, str(CUSTOMERS))
    runtime: Runtime | None = None
    try:
        assert users.stdout is not None
        base_url = (await asyncio.wait_for(users.stdout.readline(), 60)).decode().strip()
        async with database_at_head(kind) as url:
            settings = bench_settings(
                url,
                base_url,
                smtp_host="127.0.0.1",
                smtp_port=port,
                mail_from="Forever <hello@forever.test>",
            )
            clock = ManualClock(datetime(2026, 11, 30, 10, 0, tzinfo=UTC))
            container = build_container(settings, clock=clock)
            if not wake:  # no kick after commit; its own NOTIFY is ignored by its listener
                container.outbox = SqlOutbox(container.uow, None, container.instance)
            runtime = Runtime(container, TOKEN)
            await runtime.start(scheduler=False, handle_as_tasks=False, broadcasts=False)
            line = await asyncio.wait_for(users.stdout.readline(), 600)
            result = json.loads(line)
            times: dict[str, list[float]] = result["times"]
            await _all_arrived(arrived, len(times), changed)
            await runtime.stop()
            runtime = None
    finally:
        if runtime is not None:
            await runtime.stop()
        await _end(users)
        await _end(sink)
        await reading
    missing = [a for a in times if a not in arrived]
    return {
        "from_address": [arrived[a] - t[0] for a, t in times.items() if a in arrived],
        "from_tap": [arrived[a] - t[1] for a, t in times.items() if a in arrived],
        "reply": [t[2] - t[1] for t in times.values()],
        "missing": len(missing),
        "refused": result["refused"],
    }


def _spread(values: list[float]) -> str:
    if not values:
        return "none"
    return (
        f"{statistics.median(values) * 1000:,.0f} / {_percentile(values, 0.95) * 1000:,.0f} / "
        f"{max(values) * 1000:,.0f} ms"
    )


async def main() -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = [
        ("customers per database", f"{CUSTOMERS}, one after another"),
        ("delivery timer (fallback)", "OUTBOX_POLL_SECONDS default, 5 s"),
    ]
    for kind in DATABASES:
        load = os.getloadavg()[0]
        found = await _run(kind)
        p95 = _percentile(found["from_address"], 0.95) if found["from_address"] else float("inf")
        rows += [
            (
                f"{kind}: address message → mail at the server, p50 / p95 / max",
                _spread(found["from_address"]),
            ),
            (
                f"{kind}: 'Yes, email me' tap → mail at the server, p50 / p95 / max",
                _spread(found["from_tap"]),
            ),
            (
                f"{kind}: floor, tap → the bot's answer in the chat, p50 / p95 / max",
                _spread(found["reply"]),
            ),
            (f"{kind}: goal p95 ≤ {GOAL_P95:.0f} s", "met" if p95 <= GOAL_P95 else "NOT met"),
            (f"{kind}: mails missing / calls refused", f"{found['missing']} / {found['refused']}"),
            (f"{kind}: load average at start", f"{load:.2f}"),
        ]
        if TIMER_ONLY:
            timer = await _run(kind, wake=False)
            rows.append(
                (
                    f"{kind}: timer only (not woken), address message → mail, p50 / p95 / max",
                    _spread(timer["from_address"]),
                )
            )
    return rows
