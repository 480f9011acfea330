"""The scheduled sweeps. `bot.py tick --at` and the scheduler run the same list (built by the
composition root: wiring/email.py `sweeps`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy.exc import DBAPIError

from forever.logs import describe_error

log = logging.getLogger(__name__)

# One sweep: does the work due at an instant, returns how many things it did.
Sweep = Callable[[datetime], Awaitable[int]]


async def run_all(sweeps: Sequence[tuple[str, Sweep]], now: datetime) -> dict[str, int]:
    """Run every sweep for `now`, in order; one failing sweep is logged (its count is -1) and
    does not stop the rest."""
    results: dict[str, int] = {}
    for name, sweep in sweeps:
        try:
            results[name] = await sweep(now)
        except (OSError, TimeoutError, DBAPIError) as error:
            # A dependency away (the database, SMTP): one line, not a traceback per sweep.
            log.error("sweep %s failed: %s", name, describe_error(error))
            results[name] = -1
        except Exception:
            log.exception("sweep %s failed", name)
            results[name] = -1
    return results
