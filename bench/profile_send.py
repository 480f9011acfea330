"""CPU time the bot's process spends per update, Forever against the bare aiogram bot, on the
same customers and fake Bot API as `bench_send` (the fake and the customers run in their own
process, so this process's CPU time is the bot's alone). Unlike wall-clock latency it does not
depend on the machine's load, so it is the figure to follow when the machine is busy.

    .venv/bin/python -m bench.profile_send            # CPU ms per update, bare and Forever
    .venv/bin/python -m bench.profile_send --profile  # and Forever's top functions (cProfile)
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import pstats
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench.bench_send import Stop, _run, _start_bare, _start_forever
from forever.db.person_lookups import _SqliteSignUp, _SqliteStanding

UPDATE_KEYS = ("first_contact_burst", "returning_burst", "one_at_a_time")


async def _cpu_per_update(
    start: Callable[[str, str], Awaitable[Stop]], profiler: cProfile.Profile | None = None
) -> tuple[float, int]:
    """CPU time from the bot serving to its stop (start-up and shutdown left out)."""
    span: dict[str, float] = {}

    async def timed_start(base_url: str, tmp: str) -> Stop:
        stop = await start(base_url, tmp)
        span["from"] = time.process_time()
        if profiler is not None:
            profiler.enable()

        async def timed_stop() -> None:
            if profiler is not None:
                profiler.disable()
            span["to"] = time.process_time()
            await stop()

        return timed_stop

    result: dict[str, Any] = await _run(timed_start)
    updates = sum(sum(1 for v in result[k] if v is not None) for k in UPDATE_KEYS)
    return 1000 * (span["to"] - span["from"]) / max(updates, 1), updates


async def main(profile: bool = False) -> list[tuple[str, str]]:
    bare, n_bare = await _cpu_per_update(_start_bare)
    profiler = cProfile.Profile() if profile else None
    statements = [0]

    def count(*_args: Any) -> None:
        statements[0] += 1

    # The per-update read and the sign-up on SQLite go to the driver without SQLAlchemy:
    # count them too (the sign-up as its two statements, people and events).
    raw_read = _SqliteStanding.read
    raw_sign_up = _SqliteSignUp.write

    def counted_read(self: _SqliteStanding, *args: Any) -> Any:
        count()
        return raw_read(self, *args)

    def counted_sign_up(self: _SqliteSignUp, *args: Any) -> Any:
        count()
        count()
        return raw_sign_up(self, *args)

    event.listen(Engine, "before_cursor_execute", count)
    _SqliteStanding.read = counted_read  # type: ignore[method-assign]
    _SqliteSignUp.write = counted_sign_up  # type: ignore[method-assign]
    try:
        forever, n_forever = await _cpu_per_update(_start_forever, profiler)
    finally:
        event.remove(Engine, "before_cursor_execute", count)
        _SqliteStanding.read = raw_read  # type: ignore[method-assign]
        _SqliteSignUp.write = raw_sign_up  # type: ignore[method-assign]
    if profiler is not None:
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(40)
    return [
        ("load average (1, 5, 15 min)", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        ("updates answered, bare / Forever", f"{n_bare} / {n_forever}"),
        ("bare bot CPU per update", f"{bare:.2f} ms"),
        ("Forever CPU per update", f"{forever:.2f} ms"),
        ("Forever ÷ bare", f"{forever / bare:.1f}"),
        (
            "Forever SQL statements per update (start-up included)",
            f"{statements[0] / max(n_forever, 1):.1f}",
        ),
    ]


if __name__ == "__main__":
    rows = asyncio.run(main("--profile" in sys.argv[1:]))
    for figure, value in rows:
        print(f"- {figure}: {value}")
