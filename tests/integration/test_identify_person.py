"""Who is talking, on SQLite and PostgreSQL: first updates racing create one person and one
signed_up event; later updates write only when something we keep changed."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from forever.app import Container
from forever.config import Settings
from forever.db.models import Consent, Event, Payment, Person, Subscription
from forever.db.person_lookups import _SqliteSignUp
from forever.db.repositories.customers import SqlSnapshots
from forever.domain.clock import ManualClock
from forever.domain.people import SEEN_RESOLUTION
from forever.services.people import TelegramUser
from forever.wiring import customers
from tests.conftest import START
from tests.integration.people import add_person


async def test_first_updates_racing_create_one_person_and_one_sign_up(
    container: Container,
) -> None:
    identify = customers.build(container).identify_person
    user = TelegramUser(4242, "Ana", "ana", "it")
    seen = await asyncio.gather(*(identify(user) for _ in range(4)))
    assert len({p.id for p in seen}) == 1
    assert {p.language for p in seen} == {"it"}
    async with container.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Person)) == 1
        kinds = list(await session.scalars(select(Event.kind)))
    assert kinds == ["signed_up"]


async def test_preparing_the_lookup_at_start_up_finds_nobody_and_writes_nothing(
    container: Container,
) -> None:
    identify = customers.build(container).identify_person
    await identify.prepare()
    async with container.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Person)) == 0
        assert await session.scalar(select(func.count()).select_from(Event)) == 0


async def test_last_seen_is_kept_within_minutes_and_writing_again_unblocks(
    container: Container, clock: ManualClock
) -> None:
    identify = customers.build(container).identify_person
    user = TelegramUser(4243, "Ana", None, "en")
    first = await identify(user)
    assert first.last_seen_at == START

    async def stored() -> Person:
        async with container.sessions() as session:
            person = await session.get(Person, first.id)
        assert person is not None
        return person

    clock.advance(timedelta(minutes=1))
    await identify(user)
    assert (await stored()).last_seen_at == START  # a moment later: nothing written
    later = clock.advance(SEEN_RESOLUTION)
    await identify(user)
    assert (await stored()).last_seen_at == later

    async with container.sessions.begin() as session:
        person = await session.get(Person, first.id)
        assert person is not None
        person.blocked_at = later
    clock.advance(timedelta(seconds=5))
    again = await identify(TelegramUser(4243, "Ana", "ana_new", "en"))
    assert again.blocked_at is None
    now = await stored()
    assert now.blocked_at is None and now.username == "ana_new"


async def test_a_burst_of_first_contacts_signs_up_each_person_once(
    container: Container,
) -> None:
    """Updates arriving together are looked up and signed up together; each person still
    gets their own row, language and one signed_up event, repeats included."""
    identify = customers.build(container).identify_person
    users = [TelegramUser(5000 + i, f"User{i}", None, ("it", "ro", "en")[i % 3]) for i in range(60)]
    seen = await asyncio.gather(*(identify.seen(u) for u in users + users[:10]))
    assert [s.customer.telegram_id for s in seen] == [u.id for u in users + users[:10]]
    assert [s.customer.language for s in seen[:60]] == [u.language_code for u in users]
    assert all(s.standing is not None and s.standing.trial_used is False for s in seen)
    async with container.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Person)) == 60
        kinds = list(await session.scalars(select(Event.kind)))
    assert kinds == ["signed_up"] * 60
    again = await asyncio.gather(*(identify.seen(u) for u in users))
    assert [s.customer.id for s in again] == [s.customer.id for s in seen[:60]]


async def test_a_newcomer_is_given_exactly_what_a_later_read_of_them_finds(
    container: Container,
) -> None:
    """The sign-up hands each new person back without reading the row again: what it hands
    back is what is stored (names, usernames, languages, times, the empty standing), and each
    one's signed_up event carries their language."""
    identify = customers.build(container).identify_person
    users = [
        TelegramUser(7000 + i, f"Ana {i}", f"ana{i}" if i % 2 else None, ("it", "ro", "en")[i % 3])
        for i in range(12)
    ]
    made = await asyncio.gather(*(identify.seen(u) for u in users))
    read = await asyncio.gather(*(identify.seen(u) for u in users))
    for new, later in zip(made, read, strict=True):
        assert new.customer.first_contact and not later.customer.first_contact
        assert replace(new.customer, first_contact=False) == later.customer
        assert new.standing == later.standing
    async with container.sessions() as session:
        rows = (await session.execute(select(Event.person_id, Event.data))).all()
    assert {person_id: data["language"] for person_id, data in rows} == {
        s.customer.id: s.customer.language for s in made
    }


