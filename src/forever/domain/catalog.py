"""The business's catalog (`catalog.toml`): plans, trial, offers and schedule rules.

Loaded and validated once at start; a mistake is reported with the file, line and field.
"""

from __future__ import annotations

import re
import tomllib
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from forever.domain.economy import AddOn, CreditPack
from forever.domain.experiments import (
    HOLDOUT,
    Audience,
    Experiment,
    ExperimentStatus,
    Surface,
    Variant,
    overlapping,
)
from forever.domain.locales import LOCALES, SOURCE_LOCALE, fallback_chain
from forever.domain.points import MAX_POINTS, Milestone, PointsRules, Reward
from forever.domain.referrals import PARTNER_CODE, PERSONAL_CODE, Partner, ReferralRules

# Every name, description, feature list and prompt is given in REQUIRED_LOCALES; a locale of
# LOCALES left out (ru, es: catalogs written before they were offered stay valid) reads as
# the first locale given along its fallback chain, ending with the default locale (then the
# source locale, English). After parsing, every Localized holds every one of LOCALES.
REQUIRED_LOCALES = ("en", "ro", "it")
_DEFAULT_LOCALE: ContextVar[str] = ContextVar("catalog_default_locale", default=SOURCE_LOCALE)


def _fill(given: dict[str, Any], locale: str) -> Any:
    """The value for a locale the catalog left out: the first one given along its chain."""
    chain = (*fallback_chain(locale, given, _DEFAULT_LOCALE.get()), SOURCE_LOCALE)
    return given[next(code for code in chain if code in given)]


class CancelReason(StrEnum):
    TOO_EXPENSIVE = "too_expensive"
    NOT_USING = "not_using"
    MISSING_FEATURE = "missing_feature"
    TECHNICAL = "technical"
    OTHER = "other"


class OfferKind(StrEnum):
    PAUSE = "pause"
    DISCOUNT = "discount"
    LOWER_TIER = "lower_tier"
    LONGER_TRIAL = "longer_trial"  # a trial canceller keeps the trial for `days` more


Localized = dict[str, str]


@dataclass(frozen=True, slots=True)
class Plan:
    id: str
    tier: int
    name: Localized
    description: Localized
    monthly_stars: int
    yearly_stars: int
    features: dict[str, tuple[str, ...]]
    usage_limit: int | None = None
    # Keys of the [[chats]] this plan opens (membership access, issue 17).
    chats: tuple[str, ...] = ()

    @property
    def yearly_saving_stars(self) -> int:
        return self.monthly_stars * 12 - self.yearly_stars

    @property
    def yearly_saving_percent(self) -> int:
        full = self.monthly_stars * 12
        return round(100 * self.yearly_saving_stars / full) if full else 0


class ChatKind(StrEnum):
    CHANNEL = "channel"
    GROUP = "group"


class JoinMode(StrEnum):
    REQUEST = "request"  # one shared link that creates join requests; the bot approves members
    ONE_TIME = "one_time"  # a link per person: member_limit 1, expiring


@dataclass(frozen=True, slots=True)
class AccessChat:
    """A private channel or group a membership opens (`[[chats]]`)."""

    key: str
    chat_id: int
    kind: ChatKind
    name: Localized
    join: JoinMode = JoinMode.REQUEST
    link_hours: int = 24  # one-time links expire after this many hours


@dataclass(frozen=True, slots=True)
class AccessRules:
    """`[access]`: when access to the chats ends."""

    grace_hours: int = 0  # removal this long after the membership's access ended
    pause_removes: bool = True  # a paused membership leaves the chats (and rejoins on resume)


@dataclass(frozen=True, slots=True)
class Offer:
    id: str
    kind: OfferKind
    months: int = 0  # pause length
    percent: int = 0  # discount: the subscription's price per 30 days, for as long as it runs
    days: int = 0  # longer trial: days added to the trial

    @property
    def limited(self) -> bool:
        """A gift (a discount, more trial): made to a person at most once per
        `Catalog.offer_once_per_days`."""
        return self.kind in (OfferKind.DISCOUNT, OfferKind.LONGER_TRIAL)


@dataclass(frozen=True, slots=True)
class Trial:
    days: int
    plan_id: str


@dataclass(frozen=True, slots=True)
class UpgradeRules:
    cap_days: int = 7
    quiet_after_cancel_days: int = 30
    trial_progress: float | None = 0.5  # prompt once this share of the trial has passed
    usage_metric: str = "uses"
    usage_ratio: float | None = 1.0  # prompt when usage reaches this share of the tier's limit


@dataclass(frozen=True, slots=True)
class EmailRules:
    marketing_cap_hours: int = 48
    quiet_start_hour: int = 21
    quiet_end_hour: int = 8
    # A step not sent within this many days of being due is skipped (e.g. after downtime).
    late_days: int = 3


class LateCharge(StrEnum):
    """What a Stars renewal charged after the member cancelled (a race with Telegram) does:
    `[payments] late_charge_after_cancel`."""

    REFUND = "refund"  # given back in full; the cancel stands
    KEEP = "keep"  # kept: access extended by the paid period, still cancelled (no renewal)


class Trigger(StrEnum):
    """What a journey's days count from (negative days: before it)."""

    SIGNUP = "signup"  # people.created_at, for people with an email address
    TRIAL_START = "trial_start"  # start of a running trial
    TRIAL_END = "trial_end"  # end of a running trial
    TRIAL_EXPIRED = "trial_expired"  # a trial that ended without a purchase
    RENEWAL = "renewal"  # end of an active yearly period
    PAYMENT_FAILED = "payment_failed"  # Telegram reported a failed renewal (still past due)
    INACTIVE = "inactive"  # last seen, while the membership gives access
    ACCESS_ENDED = "access_ended"  # a paid membership ended (win-back)


# Journeys whose content may carry an offer chosen by the cancel reason.
OFFER_TRIGGERS = frozenset({Trigger.TRIAL_EXPIRED, Trigger.ACCESS_ENDED})
_TEMPLATE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


