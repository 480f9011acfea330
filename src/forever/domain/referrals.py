"""Referrals and partners (issue 19), as pure rules.

A member's personal code is derived from a secret key and their id (stable, not guessable
without the key); a partner's code is chosen in the catalog. A `/start r_<code>` deep link
carries either. Partner codes may never look like a member's code, so the two never collide.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from forever.domain.lifecycle import Membership, State

START_PREFIX = "r_"
PERSONAL_CODE_LENGTH = 10
# A member's code: 10 characters of lowercase base32 (a-z, 2-7).
PERSONAL_CODE = re.compile(r"^[a-z2-7]{10}$")
# A partner's code in the catalog: 3-32 lowercase letters, digits, _ and -.
PARTNER_CODE = re.compile(r"^[a-z0-9_-]{3,32}$")
# Telegram's start parameter: A-Z, a-z, 0-9, _ and -, at most 64 characters.
_START_PARAMETER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class ReferralRules:
    """`[referrals]` in the catalog: the bonus days each side gets at the referred person's
    first payment (0: nothing), and the plan given to someone who has no plan to extend."""

    referrer_days: int = 7
    referred_days: int = 7
    plan_id: str | None = None  # None: the trial's plan


@dataclass(frozen=True, slots=True)
class Partner:
    """`[[partners]]`: an organisation with its own code and a commission on what the people
    it brought pay."""

    id: str
    name: str
    code: str
    commission_percent: int


def personal_code(key: bytes, person_id: int) -> str:
    """A member's code: the same for the same person and key, unguessable without the key."""
    mac = hmac.new(key, f"referral:{person_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(mac).decode("ascii").lower()[:PERSONAL_CODE_LENGTH]


def read_start(parameter: str | None) -> str | None:
    """The code in a `/start r_<code>` parameter (lowercase), or None when the parameter is no
    referral link. A referral parameter that cannot be a code at all gives ""."""
    if not parameter or not parameter.startswith(START_PREFIX):
        return None
    if not _START_PARAMETER.match(parameter):
        return ""
    code = parameter[len(START_PREFIX) :].lower()
    if PERSONAL_CODE.match(code) or PARTNER_CODE.match(code):
        return code
    return ""


def is_referral(parameter: str | None) -> bool:
    return bool(parameter) and (parameter or "").startswith(START_PREFIX)


def commission(stars: int, percent: int) -> int:
    """What a partner is owed for `stars` received: rounded down to whole Stars."""
    if stars <= 0 or percent <= 0:
        return 0
    return stars * percent // 100


def add_days(m: Membership, *, now: datetime, days: int) -> Membership | None:
    """Bonus days added to access that is running (or paused): the end moves later. None when
    there is no access to extend (the caller grants the days instead)."""
    if days <= 0:
        return m
    if m.state is State.PAUSED:
        return replace(m, paused_credit=(m.paused_credit or timedelta(0)) + timedelta(days=days))
    if m.has_access and m.period_end is not None and m.period_end > now:
        return replace(m, period_end=m.period_end + timedelta(days=days))
    return None


def take_days(m: Membership, *, now: datetime, days: int) -> Membership:
    """Bonus days taken back (a refunded first payment): the end moves earlier, never before
    now; a paused membership loses them from the time it keeps."""
    if days <= 0:
        return m
    if m.state is State.PAUSED:
        left = (m.paused_credit or timedelta(0)) - timedelta(days=days)
        return replace(m, paused_credit=max(left, timedelta(0)))
    if m.has_access and m.period_end is not None and m.period_end > now:
        return replace(m, period_end=max(m.period_end - timedelta(days=days), now))
    return m


def same_confirmed_email(
    a_email: str | None, a_status: str, b_email: str | None, b_status: str
) -> bool:
    """Two people with one address, confirmed by either of them (the click in the confirmation
    email proves the mailbox), are one person with two accounts."""
    if not a_email or not b_email or "confirmed" not in (a_status, b_status):
        return False
    return a_email.strip().lower() == b_email.strip().lower()
