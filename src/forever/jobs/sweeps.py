"""The scheduled sweeps. `bot.py tick --at` and the scheduler run the same list."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from forever.app import Container

log = logging.getLogger(__name__)

Sweep = Callable[["Container", datetime], Awaitable[int]]


def all_sweeps() -> list[tuple[str, Sweep]]:
    """Ordered: state changes first, then what they cause (messages to send)."""
    from forever.db.repositories.lifecycle_compat import (
        expire_due_memberships,
        resume_due_pauses,
    )
    from forever.services.journeys import sweep_journeys
    from forever.telegram.inbox import prune_update_inbox
    from forever.telegram.upgrade_prompts import send_upgrade_prompts

    return [
        ("expire_memberships", expire_due_memberships),
        ("resume_pauses", resume_due_pauses),
        ("email_journeys", sweep_journeys),
        ("upgrade_prompts", send_upgrade_prompts),
        ("prune_update_inbox", prune_update_inbox),
    ]


async def run_sweeps(container: Container, now: datetime) -> dict[str, int]:
    """Run every sweep for `now`; one failing sweep is logged and does not stop the rest."""
    results: dict[str, int] = {}
    for name, sweep in all_sweeps():
        try:
            results[name] = await sweep(container, now)
        except Exception:
            log.exception("sweep %s failed", name)
            results[name] = -1
    return results