@dataclass(frozen=True, slots=True)
class Journey:
    """A sequence of emails: step i is due `days[i]` days after the trigger's moment."""

    id: str
    trigger: Trigger
    days: tuple[int, ...]
    template: str
    marketing: bool
    # cancel reason (or "default") -> offer id, or None for no offer
    offers: dict[str, str | None] = field(default_factory=dict)
    offer_valid_days: int = 14

    def offer_id_for(self, reason: str | None) -> str | None:
        if reason in self.offers:
            return self.offers[reason]
        return self.offers.get("default")


DEFAULT_JOURNEYS: tuple[Journey, ...] = (
    Journey("welcome", Trigger.SIGNUP, (0,), "welcome", marketing=False),
    Journey("trial_tips", Trigger.TRIAL_START, (1,), "trial_tips", marketing=True),
    Journey("trial_ending", Trigger.TRIAL_END, (-3,), "trial_ending", marketing=False),
    Journey("trial_ended", Trigger.TRIAL_EXPIRED, (0,), "trial_ended", marketing=True),
    Journey("renewal", Trigger.RENEWAL, (-3,), "renewal_upcoming", marketing=False),
    Journey("payment_failed", Trigger.PAYMENT_FAILED, (0, 2), "payment_failed", marketing=False),
    Journey("inactive", Trigger.INACTIVE, (14,), "inactive", marketing=True),
    Journey("winback", Trigger.ACCESS_ENDED, (7, 30, 90), "winback", marketing=True),
)


@dataclass(frozen=True, slots=True)
class Catalog:
    business_name: str
    trial: Trial
    plans: tuple[Plan, ...]
    offers: dict[str, Offer]
    # cancel reason -> offer ids, in order of preference (the first that fits is made)
    reason_offers: dict[CancelReason, tuple[str, ...]]
    pause_months: tuple[int, ...] = (1, 2, 3)
    upgrade: UpgradeRules = field(default_factory=UpgradeRules)
    email: EmailRules = field(default_factory=EmailRules)
    journeys: tuple[Journey, ...] = DEFAULT_JOURNEYS
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # A discount or a win-back offer goes to a person at most once in this many days.
    offer_once_per_days: int = 180
    late_charge_after_cancel: LateCharge = LateCharge.REFUND
    chats: tuple[AccessChat, ...] = ()
    access: AccessRules = field(default_factory=AccessRules)

    def chat(self, key: str) -> AccessChat | None:
        return next((c for c in self.chats if c.key == key), None)

    def chat_by_id(self, chat_id: int) -> AccessChat | None:
        return next((c for c in self.chats if c.chat_id == chat_id), None)

    def chats_of(self, plan_id: str | None) -> tuple[AccessChat, ...]:
        """The chats a plan opens, in catalog order."""
        plan = self.plan(plan_id) if plan_id else None
        if plan is None:
            return ()
        return tuple(c for c in self.chats if c.key in plan.chats)

    # Offer and price experiments (`[[experiments]]`), in the file's order.
    experiments: tuple[Experiment, ...] = ()

    # Add-ons and credit packs bought with Stars (`[[addons]]`, `[[credit_packs]]`, issue 19).
    addons: tuple[AddOn, ...] = ()
    credit_packs: tuple[CreditPack, ...] = ()

    # Points earned and redeemed (`[points]`, issue 19); off when the table is absent.
    points: PointsRules = field(default_factory=PointsRules)

    def addon(self, addon_id: str) -> AddOn | None:
        return next((a for a in self.addons if a.id == addon_id), None)

    def credit_pack(self, pack_id: str) -> CreditPack | None:
        return next((p for p in self.credit_packs if p.id == pack_id), None)

    # `[credits] low_balance`: a usage that takes the balance from above this to this or less
    # sends the low-balance notice (0: never).
    credit_low_balance: int = 0
    # Referral rewards and partners (`[referrals]`, `[[partners]]`, issue 19).
    referrals: ReferralRules = field(default_factory=ReferralRules)
    partners: tuple[Partner, ...] = ()

    def partner_by_code(self, code: str) -> Partner | None:
        return next((p for p in self.partners if p.code == code), None)

    def partner(self, partner_id: str) -> Partner | None:
        return next((p for p in self.partners if p.id == partner_id), None)

    def experiment(self, experiment_id: str) -> Experiment | None:
        return next((e for e in self.experiments if e.id == experiment_id), None)

    def plan(self, plan_id: str) -> Plan | None:
        return next((p for p in self.plans if p.id == plan_id), None)

    def plans_by_tier(self) -> list[Plan]:
        return sorted(self.plans, key=lambda p: p.tier)

    def next_tier_up(self, plan_id: str) -> Plan | None:
        current = self.plan(plan_id)
        if current is None:
            return None
        higher = [p for p in self.plans_by_tier() if p.tier > current.tier]
        return higher[0] if higher else None

    def next_tier_down(self, plan_id: str) -> Plan | None:
        current = self.plan(plan_id)
        if current is None:
            return None
        lower = [p for p in self.plans_by_tier() if p.tier < current.tier]
        return lower[-1] if lower else None

    def offers_for(self, reason: CancelReason) -> tuple[Offer, ...]:
        """The offers for this reason, in the catalog's order of preference."""
        ids = self.reason_offers.get(reason, ())
        return tuple(self.offers[i] for i in ids if i in self.offers)

    def offer_for(self, reason: CancelReason) -> Offer | None:
        """The first offer for this reason (whatever the person's state)."""
        found = self.offers_for(reason)
        return found[0] if found else None


class LiveCatalog(Catalog):
    """The catalog in force, shared by every use case and view of a process: it reads as the
    frozen Catalog it holds (`now`), and `swap` puts another, fully built and checked, in its
    place with one reference assignment. No Catalog is ever changed in place, so a reader
    that took `now` keeps one consistent catalog, and an edit that fails leaves the one in
    force exactly as it was."""

    __slots__ = ("_now",)
    _now: Catalog

    def __init__(self, first: Catalog | None = None, **fields: Any) -> None:
        # `fields`: dataclasses.replace(live, ...) builds a new LiveCatalog from them.
        object.__setattr__(self, "_now", first if first is not None else Catalog(**fields))

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("_") or name in ("now", "swap"):
            return object.__getattribute__(self, name)
        return getattr(object.__getattribute__(self, "_now"), name)

    @property
    def now(self) -> Catalog:
        return self._now

    def swap(self, new: Catalog) -> None:
        """Put `new` in force at once (its own frozen snapshot, not a live one)."""
        object.__setattr__(self, "_now", new.now if isinstance(new, LiveCatalog) else new)