async def test_the_standing_read_with_the_person_is_the_account_snapshot(
    container: Container, clock: ManualClock
) -> None:
    """The one read per update gives what /start shows exactly as the account view reads
    it: a member on a Stars subscription, with an answered marketing question."""
    person = await add_person(container, telegram_id=6001, trial_used_at=START)
    async with container.sessions.begin() as session:
        session.add(
            Subscription(
                person_id=person.id,
                state="active",
                plan_id="pro",
                billing="monthly",
                period_end=START + timedelta(days=20),
                auto_renew=True,
                star_charge_id="charge-1",
                updated_at=START,
                version=3,
            )
        )
        session.add(
            Payment(
                person_id=person.id,
                telegram_charge_id="charge-1",
                plan_id="pro",
                billing="monthly",
                amount=450,
                currency="XTR",
                created_at=START,
            )
        )
        for n, confirmed in enumerate((START, None)):  # the later question counts
            session.add(
                Consent(
                    person_id=person.id,
                    channel="email",
                    purpose="marketing",
                    email="ana@example.com",
                    wording_version="v1",
                    wording_hash="h",
                    source="chat",
                    token=f"tok-{n}",
                    asked_at=START + timedelta(minutes=n),
                    confirmed_at=confirmed,
                )
            )
    clock.advance(timedelta(minutes=2))
    seen = await customers.build(container).identify_person.seen(
        TelegramUser(6001, "Ana", None, "en")
    )
    async with container.uow.begin():
        expected = await SqlSnapshots(container.uow).snapshot(person.id, clock.now())
    assert seen.standing == expected
    assert seen.standing is not None and seen.standing.renewal_stars == 450
    assert seen.standing.marketing == "pending"


async def test_a_quick_read_sqlite_cannot_answer_at_once_runs_again_in_a_thread(
    container: Container, settings: Settings
) -> None:
    """The per-update read runs on the event loop only while SQLite answers at once; "database
    is locked" there (a checkpoint, an exclusive lock) sends it to the reader thread, which
    waits for the lock as every other connection does: the update is answered, late."""
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite only")
    where: list[str] = []

    def read(conn: Connection) -> int:
        where.append(threading.current_thread().name)
        if len(where) == 1:
            raise sqlite3.OperationalError("database is locked")
        return int(conn.exec_driver_sql("SELECT 42").scalar_one())

    assert await container.one_trip.run(read, quick=True) == 42
    assert where[0] == threading.current_thread().name
    assert where[1].startswith("forever-db-read")


async def test_newcomers_signed_up_while_another_writer_holds_sqlite_are_signed_up_after_it(
    container: Container, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sign-up tries SQLite on the event loop without waiting; while another connection
    holds the write lock it goes to the writers' thread, which waits for the lock: the
    newcomers are signed up once it is free, each once, nothing half-written before."""
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite only")
    written_in: list[str] = []
    sign_up = _SqliteSignUp.write

    def spied(self: _SqliteSignUp, *args: Any) -> Any:
        written_in.append(threading.current_thread().name)
        return sign_up(self, *args)

    monkeypatch.setattr(_SqliteSignUp, "write", spied)
    identify = customers.build(container).identify_person
    await identify.prepare()  # the lookup's own connection, as at start-up
    blocker = sqlite3.connect(settings.database_url.split("///", 1)[1], isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        users = [TelegramUser(8100 + i, f"Ana {i}", None, "en") for i in range(3)]
        waiting = asyncio.ensure_future(asyncio.gather(*(identify.seen(u) for u in users)))
        for _ in range(50):  # let the attempt on the loop fail and the thread take over
            await asyncio.sleep(0)
        assert not waiting.done()
        assert blocker.execute("SELECT count(*) FROM people").fetchone() == (0,)
        blocker.execute("COMMIT")
        seen = await waiting
    finally:
        blocker.close()
    assert [s.customer.telegram_id for s in seen] == [u.id for u in users]
    assert all(s.customer.first_contact for s in seen)
    assert written_in[0] == threading.current_thread().name
    assert written_in[-1].startswith("forever-db-write")
    async with container.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Person)) == 3
        assert list(await session.scalars(select(Event.kind))) == ["signed_up"] * 3
    # The loop's own connection was left clean: their next updates find them there.
    again = await asyncio.gather(*(identify.seen(u) for u in users))
    assert [s.customer.id for s in again] == [s.customer.id for s in seen]
    assert not any(s.customer.first_contact for s in again)
