"""Consent to marketing email, kept as a record: what was asked, where, when, and its end.

Marketing mail goes only to a confirmed (double opt-in), unwithdrawn consent. The links in
our emails (confirm, one-click unsubscribe) run the `Consents` use cases; the chat's sign-up
asks through `ask_marketing_consent`, a step of its own use case.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from forever.domain.clock import Clock
from forever.domain.events import EventKind
from forever.services.ports import EventLog, Outbox, PeopleRepository, UnitOfWork

CHANNEL = "email"
PURPOSE = "marketing"
CONFIRM_TEMPLATE = "consent_confirm"
MAX_TOKEN_LENGTH = 64
CONFIRM_TTL = timedelta(days=30)  # a double opt-in link not used by then no longer confirms


def wording_hash(wording: str) -> str:
    return hashlib.sha256(wording.encode("utf-8")).hexdigest()


class ConsentRecord(Protocol):
    id: int
    person_id: int
    channel: str
    purpose: str
    email: str | None
    wording_version: str
    wording_hash: str
    source: str
    token: str
    asked_at: datetime
    confirmed_at: datetime | None
    withdrawn_at: datetime | None


class ConsentRepository(Protocol):
    async def add(
        self,
        *,
        person_id: int,
        email: str,
        wording_version: str,
        wording_hash: str,
        source: str,
        token: str,
        asked_at: datetime,
    ) -> ConsentRecord: ...

    async def by_token(self, token: str) -> ConsentRecord | None: ...

    async def of_person(self, person_id: int) -> Sequence[ConsentRecord]: ...

    async def withdraw_marketing(self, person_id: int, now: datetime) -> int:
        """Withdraw every live marketing consent of the person; how many were live."""
        ...

    async def has_marketing(self, person_id: int) -> bool:
        """A confirmed, unwithdrawn marketing consent exists."""
        ...


class MarketingOutbox(Protocol):
    async def cancel_marketing(self, person_id: int) -> int:
        """Call off every marketing message still waiting for this person; how many."""
        ...


async def ask_marketing_consent(
    consents: ConsentRepository,
    outbox: Outbox,
    events: EventLog,
    *,
    person_id: int,
    first_name: str | None,
    email: str,
    wording: str,
    wording_version: str,
    source: str,
    now: datetime,
) -> ConsentRecord:
    """Record the question as asked and queue the double opt-in email (transactional).
    A step of a use case: it does not commit."""
    consent = await consents.add(
        person_id=person_id,
        email=email,
        wording_version=wording_version[:32],
        wording_hash=wording_hash(wording),
        source=source[:64],
        token=secrets.token_urlsafe(32),  # 256 random bits: cannot be guessed
        asked_at=now,
    )
    await outbox.enqueue(
        key=f"consent:{consent.id}",
        channel="email",
        person_id=person_id,
        template=CONFIRM_TEMPLATE,
        # The link is built when the mail is rendered, from PUBLIC_URL and this token.
        context={"name": first_name or "", "to": email, "confirm_token": consent.token},
        marketing=False,
        not_before=now,
        now=now,
    )
    events.record(
        "consent_requested",
        now,
        person_id,
        channel=CHANNEL,
        purpose=PURPOSE,
        wording_version=consent.wording_version,
        source=consent.source,
    )
    return consent


async def withdraw_marketing(
    consents: ConsentRepository,
    outbox: MarketingOutbox,
    events: EventLog,
    person_id: int,
    *,
    source: str,
    now: datetime,
) -> bool:
    """Withdraw every marketing consent and call off queued marketing mail at once (a step:
    no commit). True when something changed; repeating it is harmless and returns False."""
    withdrawn = await consents.withdraw_marketing(person_id, now)
    canceled = await outbox.cancel_marketing(person_id)
    changed = withdrawn > 0 or canceled > 0
    if changed:
        events.record(
            EventKind.UNSUBSCRIBED,
            now,
            person_id,
            channel=CHANNEL,
            purpose=PURPOSE,
            source=source[:64],
            canceled_messages=canceled,
        )
    return changed


async def end_for_new_address(
    consents: ConsentRepository, events: EventLog, person_id: int, *, now: datetime
) -> bool:
    """The person gave a new address: a consent (pending or confirmed) was for the old one
    and ends, so marketing waits for a double opt-in of the new address and the question can
    be answered again. Not an unsubscribe (the person did not say no). Queued marketing mail
    is not sent: the worker re-checks consent before sending. A step: no commit. True when a
    live consent ended."""
    ended = await consents.withdraw_marketing(person_id, now)
    if ended:
        events.record(
            EventKind.CONSENT_ENDED,
            now,
            person_id,
            channel=CHANNEL,
            purpose=PURPOSE,
            reason="email_changed",
        )
    return ended > 0


@dataclass(frozen=True, slots=True)
class Confirmed:
    person_id: int
    language: str | None  # None when the person is gone
    withdrawn: bool  # a withdrawn consent stays withdrawn: the page says unsubscribed
    expired: bool = False  # asked CONFIRM_TTL ago and never confirmed: nothing changed
    confirmed: bool = True  # False only from `look`: still waiting for the button


def _expired(consent: ConsentRecord, now: datetime) -> bool:
    return (
        consent.confirmed_at is None
        and consent.withdrawn_at is None
        and now - consent.asked_at >= CONFIRM_TTL
    )


class Consents:
    """The use cases behind the links in our emails."""

    def __init__(
        self,
        uow: UnitOfWork,
        consents: ConsentRepository,
        people: PeopleRepository,
        outbox: MarketingOutbox,
        events: EventLog,
        clock: Clock,
    ) -> None:
        self.uow = uow
        self.consents = consents
        self.people = people
        self.outbox = outbox
        self.events = events
        self.clock = clock

    async def look(self, token: str) -> Confirmed | None:
        """Where the consent behind a double opt-in link stands, changing nothing (opening
        the link, as a mail scanner does, is not consent: only `confirm` is). None for an
        unknown token."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        now = self.clock.now()
        async with self.uow.begin():
            consent = await self.consents.by_token(token)
            if consent is None:
                return None
            person = await self.people.get(consent.person_id)
            return Confirmed(
                consent.person_id,
                person.language if person is not None else None,
                consent.withdrawn_at is not None,
                expired=_expired(consent, now),
                confirmed=consent.confirmed_at is not None,
            )

    async def confirm(self, token: str) -> Confirmed | None:
        """Confirm the consent behind a double opt-in link (the person pressed the button).
        Idempotent: a second press changes nothing; a withdrawn consent stays withdrawn; a
        link older than CONFIRM_TTL confirms nothing. None for an unknown token."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        now = self.clock.now()
        async with self.uow.begin():
            consent = await self.consents.by_token(token)
            if consent is None:
                return None
            person = await self.people.get(consent.person_id)
            if _expired(consent, now):
                return Confirmed(
                    consent.person_id,
                    person.language if person is not None else None,
                    withdrawn=False,
                    expired=True,
                    confirmed=False,
                )
            if consent.confirmed_at is None and consent.withdrawn_at is None:
                consent.confirmed_at = now
                if (
                    person is not None
                    and person.email is not None
                    and person.email.lower() == (consent.email or "").lower()
                ):
                    person.email_status = "confirmed"  # the click proves the address works
                self.events.record(
                    EventKind.CONSENT_CONFIRMED,
                    now,
                    consent.person_id,
                    channel=CHANNEL,
                    purpose=PURPOSE,
                )
            result = Confirmed(
                consent.person_id,
                person.language if person is not None else None,
                consent.withdrawn_at is not None,
            )
            await self.uow.commit()
        return result

    async def withdraw(self, person_id: int, *, source: str) -> bool:
        """One-click unsubscribe (or any other 'no more marketing'): True when it changed
        something."""
        now = self.clock.now()
        async with self.uow.begin():
            changed = await withdraw_marketing(
                self.consents, self.outbox, self.events, person_id, source=source, now=now
            )
            await self.uow.commit()
        return changed

    async def language_of(self, person_id: int) -> str | None:
        """The person's language, or None when there is nobody with that id."""
        async with self.uow.begin():
            person = await self.people.get(person_id)
            return person.language if person is not None else None

    async def has_marketing(self, person_id: int) -> bool:
        async with self.uow.begin():
            return await self.consents.has_marketing(person_id)
