"""Promo codes (issue 19) as pure rules: what staff may create, who may use a code, what it
takes off a price, and the two /stats figures.

A code is either `percent` off the next payment for one of its plans, or `days` added to the
trial or membership the person has now. A person uses a code once; a code has an optional
limit of uses and an optional last day.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

CODE_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9_-]{2,31}")  # stored upper-case
START_PREFIX = "p_"  # https://t.me/<bot>?start=p_<CODE>
MAX_PERCENT = 90
MAX_DAYS = 365
MAX_LIMIT = 1_000_000
OPTIONS = ("percent", "days", "plans", "limit", "expires")

REDEEMED_EVENT = "promo_redeemed"  # code, promo_kind, percent, days, plan, until
PAID_EVENT = "promo_paid"  # code, plan, amount (charged), full (without the code), discount


class PromoKind(StrEnum):
    PERCENT = "percent"
    DAYS = "days"


class PromoError(ValueError):
    """A `/promo new` that cannot be accepted: `problem` names the rule (a staff text),
    `value` what was given, `known` the allowed values where that helps."""

    def __init__(self, problem: str, value: str = "", known: Sequence[str] = ()) -> None:
        super().__init__(f"{problem}: {value}" if value else problem)
        self.problem = problem
        self.value = value
        self.known = tuple(known)


@dataclass(frozen=True, slots=True)
class PromoSpec:
    code: str
    kind: PromoKind
    percent: int | None = None
    days: int | None = None
    plans: tuple[str, ...] = ()  # empty: every plan
    limit: int | None = None  # uses in all; None: no limit
    expires_at: datetime | None = None  # usable before this instant (the day after the last)

    def applies_to(self, plan_id: str | None) -> bool:
        return not self.plans or plan_id in self.plans

    @property
    def last_day(self) -> date | None:
        """The last day (UTC) the code works, as staff gave it."""
        return None if self.expires_at is None else (self.expires_at - timedelta(days=1)).date()


def normalize_code(raw: str) -> str | None:
    """The code as stored (upper-case), or None when it cannot be a code."""
    code = raw.strip().upper()
    return code if CODE_PATTERN.fullmatch(code) else None


def code_from_start(parameter: str | None) -> str | None:
    """`p_<CODE>` from a /start link: the code in it (possibly not a valid one: the caller
    then says the code is unknown), or None when the parameter is no promo link."""
    if not parameter or not parameter.startswith(START_PREFIX):
        return None
    return parameter[len(START_PREFIX) :][:64]


def _whole(name: str, raw: str, low: int, high: int) -> int:
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise PromoError(f"bad_{name}", raw, (str(low), str(high)))
    return int(raw)


def parse_spec(text: str, known_plans: Sequence[str], now: datetime) -> PromoSpec:
    """`CODE percent=20 plans=plus,pro limit=100 expires=2027-01-31` (or `days=14` instead
    of `percent`); everything but the code and its kind is optional. `expires` is the last
    day the code works (UTC)."""
    words = text.split()
    if not words:
        raise PromoError("missing_code")
    code = normalize_code(words[0])
    if code is None or "=" in words[0]:
        raise PromoError("bad_code", words[0][:40])
    seen: dict[str, str] = {}
    for word in words[1:]:
        name, sep, value = word.partition("=")
        name = name.lower()
        if not sep or not value:
            raise PromoError("bad_option", word[:40], OPTIONS)
        if name not in OPTIONS:
            raise PromoError("unknown_option", name[:40], OPTIONS)
        if name in seen:
            raise PromoError("repeated_option", name)
        seen[name] = value
    if ("percent" in seen) == ("days" in seen):
        raise PromoError("one_kind")
    percent = days = limit = None
    if "percent" in seen:
        percent = _whole("percent", seen["percent"].rstrip("%"), 1, MAX_PERCENT)
    if "days" in seen:
        days = _whole("days", seen["days"], 1, MAX_DAYS)
    if "limit" in seen:
        limit = _whole("limit", seen["limit"], 1, MAX_LIMIT)
    plans: tuple[str, ...] = ()
    if "plans" in seen:
        listed = [p.strip().lower() for p in seen["plans"].split(",") if p.strip()]
        for plan in listed:
            if plan not in known_plans:
                raise PromoError("unknown_plan", plan[:40], known_plans)
        plans = tuple(dict.fromkeys(listed))
    expires_at = None
    if "expires" in seen:
        try:
            last_day = date.fromisoformat(seen["expires"])
        except ValueError:
            raise PromoError("bad_expires", seen["expires"][:40]) from None
        expires_at = datetime(last_day.year, last_day.month, last_day.day, tzinfo=UTC)
        expires_at += timedelta(days=1)
        if expires_at <= now:
            raise PromoError("past_expires", seen["expires"])
    kind = PromoKind.PERCENT if percent is not None else PromoKind.DAYS
    return PromoSpec(code, kind, percent, days, plans, limit, expires_at)


class Refusal(StrEnum):
    """Why a person cannot use a code; each has its sentence."""

    UNKNOWN = "unknown"
    DISABLED = "disabled"
    EXPIRED = "expired"
    ALREADY_USED = "already_used"  # by this person
    USED_UP = "used_up"  # its limit of uses is reached
    NOT_APPLICABLE = "not_applicable"  # a days code for another plan's membership
    NO_MEMBERSHIP = "no_membership"  # a days code, with no trial or membership to extend


@dataclass(frozen=True, slots=True)
class CodeState:
    spec: PromoSpec
    uses: int
    disabled: bool


def check_redeem(
    code: CodeState | None,
    *,
    now: datetime,
    used_before: bool,
    plan_id: str | None,
    extendable: bool,
) -> Refusal | None:
    """None when the person may use the code now. `plan_id`/`extendable`: the plan of their
    trial or membership, and whether it has an end that days can move (a days code)."""
    if code is None:
        return Refusal.UNKNOWN
    spec = code.spec
    if code.disabled:
        return Refusal.DISABLED
    if spec.expires_at is not None and now >= spec.expires_at:
        return Refusal.EXPIRED
    if used_before:
        return Refusal.ALREADY_USED
    if spec.limit is not None and code.uses >= spec.limit:
        return Refusal.USED_UP
    if spec.kind is PromoKind.DAYS:
        if not extendable:
            return Refusal.NO_MEMBERSHIP
        if not spec.applies_to(plan_id):
            return Refusal.NOT_APPLICABLE
    return None


def discounted(stars: int, percent: int) -> int:
    """The price with `percent` off, rounded down, never below 1 Star (Telegram's least)."""
    return max(1, stars * (100 - percent) // 100)


@dataclass(frozen=True, slots=True)
class PromoFigures:
    redeemed: int  # codes used in the period
    paid: int  # payments made at a code's price in the period
    discount_stars: int  # Stars those payments were below the price without the code


def figures(events: Iterable[Any], start: datetime, end: datetime) -> PromoFigures:
    """From event rows (anything with `kind`, `at`, `data`) in the period `(start, end]`."""
    redeemed = paid = discount = 0
    for event in events:
        if not start < event.at <= end:
            continue
        if event.kind == REDEEMED_EVENT:
            redeemed += 1
        elif event.kind == PAID_EVENT:
            paid += 1
            discount += int(event.data.get("discount") or 0)
    return PromoFigures(redeemed, paid, discount)
