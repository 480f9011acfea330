"""The customers area's stores: new people, consents, invoices and payments, usage
counters, erasure, and where a person stands (the snapshot). They never commit."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Text,
    cast,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from forever.db import outbox as outbox_sql
from forever.db.models import (
    AccessGrant,
    AuditEntry,
    BroadcastDelivery,
    Consent,
    Invoice,
    OutboxMessage,
    Payment,
    Person,
    Subscription,
    Suppression,
    UpdateInbox,
    UsageCounter,
)
from forever.db.repositories import suppressions
from forever.db.transactions import SqlUnitOfWork
from forever.db.upsert import insert_ignore
from forever.services.accounts import Snapshot, make_snapshot
from forever.services.consent import CHANNEL, PURPOSE
from forever.services.usage import month_start


class SqlNewPeople:
    """services.people.NewPeople and services.signup.TrialHistory."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add_if_missing(
        self,
        *,
        telegram_id: int,
        first_name: str | None,
        username: str | None,
        language: str,
        now: datetime,
    ) -> bool:
        return await insert_ignore(
            self._uow.session,
            Person,
            telegram_id=telegram_id,
            first_name=first_name,
            username=username,
            language=language,
            email_status="none",
            created_at=now,
            last_seen_at=now,
        )

    async def email_had_trial(self, email: str, other_than: int) -> bool:
        """Someone else already had a trial with this address (an erased person's address
        is kept only as a hash, and still counts)."""
        session = self._uow.session
        other = await session.scalar(
            select(Person.id)
            .where(func.lower(Person.email) == email.lower())
            .where(Person.id != other_than)
            .where(Person.trial_used_at.is_not(None))
            .limit(1)
        )
        if other is not None:
            return True
        erased = await session.scalar(
            select(Suppression.id)
            .where(suppressions.listed(session, email))
            .where(Suppression.reason == "erased")
        )
        return erased is not None


