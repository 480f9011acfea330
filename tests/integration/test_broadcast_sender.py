"""The broadcast sender against a scripted transport and the real database: retries, 429
pauses, 403 marking, stop, and what a restart after a crash does."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, insert, select, update

from forever.app import Container
from forever.db.models import BroadcastDelivery, Event, Person, Subscription
from forever.db.repositories.broadcasts import SqlBroadcasts, recipients_query
from forever.db.repositories.staff import SqlAuditLog
from forever.domain.events import EventKind
from forever.domain.paid_broadcasts import Stars
from forever.domain.segments import Segment, SegmentKind, parse_segment
from forever.services.broadcast_sender import (
    BroadcastWorker,
    JobReport,
    Outgoing,
    RecipientBlocked,
    RetryAfter,
    SenderConfig,
)
from forever.services.broadcasts import BroadcastDesk, Content, reaches
from forever.services.ratelimit import Permit, TokenBucket
from tests.conftest import STAFF_ID, START
from tests.e2e.staff_helpers import wait_for


@dataclass
class ScriptedTransport:
    """Answers per chat from a script (a list of outcomes, consumed in order)."""

    script: dict[int, list[object]] = field(default_factory=dict)
    calls: Counter[int] = field(default_factory=Counter)
    delivered: Counter[int] = field(default_factory=Counter)
    reports: list[JobReport] = field(default_factory=list)
    gate: asyncio.Event | None = None

    async def deliver(self, message: Outgoing) -> int:
        self.calls[message.chat_id] += 1
        if self.gate is not None:
            await self.gate.wait()
        outcome = self.script.get(message.chat_id, [])
        if outcome:
            step = outcome.pop(0)
            if isinstance(step, BaseException):
                raise step
        self.delivered[message.chat_id] += 1
        return 1000 + message.chat_id

    async def show_progress(
        self, chat_id: int, message_id: int | None, report: JobReport, *, final: bool
    ) -> int | None:
        return message_id or 1

    async def send_report(self, chat_id: int, report: JobReport) -> None:
        self.reports.append(report)


class CountingBucket(TokenBucket):
    def __init__(self) -> None:
        super().__init__(10_000, 10)
        self.pauses: list[float] = []

    async def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        await super().pause(min(seconds, 0.01))


FAST = SenderConfig(concurrency=4, retry_delay=0.0, flush_interval=0.01, poll_interval=0.01)


def desk(container: Container) -> BroadcastDesk:
    uow = container.uow
    return BroadcastDesk(
        uow,
        SqlBroadcasts(uow),
        SqlAuditLog(uow),
        container.clock,
        container.broadcasting,
        people=container.people_repo,
    )


async def seed(container: Container, ids: list[int]) -> int:
    async with container.sessions.begin() as session:
        await session.execute(
            insert(Person),
            [{"telegram_id": t, "first_name": f"P{t}", "created_at": START} for t in ids],
        )
    drafted = await desk(container).draft(
        staff_id=STAFF_ID, content=Content(STAFF_ID, 1, "text"), segment=Segment(SegmentKind.ALL)
    )
    assert drafted.draft is not None and drafted.total == len(ids)
    result = await desk(container).confirm(
        drafted.draft.id, staff_id=STAFF_ID, progress_chat_id=None
    )
    assert result.outcome == "queued"
    return drafted.draft.id


async def count_recipients(container: Container, segment: Segment) -> int:
    async with container.uow.begin():
        return await SqlBroadcasts(container.uow).count_recipients(segment)


def worker(container: Container, transport: ScriptedTransport, limiter=None) -> BroadcastWorker:
    uow = container.uow
    return BroadcastWorker(
        uow,
        SqlBroadcasts(uow),
        container.people_repo,
        container.events,
        container.clock,
        transport,
        limiter or CountingBucket(),
        FAST,
    )


async def statuses(container: Container, job: int) -> dict[int, str]:
    async with container.sessions() as session:
        rows = await session.execute(
            select(BroadcastDelivery.chat_id, BroadcastDelivery.status).where(
                BroadcastDelivery.broadcast_id == job
            )
        )
        return dict(rows.all())


async def test_429_pauses_everyone_and_retries_the_same_person(container: Container) -> None:
    job = await seed(container, [11, 12, 13])
    transport = ScriptedTransport(script={12: [RetryAfter(3), RetryAfter(1)]})
    limiter = CountingBucket()
    report = await worker(container, transport, limiter).run(job)
    assert report is not None and report.status == "done"
    assert (report.delivered, report.blocked, report.failed) == (3, 0, 0)
    assert transport.delivered == Counter({11: 1, 12: 1, 13: 1})
    assert limiter.pauses == [3, 1]


async def test_403_marks_the_person_blocked_and_is_never_retried(container: Container) -> None:
    job = await seed(container, [21, 22])
    transport = ScriptedTransport(script={22: [RecipientBlocked()]})
    report = await worker(container, transport).run(job)
    assert report is not None and (report.delivered, report.blocked) == (1, 1)
    assert transport.calls[22] == 1
    async with container.sessions() as session:
        person = await session.scalar(select(Person).where(Person.telegram_id == 22))
        events = await session.scalars(select(Event.kind).where(Event.person_id == person.id))
        assert person.blocked_at is not None
        assert EventKind.BLOCKED_BOT.value in events.all()
    # A blocked person is left out of the next broadcast.
    assert await count_recipients(container, Segment(SegmentKind.ALL)) == 1


async def test_other_errors_are_retried_then_counted_as_failed(container: Container) -> None:
    job = await seed(container, [31, 32])
    transport = ScriptedTransport(
        script={31: [RuntimeError("502"), RuntimeError("502")], 32: [RuntimeError("x")] * 5}
    )
    report = await worker(container, transport).run(job)
    assert report is not None and (report.delivered, report.failed) == (1, 1)
    assert transport.calls == Counter({31: 3, 32: 3})
    assert (await statuses(container, job)) == {31: "delivered", 32: "failed"}


async def test_after_a_crash_people_left_sending_are_sent_again_delivered_ones_not(
    container: Container,
) -> None:
    job = await seed(container, [41, 42, 43])
    async with container.sessions.begin() as session:  # as a dead process left them
        await session.execute(
            update(BroadcastDelivery)
            .where(BroadcastDelivery.chat_id == 41)
            .values(status="sending", claimed_by="dead")
        )
        await session.execute(
            update(BroadcastDelivery)
            .where(BroadcastDelivery.chat_id == 42)
            .values(status="delivered")
        )
    transport = ScriptedTransport()
    report = await worker(container, transport).run(job)
    # Nobody is lost: 41 was claimed by the dead process (most claims were never attempted).
    assert transport.calls == Counter({41: 1, 43: 1})
    assert report is not None and (report.delivered, report.failed) == (3, 0)


async def test_stop_halts_and_leaves_the_rest_unsent(container: Container) -> None:
    ids = list(range(100, 140))
    job = await seed(container, ids)
    transport = ScriptedTransport(gate=asyncio.Event())
    w = worker(container, transport)
    running = asyncio.create_task(w.run(job))
    await wait_for(lambda: sum(transport.calls.values()) >= 4)  # four in flight, held
    assert await desk(container).stop(job, staff_id=STAFF_ID)
    await asyncio.sleep(0.05)
    transport.gate.set()
    report = await running
    assert report is not None and report.status == "stopped"
    assert report.delivered == 4 and report.unsent == len(ids) - 4
    assert transport.reports[-1].status == "stopped"
    assert Counter((await statuses(container, job)).values()) == Counter(
        {"delivered": 4, "pending": len(ids) - 4}
    )


async def test_a_graceful_stop_puts_claimed_people_back(container: Container) -> None:
    ids = list(range(200, 230))
    job = await seed(container, ids)
    transport = ScriptedTransport(gate=asyncio.Event())
    w = worker(container, transport)
    w.start()
    await wait_for(lambda: sum(transport.calls.values()) >= 4)
    stopping = asyncio.create_task(w.stop())
    await asyncio.sleep(0.02)
    transport.gate.set()
    await stopping
    states = Counter((await statuses(container, job)).values())
    assert states == Counter({"delivered": 4, "pending": len(ids) - 4})
    second = ScriptedTransport()
    report = await worker(container, second).run(job)
    assert report is not None and report.status == "done" and report.delivered == len(ids)
    assert all(n == 1 for n in (transport.delivered + second.delivered).values())


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("all", None, {1, 2, 3, 4, 5, 6}),
        ("trial", None, {1}),
        ("paying", None, {2, 3}),
        ("plan", "plus", {1, 2}),
        ("cancelled", None, {3, 4}),
        ("lapsed", None, {5}),
        ("paused", None, {6}),
        ("language", "ro", {6}),
    ],
)
async def test_segments(container: Container, kind: str, value: str | None, expected: set) -> None:
    rows = [
        (1, "trial", "plus", "trial", None),
        (2, "active", "plus", "monthly", None),
        (3, "cancel_scheduled", "pro", "yearly", START),
        (4, "expired", "pro", "monthly", START),
        (5, "expired", "basic", "trial", None),
        (6, "paused", "basic", "monthly", None),
    ]
    async with container.sessions.begin() as session:
        for telegram_id, state, plan, billing, canceled in rows:
            person = Person(
                telegram_id=telegram_id,
                first_name="x",
                created_at=START,
                language="ro" if telegram_id == 6 else "en",
            )
            session.add(person)
            await session.flush()
            session.add(
                Subscription(
                    person_id=person.id,
                    state=state,
                    plan_id=plan,
                    billing=billing,
                    canceled_at=canceled,
                    updated_at=START,
                )
            )
        session.add(Person(telegram_id=7, first_name="gone", created_at=START, blocked_at=START))
    segment = parse_segment(kind, value)
    async with container.sessions() as session:
        query = recipients_query(segment)
        found = {chat for _, chat in (await session.execute(query)).all()}
        # The rule the fakes use (services.broadcasts.reaches) picks the same people.
        people = (await session.scalars(select(Person))).all()
        subscriptions = {s.person_id: s for s in (await session.scalars(select(Subscription)))}
        by_rule = {p.telegram_id for p in people if reaches(segment, p, subscriptions.get(p.id))}
    assert found == expected
    assert by_rule == expected


class CountingPermits(CountingBucket):
    def __init__(self) -> None:
        super().__init__()
        self.taken = 0

    async def acquire(self) -> Permit:
        self.taken += 1
        return await super().acquire()


async def test_a_paid_job_uses_the_paid_budget_sends_paid_and_a_429_pauses_both(
    container: Container,
) -> None:
    ids = [21, 22, 23, 24]
    async with container.sessions.begin() as session:
        await session.execute(
            insert(Person),
            [{"telegram_id": t, "first_name": f"P{t}", "created_at": START} for t in ids],
        )
    drafted = await desk(container).draft(
        staff_id=STAFF_ID, content=Content(STAFF_ID, 1, "text"), segment=Segment(SegmentKind.ALL)
    )
    assert drafted.draft is not None
    result = await desk(container).confirm(
        drafted.draft.id,
        staff_id=STAFF_ID,
        progress_chat_id=None,
        paid=True,
        balance=Stars.whole(1),  # 4 recipients: 0.4, rounded up to 1 ⭐
    )
    assert (result.outcome, result.cost) == ("queued", 1)
    sent: list[Outgoing] = []

    class PaidTransport(ScriptedTransport):
        async def deliver(self, message: Outgoing) -> int:
            sent.append(message)
            return await super().deliver(message)

    transport = PaidTransport(script={22: [RetryAfter(2)]})
    free, paid = CountingPermits(), CountingPermits()
    uow = container.uow
    report = await BroadcastWorker(
        uow,
        SqlBroadcasts(uow),
        container.people_repo,
        container.events,
        container.clock,
        transport,
        free,
        FAST,
        paid_limiter=paid,
    ).run(drafted.draft.id)
    assert report is not None and report.status == "done"
    assert transport.delivered == Counter(dict.fromkeys(ids, 1))
    assert all(m.paid for m in sent) and len(sent) == 5  # 4 + the one retried after 429
    assert (free.taken, paid.taken) == (0, 5)
    assert free.pauses == paid.pauses == [2]
    assert report.stars_spent == Stars(400_000_000)  # 4 × 0.1


async def test_a_paid_confirmation_the_balance_does_not_cover_stays_a_draft(
    container: Container,
) -> None:
    async with container.sessions.begin() as session:
        await session.execute(
            insert(Person),
            [{"telegram_id": t, "first_name": f"P{t}", "created_at": START} for t in range(31, 42)],
        )
    drafted = await desk(container).draft(
        staff_id=STAFF_ID, content=Content(STAFF_ID, 1, "text"), segment=Segment(SegmentKind.ALL)
    )
    assert drafted.draft is not None
    for balance in (None, Stars.of(1, 900_000_000)):  # unknown; 1.9 < 2 (11 × 0.1, rounded up)
        result = await desk(container).confirm(
            drafted.draft.id, staff_id=STAFF_ID, progress_chat_id=None, paid=True, balance=balance
        )
        assert (result.outcome, result.total, result.cost) == ("balance_low", 11, 2)
        assert result.balance == balance
    async with container.sessions() as session:
        pending = await session.scalar(select(func.count()).select_from(BroadcastDelivery))
    assert pending == 0
    result = await desk(container).confirm(
        drafted.draft.id,
        staff_id=STAFF_ID,
        progress_chat_id=None,
        paid=True,
        balance=Stars.whole(2),
    )
    assert result.outcome == "queued" and result.paid
