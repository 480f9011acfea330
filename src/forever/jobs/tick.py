"""`bot.py tick --at`: the sweeps for one instant, then hand over what they queued."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from forever.jobs.sweeps import run_sweeps

if TYPE_CHECKING:
    from forever.app import Container


async def tick(container: Container, at: datetime) -> dict[str, int]:
    try:
        return await run_sweeps(container, at)
    finally:
        await container.close()