class SqlSnapshots:
    """services.billing.Snapshots: where a person stands, read in the open transaction."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def snapshot(self, person_id: int, now: datetime) -> Snapshot | None:
        session = self._uow.session
        person = await session.get(Person, person_id)
        if person is None:
            return None
        sub = await session.scalar(select(Subscription).where(Subscription.person_id == person_id))
        if sub is None:
            # Never subscribed: read as "none" without writing a row (a read-only /start must
            # not take SQLite's write lock; the use cases that change it call get_or_create).
            sub = Subscription(
                person_id=person_id, state="none", updated_at=now, version=1, auto_renew=False
            )
        consent = await session.scalar(
            select(Consent)
            .where(Consent.person_id == person_id, Consent.purpose == PURPOSE)
            .order_by(Consent.asked_at.desc(), Consent.id.desc())
            .limit(1)
        )
        renewal = None
        if sub.star_charge_id:
            renewal = await session.scalar(
                select(Payment.amount).where(Payment.telegram_charge_id == sub.star_charge_id)
            )
        return make_snapshot(person, sub, consent, renewal)

    async def by_telegram_id(self, telegram_id: int, now: datetime) -> Snapshot | None:
        person_id = await self._uow.session.scalar(
            select(Person.id).where(Person.telegram_id == telegram_id)
        )
        return None if person_id is None else await self.snapshot(person_id, now)


def marketing_consent_given(person_id: Any) -> ColumnElement[bool]:
    """The SQL condition 'this person has a live marketing consent' (for set-based sweeps,
    pass a column such as Person.id)."""
    condition: ColumnElement[bool] = (
        (Consent.person_id == person_id)
        & (Consent.channel == CHANNEL)
        & (Consent.purpose == PURPOSE)
        & Consent.confirmed_at.is_not(None)
        & Consent.withdrawn_at.is_(None)
    )
    return condition


class SqlConsents:
    """services.consent.ConsentRepository."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

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
    ) -> Consent:
        consent = Consent(
            person_id=person_id,
            channel=CHANNEL,
            purpose=PURPOSE,
            email=email,
            wording_version=wording_version,
            wording_hash=wording_hash,
            source=source,
            token=token,
            asked_at=asked_at,
        )
        self._uow.session.add(consent)
        await self._uow.session.flush()
        return consent

    async def by_token(self, token: str) -> Consent | None:
        return await self._uow.session.scalar(select(Consent).where(Consent.token == token))

    async def of_person(self, person_id: int) -> Sequence[Consent]:
        rows = await self._uow.session.scalars(
            select(Consent).where(Consent.person_id == person_id).order_by(Consent.id)
        )
        return rows.all()

    async def withdraw_marketing(self, person_id: int, now: datetime) -> int:
        """Withdraw every live marketing consent of the person; returns how many."""
        result = await self._uow.session.execute(
            update(Consent)
            .where(Consent.person_id == person_id)
            .where(Consent.channel == CHANNEL, Consent.purpose == PURPOSE)
            .where(Consent.withdrawn_at.is_(None))
            .values(withdrawn_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def has_marketing(self, person_id: int) -> bool:
        return bool(
            await self._uow.session.scalar(
                select(exists().where(marketing_consent_given(person_id)))
            )
        )


class SqlMarketingOutbox:
    """services.consent.MarketingOutbox: calling off queued marketing mail."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def cancel_marketing(self, person_id: int) -> int:
        return await outbox_sql.cancel_marketing(self._uow.session, person_id)


class SqlInvoices:
    """services.billing.InvoiceRepository."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add(
        self,
        *,
        person_id: int,
        plan_id: str,
        billing: str,
        amount: int,
        currency: str,
        offer_id: str | None,
        created_at: datetime,
        expires_at: datetime,
    ) -> Invoice:
        invoice = Invoice(
            person_id=person_id,
            plan_id=plan_id,
            billing=billing,
            amount=amount,
            currency=currency,
            offer_id=offer_id,
            created_at=created_at,
            expires_at=expires_at,
        )
        self._uow.session.add(invoice)
        await self._uow.session.flush()
        return invoice

    async def get(self, invoice_id: int) -> Invoice | None:
        return await self._uow.session.get(Invoice, invoice_id)


class SqlPayments:
    """services.billing.PaymentRepository."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add_once(
        self,
        *,
        charge_id: str,
        person_id: int | None,
        invoice_id: int | None,
        provider_charge_id: str | None,
        plan_id: str,
        billing: str,
        amount: int,
        currency: str,
        is_recurring: bool,
        is_first_recurring: bool,
        subscription_expires_at: datetime | None,
        now: datetime,
        refunded: bool = False,
    ) -> bool:
        """Keep the payment unless this charge id is kept already (a second delivery, or a
        concurrent twin); True when this call kept it. `refunded`: it is being given back."""
        return await insert_ignore(
            self._uow.session,
            Payment,
            telegram_charge_id=charge_id,
            person_id=person_id,
            invoice_id=invoice_id,
            provider_charge_id=provider_charge_id,
            plan_id=plan_id,
            billing=billing,
            amount=amount,
            currency=currency,
            is_recurring=is_recurring,
            is_first_recurring=is_first_recurring,
            subscription_expires_at=subscription_expires_at,
            refunded_at=now if refunded else None,
            created_at=now,
        )

    async def count_of(self, person_id: int) -> int:
        count = await self._uow.session.scalar(
            select(func.count()).select_from(Payment).where(Payment.person_id == person_id)
        )
        return int(count or 0)


async def usage_of(session: AsyncSession, person_id: int, metric: str, now: datetime) -> int:
    """This month's counter (for readers on a session of their own)."""
    value = await session.scalar(
        select(UsageCounter.value).where(
            UsageCounter.person_id == person_id,
            UsageCounter.metric == metric,
            UsageCounter.period_start == month_start(now),
        )
    )
    return int(value or 0)


class SqlUsage:
    """services.usage.UsageCounters."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add(self, person_id: int, metric: str, amount: int, now: datetime) -> int:
        """Add to this month's counter (created at 0 when missing); the new value."""
        session = self._uow.session
        period = month_start(now)
        await insert_ignore(
            session,
            UsageCounter,
            person_id=person_id,
            metric=metric,
            period_start=period,
            value=0,
            updated_at=now,
        )
        row = await session.scalar(
            select(UsageCounter)
            .where(
                UsageCounter.person_id == person_id,
                UsageCounter.metric == metric,
                UsageCounter.period_start == period,
            )
            .with_for_update()
        )
        assert row is not None
        row.value += amount
        row.updated_at = now
        await session.flush()
        return row.value


ERASED = "[erased]"


def _json_forms(needle: str) -> set[str]:
    """How a string may be spelled inside stored JSON text (lowercased): as is, and escaped
    (json.dumps writes non-ASCII as \\uXXXX)."""
    return {needle.lower(), json.dumps(needle.lower())[1:-1]}


def _text_contains(column: Any, needles: Iterable[str]) -> ColumnElement[bool]:
    """The JSON column, as text, contains one of the needles (a cheap pre-filter; the rows
    found are checked in Python)."""
    text = func.lower(cast(column, Text))
    forms = {form for needle in needles for form in _json_forms(needle)}
    return or_(*(text.contains(form, autoescape=True) for form in sorted(forms)))


@dataclass(frozen=True, slots=True)
class _Person:
    """What identifies the person being erased, lowercased."""

    person_id: int
    telegram_id: int | None
    addresses: frozenset[str]
    names: frozenset[str]  # username (with and without @), first name, telegram id

    def scrub(self, value: Any) -> Any:
        """`value` with every string naming the person replaced (an address anywhere in it,
        or exactly one of their names), and their Telegram id where a key says it is a
        user's id (`user_id`: a number, which no string test would catch)."""
        if isinstance(value, dict):
            return {
                k: ERASED if self.is_their_id(k, v) else self.scrub(v) for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if isinstance(value, str):
            low = value.strip().lower()
            if any(a in low for a in self.addresses) or low in self.names:
                return ERASED
        return value

    def is_their_id(self, key: str, value: Any) -> bool:
        return (
            self.telegram_id is not None
            and key in _ID_KEYS
            and not isinstance(value, bool)
            and isinstance(value, int | str)
            and str(value).strip() == str(self.telegram_id)
        )

    def mentioned_in(self, value: Any) -> bool:
        """One of their names or addresses appears anywhere in `value` (as a substring)."""
        text = json.dumps(value, ensure_ascii=False).lower()
        return any(needle in text for needle in self.addresses | self.names)

    def is_sender(self, body: Any) -> bool:
        """A stored Telegram update that came from (or is about) this Telegram user."""
        if self.telegram_id is None:
            return False
        if isinstance(body, dict):
            for key, value in body.items():
                if (
                    key in _USER_KEYS
                    and isinstance(value, dict)
                    and value.get("id") == self.telegram_id
                ):
                    return True
                if self.is_sender(value):
                    return True
        if isinstance(body, list):
            return any(self.is_sender(v) for v in body)
        return False


# Arguments of audit entries that hold a Telegram user id (or a private chat's, the same).
_ID_KEYS = frozenset({"user_id", "telegram_id", "chat_id", "actor"})
# Arguments of audit entries naming the person an entry is about (`person_id`: access).
_PERSON_KEYS = ("person", "person_id")
# Arguments holding words: a customer's text, staff's reply or note, what staff typed.
_WORD_KEYS = ("text", "note", "query", "caption")

# Where a Telegram update names a user or a private chat.
_USER_KEYS = frozenset(
    {"from", "chat", "user", "sender_chat", "new_chat_member", "old_chat_member"}
)


class SqlErasure:
    """services.privacy.ErasureStore: what erasing a person touches beyond their rows."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def suppress(self, address: str, reason: str, now: datetime) -> bool:
        return await suppressions.suppress(self._uow.session, address, reason, now)

    async def drop_queued(self, person_id: int) -> None:
        """Delete the person's undelivered messages and blank the context of the rest."""
        session = self._uow.session
        await session.execute(
            delete(OutboxMessage)
            .where(OutboxMessage.person_id == person_id)
            .where(OutboxMessage.status.in_(["pending", "failed"]))
        )
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.person_id == person_id).values(context={})
        )

    async def scrub(
        self,
        person_id: int,
        *,
        telegram_id: int | None,
        addresses: Sequence[str],
        names: Sequence[str],
    ) -> None:
        """Remove the copies of the person's data kept outside their own rows: staff audit
        entries that name them (a /user lookup of their address, their messages to staff and
        staff's replies), stored webhook updates they sent, staff's copies of their messages
        in the outbox, and the chat id of their broadcast deliveries."""
        who = _Person(
            person_id,
            telegram_id,
            frozenset(a.strip().lower() for a in addresses if a.strip()),
            frozenset(
                {n.strip().lower() for n in names if n.strip()}
                | {"@" + n.strip().lower().lstrip("@") for n in names if n.strip()}
                | ({str(telegram_id)} if telegram_id else set())
            ),
        )
        await self._scrub_audit(who)
        await self._scrub_inbox(who)
        await self._scrub_outbox(who)
        await self._scrub_deliveries(who)
        # Chats they already left keep no Telegram id (granted ones are removed right after,
        # by the access sync, which blanks them once the removal is queued).
        await self._uow.session.execute(
            update(AccessGrant)
            .where(AccessGrant.person_id == person_id, AccessGrant.status == "removed")
            .values(telegram_id=None)
        )

    async def _scrub_audit(self, who: _Person) -> None:
        session = self._uow.session
        needles = set(who.addresses) | set(who.names)
        needles |= {
            f'"{key}":{space}{who.person_id}' for key in _PERSON_KEYS for space in ("", " ")
        }
        condition = _text_contains(AuditEntry.arguments, needles)
        if who.telegram_id is not None:
            condition = or_(condition, AuditEntry.actor_telegram_id == who.telegram_id)
        for entry in await session.scalars(select(AuditEntry).where(condition)):
            # The entry stays (what was done, when, by whom, about which person number);
            # what the person said, and what names them, goes.
            arguments = dict(entry.arguments or {})
            if any(arguments.get(key) == who.person_id for key in _PERSON_KEYS):
                # Words about them (their message to staff or a text the bot did not
                # understand, staff's reply or note) go entirely, whatever they mention.
                for key in _WORD_KEYS:
                    if key in arguments:
                        arguments[key] = ERASED
            arguments = who.scrub(arguments)
            if arguments != entry.arguments:
                entry.arguments = arguments
            customer_acts = ("customer_message", "customer_unknown")
            if entry.action in customer_acts and entry.actor_telegram_id == who.telegram_id:
                # The customer was the actor (their answers to broadcasts, their texts in
                # the inbox): the entry no longer names them.
                entry.actor_telegram_id = 0

    async def _scrub_inbox(self, who: _Person) -> None:
        session = self._uow.session
        needles = set(who.addresses) | set(who.names)
        if not needles:
            return
        rows = await session.scalars(
            select(UpdateInbox).where(_text_contains(UpdateInbox.body, needles))
        )
        for row in rows:
            theirs = who.is_sender(row.body) or who.scrub(row.body) != row.body
            # A processed update is kept only to stop redeliveries: one that merely mentions
            # a name of theirs (staff answering them, quoting them) loses its body as well.
            mentions = row.processed_at is not None and who.mentioned_in(row.body)
            if theirs or mentions:
                # What is left parses as an update that no handler takes: a pending one is
                # still finished cleanly, and the update id still stops redeliveries.
                row.body = {"update_id": row.update_id}

    async def _scrub_outbox(self, who: _Person) -> None:
        session = self._uow.session
        if who.telegram_id is not None:
            # Staff's copies of the person's messages (services.staff_replies: inbox:<tid>:...).
            prefix = OutboxMessage.idempotency_key.startswith(
                f"inbox:{who.telegram_id}:", autoescape=True
            )
            await session.execute(
                delete(OutboxMessage)
                .where(prefix)
                .where(OutboxMessage.status.in_(["pending", "failed"]))
            )
            await session.execute(
                update(OutboxMessage)
                .where(prefix)
                .values(
                    context={},
                    idempotency_key=literal("erased:").concat(cast(OutboxMessage.id, Text)),
                )
            )
            # Answers to their join requests carry their Telegram id in the key and context
            # (services.access: access-join:<chat>:<tid>:...); a pending one is moot now.
            answers = await session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.template.in_(["access_approve", "access_decline"]),
                    OutboxMessage.idempotency_key.contains(f":{who.telegram_id}:", autoescape=True),
                )
            )
            for row in answers:
                if (row.context or {}).get("user_id") != who.telegram_id:
                    continue
                if row.status in ("pending", "failed"):
                    await session.delete(row)
                else:
                    row.context, row.idempotency_key = {}, f"erased:{row.id}"
        if who.addresses:
            rows = await session.scalars(
                select(OutboxMessage).where(_text_contains(OutboxMessage.context, who.addresses))
            )
            for row in rows:
                context = who.scrub(row.context)
                if context != row.context:
                    row.context = context

    async def _scrub_deliveries(self, who: _Person) -> None:
        session = self._uow.session
        mine = BroadcastDelivery.person_id == who.person_id
        await session.execute(
            update(BroadcastDelivery)
            .where(mine, BroadcastDelivery.status == "pending")
            .values(status="failed", error="erased")
        )
        # A copy being sent right now keeps its chat id until the sender records it.
        await session.execute(
            update(BroadcastDelivery)
            .where(mine, BroadcastDelivery.status != "sending")
            .values(chat_id=0)
        )
