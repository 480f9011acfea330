"""Consent to marketing email, kept as a record: what was asked, where, when, and its end.

Marketing mail goes only to a confirmed (double opt-in), unwithdrawn consent. None of these
functions commits; the calling use case does.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from forever.db import outbox
from forever.db.models import Consent, Person
from forever.services.events import record_event

CHANNEL = "email"
PURPOSE = "marketing"
CONFIRM_TEMPLATE = "consent_confirm"
MAX_TOKEN_LENGTH = 64


def wording_hash(wording: str) -> str:
    return hashlib.sha256(wording.encode("utf-8")).hexdigest()


async def request_marketing_consent(
    session: AsyncSession,
    person: Person,
    email: str,
    *,
    wording: str,
    wording_version: str,
    source: str,
    now: datetime,
) -> Consent:
    """Record the question as asked and queue the double opt-in email (transactional)."""
    consent = Consent(
        person_id=person.id,
        channel=CHANNEL,
        purpose=PURPOSE,
        email=email,
        wording_version=wording_version[:32],
        wording_hash=wording_hash(wording),
        source=source[:64],
        token=secrets.token_urlsafe(32),  # 256 random bits: cannot be guessed
        asked_at=now,
    )
    session.add(consent)
    await session.flush()
    await outbox.enqueue(
        session,
        key=f"consent:{consent.id}",
        channel="email",
        person_id=person.id,
        template=CONFIRM_TEMPLATE,
        # The link is built when the mail is rendered, from PUBLIC_URL and this token.
        context={"name": person.first_name or "", "to": email, "confirm_token": consent.token},
        marketing=False,
        not_before=now,
        now=now,
    )
    record_event(
        session,
        "consent_requested",
        now,
        person.id,
        channel=CHANNEL,
        purpose=PURPOSE,
        wording_version=consent.wording_version,
        source=consent.source,
    )
    return consent


async def confirm_consent(session: AsyncSession, token: str, now: datetime) -> Consent | None:
    """Confirm the consent behind a double opt-in link. Idempotent: a second click changes
    nothing; a withdrawn consent stays withdrawn. None for an unknown token."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    consent = await session.scalar(select(Consent).where(Consent.token == token))
    if consent is None:
        return None
    if consent.confirmed_at is None and consent.withdrawn_at is None:
        consent.confirmed_at = now
        person = await session.get(Person, consent.person_id)
        same_address = (
            person is not None
            and person.email is not None
            and person.email.lower() == (consent.email or "").lower()
        )
        if same_address:
            assert person is not None
            person.email_status = "confirmed"  # the click proves the address works
        record_event(
            session, "consent_confirmed", now, consent.person_id, channel=CHANNEL, purpose=PURPOSE
        )
    return consent


async def withdraw_marketing(
    session: AsyncSession, person_id: int, *, source: str, now: datetime
) -> bool:
    """Withdraw every marketing consent and call off queued marketing mail at once.

    True when something changed; repeating it is harmless and returns False.
    """
    withdrawn = await session.execute(
        update(Consent)
        .where(Consent.person_id == person_id)
        .where(Consent.channel == CHANNEL, Consent.purpose == PURPOSE)
        .where(Consent.withdrawn_at.is_(None))
        .values(withdrawn_at=now)
        .execution_options(synchronize_session=False)
    )
    canceled = await outbox.cancel_marketing(session, person_id)
    changed = bool(withdrawn.rowcount) or canceled > 0
    if changed:
        record_event(
            session,
            "unsubscribed",
            now,
            person_id,
            channel=CHANNEL,
            purpose=PURPOSE,
            source=source[:64],
            canceled_messages=canceled,
        )
    return changed


async def has_marketing_consent(session: AsyncSession, person_id: int) -> bool:
    """True when the person confirmed marketing email and has not withdrawn it."""
    return bool(await session.scalar(select(exists().where(marketing_consent_given(person_id)))))


def marketing_consent_given(person_id: Any) -> ColumnElement[bool]:
    """The SQL condition 'this person has a live marketing consent' (for set-based sweeps,
    pass a column such as Person.id)."""
    return (
        (Consent.person_id == person_id)
        & (Consent.channel == CHANNEL)
        & (Consent.purpose == PURPOSE)
        & Consent.confirmed_at.is_not(None)
        & Consent.withdrawn_at.is_(None)
    )
