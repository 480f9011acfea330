"""Rules of the email journeys that need no database: quiet hours, time zones and the retry
backoff."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

# --- quiet hours ---------------------------------------------------------------------------


def quiet_until(instant: datetime, zone: ZoneInfo, start_hour: int, end_hour: int) -> datetime:
    """The first moment at or after `instant` outside the quiet hours [start, end) in `zone`.

    Quiet hours delay a message, never drop it. start == end means no quiet hours.
    """
    if start_hour == end_hour:
        return instant
    local = instant.astimezone(zone)
    hour = local.hour
    wraps = start_hour > end_hour  # e.g. 21 -> 8 crosses midnight
    quiet = (hour >= start_hour or hour < end_hour) if wraps else (start_hour <= hour < end_hour)
    if not quiet:
        return instant
    day = local.date()
    if wraps and hour >= start_hour:
        day += timedelta(days=1)
    wake = datetime(day.year, day.month, day.day, end_hour, tzinfo=zone)
    return wake.astimezone(instant.tzinfo)


# Where a person's language most likely puts them, until they set a time zone themselves
# (Spanish is spoken from Madrid to Santiago: no guess, the default zone applies).
LANGUAGE_ZONES = {"ro": "Europe/Bucharest", "it": "Europe/Rome", "ru": "Europe/Moscow"}


def zone_or_default(name: str | None, default: ZoneInfo, language: str | None = None) -> ZoneInfo:
    """The person's own zone, else their language's usual zone, else the default."""
    for candidate in (name, LANGUAGE_ZONES.get((language or "").split("-")[0])):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ValueError, KeyError, OSError):
            continue
    return default


# --- retries -------------------------------------------------------------------------------

RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)
MAX_ATTEMPTS = 30  # with the cap above: more than a day of trying before giving up


def retry_delay(attempts: int, rng: random.Random) -> timedelta:
    """Exponential backoff with jitter (±20%) after `attempts` tries (1 = first failure)."""
    exponent = min(max(attempts - 1, 0), 20)
    base = min(RETRY_BASE * (1 << exponent), RETRY_CAP)
    return base * rng.uniform(0.8, 1.2)
