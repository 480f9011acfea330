"""Rules of the email journeys that need no database: quiet hours, the frequency cap, the
retry backoff and the signed start token that brings a lapsed member back in one tap."""

from __future__ import annotations

import hmac
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from forever.domain.signing import BadToken, Signer

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


# Where a person's language most likely puts them, until they set a time zone themselves.
LANGUAGE_ZONES = {"ro": "Europe/Bucharest", "it": "Europe/Rome"}


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
    base = min(RETRY_BASE * (2**exponent), RETRY_CAP)
    return base * rng.uniform(0.8, 1.2)


# --- the one-tap way back: a Telegram start parameter ----------------------------------------

START_PREFIX = "wb"
START_PURPOSE = "winback-start"
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class WinbackOffer:
    person_id: int
    offer_id: str  # an id from [offers] in the catalog, or "none" for a plain welcome back
    expires: date  # last day the offer can be taken (UTC)


def _mac(signer: Signer, body: str) -> str:
    # Signer.sign gives "<body>.<mac>"; only the MAC goes in the start parameter.
    return signer.sign(START_PURPOSE, body).rpartition(".")[2]


def make_start_token(signer: Signer, offer: WinbackOffer) -> str:
    """`wb-<person id>-<offer id>-<expiry day number>-<mac>`: at most 64 characters of
    A-Z a-z 0-9 _ -, as Telegram allows in a /start parameter."""
    if "-" in offer.offer_id or not offer.offer_id:
        raise ValueError("an offer id in a start token cannot contain '-'")
    body = f"{START_PREFIX}-{offer.person_id}-{offer.offer_id}-{(offer.expires - _EPOCH).days}"
    token = f"{body}-{_mac(signer, body)}"
    if len(token) > 64:
        raise ValueError("start token longer than Telegram's 64 characters")
    return token


def read_start_token(signer: Signer, token: str, today: date) -> WinbackOffer:
    """The offer in a start token made by `make_start_token`; BadToken if forged, altered or
    expired. The caller must still check that the person opening it is `person_id`."""
    parts = token.split("-", 4)
    if len(parts) != 5 or parts[0] != START_PREFIX:
        raise BadToken("not a win-back start token")
    prefix, person, offer_id, day, mac = parts
    body = f"{prefix}-{person}-{offer_id}-{day}"
    if not hmac.compare_digest(mac.encode(), _mac(signer, body).encode()):
        raise BadToken("signature does not match")
    if not (person.isdigit() and day.isdigit()):
        raise BadToken("malformed start token")
    expires = _EPOCH + timedelta(days=int(day))
    if expires < today:
        raise BadToken("the offer has expired")
    return WinbackOffer(person_id=int(person), offer_id=offer_id, expires=expires)
