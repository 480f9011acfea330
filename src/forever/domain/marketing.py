"""The one email policy: consent, the marketing cap, quiet hours and journey eligibility.

Pure rules, used twice: the journey sweep's repository translates `Eligibility` and the
policy's parameters into its candidate query, and the delivery worker asks `verdict` again
just before handing a message over (things change between queueing and sending: a
resubscription ends a win-back, an unsubscribe withdraws consent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from forever.domain.catalog import EmailRules, Journey, Trigger
from forever.domain.journeys import MAX_ATTEMPTS, quiet_until, zone_or_default

# --- journey eligibility ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Eligibility:
    """In which subscription states (and billings) a journey step still applies.

    `states` None: any person (even one with no subscription). `billings`: only these;
    `not_billings`: any billing but these (a missing billing does not qualify, as in SQL)."""

    states: frozenset[str] | None = None
    billings: frozenset[str] | None = None
    not_billings: frozenset[str] | None = None

    def applies(self, state: str | None, billing: str | None) -> bool:
        if self.states is not None and (state or "none") not in self.states:
            return False
        if self.billings is not None and billing not in self.billings:
            return False
        return not (
            self.not_billings is not None and (billing is None or billing in self.not_billings)
        )


def _states(*names: str) -> frozenset[str]:
    return frozenset(names)


# The one table: the sweep selects by it, the worker re-checks by it.
JOURNEY_ELIGIBILITY: dict[Trigger, Eligibility] = {
    Trigger.SIGNUP: Eligibility(),
    Trigger.TRIAL_START: Eligibility(_states("trial")),
    Trigger.TRIAL_END: Eligibility(_states("trial", "cancel_scheduled"), _states("trial")),
    Trigger.TRIAL_EXPIRED: Eligibility(_states("expired"), _states("trial")),
    Trigger.RENEWAL: Eligibility(_states("active"), _states("yearly")),
    Trigger.PAYMENT_FAILED: Eligibility(_states("past_due")),
    Trigger.INACTIVE: Eligibility(_states("trial", "active")),
    Trigger.ACCESS_ENDED: Eligibility(_states("expired"), not_billings=_states("trial")),
}


def eligibility(trigger: Trigger) -> Eligibility:
    return JOURNEY_ELIGIBILITY[trigger]


# --- the verdict before sending ----------------------------------------------------------------


class Action(StrEnum):
    SEND = "send"
    DEFER = "defer"  # not now (cap, quiet hours): a later time, not counted as a try
    CANCEL = "cancel"  # no longer wanted (erased, unsubscribed, journey over)
    FAIL = "fail"  # cannot be delivered (blocked the bot, too many tries)
    SUPPRESSED = "suppressed"  # the address is on the suppression list


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    reason: str | None = None
    not_before: datetime | None = None

    @property
    def send(self) -> bool:
        return self.action is Action.SEND


SEND = Verdict(Action.SEND)


@dataclass(frozen=True, slots=True)
class Recipient:
    """What the policy needs to know about the person a row is for (None: no person)."""

    erased: bool = False
    telegram_id: int | None = None
    blocked: bool = False
    timezone: str | None = None
    language: str | None = None
    state: str | None = None  # subscription state, None when they have none
    billing: str | None = None
    consent: bool = False  # confirmed marketing consent, not withdrawn
    last_marketing_at: datetime | None = None  # the last marketing email sent (or reserved)
    trial_used: bool = False  # the person had their free trial already


@dataclass(frozen=True, slots=True)
class Message:
    """What the policy needs to know about one outbox row."""

    channel: str  # email | chat | telegram
    marketing: bool
    attempts: int
    has_person: bool
    trigger: Trigger | None = None  # a journey email: its trigger
    legacy_states: tuple[str, ...] | None = None  # rows queued before `trigger` was stored
    address: str | None = None  # email rows: where it goes
    suppressed: bool = False  # email rows: the address is suppressed
    chat_id: int | None = None  # chat rows addressed to a chat, not a person (staff)
    quiet_hours: bool = False  # a nudge nobody asked for now (upgrade prompt): not at night


@dataclass(frozen=True, slots=True)
class MarketingPolicy:
    """Consent, one marketing email per cap period, none in the person's night."""

    cap: timedelta
    quiet_start_hour: int
    quiet_end_hour: int
    default_zone: ZoneInfo

    @classmethod
    def from_rules(cls, rules: EmailRules, default_zone: ZoneInfo) -> MarketingPolicy:
        return cls(
            cap=timedelta(hours=rules.marketing_cap_hours),
            quiet_start_hour=rules.quiet_start_hour,
            quiet_end_hour=rules.quiet_end_hour,
            default_zone=default_zone,
        )

    def zone(self, timezone: str | None, language: str | None) -> ZoneInfo:
        return zone_or_default(timezone, self.default_zone, language)

    def quiet_until(
        self, instant: datetime, timezone: str | None, language: str | None
    ) -> datetime:
        """The first moment at or after `instant` outside the person's quiet hours."""
        return quiet_until(
            instant, self.zone(timezone, language), self.quiet_start_hour, self.quiet_end_hour
        )

    def marketing_time(self, now: datetime, person: Recipient) -> datetime:
        """The earliest a marketing email may go: after the cap since the last one, and by
        day in the person's time zone."""
        last = person.last_marketing_at
        earliest = now if last is None else max(now, last + self.cap)
        return self.quiet_until(earliest, person.timezone, person.language)

    def verdict(self, message: Message, person: Recipient | None, now: datetime) -> Verdict:
        """Send now, later, or not at all. Rows for no person (staff alerts, mail to a typed
        address) only need somewhere to go."""
        if message.attempts > MAX_ATTEMPTS:
            return Verdict(Action.FAIL, "gave up after too many attempts")
        if message.channel == "telegram":
            return SEND  # a Bot API call for the person's own account (a Stars edit)
        if message.has_person and (person is None or person.erased):
            return Verdict(Action.CANCEL, "person erased")
        if message.channel == "email":
            if not message.address:
                return Verdict(Action.CANCEL, "no email address")
            if message.suppressed:
                return Verdict(Action.SUPPRESSED, "address suppressed")
        elif message.channel == "chat" and message.chat_id is None:
            if person is None or person.telegram_id is None:
                return Verdict(Action.CANCEL, "no chat")
            if person.blocked:
                return Verdict(Action.FAIL, "bot blocked by the person")
        if person is None:
            if message.marketing:
                return Verdict(Action.CANCEL, "no marketing consent")
            return SEND
        if not self.journey_applies(message, person):
            # e.g. they subscribed again: the win-back journey is over.
            return Verdict(Action.CANCEL, "journey ended")
        if message.quiet_hours and not message.marketing:
            later = self.quiet_until(now, person.timezone, person.language)
            if later > now:
                return Verdict(Action.DEFER, "quiet hours", later)
        if message.marketing:
            if not person.consent:
                return Verdict(Action.CANCEL, "no marketing consent")
            later = self.marketing_time(now, person)
            if later > now:
                return Verdict(Action.DEFER, "marketing cap or quiet hours", later)
        return SEND

    @staticmethod
    def journey_applies(message: Message, person: Recipient) -> bool:
        if message.trigger is not None:
            return eligibility(message.trigger).applies(person.state, person.billing)
        if message.legacy_states is not None:
            return (person.state or "none") in message.legacy_states
        return True


