"""Sign-up: /start (greeting, win-back links), the free trial (once per Telegram id and once
per email address), the email address (optional, validated) and, separately, the question
about marketing email; /email to change the address."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from email_validator import EmailNotValidError, validate_email

from forever.domain import lifecycle
from forever.domain.clock import Clock
from forever.domain.events import EventKind
from forever.domain.experiments import Surface
from forever.domain.lifecycle import State
from forever.domain.offers import offer_window_start
from forever.domain.payments import InvoiceKind
from forever.domain.signing import Signer
from forever.services.accounts import Snapshot, Status
from forever.services.billing import CatalogSource, Invoicing, IssuedInvoice, Snapshots
from forever.services.consent import (
    ConsentRepository,
    ask_marketing_consent,
    end_for_new_address,
)
from forever.services.experiments import ExperimentChooser
from forever.services.memberships import apply_membership, to_membership
from forever.services.ports import (
    EventLog,
    Outbox,
    PeopleRepository,
    SubscriptionRepository,
    UnitOfWork,
)
from forever.services.records import PersonRecord
from forever.services.winback import PREFIX as WINBACK_PREFIX
from forever.services.winback import OfferHistory, WinbackOffer, read_winback

AWAITING_SIGNUP_EMAIL = "signup_email"  # the address asked before the trial starts
AWAITING_EMAIL = "email"  # /email: a new address
MAX_EMAIL_LENGTH = 254


def normalize_email(text: str) -> str | None:
    """The address in a normal form, or None when it is not a usable address."""
    text = text.strip()
    if not text or len(text) > MAX_EMAIL_LENGTH or any(c.isspace() for c in text):
        return None
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return None
    return result.normalized


def trial_allowed(person: PersonRecord, state: State) -> bool:
    return person.trial_used_at is None and state is State.NONE


class TrialHistory(Protocol):
    async def email_had_trial(self, email: str, other_than: int) -> bool:
        """Another person (or an erased one, kept as a hash) had a trial with this address."""
        ...


class EmailOutcome(StrEnum):
    INVALID = "invalid"
    TRIAL_STARTED = "trial_started"
    TRIAL_USED = "trial_used"  # another person had a trial with this address: no trial
    SAVED = "saved"
    UNCHANGED = "unchanged"
    NOT_EXPECTED = "not_expected"


@dataclass(frozen=True, slots=True)
class EmailResult:
    outcome: EmailOutcome
    snap: Snapshot
    ask_consent: bool = False  # a pending/confirmed consent moved to the new address
    during_signup: bool = False  # the address was asked before the trial


@dataclass(frozen=True, slots=True)
class Started:
    """/start: where the person stands, and what a win-back link in it gave."""

    snap: Snapshot
    winback: WinbackOffer | None = None
    invoice: IssuedInvoice | None = None  # the win-back offer's invoice, committed
    winback_invalid: bool = False  # a win-back link that is not (or no longer) good


class Signup:
    def __init__(
        self,
        uow: UnitOfWork,
        people: PeopleRepository,
        subscriptions: SubscriptionRepository,
        trials: TrialHistory,
        consents: ConsentRepository,
        snapshots: Snapshots,
        invoicing: Invoicing,
        outbox: Outbox,
        events: EventLog,
        catalog: CatalogSource,
        clock: Clock,
        signer: Signer,
        offer_history: OfferHistory | None = None,
        experiments: ExperimentChooser | None = None,
    ) -> None:
        self.offer_history = offer_history
        self.experiments = experiments
        self.uow = uow
        self.people = people
        self.subscriptions = subscriptions
        self.trials = trials
        self.consents = consents
        self.snapshots = snapshots
        self.invoicing = invoicing
        self.outbox = outbox
        self.events = events
        self.catalog = catalog
        self.clock = clock
        self.signer = signer

    async def _person(self, person_id: int) -> PersonRecord:
        person = await self.people.get(person_id)
        assert person is not None
        return person

    async def _snap(self, person_id: int, now: datetime) -> Snapshot:
        snap = await self.snapshots.snapshot(person_id, now)
        assert snap is not None
        return snap

    async def start(
        self, person_id: int, parameter: str | None, known: Snapshot | None = None
    ) -> Started:
        """/start, possibly with a win-back link's parameter: the offer's invoice is issued.
        `known`: where the person stands, read for this update already (then a plain /start
        reads nothing)."""
        now = self.clock.now()
        catalog = self.catalog()
        winback = bool(parameter) and (parameter or "").startswith(WINBACK_PREFIX)
        if known is not None and not winback:
            return Started(known)
        used: Sequence[str] = ()
        async with self.uow.begin():
            snap = await self._snap(person_id, now)
            if winback and self.offer_history is not None:
                # A win-back discount goes once: not again after one was taken.
                used = await self.offer_history.offers_made(
                    person_id, offer_window_start(catalog, now), taken_only=True
                )
        if not parameter or not winback:
            return Started(snap)
        found = read_winback(self.signer, catalog, person_id, parameter, snap.membership, now, used)
        if found is None:
            return Started(snap, winback_invalid=True)
        # A Stars subscription, at the offer's price, renewing at it until cancelled.
        issued = await self.invoicing.issue(
            person_id, found.plan, InvoiceKind.SUBSCRIPTION, found.offer
        )
        return Started(snap, found, issued)

    async def trial(self, person_id: int, action: str) -> tuple[Status, Snapshot]:
        """A tap on the trial buttons: "start" asks for the address first (it is optional);
        "skip" starts the trial at once (once per Telegram id)."""
        now = self.clock.now()
        async with self.uow.begin():
            person = await self._person(person_id)
            status = Status.STALE
            if action == "start":
                sub = await self.subscriptions.get_or_create(person_id, now)
                if trial_allowed(person, State(sub.state)):
                    person.awaiting = AWAITING_SIGNUP_EMAIL
                    status = Status.DONE
                else:
                    status = Status.NOT_ALLOWED
            elif action == "skip" and person.awaiting == AWAITING_SIGNUP_EMAIL:
                person.awaiting = None
                started = await self._start_trial(person, now)
                status = Status.DONE if started else Status.NOT_ALLOWED
            snap = await self._snap(person_id, now)
            if status is not Status.STALE:
                await self.uow.commit()
        return status, snap

    async def submit_email(self, person_id: int, text: str) -> EmailResult:
        now = self.clock.now()
        async with self.uow.begin():
            person = await self._person(person_id)
            step = person.awaiting
            address = normalize_email(text)
            outcome: EmailOutcome
            ask_consent = False
            if step not in (AWAITING_SIGNUP_EMAIL, AWAITING_EMAIL):
                outcome = EmailOutcome.NOT_EXPECTED
            elif address is None:
                outcome = EmailOutcome.INVALID  # still waiting for a good one
            elif step == AWAITING_SIGNUP_EMAIL:
                person.awaiting = None
                if await self.trials.email_had_trial(address, person.id):
                    outcome = EmailOutcome.TRIAL_USED
                else:
                    started = await self._start_trial(person, now)
                    outcome = EmailOutcome.TRIAL_STARTED if started else EmailOutcome.SAVED
                self._store_email(person, address, now)
            else:
                person.awaiting = None
                previous = await self._snap(person_id, now)
                changed = self._store_email(person, address, now)
                outcome = EmailOutcome.SAVED if changed else EmailOutcome.UNCHANGED
                # Consent was given for the old address: it ends, and the question is asked
                # again for the new one (answered by the same buttons as at sign-up).
                ask_consent = (changed and previous.marketing != "none") or (
                    # Unsubscribed, and now giving the address again: the way back in.
                    not changed and previous.marketing == "withdrawn"
                )
                if changed:
                    await end_for_new_address(self.consents, self.events, person.id, now=now)
            snap = await self._snap(person_id, now)
            await self.uow.commit()
        return EmailResult(outcome, snap, ask_consent, step == AWAITING_SIGNUP_EMAIL)

    async def ask_for_email(self, person_id: int) -> None:
        async with self.uow.begin():
            person = await self._person(person_id)
            person.awaiting = AWAITING_EMAIL
            await self.uow.commit()

    async def stop_waiting(self, person_id: int) -> None:
        async with self.uow.begin():
            person = await self._person(person_id)
            person.awaiting = None
            await self.uow.commit()

    async def answer_marketing(
        self, person_id: int, *, yes: bool, wording: str, wording_version: str
    ) -> tuple[Status, Snapshot]:
        """Record the pending consent (confirmed only by the double opt-in link)."""
        now = self.clock.now()
        async with self.uow.begin():
            person = await self._person(person_id)
            snap = await self._snap(person_id, now)
            if person.email is None or snap.marketing in ("pending", "confirmed"):
                return Status.STALE, snap
            if not yes:
                return Status.DONE, snap
            await ask_marketing_consent(
                self.consents,
                self.outbox,
                self.events,
                person_id=person.id,
                first_name=person.first_name,
                email=person.email,
                wording=wording,
                wording_version=wording_version,
                source="chat:signup",
                now=now,
            )
            snap = await self._snap(person_id, now)
            await self.uow.commit()
        return Status.DONE, snap

    def _store_email(self, person: PersonRecord, email: str, now: datetime) -> bool:
        """Keep a new address (unconfirmed); False when it is the one already kept."""
        if person.email is not None and person.email.lower() == email.lower():
            return False
        person.email = email
        person.email_status = "unconfirmed"
        self.events.record(EventKind.EMAIL_GIVEN, now, person.id)
        return True

    async def _start_trial(self, person: PersonRecord, now: datetime) -> bool:
        sub = await self.subscriptions.get_or_create(person.id, now)
        m = to_membership(sub)
        if not trial_allowed(person, m.state):
            return False
        trial = self.catalog().trial
        days = await self._trial_days(person, trial.plan_id, trial.days, now)
        apply_membership(
            sub, lifecycle.start_trial(m, plan_id=trial.plan_id, now=now, days=days), now
        )
        sub.started_at = sub.started_at or now
        person.trial_used_at = now
        self.events.record(EventKind.TRIAL_STARTED, now, person.id, plan=trial.plan_id, days=days)
        return True

    async def _trial_days(
        self, person: PersonRecord, plan_id: str, default: int, now: datetime
    ) -> int:
        """The catalog's trial, or a trial_length experiment's arm (exposed as it starts; the
        catalog lets arms only lengthen it, so the days promised before it are kept)."""
        if self.experiments is None:
            return default
        choice = await self.experiments.choose(
            Surface.TRIAL_LENGTH, person.id, now=now, plan=plan_id, language=person.language
        )
        if choice is None or choice.variant.trial_days is None:
            return default
        return choice.variant.trial_days
