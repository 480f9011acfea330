"""Sign-up: the free trial (once per Telegram id and once per email address), the email
address (optional, validated) and, separately, the question about marketing email."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from email_validator import EmailNotValidError, validate_email

from forever.db.models import Person
from forever.db.repositories.lifecycle_compat import (
    email_taken_by_trial,
    snapshot,
    store_email,
    subscription_for,
)
from forever.domain import lifecycle
from forever.domain.events import EventKind
from forever.domain.lifecycle import State
from forever.services.accounts import Snapshot, Status
from forever.services.events import record_event
from forever.services.memberships import apply_membership, to_membership

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from forever.app import Container

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


def trial_allowed(person: Person, state: State) -> bool:
    return person.trial_used_at is None and state is State.NONE


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


async def begin_trial(container: Container, person_id: int) -> tuple[Status, Snapshot]:
    """The "start my trial" tap: ask for the address first (it is optional)."""
    now = container.clock.now()
    async with container.sessions.begin() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        sub = await subscription_for(session, person_id, now)
        if not trial_allowed(person, State(sub.state)):
            snap = await snapshot(session, person_id, now)
            assert snap is not None
            return Status.NOT_ALLOWED, snap
        person.awaiting = AWAITING_SIGNUP_EMAIL
        snap = await snapshot(session, person_id, now)
        assert snap is not None
        return Status.DONE, snap


async def skip_email(container: Container, person_id: int) -> tuple[Status, Snapshot]:
    """No address: the trial starts at once (once per Telegram id)."""
    now = container.clock.now()
    async with container.sessions.begin() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        if person.awaiting != AWAITING_SIGNUP_EMAIL:
            snap = await snapshot(session, person_id, now)
            assert snap is not None
            return Status.STALE, snap
        person.awaiting = None
        started = await _start_trial(container, session, person, now)
        snap = await snapshot(session, person_id, now)
        assert snap is not None
        return (Status.DONE if started else Status.NOT_ALLOWED), snap


async def submit_email(container: Container, person_id: int, text: str) -> EmailResult:
    now = container.clock.now()
    async with container.sessions.begin() as session:
        person = await session.get(Person, person_id)
        assert person is not None
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
            if await email_taken_by_trial(session, address, person.id):
                outcome = EmailOutcome.TRIAL_USED
            else:
                started = await _start_trial(container, session, person, now)
                outcome = EmailOutcome.TRIAL_STARTED if started else EmailOutcome.SAVED
            store_email(session, person, address, now)
        else:
            person.awaiting = None
            previous = await snapshot(session, person_id, now)
            changed = store_email(session, person, address, now)
            outcome = EmailOutcome.SAVED if changed else EmailOutcome.UNCHANGED
            # Consent was given for the old address: ask again for the new one.
            ask_consent = changed and previous is not None and previous.marketing != "none"
        snap = await snapshot(session, person_id, now)
        assert snap is not None
        return EmailResult(outcome, snap, ask_consent)


async def ask_for_email(container: Container, person_id: int) -> None:
    async with container.sessions.begin() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        person.awaiting = AWAITING_EMAIL


async def stop_waiting(container: Container, person_id: int) -> None:
    async with container.sessions.begin() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        person.awaiting = None


async def answer_marketing(
    container: Container, person_id: int, *, yes: bool, wording: str, wording_version: str
) -> Status:
    """Record the pending consent (confirmed only by the double opt-in link)."""
    now = container.clock.now()
    async with container.sessions.begin() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        snap = await snapshot(session, person_id, now)
        assert snap is not None
        if person.email is None or snap.marketing in ("pending", "confirmed"):
            return Status.STALE
        if not yes:
            return Status.DONE
        from forever.services import consent  # owned by the email side

        await consent.request_marketing_consent(
            session,
            person,
            person.email,
            wording=wording,
            wording_version=wording_version,
            source="chat:signup",
            now=now,
        )
        return Status.DONE


async def _start_trial(
    container: Container, session: AsyncSession, person: Person, now: datetime
) -> bool:
    sub = await subscription_for(session, person.id, now)
    m = to_membership(sub)
    if not trial_allowed(person, m.state):
        return False
    trial = container.catalog.trial
    apply_membership(
        sub, lifecycle.start_trial(m, plan_id=trial.plan_id, now=now, days=trial.days), now
    )
    sub.started_at = sub.started_at or now
    person.trial_used_at = now
    record_event(
        session, EventKind.TRIAL_STARTED, now, person.id, plan=trial.plan_id, days=trial.days
    )
    return True
