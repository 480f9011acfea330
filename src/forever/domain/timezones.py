"""Time zones a person can pick: a short list of common ones for their language, plus UTC.

Any IANA name zoneinfo knows is valid (a forged button with a real zone does no harm); the
lists only decide which buttons are offered."""

from __future__ import annotations

from zoneinfo import ZoneInfo

COMMON_ZONES: dict[str, tuple[str, ...]] = {
    "en": (
        "Europe/London",
        "Europe/Dublin",
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Los_Angeles",
        "Asia/Kolkata",
        "Australia/Sydney",
    ),
    "ro": (
        "Europe/Bucharest",
        "Europe/Chisinau",
        "Europe/London",
        "Europe/Rome",
        "Europe/Madrid",
        "Europe/Berlin",
    ),
    "it": (
        "Europe/Rome",
        "Europe/Zurich",
        "Europe/London",
        "Europe/Berlin",
        "America/New_York",
    ),
    "ru": (
        "Europe/Moscow",
        "Europe/Kaliningrad",
        "Europe/Samara",
        "Asia/Yekaterinburg",
        "Asia/Novosibirsk",
        "Asia/Vladivostok",
        "Europe/Minsk",
        "Asia/Almaty",
    ),
    "es": (
        "Europe/Madrid",
        "America/Mexico_City",
        "America/Bogota",
        "America/Lima",
        "America/Santiago",
        "America/Argentina/Buenos_Aires",
        "America/New_York",
    ),
}
MAX_ZONE_LENGTH = 48  # fits the button's callback data (64 bytes with its prefix)


def valid_zone(name: str | None) -> bool:
    if not name or len(name) > MAX_ZONE_LENGTH or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return False
    return True


def zone_choices(locale: str, current: str, default: str) -> list[str]:
    """The zones offered to a person: their current one, the business default, the common
    ones of their language, and UTC last; no repeats."""
    out: list[str] = []
    for name in (current, default, *COMMON_ZONES.get(locale, COMMON_ZONES["en"])):
        if name not in out and name != "UTC" and valid_zone(name):
            out.append(name)
    return [*out, "UTC"]