class CatalogError(Exception):
    """Names the file, line and field, e.g. `catalog.toml:14: plans[1].monthly_stars: ...`."""


class _Problem(Exception):
    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def load_catalog(path: str | Path, default_locale: str = SOURCE_LOCALE) -> Catalog:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the catalog ({exc.strerror})") from None
    return parse_catalog(text, source=str(path), default_locale=default_locale)


def parse_catalog(
    text: str, source: str = "catalog.toml", default_locale: str = SOURCE_LOCALE
) -> Catalog:
    """`default_locale`: the one a name left out in ru or es falls back to (DEFAULT_LOCALE)."""
    token = _DEFAULT_LOCALE.set(default_locale)
    try:
        return _parse(text, source)
    finally:
        _DEFAULT_LOCALE.reset(token)


def _parse(text: str, source: str) -> Catalog:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        line = match.group(1) if match else "?"
        raise CatalogError(f"{source}:{line}: not valid TOML ({exc})") from None
    try:
        return _build(data)
    except _Problem as problem:
        line = _locate(text, problem.path)
        dotted = _dotted(problem.path)
        raise CatalogError(f"{source}:{line}: {dotted}: {problem.message}") from None


# --- building, with checks -------------------------------------------------------------


def _build(data: dict[str, Any]) -> Catalog:
    business = _table(data, ("business",))
    name = _str(business, ("business", "name"))

    plans_raw = data.get("plans")
    if not isinstance(plans_raw, list) or not plans_raw:
        raise _Problem(("plans",), "at least one [[plans]] table is required")
    chats = _chats(data)
    plans: list[Plan] = []
    for index, raw in enumerate(plans_raw):
        plans.append(_plan(raw, ("plans", index), {c.key for c in chats}))
    seen: set[str] = set()
    for index, plan in enumerate(plans):
        if plan.id in seen:
            raise _Problem(("plans", index, "id"), f"duplicate plan id {plan.id!r}")
        seen.add(plan.id)
    tiers = [p.tier for p in plans]
    if len(set(tiers)) != len(tiers):
        index = next(i for i, p in enumerate(plans) if tiers.count(p.tier) > 1)
        raise _Problem(("plans", index, "tier"), "each plan needs its own tier number")

    trial_raw = _table(data, ("trial",))
    days = _int(trial_raw, ("trial", "days"), low=1, high=90)
    trial_plan = _str(trial_raw, ("trial", "plan"))
    if trial_plan not in seen:
        raise _Problem(("trial", "plan"), f"unknown plan {trial_plan!r}")

    offers: dict[str, Offer] = {}
    for offer_id, raw in _table(data, ("offers",), required=False).items():
        offers[offer_id] = _offer(offer_id, raw)

    reason_offers: dict[CancelReason, tuple[str, ...]] = {r: () for r in CancelReason}
    reasons_raw = _table(data, ("cancel_reasons",), required=False)
    for key, value in reasons_raw.items():
        try:
            reason = CancelReason(key)
        except ValueError:
            allowed = ", ".join(r.value for r in CancelReason)
            raise _Problem(
                ("cancel_reasons", key), f"unknown reason; use one of {allowed}"
            ) from None
        reason_offers[reason] = _offer_list(value, ("cancel_reasons", key), offers)

    policy_raw = _table(data, ("offer_policy",), required=False)
    once_per_days = _int(
        policy_raw, ("offer_policy", "once_per_days"), default=180, low=1, high=3650
    )

    pause_raw = _table(data, ("pause",), required=False)
    months = pause_raw.get("months", [1, 2, 3])
    if (
        not isinstance(months, list)
        or not months
        or not all(isinstance(m, int) and 1 <= m <= 12 for m in months)
    ):
        raise _Problem(("pause", "months"), "a list of whole months between 1 and 12")

    up_raw = _table(data, ("upgrade",), required=False)
    upgrade = UpgradeRules(
        cap_days=_int(up_raw, ("upgrade", "cap_days"), default=7, low=1, high=365),
        quiet_after_cancel_days=_int(
            up_raw, ("upgrade", "quiet_after_cancel_days"), default=30, low=0, high=365
        ),
        trial_progress=_fraction(up_raw, ("upgrade", "trial_progress"), default=0.5),
        usage_metric=_str(up_raw, ("upgrade", "usage_metric"), default="uses"),
        usage_ratio=_fraction(up_raw, ("upgrade", "usage_ratio"), default=1.0),
    )

    email_raw = _table(data, ("email",), required=False)
    email = EmailRules(
        marketing_cap_hours=_int(
            email_raw, ("email", "marketing_cap_hours"), default=48, low=0, high=24 * 30
        ),
        quiet_start_hour=_int(email_raw, ("email", "quiet_start_hour"), default=21, low=0, high=23),
        quiet_end_hour=_int(email_raw, ("email", "quiet_end_hour"), default=8, low=0, high=23),
        late_days=_int(email_raw, ("email", "late_days"), default=3, low=1, high=30),
    )
    journeys = _journeys(data, offers)

    payments_raw = _table(data, ("payments",), required=False)
    late_raw = payments_raw.get("late_charge_after_cancel", LateCharge.REFUND.value)
    try:
        late_charge = LateCharge(late_raw)
    except ValueError:
        allowed = " or ".join(f'"{c.value}"' for c in LateCharge)
        raise _Problem(
            ("payments", "late_charge_after_cancel"), f"must be {allowed}, got {late_raw!r}"
        ) from None

    addons = _addons(data, seen, {c.key for c in chats})
    return Catalog(
        business_name=name,
        trial=Trial(days=days, plan_id=trial_plan),
        plans=tuple(plans),
        offers=offers,
        reason_offers=reason_offers,
        pause_months=tuple(sorted(set(months))),
        upgrade=upgrade,
        email=email,
        journeys=journeys,
        raw=data,
        offer_once_per_days=once_per_days,
        late_charge_after_cancel=late_charge,
        chats=chats,
        access=_access_rules(data),
        experiments=_experiments(data, offers, plans, trial_days=days),
        addons=addons,
        credit_packs=_credit_packs(data),
        points=_points(data, {a.id for a in addons}),
        credit_low_balance=_int(
            _table(data, ("credits",), required=False),
            ("credits", "low_balance"),
            default=0,
            low=0,
            high=1_000_000,
        ),
        referrals=_referral_rules(data, seen, trial_plan),
        partners=_partners(data),
    )


