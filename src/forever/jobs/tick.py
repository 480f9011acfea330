"""`bot.py tick --at`: the sweeps for one instant, then hand over what they queued."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from forever.jobs.sweeps import run_sweeps

if TYPE_CHECKING:
    from forever.app import Container


async def run_due_work(container: Container, at: datetime) -> dict[str, int]:
    """Everything scheduled that is due at `at`; shared by `tick` and the sandbox's clock."""
    return await run_sweeps(container, at)


async def tick(container: Container, at: datetime) -> dict[str, int]:
    try:
        return await run_due_work(container, at)
    finally:
        await container.close()
