"""The incremental journey sweep queues exactly what the full scan would, whatever changes.

Each sweep reads only the slice of each window the clock moved into plus the people whose facts
changed (noted by database triggers). Before every sweep the test asks the old full query
(every window in full, `db.repositories.journeys.candidates`) who is due, then checks that the
sweep queued exactly those keys: over many random people and random changes between sweeps,
and through the real use cases (consent withdrawn, erased, membership expired).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from forever.app import Container
from forever.db import journey_touches
from forever.db.models import (
    Consent,
    Event,
    OutboxMessage,
    Person,
    Subscription,
    SweepMark,
    UsageCounter,
)
from forever.db.outbox import from_json
from forever.db.repositories.journeys import SWEEP_NAME, candidates
from forever.domain.marketing import windows
from forever.services.journeys import journey_setup
from forever.wiring import customers, lifecycle
from forever.wiring.email import journey_sweep
from tests.conftest import START

DAY = timedelta(days=1)


async def full_scan(container: Container, now: datetime) -> set[str]:
    """The keys the old sweep (every window read in full) would queue at `now`."""
    catalog = container.catalog
    keys: set[str] = set()
    async with container.sessions() as session:
        for window in windows(catalog.journeys, catalog.email.late_days, now):
            stmt = candidates(
                window,
                now=now,
                usage_metric=catalog.upgrade.usage_metric,
                trial_days=catalog.trial.days,
            )
            keys.update(row.key for row in await session.execute(stmt))
    return keys


async def queued_keys(container: Container) -> set[str]:
    async with container.sessions() as session:
        return set(await session.scalars(select(OutboxMessage.idempotency_key)))


async def swept_at(container: Container) -> datetime | None:
    async with container.sessions() as session:
        return await session.scalar(select(SweepMark.swept_at).where(SweepMark.name == SWEEP_NAME))


async def reads_in_full(container: Container) -> bool:
    """Whether the next sweep reads every window in full (no finished round of this setup)."""
    async with container.sessions() as session:
        mark = await session.get(SweepMark, SWEEP_NAME)
        setup = journey_setup(container.catalog)
        return mark is None or mark.swept_at is None or mark.fingerprint != setup


async def sweep_matches_full_scan(container: Container, now: datetime) -> tuple[int, bool]:
    """Sweep at `now`; assert it queued what the full scan said. (how many, read in full)"""
    container.clock.set(now)  # type: ignore[attr-defined]
    expected = await full_scan(container, now)
    full = await reads_in_full(container)
    before = await queued_keys(container)
    queued = await journey_sweep(container)(now)
    new = await queued_keys(container) - before
    assert new == expected, (now, sorted(expected - new), sorted(new - expected))
    assert queued == len(new)
    assert await swept_at(container) == now
    return queued, full


def consent(person_id: int, at: datetime) -> Consent:
    return Consent(
        person_id=person_id,
        channel="email",
        purpose="marketing",
        email=f"p{person_id}@example.com",
        wording_version="v1",
        wording_hash="0" * 64,
        source="test",
        token=f"t{person_id}-{at.timestamp()}",
        asked_at=at,
        confirmed_at=at,
    )


async def add_person(container: Container, rng: random.Random, now: datetime, n: int) -> int:
    async with container.sessions.begin() as session:
        person = Person(
            telegram_id=n,
            first_name=f"P{n}",
            language=rng.choice(("en", "ro", "it")),
            email=f"p{n}@example.com" if rng.random() < 0.7 else None,
            email_status="confirmed",
            created_at=now - rng.choice((timedelta(0), DAY * rng.uniform(0, 120))),
            last_seen_at=now - DAY * rng.uniform(0, 30),
        )
        session.add(person)
        await session.flush()
        if rng.random() < 0.6:
            session.add(consent(person.id, person.created_at))
        if rng.random() < 0.8:
            state, billing, end = rng.choice(
                (
                    ("trial", "trial", now + DAY * rng.uniform(0, 7)),
                    ("active", "monthly", now + DAY * rng.uniform(0, 30)),
                    ("active", "yearly", now + DAY * rng.uniform(0, 10)),
                    ("past_due", "monthly", now - DAY * rng.uniform(0, 2)),
                    ("expired", "trial", now - DAY * rng.uniform(0, 10)),
                    ("expired", "monthly", now - DAY * rng.uniform(0, 100)),
                    ("cancel_scheduled", "trial", now + DAY * rng.uniform(0, 5)),
                )
            )
            session.add(
                Subscription(
                    person_id=person.id,
                    state=state,
                    plan_id="plus",
                    billing=billing,
                    period_end=end,
                    cancel_reason=rng.choice((None, "too_expensive", "not_using")),
                    updated_at=now,
                )
            )
            if state == "past_due":
                session.add(Event(person_id=person.id, kind="payment_failed", at=end, data={}))
        return person.id


async def change_someone(
    container: Container, rng: random.Random, now: datetime, people: list[int]
) -> None:
    """One random change of a fact the journeys read, written as any writer would."""
    pid = rng.choice(people)
    async with container.sessions.begin() as session:
        person = await session.get(Person, pid)
        assert person is not None
        sub = await session.scalar(select(Subscription).where(Subscription.person_id == pid))
        what = rng.randrange(12)
        if what == 0:  # gives (or changes) the address
            person.email = f"p{pid}.{rng.randrange(99)}@example.com"
        elif what == 1:  # the address bounces, or is fixed
            person.email_status = rng.choice(("undeliverable", "confirmed"))
        elif what == 2:  # a visit
            person.last_seen_at = now
        elif what == 3:  # consent given (again), by someone without it
            live = Consent.withdrawn_at.is_(None)
            given = select(Consent.person_id).where(live)
            without = await session.scalars(
                select(Person.id).where(Person.id.not_in(given), Person.erased_at.is_(None))
            )
            session.add(consent(rng.choice(list(without) or [pid]), now))
        elif what == 4:  # consent withdrawn
            await session.execute(
                update(Consent)
                .where(Consent.person_id == pid, Consent.withdrawn_at.is_(None))
                .values(withdrawn_at=now)
            )
        elif what == 5 and person.erased_at is None:  # erased (a tombstone)
            person.erased_at, person.email = now, None
        elif sub is None:  # starts a trial
            session.add(
                Subscription(
                    person_id=pid,
                    state="trial",
                    plan_id="plus",
                    billing="trial",
                    period_end=now + DAY * 7,
                    updated_at=now,
                )
            )
        elif what == 6:  # trial extended (or any period moved)
            sub.period_end = (sub.period_end or now) + DAY * rng.choice((1, 3, -2))
        elif what == 7:  # pays
            sub.state, sub.billing = "active", rng.choice(("monthly", "yearly"))
            sub.period_end = now + DAY * rng.choice((2, 5, 30, 365))
        elif what == 8:  # cancels
            sub.state = "cancel_scheduled"
        elif what == 9:  # expires
            sub.state = "expired"
            sub.period_end = min(sub.period_end or now, now)
        elif what == 10:  # a renewal fails
            sub.state, sub.period_end = "past_due", now
            session.add(Event(person_id=pid, kind="payment_failed", at=now, data={}))
        else:  # a journey mail dropped from the outbox (as erasure drops unsent ones)
            row = await session.scalar(
                select(OutboxMessage).where(
                    OutboxMessage.person_id == pid, OutboxMessage.idempotency_key.like("j:%")
                )
            )
            if row is not None:
                await session.delete(row)


async def test_random_people_and_changes_are_due_exactly_when_the_full_scan_says(
    container: Container,
) -> None:
    rng = random.Random(15)
    now = START
    people = [await add_person(container, rng, now, n) for n in range(1, 121)]
    full_rounds = 0
    total = 0
    for _ in range(60):
        now += rng.choice(
            (timedelta(0), timedelta(minutes=5), timedelta(hours=1), timedelta(hours=7), DAY)
        )
        for _ in range(rng.randrange(6)):
            await change_someone(container, rng, now, people)
        if rng.random() < 0.2:
            people.append(await add_person(container, rng, now, len(people) + 1))
        queued, full = await sweep_matches_full_scan(container, now)
        total += queued
        full_rounds += full
    assert full_rounds == 1  # only the first sweep read everything
    assert total > 50  # the walk did queue mail (the comparison is not vacuous)


async def test_the_first_sweep_of_a_new_setup_reads_everything_again(
    container: Container,
) -> None:
    rng = random.Random(7)
    for n in range(1, 31):
        await add_person(container, rng, START, n)
    await sweep_matches_full_scan(container, START)
    async with container.sessions.begin() as session:
        await session.execute(update(SweepMark).values(fingerprint="another catalog"))
    _, full = await sweep_matches_full_scan(container, START + timedelta(hours=2))
    assert full


async def test_a_failed_sweep_leaves_the_next_one_to_read_everything(
    container: Container,
) -> None:
    rng = random.Random(8)
    people = [await add_person(container, rng, START, n) for n in range(1, 31)]
    await sweep_matches_full_scan(container, START)
    sweep = journey_sweep(container)
    broken = sweep.outbox.enqueue_many

    async def failing(rows: list[dict[str, object]], now: datetime) -> int:
        raise RuntimeError("database gone")

    sweep.outbox.enqueue_many = failing  # type: ignore[method-assign]
    later = START + DAY
    for _ in range(5):
        await change_someone(container, rng, later, people)
    with pytest.raises(RuntimeError):
        await sweep(later)
    sweep.outbox.enqueue_many = broken  # type: ignore[method-assign]
    assert await swept_at(container) is None
    _, full = await sweep_matches_full_scan(container, later + timedelta(minutes=5))
    assert full


async def test_use_cases_that_change_who_is_due(container: Container) -> None:
    """Consent withdrawn, erasure, a trial expiring, a visit: through the real use cases."""
    rng = random.Random(9)
    people = [await add_person(container, rng, START, n) for n in range(1, 41)]
    await sweep_matches_full_scan(container, START)
    use_cases = customers.build(container)
    now = START + timedelta(hours=1)
    container.clock.set(now)  # type: ignore[attr-defined]
    for pid in people[:5]:
        await use_cases.consents.withdraw(pid, source="test")
    for pid in people[5:8]:
        await use_cases.privacy.erase(pid)
    await sweep_matches_full_scan(container, now)
    for step in range(1, 8):
        now = START + DAY * step
        container.clock.set(now)  # type: ignore[attr-defined]
        await lifecycle.expire_due_memberships(container)(now)
        await sweep_matches_full_scan(container, now)


async def test_every_trigger_exists_at_head(container: Container) -> None:
    """A later migration that rebuilds a table (SQLite) must create its triggers again."""
    async with container.sessions() as session:
        if session.get_bind().dialect.name == "postgresql":
            found = await session.scalars(
                text("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'journey_touch_%'")
            )
        else:
            found = await session.scalars(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            )
        assert set(journey_touches.NAMES) <= set(found)


async def outbox_rows(container: Container) -> dict[str, tuple[object, ...]]:
    """Every queued row as the delivery worker reads it, by key."""
    async with container.sessions() as session:
        rows = await session.scalars(select(OutboxMessage))
        return {
            row.idempotency_key: (
                row.channel,
                row.person_id,
                row.template,
                from_json(row.context),
                row.marketing,
                row.status,
                row.not_before,
                row.attempts,
                row.created_at,
            )
            for row in rows
        }


async def test_the_first_sweep_queues_in_the_database_what_the_planner_would(
    container: Container,
) -> None:
    """The first round queues the steps without an offer by INSERT ... SELECT: each row must
    be the one the Python planner builds (context, quiet hours, plan names, day counts)."""
    rng = random.Random(21)
    now = START + timedelta(hours=3, minutes=17, seconds=5, microseconds=123_456)
    container.clock.set(now)  # type: ignore[attr-defined]
    people = [await add_person(container, rng, now, n) for n in range(1, 151)]
    async with container.sessions.begin() as session:
        for pid in people:
            person = await session.get(Person, pid)
            assert person is not None
            person.timezone = rng.choice((None, "Europe/Rome", "America/New_York", "Asia/Tokyo"))
            person.language = rng.choice(("en", "ro", "it", "it-IT", "de"))
            # Moments a whole number of days from `now` (a boundary of the day counts).
            if rng.random() < 0.3:
                person.last_seen_at = now - DAY * 15 + timedelta(microseconds=rng.choice((0, 1)))
            if rng.random() < 0.3:
                session.add(
                    UsageCounter(
                        person_id=pid,
                        metric=container.catalog.upgrade.usage_metric,
                        period_start=now - DAY * rng.uniform(0, 20),
                        value=rng.randrange(1, 9),
                        updated_at=now,
                    )
                )
        subs = await session.scalars(select(Subscription))
        for sub in subs:
            sub.plan_id = rng.choice(("basic", "plus", "pro", "retired"))
            if rng.random() < 0.3 and sub.period_end is not None:
                sub.period_end = now + DAY * 3 - timedelta(microseconds=rng.choice((0, 1)))
    sweep = journey_sweep(container)
    in_database = 0
    enqueue_from = sweep.outbox.enqueue_from

    async def counted(statement: object, at: datetime) -> int:
        nonlocal in_database
        new = await enqueue_from(statement, at)
        in_database += new
        return new

    sweep.outbox.enqueue_from = counted  # type: ignore[method-assign]
    assert await sweep(now) > 50
    assert in_database > 50  # most of it queued by the database
    direct = await outbox_rows(container)
    contexts = [row[3] for row in direct.values()]
    assert any(c["days_left"] for c in contexts) and any(c["days_since"] for c in contexts)
    assert any(c["usage"] for c in contexts) and any(c["access_until"] for c in contexts)
    assert len({row[6] for row in direct.values()}) > 1  # quiet hours differ by zone
    async with container.sessions.begin() as session:
        await session.execute(text("DELETE FROM outbox"))
    planned = journey_sweep(container)
    planned.rounds = None  # every row planned in Python
    assert await planned(now) == len(direct)
    assert await outbox_rows(container) == direct