_CHAT_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def _chats(data: dict[str, Any]) -> tuple[AccessChat, ...]:
    raw_list = data.get("chats", [])
    if not isinstance(raw_list, list):
        raise _Problem(("chats",), "use [[chats]] tables")
    chats: list[AccessChat] = []
    for index, raw in enumerate(raw_list):
        path: tuple[str | int, ...] = ("chats", index)
        if not isinstance(raw, dict):
            raise _Problem(path, "must be a table")
        key = _str(raw, (*path, "key"))
        if not _CHAT_KEY.match(key):
            raise _Problem((*path, "key"), "lowercase letters, digits and _, at most 32 characters")
        chat_id = _int(raw, (*path, "chat_id"))
        if chat_id >= 0:
            raise _Problem(
                (*path, "chat_id"),
                "a channel or supergroup id is negative (e.g. -1001234567890); "
                "forward a post to @userinfobot or read it from the chat's link",
            )
        kind_text = _str(raw, (*path, "kind"))
        try:
            kind = ChatKind(kind_text)
        except ValueError:
            raise _Problem(
                (*path, "kind"), f'must be "channel" or "group", got {kind_text!r}'
            ) from None
        join_text = _str(raw, (*path, "join"), default=JoinMode.REQUEST.value)
        try:
            join = JoinMode(join_text)
        except ValueError:
            raise _Problem(
                (*path, "join"), f'must be "request" or "one_time", got {join_text!r}'
            ) from None
        chats.append(
            AccessChat(
                key=key,
                chat_id=chat_id,
                kind=kind,
                name=_localized(raw, (*path, "name"), max_len=32),
                join=join,
                link_hours=_int(raw, (*path, "link_hours"), default=24, low=1, high=24 * 30),
            )
        )
    for index, chat in enumerate(chats):
        if any(c.key == chat.key for c in chats[:index]):
            raise _Problem(("chats", index, "key"), f"duplicate chat key {chat.key!r}")
        if any(c.chat_id == chat.chat_id for c in chats[:index]):
            raise _Problem(("chats", index, "chat_id"), f"chat {chat.chat_id} is listed twice")
    return tuple(chats)


# --- add-ons and credit packs ([[addons]], [[credit_packs]], issue 19) ----------------------

_ECONOMY_ID = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def _economy_list(data: dict[str, Any], name: str) -> list[Any]:
    raw_list = data.get(name, [])
    if not isinstance(raw_list, list):
        raise _Problem((name,), f"use [[{name}]] tables")
    return raw_list


def _economy_id(raw: Any, path: tuple[str | int, ...], seen: set[str]) -> str:
    if not isinstance(raw, dict):
        raise _Problem(path, "must be a table")
    item_id = _str(raw, (*path, "id"))
    if not _ECONOMY_ID.match(item_id):
        raise _Problem((*path, "id"), "lowercase letters, digits and _, at most 32 characters")
    if item_id in seen:
        raise _Problem((*path, "id"), f"duplicate id {item_id!r}")
    seen.add(item_id)
    return item_id


