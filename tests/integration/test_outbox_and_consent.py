"""The shared outbox and consent services, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from forever.app import Container
from forever.db import outbox
from forever.db.models import Consent, Event, OutboxMessage, Person
from forever.db.repositories.customers import SqlConsents
from forever.domain.clock import ManualClock
from forever.services import consent
from forever.services.consent import wording_hash
from forever.wiring import customers
from tests.conftest import START
from tests.integration.people import add_person


async def test_enqueue_twice_with_one_key_keeps_one_row(container: Container) -> None:
    person = await add_person(container)
    args = {
        "key": "cancel:1",
        "channel": "email",
        "person_id": person.id,
        "template": "cancel_confirmed",
        "context": {"name": "Ana", "access_until": START + timedelta(days=3)},
        "marketing": False,
        "not_before": START,
        "now": START,
    }
    async with container.sessions.begin() as session:
        assert await outbox.enqueue(session, **args) is True
    async with container.sessions.begin() as session:
        assert await outbox.enqueue(session, **{**args, "template": "other"}) is False
    async with container.sessions() as session:
        rows = (await session.scalars(select(OutboxMessage))).all()
    assert len(rows) == 1
    assert rows[0].template == "cancel_confirmed"
    assert rows[0].status == "pending"
    # Datetimes survive the JSON column as aware datetimes.
    assert outbox.from_json(rows[0].context)["access_until"] == START + timedelta(days=3)


async def test_enqueue_does_not_commit(container: Container) -> None:
    person = await add_person(container)
    async with container.sessions() as session:
        await outbox.enqueue(
            session,
            key="k",
            channel="chat",
            person_id=person.id,
            template="t",
            context={},
            marketing=False,
            not_before=START,
            now=START,
        )
        await session.rollback()
    async with container.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


async def ask(container: Container, person_id: int, wording: str, source: str) -> str:
    """The sign-up step that asks for marketing consent, committed; the confirm token."""
    async with container.uow.begin():
        record = await consent.ask_marketing_consent(
            SqlConsents(container.uow),
            container.outbox,
            container.events,
            person_id=person_id,
            first_name="Ana",
            email="ana@example.com",
            wording=wording,
            wording_version="v1",
            source=source,
            now=container.clock.now(),
        )
        token = record.token
        await container.uow.commit()
    return token


async def stored_consent(container: Container) -> Consent:
    async with container.sessions() as session:
        stored = await session.scalar(select(Consent))
    assert stored is not None
    return stored


async def test_double_opt_in_round_trip(container: Container, clock: ManualClock) -> None:
    person = await add_person(container)
    consents = customers.build(container).consents
    token = await ask(container, person.id, "Send me news and offers", "chat:/start")
    assert await consents.has_marketing(person.id) is False

    async with container.sessions() as session:
        stored = await session.scalar(select(Consent))
        assert stored is not None
        assert stored.wording_hash == wording_hash("Send me news and offers")
        assert stored.asked_at == START and stored.confirmed_at is None
        assert len(stored.token) >= 40
        mail = await session.scalar(select(OutboxMessage))
        assert mail is not None
        assert mail.idempotency_key == f"consent:{stored.id}"
        assert mail.template == "consent_confirm" and mail.marketing is False

    later = clock.advance(timedelta(minutes=5))
    confirmed = await consents.confirm(token)
    assert confirmed is not None and confirmed.person_id == person.id
    assert (await stored_consent(container)).confirmed_at == later
    clock.advance(timedelta(hours=1))
    again = await consents.confirm(token)
    assert again is not None and not again.withdrawn
    assert (await stored_consent(container)).confirmed_at == later  # idempotent
    assert await consents.confirm("not-a-token") is None
    assert await consents.has_marketing(person.id) is True
    async with container.sessions() as session:
        p = await session.get(Person, person.id)
        assert p is not None and p.email_status == "confirmed"


async def test_withdrawal_ends_consent_and_calls_off_queued_marketing(
    container: Container, clock: ManualClock
) -> None:
    person = await add_person(container)
    consents = customers.build(container).consents
    token = await ask(container, person.id, "w", "t")
    await consents.confirm(token)
    async with container.sessions.begin() as session:
        for key, marketing in (("winback", True), ("receipt", False)):
            await outbox.enqueue(
                session,
                key=key,
                channel="email",
                person_id=person.id,
                template=key,
                context={},
                marketing=marketing,
                not_before=START + timedelta(days=1),
                now=START,
            )
    assert await consents.withdraw(person.id, source="link")
    assert not await consents.withdraw(person.id, source="link")
    assert await consents.has_marketing(person.id) is False
    async with container.sessions.begin() as session:
        rows = await session.execute(select(OutboxMessage.idempotency_key, OutboxMessage.status))
        statuses = {key: status for key, status in rows}
        assert statuses["winback"] == "canceled"
        assert statuses["receipt"] == "pending"
        kinds = (await session.scalars(select(Event.kind))).all()
        assert kinds.count("unsubscribed") == 1
    # A later click on the old confirm link does not bring consent back.
    clock.advance(timedelta(days=1))
    again = await consents.confirm(token)
    assert again is not None and again.withdrawn
    assert (await stored_consent(container)).withdrawn_at is not None
    assert await consents.has_marketing(person.id) is False


async def test_enqueue_many_counts_only_new_keys_and_keeps_contexts_intact(
    container: Container,
) -> None:
    ana = await add_person(container)
    bo = await add_person(container, telegram_id=1002, email="bo@example.com")
    context = {
        "name": 'Ștefan <b>&</b> "Zoë" 🎉',
        "access_until": START + timedelta(days=3),
        "nested": {"at": [START, None, 1.5, True]},
        "states": ("trial", "active"),
    }
    later = START + timedelta(hours=11)

    def row(key: str, person_id: int | None, **extra: object) -> dict[str, object]:
        return {
            "key": key,
            "channel": "email",
            "person_id": person_id,
            "template": "welcome",
            "context": context,
            "marketing": True,
            "not_before": later,
            **extra,
        }

    async with container.sessions.begin() as session:
        assert await outbox.enqueue(session, **row("a", ana.id), now=START) is True
    batch = [row("a", ana.id), row("b", bo.id), row("b", bo.id), row("c", None, channel="chat")]
    async with container.sessions.begin() as session:
        assert await outbox.enqueue_many(session, batch, START) == 2  # "a" exists, "b" twice
    async with container.sessions.begin() as session:
        assert await outbox.enqueue_many(session, batch, START) == 0
    async with container.sessions() as session:
        rows = {r.idempotency_key: r for r in await session.scalars(select(OutboxMessage))}
    assert sorted(rows) == ["a", "b", "c"]
    one, many = rows["a"], rows["b"]  # `enqueue` and `enqueue_many` store the same thing
    assert outbox.from_json(many.context) == outbox.from_json(one.context)
    assert outbox.from_json(many.context)["access_until"] == START + timedelta(days=3)
    assert many.context["states"] == ["trial", "active"]
    assert (many.person_id, many.marketing, many.status, many.attempts) == (
        bo.id,
        True,
        "pending",
        0,
    )
    assert many.not_before == later
    assert many.created_at == START
    assert (rows["c"].channel, rows["c"].person_id) == ("chat", None)


async def test_enqueue_many_refuses_what_enqueue_refuses(container: Container) -> None:
    good = {
        "key": "k",
        "channel": "email",
        "person_id": None,
        "template": "welcome",
        "context": {},
        "marketing": False,
        "not_before": START,
    }
    bad_rows = [
        {**good, "channel": "fax"},
        {**good, "key": ""},
        {**good, "key": "k" * 201},
        {**good, "not_before": START.replace(tzinfo=None)},
        {**good, "context": {"at": START.replace(tzinfo=None)}},
        {**good, "context": {"what": object()}},
    ]
    for bad in bad_rows:
        async with container.sessions() as session:
            with pytest.raises((ValueError, TypeError)):
                await outbox.enqueue_many(session, [good, bad], START)
    async with container.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
