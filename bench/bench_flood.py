"""One user floods 600 odd updates (stickers, unknown commands, forged button presses, group
messages) as fast as they can while calm users send /help, one every 100 ms in all (four
taking turns: each every 400 ms, within the guard's rate). Figures: the calm users' reply
latency with the flood guard (FLOOD_RATE 5, FLOOD_BURST 10), without it (a guard so loose
it never drops), and with no flood at all (the floor).

The bot runs here as `bot.py run` does (Runtime, polling, updates handled as tasks, SQLite);
the fake Bot API and the users run in their own process (`flood_users_process`). Latency
is from a calm user's send to the bot's reply arriving at the fake Telegram.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench._bot_settings import TOKEN, bench_settings
from forever.app import build_container
from forever.db.migrate import upgrade_to_head
from forever.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
FLOOD = 600
GOAL_P99 = 1.0  # seconds (issue 14)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


async def _scenario(flood: int, rate: float, burst: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await asyncio.to_thread(upgrade_to_head, url)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.flood_users_process",
            TOKEN,
            str(flood),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        assert proc.stdout is not None and proc.stdin is not None
        try:
            base_url = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
            if not base_url.startswith("http"):
                raise RuntimeError(f"the fake Bot API process did not start: {base_url!r}")
            settings = bench_settings(
                url,
                base_url,
                flood_rate=rate,
                flood_burst=burst,
            )
            runtime = Runtime(build_container(settings), TOKEN)
            await runtime.start(scheduler=False)  # handle_as_tasks, as `bot.py run`
            line = await asyncio.wait_for(proc.stdout.readline(), 300)
            await runtime.stop()
        finally:
            proc.stdin.close()
            await proc.wait()
    if not line:
        raise RuntimeError("the users' process ended without results")
    result: dict[str, Any] = json.loads(line)
    return result


def _rows(name: str, result: dict[str, Any], load: float) -> list[tuple[str, str]]:
    latencies = result["latencies"]
    if not latencies:
        return [(f"{name}: calm /help answered", f"0 of {result['helps']}")]
    p99 = _percentile(latencies, 0.99)
    rows = [
        (
            f"{name}: calm /help latency p50 / p99 / max",
            f"{statistics.median(latencies) * 1000:.0f} / {p99 * 1000:.0f} / "
            f"{max(latencies) * 1000:.0f} ms (answered {result['answered']} of "
            f"{result['helps']}; load {load:.2f})",
        ),
    ]
    if result["flood"]:
        rows.append(
            (
                f"{name}: flooder",
                f"{result['flood']} odd updates; {result['flooder_replies']} replies to them, "
                f"{result['notices']} slow-down notice(s)",
            )
        )
    return rows


async def main() -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    summary: dict[str, float] = {}
    for name, flood, rate, burst in (
        ("no flood (floor)", 0, 5.0, 10),
        ("flood, guard on (5/s, burst 10)", FLOOD, 5.0, 10),
        ("flood, guard off", FLOOD, 1000.0, 10_000),
    ):
        load = os.getloadavg()[0]
        result = await _scenario(flood, rate, burst)
        rows += _rows(name, result, load)
        if result["latencies"]:
            summary[name] = _percentile(result["latencies"], 0.99)
    guarded = summary.get("flood, guard on (5/s, burst 10)")
    if guarded is not None:
        verdict = "met" if guarded <= GOAL_P99 else "MISSED"
        rows.append(("goal: calm p99 ≤ 1 s under a flood, guard on", f"{verdict}"))
    return rows