def _key_list(
    raw: dict[str, Any], path: tuple[str | int, ...], known: set[str], what: str
) -> tuple[str, ...]:
    value = raw.get(str(path[-1]), [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Problem(path, f'a list of {what} ids, e.g. ["plus"]')
    for item in value:
        if item not in known:
            names = ", ".join(sorted(known)) or "none"
            raise _Problem(path, f"unknown {what} {item!r} (known: {names})")
    return tuple(value)


def _addons(data: dict[str, Any], plan_ids: set[str], chat_keys: set[str]) -> tuple[AddOn, ...]:
    addons: list[AddOn] = []
    seen: set[str] = set()
    for index, raw in enumerate(_economy_list(data, "addons")):
        path: tuple[str | int, ...] = ("addons", index)
        addon_id = _economy_id(raw, path, seen)
        has_days, has_quantity = "days" in raw, "quantity" in raw
        if has_days == has_quantity:
            raise _Problem(path, "give either days (a duration) or quantity (units), not both")
        addons.append(
            AddOn(
                id=addon_id,
                name=_localized(raw, (*path, "name"), max_len=32),
                description=_localized(raw, (*path, "description"), max_len=255),
                stars=_int(raw, (*path, "stars"), low=1, high=10000),
                plans=_key_list(raw, (*path, "plans"), plan_ids, "plan"),
                days=_int(raw, (*path, "days"), low=1, high=3660) if has_days else None,
                quantity=(
                    _int(raw, (*path, "quantity"), low=1, high=100000) if has_quantity else None
                ),
                chats=_key_list(raw, (*path, "chats"), chat_keys, "chat"),
                suggest_usage=(
                    _int(raw, (*path, "suggest_usage"), low=1, high=10**9)
                    if "suggest_usage" in raw
                    else None
                ),
            )
        )
    return tuple(addons)


def _credit_packs(data: dict[str, Any]) -> tuple[CreditPack, ...]:
    packs: list[CreditPack] = []
    seen: set[str] = set()
    for index, raw in enumerate(_economy_list(data, "credit_packs")):
        path: tuple[str | int, ...] = ("credit_packs", index)
        pack_id = _economy_id(raw, path, seen)
        packs.append(
            CreditPack(
                id=pack_id,
                name=_localized(raw, (*path, "name"), max_len=32),
                credits=_int(raw, (*path, "credits"), low=1, high=1_000_000),
                stars=_int(raw, (*path, "stars"), low=1, high=10000),
            )
        )
    return tuple(packs)


# --- points ([points], issue 19) -----------------------------------------------------------

_EVENT_KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def _points_list(raw: dict[str, Any], name: str) -> list[Any]:
    value = raw.get(name, [])
    if not isinstance(value, list):
        raise _Problem(("points", name), f"use [[points.{name}]] tables")
    return value


def _points(data: dict[str, Any], addon_ids: set[str]) -> PointsRules:
    raw = _table(data, ("points",), required=False)
    if not raw:
        return PointsRules()
    base = ("points",)
    star_value = raw.get("star_value", 0)
    if isinstance(star_value, bool) or not isinstance(star_value, int | float):
        raise _Problem((*base, "star_value"), f"must be a number, got {star_value!r}")
    if not 0 <= star_value <= 100:
        raise _Problem((*base, "star_value"), f"must be between 0 and 100, got {star_value}")
    events_raw = _table(raw, (*base, "events"), required=False)
    events: dict[str, int] = {}
    for kind in events_raw:
        if not _EVENT_KIND.match(kind):
            raise _Problem((*base, "events", kind), "lowercase letters, digits and _")
        events[kind] = _int(events_raw, (*base, "events", kind), low=1, high=MAX_POINTS)
    milestones: list[Milestone] = []
    for index, item in enumerate(_points_list(raw, "milestones")):
        path: tuple[str | int, ...] = (*base, "milestones", index)
        if not isinstance(item, dict):
            raise _Problem(path, "must be a table")
        credits = _int(item, (*path, "credits"), low=1, high=1_000_000_000)
        if any(m.credits == credits for m in milestones):
            raise _Problem((*path, "credits"), f"a milestone at {credits} credits is listed twice")
        milestones.append(Milestone(credits, _int(item, (*path, "points"), low=1, high=MAX_POINTS)))
    rewards: list[Reward] = []
    seen: set[str] = set()
    for index, item in enumerate(_points_list(raw, "rewards")):
        path = (*base, "rewards", index)
        reward_id = _economy_id(item, path, seen)
        has_addon, has_days = "addon" in item, "days" in item
        if has_addon == has_days:
            raise _Problem(path, "give either addon (an add-on's id) or days, not both")
        addon = _str(item, (*path, "addon")) if has_addon else None
        if addon is not None and addon not in addon_ids:
            names = ", ".join(sorted(addon_ids)) or "none"
            raise _Problem((*path, "addon"), f"unknown add-on {addon!r} (known: {names})")
        rewards.append(
            Reward(
                id=reward_id,
                points=_int(item, (*path, "points"), low=1, high=MAX_POINTS),
                addon=addon,
                days=_int(item, (*path, "days"), low=1, high=366) if has_days else None,
            )
        )
    return PointsRules(
        per_paid_month=_int(raw, (*base, "per_paid_month"), default=0, low=0, high=MAX_POINTS),
        expire_months=_int(raw, (*base, "expire_months"), default=0, low=0, high=120),
        notice_days=_int(raw, (*base, "notice_days"), default=7, low=1, high=90),
        star_value=float(star_value),
        events=events,
        milestones=tuple(sorted(milestones, key=lambda m: m.credits)),
        rewards=tuple(rewards),
    )


# --- referrals and partners ([referrals], [[partners]], issue 19) ----------------------------


def _referral_rules(data: dict[str, Any], plan_ids: set[str], trial_plan: str) -> ReferralRules:
    raw = _table(data, ("referrals",), required=False)
    plan_id = _str(raw, ("referrals", "plan"), default=trial_plan)
    if plan_id not in plan_ids:
        names = ", ".join(sorted(plan_ids))
        raise _Problem(("referrals", "plan"), f"unknown plan {plan_id!r} (known: {names})")
    return ReferralRules(
        referrer_days=_int(raw, ("referrals", "referrer_days"), default=7, low=0, high=365),
        referred_days=_int(raw, ("referrals", "referred_days"), default=7, low=0, high=365),
        plan_id=plan_id,
    )


def _partners(data: dict[str, Any]) -> tuple[Partner, ...]:
    partners: list[Partner] = []
    seen: set[str] = set()
    codes: set[str] = set()
    for index, raw in enumerate(_economy_list(data, "partners")):
        path: tuple[str | int, ...] = ("partners", index)
        partner_id = _economy_id(raw, path, seen)
        name = _str(raw, (*path, "name"))
        if len(name) > 64:
            raise _Problem((*path, "name"), "at most 64 characters")
        code = _str(raw, (*path, "code"))
        if not PARTNER_CODE.match(code):
            raise _Problem(
                (*path, "code"), "3-32 lowercase letters, digits, _ and - (it goes in a link)"
            )
        if PERSONAL_CODE.match(code):
            raise _Problem(
                (*path, "code"),
                "10 characters of a-z and 2-7 is the shape of members' own codes; choose another",
            )
        if code in codes:
            raise _Problem((*path, "code"), f"duplicate code {code!r}")
        codes.add(code)
        partners.append(
            Partner(
                id=partner_id,
                name=name,
                code=code,
                commission_percent=_int(raw, (*path, "commission_percent"), low=0, high=100),
            )
        )
    return tuple(partners)


def _access_rules(data: dict[str, Any]) -> AccessRules:
    raw = _table(data, ("access",), required=False)
    pause_removes = raw.get("pause_removes", True)
    if not isinstance(pause_removes, bool):
        raise _Problem(("access", "pause_removes"), "true or false")
    return AccessRules(
        grace_hours=_int(raw, ("access", "grace_hours"), default=0, low=0, high=24 * 90),
        pause_removes=pause_removes,
    )


def _offer_list(
    value: Any, path: tuple[str | int, ...], offers: dict[str, Offer]
) -> tuple[str, ...]:
    """One offer id, "none", or an ordered list of offer ids (the first that fits is made)."""
    if value in ("", "none"):
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise _Problem(path, 'an offer id, "none", or a list of offer ids in order of preference')
    for item in items:
        if item not in offers:
            known = ", ".join(sorted(offers)) or "none defined in [offers]"
            raise _Problem(path, f"unknown offer {item!r}; known offers: {known}")
    if len(set(items)) != len(items):
        raise _Problem(path, "each offer at most once in the list")
    return tuple(items)


_PLAN_ID = re.compile(r"^[a-z][a-z0-9_]{0,15}$")


def _plan(raw: Any, path: tuple[str | int, ...], chat_keys: set[str]) -> Plan:
    if not isinstance(raw, dict):
        raise _Problem(path, "must be a table")
    plan_id = _str(raw, (*path, "id"))
    if not _PLAN_ID.match(plan_id):
        raise _Problem((*path, "id"), "lowercase letters, digits and _, at most 16 characters")
    monthly = _int(raw, (*path, "monthly_stars"), low=1, high=10000)
    yearly = _int(raw, (*path, "yearly_stars"), low=1, high=100000)
    features_raw = raw.get("features", {})
    if not isinstance(features_raw, dict):
        raise _Problem((*path, "features"), "a table of lists per locale (en, ro, it)")
    features: dict[str, tuple[str, ...]] = {}
    for locale in LOCALES:
        if locale not in REQUIRED_LOCALES and locale not in features_raw:
            continue
        items = features_raw.get(locale, [])
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise _Problem((*path, "features", locale), "a list of non-empty strings")
        features[locale] = tuple(items)
    features = {loc: features[loc] if loc in features else _fill(features, loc) for loc in LOCALES}
    limit = raw.get("usage_limit")
    if limit is not None:
        limit = _int(raw, (*path, "usage_limit"), low=1, high=10**9)
    chats = raw.get("chats", [])
    if not isinstance(chats, list) or not all(isinstance(c, str) for c in chats):
        raise _Problem((*path, "chats"), 'a list of chat keys from [[chats]], e.g. ["club"]')
    for key in chats:
        if key not in chat_keys:
            known = ", ".join(sorted(chat_keys)) or "none defined in [[chats]]"
            raise _Problem((*path, "chats"), f"unknown chat {key!r}; known chats: {known}")
    if len(set(chats)) != len(chats):
        raise _Problem((*path, "chats"), "each chat at most once")
    return Plan(
        id=plan_id,
        tier=_int(raw, (*path, "tier"), low=1, high=100),
        name=_localized(raw, (*path, "name"), max_len=32),
        description=_localized(raw, (*path, "description"), max_len=255),
        monthly_stars=monthly,
        yearly_stars=yearly,
        features=features,
        usage_limit=limit,
        chats=tuple(chats),
    )


def _offer(offer_id: str, raw: Any) -> Offer:
    path: tuple[str | int, ...] = ("offers", offer_id)
    if not isinstance(raw, dict):
        raise _Problem(path, "must be a table")
    kind_text = _str(raw, (*path, "kind"))
    try:
        kind = OfferKind(kind_text)
    except ValueError:
        allowed = ", ".join(k.value for k in OfferKind)
        raise _Problem(
            (*path, "kind"), f"unknown kind {kind_text!r}; use one of {allowed}"
        ) from None
    months = percent = days = 0
    if kind is OfferKind.PAUSE:
        months = _int(raw, (*path, "months"), low=1, high=12)
    elif kind is OfferKind.DISCOUNT:
        percent = _int(raw, (*path, "percent"), low=1, high=90)
    elif kind is OfferKind.LONGER_TRIAL:
        days = _int(raw, (*path, "days"), low=1, high=90)
    return Offer(id=offer_id, kind=kind, months=months, percent=percent, days=days)


def _journeys(data: dict[str, Any], offers: dict[str, Offer]) -> tuple[Journey, ...]:
    raw_list = data.get("journeys", _MISSING)
    if raw_list is _MISSING:
        return DEFAULT_JOURNEYS
    if not isinstance(raw_list, list):
        raise _Problem(("journeys",), "use [[journeys]] tables")
    journeys: list[Journey] = []
    for index, raw in enumerate(raw_list):
        journeys.append(_journey(raw, ("journeys", index), offers))
    seen: set[str] = set()
    for index, journey in enumerate(journeys):
        if journey.id in seen:
            raise _Problem(("journeys", index, "id"), f"duplicate journey id {journey.id!r}")
        seen.add(journey.id)
    return tuple(journeys)


def _journey(raw: Any, path: tuple[str | int, ...], offers: dict[str, Offer]) -> Journey:
    if not isinstance(raw, dict):
        raise _Problem(path, "must be a table")
    journey_id = _str(raw, (*path, "id"))
    if not _PLAN_ID.match(journey_id):
        raise _Problem((*path, "id"), "lowercase letters, digits and _, at most 16 characters")
    trigger_text = _str(raw, (*path, "trigger"))
    try:
        trigger = Trigger(trigger_text)
    except ValueError:
        allowed = ", ".join(t.value for t in Trigger)
        raise _Problem(
            (*path, "trigger"), f"unknown trigger {trigger_text!r}; use one of {allowed}"
        ) from None
    days = raw.get("days")
    if (
        not isinstance(days, list)
        or not days
        or not all(isinstance(d, int) and not isinstance(d, bool) for d in days)
        or not all(-365 <= d <= 365 for d in days)
    ):
        raise _Problem((*path, "days"), "a list of whole days between -365 and 365")
    if sorted(set(days)) != days:
        raise _Problem((*path, "days"), "days must be in increasing order, each once")
    template = _str(raw, (*path, "template"), default=journey_id)
    if not _TEMPLATE_NAME.match(template):
        raise _Problem((*path, "template"), "a template name: lowercase letters, digits and _")
    marketing = raw.get("marketing", True)
    if not isinstance(marketing, bool):
        raise _Problem((*path, "marketing"), "true or false")
    offer_map: dict[str, str | None] = {}
    offers_raw = raw.get("offers", {})
    if not isinstance(offers_raw, dict):
        raise _Problem((*path, "offers"), "a table of cancel reason = offer id")
    if offers_raw and trigger not in OFFER_TRIGGERS:
        raise _Problem(
            (*path, "offers"), "only trial_expired and access_ended journeys carry offers"
        )
    reasons = {r.value for r in CancelReason} | {"default"}
    for reason, offer_id in offers_raw.items():
        if reason not in reasons:
            allowed = ", ".join(sorted(reasons))
            raise _Problem((*path, "offers", reason), f"unknown reason; use one of {allowed}")
        if offer_id in ("", "none"):
            offer_map[reason] = None
            continue
        if not isinstance(offer_id, str) or offer_id not in offers:
            raise _Problem((*path, "offers", reason), f"unknown offer {offer_id!r}")
        if offers[offer_id].kind is OfferKind.PAUSE:
            raise _Problem((*path, "offers", reason), "a pause cannot win someone back")
        if offers[offer_id].kind is OfferKind.LONGER_TRIAL:
            raise _Problem((*path, "offers", reason), "a longer trial cannot win someone back")
        if "-" in offer_id or len(offer_id) > 16:
            raise _Problem(
                (*path, "offers", reason), "offer ids used here: at most 16 characters, no '-'"
            )
        offer_map[reason] = offer_id
    return Journey(
        id=journey_id,
        trigger=trigger,
        days=tuple(days),
        template=template,
        marketing=marketing,
        offers=offer_map,
        offer_valid_days=_int(raw, (*path, "offer_valid_days"), default=14, low=1, high=365),
    )


# --- experiments ([[experiments]]) -----------------------------------------------------------

_EXPERIMENT_ID = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_VARIANT_ID = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# The one payload field each surface's variants carry.
_PAYLOAD = {
    Surface.CANCEL_OFFER: "offer",
    Surface.WINBACK_OFFER: "offer",
    Surface.TRIAL_LENGTH: "trial_days",
    Surface.PLAN_PRICE: "monthly_stars",
    Surface.UPGRADE_PROMPT: "prompt",
}


def _experiments(
    data: dict[str, Any], offers: dict[str, Offer], plans: list[Plan], *, trial_days: int
) -> tuple[Experiment, ...]:
    raw_list = data.get("experiments", [])
    if not isinstance(raw_list, list):
        raise _Problem(("experiments",), "use [[experiments]] tables")
    experiments: list[Experiment] = []
    for index, raw in enumerate(raw_list):
        path: tuple[str | int, ...] = ("experiments", index)
        experiment = _experiment(raw, path, offers, {p.id for p in plans})
        for number, variant in enumerate(experiment.variants):
            if variant.trial_days is not None and variant.trial_days < trial_days:
                # The days promised before a trial starts are the catalog's: an arm may give
                # more, never fewer.
                raise _Problem(
                    (*path, "variants", number, "trial_days"),
                    f"at least the [trial] days ({trial_days}): an arm may only lengthen it",
                )
        if any(e.id == experiment.id for e in experiments):
            raise _Problem((*path, "id"), f"duplicate experiment id {experiment.id!r}")
        experiments.append(experiment)
        clash = overlapping(experiments)
        if clash is not None:
            raise _Problem(
                path,
                f"overlaps running experiment {clash[0].id!r} on surface {experiment.surface}: "
                "a person would be in both; narrow the audience or stop one",
            )
    return tuple(experiments)


def _experiment(
    raw: Any, path: tuple[str | int, ...], offers: dict[str, Offer], plan_ids: set[str]
) -> Experiment:
    if not isinstance(raw, dict):
        raise _Problem(path, "must be a table")
    experiment_id = _str(raw, (*path, "id"))
    if not _EXPERIMENT_ID.match(experiment_id):
        raise _Problem((*path, "id"), "lowercase letters, digits and _, at most 48 characters")
    surface_text = _str(raw, (*path, "surface"))
    try:
        surface = Surface(surface_text)
    except ValueError:
        allowed = ", ".join(s.value for s in Surface)
        raise _Problem(
            (*path, "surface"), f"unknown surface {surface_text!r}; use one of {allowed}"
        ) from None
    status_text = _str(raw, (*path, "status"), default=ExperimentStatus.RUNNING.value)
    try:
        status = ExperimentStatus(status_text)
    except ValueError:
        allowed = ", ".join(s.value for s in ExperimentStatus)
        raise _Problem((*path, "status"), f"use one of {allowed}") from None
    holdout = raw.get("holdout", 0.0)
    if isinstance(holdout, bool) or not isinstance(holdout, int | float) or not 0 <= holdout < 1:
        raise _Problem((*path, "holdout"), f"a share from 0 to below 1, got {holdout!r}")
    audience = _audience(raw, (*path, "audience"), plan_ids)
    if surface is Surface.PLAN_PRICE and len(audience.plans) != 1:
        raise _Problem((*path, "audience", "plans"), "a price experiment names exactly one plan")
    variants_raw = raw.get("variants")
    if not isinstance(variants_raw, list) or not variants_raw:
        raise _Problem((*path, "variants"), "at least one variant, e.g. [{ id = ..., ... }]")
    variants: list[Variant] = []
    for number, item in enumerate(variants_raw):
        variant = _variant(item, (*path, "variants", number), surface, offers)
        if variant.id in {v.id for v in variants}:
            raise _Problem((*path, "variants", number, "id"), f"duplicate variant {variant.id!r}")
        variants.append(variant)
    if holdout == 0 and len(variants) < 2:
        raise _Problem((*path, "variants"), "two variants, or one and a holdout share")
    return Experiment(
        id=experiment_id,
        surface=surface,
        variants=tuple(variants),
        holdout_share=float(holdout),
        audience=audience,
        status=status,
    )


def _audience(raw: dict[str, Any], path: tuple[str | int, ...], plan_ids: set[str]) -> Audience:
    table = raw.get("audience", {})
    if not isinstance(table, dict):
        raise _Problem(path, "a table: { reasons = [...], plans = [...], languages = [...] }")
    allowed = {
        "reasons": {r.value for r in CancelReason},
        "plans": plan_ids,
        "languages": set(LOCALES),
    }
    found: dict[str, frozenset[str]] = {}
    for name, values in table.items():
        if name not in allowed:
            raise _Problem((*path, name), "use reasons, plans or languages")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise _Problem((*path, name), "a list of ids")
        unknown = sorted(set(values) - allowed[name])
        if unknown:
            known = ", ".join(sorted(allowed[name]))
            raise _Problem((*path, name), f"unknown {unknown[0]!r}; use {known}")
        found[name] = frozenset(values)
    return Audience(**found)


def _variant(
    raw: Any, path: tuple[str | int, ...], surface: Surface, offers: dict[str, Offer]
) -> Variant:
    if not isinstance(raw, dict):
        raise _Problem(path, "must be a table")
    variant_id = _str(raw, (*path, "id"))
    if not _VARIANT_ID.match(variant_id) or variant_id == HOLDOUT:
        raise _Problem(
            (*path, "id"), 'lowercase letters, digits and _ (and not "holdout", which is implicit)'
        )
    weight = _int(raw, (*path, "weight"), default=1, low=1, high=1000)
    wanted = _PAYLOAD[surface]
    for name in set(_PAYLOAD.values()) - {wanted}:
        if name in raw:
            raise _Problem((*path, name), f"a {surface} variant carries {wanted}, not {name}")
    if surface is not Surface.PLAN_PRICE and "yearly_stars" in raw:
        raise _Problem((*path, "yearly_stars"), f"a {surface} variant carries {wanted}")
    if surface in (Surface.CANCEL_OFFER, Surface.WINBACK_OFFER):
        offer_id = _str(raw, (*path, "offer"))
        if offer_id != "none" and offer_id not in offers:
            known = ", ".join(sorted(offers)) or "none defined in [offers]"
            raise _Problem((*path, "offer"), f"unknown offer {offer_id!r}; known offers: {known}")
        kind = offers[offer_id].kind if offer_id != "none" else None
        if surface is Surface.WINBACK_OFFER and kind in (OfferKind.PAUSE, OfferKind.LONGER_TRIAL):
            raise _Problem((*path, "offer"), "a pause or a longer trial cannot win someone back")
        return Variant(variant_id, weight, offer=None if offer_id == "none" else offer_id)
    if surface is Surface.TRIAL_LENGTH:
        days = _int(raw, (*path, "trial_days"), low=1, high=90)
        return Variant(variant_id, weight, trial_days=days)
    if surface is Surface.PLAN_PRICE:
        # The monthly price, the yearly one, or both (what is not named stays the catalog's).
        monthly = yearly = None
        if "monthly_stars" in raw or "yearly_stars" not in raw:
            monthly = _int(raw, (*path, "monthly_stars"), low=1, high=10000)
        if "yearly_stars" in raw:
            yearly = _int(raw, (*path, "yearly_stars"), low=1, high=100000)
        return Variant(variant_id, weight, monthly_stars=monthly, yearly_stars=yearly)
    return Variant(variant_id, weight, prompt=_localized(raw, (*path, "prompt"), max_len=500))


# --- small typed getters -------------------------------------------------------------------

_MISSING = object()


def _table(
    data: dict[str, Any], path: tuple[str | int, ...], required: bool = True
) -> dict[str, Any]:
    value = data.get(str(path[-1]), _MISSING)
    if value is _MISSING:
        if required:
            raise _Problem(path, f"the [{_dotted(path)}] table is required")
        return {}
    if not isinstance(value, dict):
        raise _Problem(path, "must be a table")
    return value


def _str(data: dict[str, Any], path: tuple[str | int, ...], default: Any = _MISSING) -> str:
    value = data.get(str(path[-1]), default)
    if value is _MISSING:
        raise _Problem(path, "is required")
    if not isinstance(value, str) or not value.strip():
        raise _Problem(path, "must be a non-empty string")
    return value


def _int(
    data: dict[str, Any],
    path: tuple[str | int, ...],
    default: Any = _MISSING,
    low: int | None = None,
    high: int | None = None,
) -> int:
    value = data.get(str(path[-1]), default)
    if value is _MISSING:
        raise _Problem(path, "is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Problem(path, f"must be a whole number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise _Problem(path, f"must be between {low} and {high}, got {value}")
    return value


def _fraction(data: dict[str, Any], path: tuple[str | int, ...], default: float) -> float | None:
    value = data.get(str(path[-1]), default)
    if value is False:
        return None  # rule switched off
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 10:
        raise _Problem(path, f"must be a number above 0 (or false to switch off), got {value!r}")
    return float(value)


def _localized(data: dict[str, Any], path: tuple[str | int, ...], max_len: int) -> Localized:
    value = data.get(str(path[-1]), _MISSING)
    if value is _MISSING:
        raise _Problem(path, "is required, with en, ro and it")
    if not isinstance(value, dict):
        raise _Problem(path, 'must give every locale, e.g. { en = "...", ro = "...", it = "..." }')
    result: Localized = {}
    for locale in LOCALES:
        text = value.get(locale)
        if locale not in REQUIRED_LOCALES and text is None:
            continue  # falls back, below
        if not isinstance(text, str) or not text.strip():
            raise _Problem((*path, locale), "missing or empty translation")
        if len(text) > max_len:
            raise _Problem((*path, locale), f"at most {max_len} characters")
        result[locale] = text
    return {loc: result[loc] if loc in result else _fill(result, loc) for loc in LOCALES}


# --- locating a field in the source, for the error message ---------------------------------


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _locate(text: str, path: tuple[str | int, ...]) -> int | str:
    """Best-effort line number of `path` in the TOML text (1-based)."""
    lines = text.splitlines()
    header_re = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    # Find the table the path lives in: [[plans]] number N, or [section].
    start, end = 0, len(lines)
    keys = list(path)
    if len(keys) >= 2 and isinstance(keys[1], int):
        wanted, count = keys[0], -1
        for i, line in enumerate(lines):
            m = header_re.match(line)
            if m and line.strip().startswith("[[") and m.group(1) == wanted:
                count += 1
                if count == keys[1]:
                    start = i
                    break
        keys = keys[2:]
    elif keys:
        for i, line in enumerate(lines):
            m = header_re.match(line)
            if m and m.group(1) == keys[0]:
                start = i
                keys = keys[1:]
                break
    for j in range(start + 1, len(lines)):
        if header_re.match(lines[j]) and not lines[j].strip().startswith(f"[{path[0]}."):
            end = j
            break
    if not keys:
        return start + 1
    key_re = re.compile(rf"^\s*{re.escape(str(keys[0]))}\s*=")
    for i in range(start, end):
        if key_re.match(lines[i]):
            return i + 1
    return start + 1