# --- where the person stands when a mail is rendered --------------------------------------------


class Standing(StrEnum):
    """What an email may say about the person's membership, decided at send time (a welcome
    queued at sign-up may leave after they started a trial or paid)."""

    NEW = "new"  # no membership yet and the free trial is still theirs to take
    TRIAL = "trial"  # in the free trial now
    MEMBER = "member"  # a paid (or granted) membership, even if cancelled or paused
    FORMER = "former"  # no access: the trial was used or the membership ended


_MEMBER_STATES = frozenset({"active", "paused", "cancel_scheduled", "past_due"})


def standing(person: Recipient) -> Standing:
    state = person.state or "none"
    if state == "trial":
        return Standing.TRIAL
    if state in _MEMBER_STATES:
        return Standing.TRIAL if person.billing == "trial" else Standing.MEMBER
    if state == "none" and not person.trial_used:
        return Standing.NEW
    return Standing.FORMER


# --- journey windows -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """Step `index` of `journey` is due for trigger moments (anchors) in (low, high]."""

    journey: Journey
    index: int
    low: datetime
    high: datetime

    @property
    def eligibility(self) -> Eligibility:
        return eligibility(self.journey.trigger)

    @property
    def key_prefix(self) -> str:
        """Outbox keys are this plus `<person id>:<the trigger's UTC day, YYYYMMDD>`: a later
        renewal, failure or departure starts the journey afresh."""
        return f"j:{self.journey.id}:{self.index}:"


def windows(journeys: tuple[Journey, ...], late_days: int, now: datetime) -> list[Window]:
    """Each step's window at `now`: `late_days` wide, never overlapping the next step."""
    late = timedelta(days=late_days)
    out = []
    for journey in journeys:
        for index, days in enumerate(journey.days):
            width = late
            if index + 1 < len(journey.days):
                width = min(width, timedelta(days=journey.days[index + 1] - days))
            due = now - timedelta(days=days)  # anchor + days <= now  <=>  anchor <= due
            out.append(Window(journey, index, low=due - width, high=due))
    return out
