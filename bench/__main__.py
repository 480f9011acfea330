"""Run every `bench/bench_*.py` module (or the ones named) and print its figures.

Each module exposes `async def main() -> list[tuple[str, str]]` returning (figure, value) rows.
"""

from __future__ import annotations

import asyncio
import importlib
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path


def _modules(names: list[str]) -> list[str]:
    found = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    if not names:
        return found
    unknown = [n for n in names if f"bench_{n}" not in found and n not in found]
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(found)}")
    return [n if n.startswith("bench_") else f"bench_{n}" for n in names]


def main() -> None:
    print(
        f"# {platform.node()} · {platform.processor() or platform.machine()} · "
        f"Python {platform.python_version()} · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    for name in _modules(sys.argv[1:]):
        module = importlib.import_module(f"bench.{name}")
        rows = asyncio.run(module.main())
        print(f"\n## {name.removeprefix('bench_')}")
        for figure, value in rows:
            print(f"- {figure}: {value}")


if __name__ == "__main__":
    main()
