"""Staff rules with in-memory fakes: who a segment reaches and how many, the steps of a
broadcast, grant, the audit log written in each use case's transaction, /stats from events,
and the sender's 403/429 rules. No database, no Telegram."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from forever.domain.catalog import load_catalog
from forever.domain.clock import ManualClock
from forever.domain.events import EventKind
from forever.domain.segments import Segment, SegmentKind, parse_segment
from forever.domain.signing import Signer
from forever.services.broadcast_sender import (
    BroadcastWorker,
    JobReport,
    Outgoing,
    RecipientBlocked,
    RetryAfter,
    SenderConfig,
    build_outgoing,
)
from forever.services.broadcasts import BroadcastDesk, Content, Variant, reaches
from forever.services.ports import ConcurrentChange
from forever.services.ratelimit import TokenBucket
from forever.services.staff import StaffTools
from forever.services.staff_replies import StaffReplies
from forever.services.stats import StaffStats
from tests.fakes.core import (
    CountingKick,
    FakeEventLog,
    FakeOutbox,
    FakePeople,
    FakeStore,
    FakeSubscriptions,
    FakeUnitOfWork,
)
from tests.fakes.staff import (
    FakeAuditLog,
    FakeBroadcasts,
    FakeEventHistory,
    FakeStaffDirectory,
)

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
STAFF = 900001
CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog.toml")


@dataclass
class World:
    store: FakeStore = field(default_factory=FakeStore)
    clock: ManualClock = field(default_factory=lambda: ManualClock(NOW))

    def __post_init__(self) -> None:
        self.uow = FakeUnitOfWork(self.store)
        self.people = FakePeople(self.store)
        self.subscriptions = FakeSubscriptions(self.store)
        self.events = FakeEventLog(self.store)
        self.audit = FakeAuditLog(self.store)
        self.directory = FakeStaffDirectory(self.store)
        self.broadcasts = FakeBroadcasts(self.store)
        self.kick = CountingKick()
        self.outbox = FakeOutbox(self.store)
        self.delivery_kick = CountingKick(store=self.store)
        self.desk = BroadcastDesk(
            self.uow, self.broadcasts, self.audit, self.clock, self.kick, people=self.people
        )
        self.tools = StaffTools(
            self.uow,
            self.directory,
            self.people,
            self.subscriptions,
            self.events,
            self.audit,
            CATALOG,
            self.clock,
            self.outbox,
            self.delivery_kick,
        )
        self.stats = StaffStats(self.uow, FakeEventHistory(self.store), self.audit, self.clock)

    async def member(
        self,
        telegram_id: int,
        state: str | None = None,
        *,
        plan: str | None = None,
        billing: str | None = None,
        canceled: bool = False,
        **person: object,
    ) -> int:
        added = self.people.add(telegram_id=telegram_id, first_name=f"P{telegram_id}", **person)
        if state is not None:
            sub = await self.subscriptions.get_or_create(added.id, NOW)
            sub.state, sub.plan_id, sub.billing = state, plan, billing
            sub.canceled_at = NOW if canceled else None
        return added.id


async def six_members(world: World) -> None:
    """One of each kind, plus people no broadcast reaches."""
    await world.member(1, "trial", plan="plus", billing="trial")
    await world.member(2, "active", plan="plus", billing="monthly")
    await world.member(3, "cancel_scheduled", plan="pro", billing="yearly", canceled=True)
    await world.member(4, "expired", plan="pro", billing="monthly", canceled=True)
    await world.member(5, "expired", plan="basic", billing="trial")
    await world.member(6, "paused", plan="basic", billing="monthly", language="ro")
    await world.member(7, "active", plan="plus", billing="monthly", blocked_at=NOW)
    await world.member(8, "active", plan="plus", billing="monthly", erased_at=NOW)
    world.people.add(telegram_id=None, first_name="email only")


SEGMENTS = [
    ("all", None, {1, 2, 3, 4, 5, 6}),
    ("trial", None, {1}),
    ("paying", None, {2, 3}),
    ("plan", "plus", {1, 2}),
    ("plan", "pro", {3}),
    ("cancelled", None, {3, 4}),
    ("lapsed", None, {5}),
    ("paused", None, {6}),
    ("language", "ro", {6}),
    ("language", "it", set()),
]


@pytest.mark.parametrize(("kind", "value", "expected"), SEGMENTS)
async def test_a_segment_reaches_the_right_people_and_the_draft_counts_them(
    kind: str, value: str | None, expected: set[int]
) -> None:
    world = World()
    await six_members(world)
    segment = parse_segment(kind, value)
    subs = {s.person_id: s for s in world.store.subscriptions.values()}
    chosen = {
        p.telegram_id for p in world.store.people.values() if reaches(segment, p, subs.get(p.id))
    }
    assert chosen == expected

    result = await world.desk.draft(
        staff_id=STAFF, content=Content(STAFF, 10, "photo"), segment=segment
    )
    assert result.total == len(expected)
    if expected:
        assert result.draft is not None and result.draft.status == "draft"
        assert result.draft.total == len(expected)
        assert result.draft.segment == {**segment.to_json(), "content": "photo"}
    else:
        assert result.draft is None and world.broadcasts.jobs == {}


async def test_a_person_without_a_membership_is_only_in_all_and_their_language() -> None:
    world = World()
    await world.member(1, language="it")
    assert (
        await world.desk.draft(
            staff_id=STAFF, content=Content(STAFF, 1, "text"), segment=Segment(SegmentKind.ALL)
        )
    ).total == 1
    for kind in ("trial", "paying", "cancelled", "lapsed", "paused"):
        drafted = await world.desk.draft(
            staff_id=STAFF, content=Content(STAFF, 1, "text"), segment=parse_segment(kind)
        )
        assert drafted.total == 0, kind
    drafted = await world.desk.draft(
        staff_id=STAFF, content=Content(STAFF, 1, "text"), segment=parse_segment("language", "it")
    )
    assert drafted.total == 1


async def test_a_new_draft_replaces_the_one_being_composed() -> None:
    world = World()
    await six_members(world)
    first = await world.desk.draft(
        staff_id=STAFF, content=Content(STAFF, 1, "text"), segment=Segment(SegmentKind.ALL)
    )
    assert first.draft is not None
    second = await world.desk.draft(
        staff_id=STAFF,
        content=Content(STAFF, 1, "text"),
        segment=Segment(SegmentKind.TRIAL),
        previous_draft=first.draft.id,
    )
    assert second.draft is not None
    statuses = {j.id: j.status for j in world.broadcasts.jobs.values()}
    assert statuses == {first.draft.id: "stopped", second.draft.id: "draft"}


async def test_confirm_queues_each_recipient_once_audits_and_wakes_the_sender() -> None:
    world = World()
    await six_members(world)
    drafted = await world.desk.draft(
        staff_id=STAFF, content=Content(STAFF, 1, "text"), segment=Segment(SegmentKind.PAYING)
    )
    assert drafted.draft is not None
    commits = world.uow.commits

    result = await world.desk.confirm(drafted.draft.id, staff_id=STAFF, progress_chat_id=STAFF)
    assert (result.outcome, result.broadcast_id, result.total) == ("queued", drafted.draft.id, 2)
    assert world.uow.commits == commits + 1  # one transaction
    job = world.broadcasts.jobs[drafted.draft.id]
    assert (job.status, job.total, job.progress_chat_id) == ("queued", 2, STAFF)
    assert sorted(d.chat_id for d in world.broadcasts.of_job(job.id)) == [2, 3]
    assert {d.status for d in world.broadcasts.of_job(job.id)} == {"pending"}
    assert world.kick.kicks == 1
    [entry] = world.audit.entries()
    assert (entry.actor_telegram_id, entry.action, entry.at) == (STAFF, "broadcast_confirmed", NOW)
    assert entry.arguments["recipients"] == 2 and entry.arguments["broadcast"] == job.id

    # A second tap (or a second instance) changes nothing.
    again = await world.desk.confirm(drafted.draft.id, staff_id=STAFF, progress_chat_id=STAFF)
    assert again.outcome == "already"
    assert len(world.broadcasts.of_job(job.id)) == 2
    assert world.audit.actions() == ["broadcast_confirmed"] and world.kick.kicks == 1


async def test_only_the_drafts_maker_confirms_it_another_after_an_audited_takeover() -> None:
    world = World()
    await six_members(world)
    other = 900002
    world.people.add(telegram_id=STAFF, first_name="Sam")
    drafted = await world.desk.draft(
        staff_id=STAFF, content=Content(STAFF, 1, "text"), segment=Segment(SegmentKind.PAYING)
    )
    assert drafted.draft is not None
    draft_id = drafted.draft.id

    # Another staff member's Confirm: told whose it is, and nothing is sent or recorded.
    refused = await world.desk.confirm(draft_id, staff_id=other, progress_chat_id=other)
    assert (refused.outcome, refused.owner_id, refused.owner_name) == ("not_yours", STAFF, "Sam")
    assert world.broadcasts.jobs[draft_id].status == "draft"
    assert world.broadcasts.of_job(draft_id) == [] and world.kick.kicks == 0
    assert world.audit.actions() == []

    # Their own draft is not "taken over".
    assert (await world.desk.take_over(draft_id, staff_id=STAFF)).outcome == "own"
    assert world.audit.actions() == []

    taken = await world.desk.take_over(draft_id, staff_id=other)
    assert (taken.outcome, taken.previous_owner, taken.total) == ("taken", STAFF, 2)
    [entry] = world.audit.entries()
    assert (entry.actor_telegram_id, entry.action, entry.at) == (
        other,
        "broadcast_taken_over",
        NOW,
    )
    assert entry.arguments == {"broadcast": draft_id, "previous_owner": STAFF}

    # Now the maker is the one who may not confirm it; the new owner does.
    assert (
        await world.desk.confirm(draft_id, staff_id=STAFF, progress_chat_id=STAFF)
    ).outcome == "not_yours"
    queued = await world.desk.confirm(draft_id, staff_id=other, progress_chat_id=other)
    assert (queued.outcome, queued.total) == ("queued", 2)
    assert world.audit.actions() == ["broadcast_taken_over", "broadcast_confirmed"]
    # A confirmed broadcast cannot be taken over any more.
    assert (await world.desk.take_over(draft_id, staff_id=STAFF)).outcome == "already"
    assert (await world.desk.take_over(999, staff_id=STAFF)).outcome == "missing"


async def test_confirm_is_refused_while_another_job_sends_and_when_nobody_is_left() -> None:
    world = World()
    await six_members(world)
    content = Content(STAFF, 1, "text")
    one = await world.desk.draft(staff_id=STAFF, content=content, segment=Segment(SegmentKind.ALL))
    two = await world.desk.draft(
        staff_id=STAFF, content=content, segment=Segment(SegmentKind.TRIAL)
    )
    assert one.draft is not None and two.draft is not None
    assert (
        await world.desk.confirm(one.draft.id, staff_id=STAFF, progress_chat_id=None)
    ).outcome == "queued"
    busy = await world.desk.confirm(two.draft.id, staff_id=STAFF, progress_chat_id=None)
    assert (busy.outcome, busy.busy_with) == ("busy", one.draft.id)
    assert await world.desk.start() is not None  # /broadcast says it is still sending

    # The trial member left before the tap: the draft stays a draft, nothing is queued.
    assert await world.desk.stop(one.draft.id, staff_id=STAFF)
    world.store.people[1].blocked_at = NOW
    empty = await world.desk.confirm(two.draft.id, staff_id=STAFF, progress_chat_id=None)
    assert empty.outcome == "empty"
    assert world.broadcasts.jobs[two.draft.id].status == "draft"
    assert world.broadcasts.of_job(two.draft.id) == []
    assert world.audit.actions() == ["broadcast_confirmed", "broadcast_stopped"]
    assert (
        await world.desk.confirm(99, staff_id=STAFF, progress_chat_id=None)
    ).outcome == "missing"


async def test_start_reports_progress_of_the_running_job_or_drops_the_old_draft() -> None:
    world = World()
    await six_members(world)
    drafted = await world.desk.draft(
        staff_id=STAFF, content=Content(STAFF, 1, "text"), segment=Segment(SegmentKind.ALL)
    )
    assert drafted.draft is not None
    assert await world.desk.start(previous_draft=drafted.draft.id) is None
    assert world.broadcasts.jobs[drafted.draft.id].status == "stopped"

    again = await world.desk.draft(
        staff_id=STAFF, content=Content(STAFF, 1, "text"), segment=Segment(SegmentKind.ALL)
    )
    assert again.draft is not None
    await world.desk.confirm(again.draft.id, staff_id=STAFF, progress_chat_id=None)
    first, second = world.broadcasts.of_job(again.draft.id)[:2]
    first.status, second.status = "delivered", "blocked"
    busy = await world.desk.start()
    assert busy is not None and (busy.broadcast_id, busy.done, busy.total) == (again.draft.id, 2, 6)


async def test_only_the_drafts_owner_cancels_it_another_after_an_audited_takeover() -> None:
    world = World()
    await six_members(world)
    other = 900002
    world.people.add(telegram_id=STAFF, first_name="Sam")
    drafted = await world.desk.draft(
        staff_id=STAFF, content=Content(STAFF, 1, "text"), segment=Segment(SegmentKind.PAYING)
    )
    assert drafted.draft is not None
    draft_id = drafted.draft.id

    # Another staff member's Cancel: told whose it is; the draft stays, nothing is recorded.
    refused = await world.desk.cancel(staff_id=other, draft_id=draft_id)
    assert (refused.outcome, refused.owner_id, refused.owner_name) == ("not_yours", STAFF, "Sam")
    assert not refused
    assert world.broadcasts.jobs[draft_id].status == "draft"
    assert world.audit.actions() == []

    # After an audited takeover the new owner cancels it, and the maker no longer may.
    assert (await world.desk.take_over(draft_id, staff_id=other)).outcome == "taken"
    assert (await world.desk.cancel(staff_id=STAFF, draft_id=draft_id)).outcome == "not_yours"
    assert world.broadcasts.jobs[draft_id].status == "draft"
    cancelled = await world.desk.cancel(staff_id=other, draft_id=draft_id)
    assert cancelled.outcome == "cancelled" and cancelled
    assert world.broadcasts.jobs[draft_id].status != "draft"
    assert world.audit.actions() == ["broadcast_taken_over", "broadcast_cancelled"]


async def test_stop_and_cancel_are_audited_once() -> None:
    world = World()
    await six_members(world)
    drafted = await world.desk.draft(
        staff_id=STAFF, content=Content(STAFF, 1, "text"), segment=Segment(SegmentKind.ALL)
    )
    assert drafted.draft is not None
    assert await world.desk.cancel(staff_id=STAFF, draft_id=drafted.draft.id)
    assert not await world.desk.cancel(staff_id=STAFF, draft_id=drafted.draft.id)  # already gone
    assert not await world.desk.stop(drafted.draft.id, staff_id=STAFF)  # never sent: no stop
    assert world.audit.actions() == ["broadcast_cancelled", "broadcast_cancelled"]
    assert world.audit.entries()[0].arguments == {"draft": drafted.draft.id}


async def test_grant_adds_days_to_running_access_with_an_event_and_an_audit_entry() -> None:
    world = World()
    person = await world.member(42, "active", plan="basic", billing="monthly")
    sub = world.store.subscriptions[1]
    sub.period_end, sub.cancel_reason = NOW + timedelta(days=10), "too_expensive"

    granted = await world.tools.grant(staff_id=STAFF, person_id=person, plan_id="pro", days=30)
    assert granted.membership.period_end == NOW + timedelta(days=40)
    assert granted.person is not None and granted.person.telegram_id == 42
    assert (sub.state, sub.plan_id, sub.billing, sub.cancel_reason) == (
        "active",
        "pro",
        "grant",
        None,
    )
    [event] = [e for e in world.store.events if e.kind == EventKind.GRANTED]
    assert event.data == {"plan": "pro", "days": 30, "by": STAFF}
    [entry] = world.audit.entries()
    assert entry.action == "grant"
    assert entry.arguments == {"person": person, "plan": "pro", "days": 30}
    assert world.uow.commits == 1


async def test_grant_creates_the_membership_of_someone_who_never_had_one() -> None:
    world = World()
    person = await world.member(43)
    granted = await world.tools.grant(staff_id=STAFF, person_id=person, plan_id="plus", days=7)
    assert granted.membership.period_end == NOW + timedelta(days=7)
    [sub] = world.store.subscriptions.values()
    assert (sub.person_id, sub.state, sub.plan_id) == (person, "active", "plus")


async def test_a_grant_that_fails_to_commit_leaves_neither_event_nor_audit() -> None:
    world = World()
    person = await world.member(44)
    world.uow.fail_next_commit_with_concurrent_change = True
    with pytest.raises(ConcurrentChange):
        await world.tools.grant(staff_id=STAFF, person_id=person, plan_id="plus", days=7)
    assert world.store.events == [] and world.audit.entries() == []
    assert world.store.subscriptions == {}
    assert world.outbox.rows() == [] and world.delivery_kick.kicks == 0


async def test_grant_tells_the_customer_through_the_outbox_in_the_same_transaction() -> None:
    world = World()
    person = await world.member(47, "active", plan="basic", billing="monthly", language="ro")
    world.store.subscriptions[1].period_end = NOW + timedelta(days=10)
    granted = await world.tools.grant(staff_id=STAFF, person_id=person, plan_id="pro", days=30)
    assert granted.told
    [row] = world.outbox.rows()
    assert (row.channel, row.person_id, row.template, row.marketing) == (
        "chat",
        person,
        "grant_received",
        False,
    )
    assert row.context["days"] == 30 and row.context["plan_id"] == "pro"
    assert row.context["until"] == NOW + timedelta(days=40)
    assert row.context["plan_names"]["ro"] == CATALOG.plan("pro").name["ro"]
    assert world.uow.commits == 1
    # Woken after the commit, with the row already there.
    assert world.delivery_kick.queued_at_kick == [1]


@pytest.mark.parametrize("why", ["blocked_at", "erased_at"])
async def test_grant_to_someone_who_cannot_be_written_to_is_not_told(why: str) -> None:
    world = World()
    person = await world.member(48, **{why: NOW})
    granted = await world.tools.grant(staff_id=STAFF, person_id=person, plan_id="plus", days=7)
    assert not granted.told
    assert world.outbox.rows() == [] and world.delivery_kick.kicks == 0


async def test_propose_grant_checks_days_plan_and_person_in_that_order() -> None:
    world = World()
    person = await world.member(45, username="Maria", email="maria@example.org")
    assert (await world.tools.propose_grant("45", "pro", "0")).outcome == "bad_days"
    assert (await world.tools.propose_grant("45", "pro", "3651")).outcome == "bad_days"
    assert (await world.tools.propose_grant("45", "gold", "30")).outcome == "unknown_plan"
    assert (await world.tools.propose_grant("nobody", "pro", "30")).outcome == "bad_who"
    assert (await world.tools.propose_grant("46", "pro", "30")).outcome == "not_found"
    for who in ("45", "@maria", "MARIA@example.org"):
        proposal = await world.tools.propose_grant(who, "PRO", "30")
        assert proposal.outcome == "ok", who
        assert proposal.person is not None and proposal.person.id == person
        assert proposal.plan is not None and proposal.plan.id == "pro" and proposal.days == 30
    assert world.audit.entries() == []  # proposing changes nothing


async def test_look_up_shows_the_card_skips_erased_people_and_is_audited() -> None:
    world = World()
    person = await world.member(50, "trial", plan="plus", username="sam")
    await world.member(51, username="gone", erased_at=NOW)
    for day in range(12):
        world.events.record(EventKind.USAGE, NOW - timedelta(days=day), person, value=day)
    card = await world.tools.look_up(staff_id=STAFF, who="@SAM")
    assert card is not None and card.person.id == person
    assert card.subscription is not None and card.subscription.state == "trial"
    assert [e.data["value"] for e in card.events] == list(range(10))  # newest first, ten
    assert await world.tools.look_up(staff_id=STAFF, who="@gone") is None
    with pytest.raises(ValueError):
        await world.tools.look_up(staff_id=STAFF, who="not a handle")
    assert [(e.action, e.arguments) for e in world.audit.entries()] == [
        ("user_lookup", {"query": "@SAM"}),
        ("user_lookup", {"query": "@gone"}),
    ]


async def test_the_audit_log_lists_newest_first_and_keeps_its_own_viewing() -> None:
    world = World()
    person = await world.member(60)
    await world.tools.grant(staff_id=STAFF, person_id=person, plan_id="plus", days=1)
    world.clock.advance(timedelta(minutes=1))
    await world.tools.cancel_grant(staff_id=STAFF, proposal={"person": person, "plan": "pro"})
    world.clock.advance(timedelta(minutes=1))
    entries = await world.tools.audit_log(staff_id=STAFF)
    assert [e.action for e in entries] == ["grant_cancelled", "grant"]
    assert world.audit.actions() == ["grant", "grant_cancelled", "audit_viewed"]
    assert world.audit.entries()[1].arguments == {"person": person, "plan": "pro"}


async def test_stats_are_computed_from_the_events_and_audited() -> None:
    world = World()
    start = NOW - timedelta(days=30)
    for pid in (1, 2, 3):
        world.events.record(EventKind.SIGNED_UP, start + timedelta(days=1), pid)
        world.events.record(EventKind.TRIAL_STARTED, start + timedelta(days=1), pid, plan="plus")
    world.events.record(
        EventKind.PAYMENT, start + timedelta(days=5), 1, plan="plus", billing="monthly", amount=300
    )
    world.events.record(
        EventKind.PAYMENT, start + timedelta(days=6), 2, plan="pro", billing="yearly", amount=1200
    )
    world.events.record(EventKind.CANCEL_REASON, start + timedelta(days=7), 2, reason="price")
    world.events.record(EventKind.SIGNED_UP, NOW + timedelta(hours=1), 4)  # not yet

    kpis = await world.stats(staff_id=STAFF, days=30)
    assert (kpis.start, kpis.end) == (start, NOW)
    assert (kpis.signups, kpis.trials, kpis.trials_converted) == (3, 3, 2)
    assert kpis.active_by_plan == {"plus": 1, "pro": 1}
    assert kpis.mrr_stars == 400  # 300 a month, and 1200 a year
    assert kpis.cancel_reasons == {"price": 1}
    assert len(kpis.series) == 30
    [entry] = world.audit.entries()
    assert (entry.action, entry.arguments, entry.at) == ("stats", {"days": 30}, NOW)

    week = await world.stats(staff_id=STAFF, days=7)
    assert week.signups == 0 and week.active_by_plan == {"plus": 1, "pro": 1}


# --- the sender's rules, on the fakes ------------------------------------------------------


@dataclass
class Transport:
    script: dict[int, list[BaseException]] = field(default_factory=dict)
    calls: Counter[int] = field(default_factory=Counter)
    reports: list[JobReport] = field(default_factory=list)

    async def deliver(self, message: Outgoing) -> int:
        self.calls[message.chat_id] += 1
        steps = self.script.get(message.chat_id)
        if steps:
            raise steps.pop(0)
        return 1000 + message.chat_id

    async def show_progress(
        self, chat_id: int, message_id: int | None, report: JobReport, *, final: bool
    ) -> int | None:
        return message_id or 1

    async def send_report(self, chat_id: int, report: JobReport) -> None:
        self.reports.append(report)


class PausingBucket(TokenBucket):
    def __init__(self) -> None:
        super().__init__(10_000, 10)
        self.pauses: list[float] = []

    async def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        await super().pause(0.001)


FAST = SenderConfig(concurrency=2, retry_delay=0.0, flush_interval=0.01, poll_interval=0.01)


async def test_the_sender_honours_429_marks_403_once_and_reports_the_figures() -> None:
    world = World()
    for telegram_id in (11, 12, 13, 14):
        await world.member(telegram_id)
    await world.member(STAFF, language="ro")
    drafted = await world.desk.draft(
        staff_id=STAFF, content=Content(STAFF, 1, "text"), segment=Segment(SegmentKind.ALL)
    )
    assert drafted.draft is not None
    await world.desk.confirm(drafted.draft.id, staff_id=STAFF, progress_chat_id=STAFF)
    transport = Transport(
        script={12: [RetryAfter(3)], 13: [RecipientBlocked()], 14: [RuntimeError("x")] * 5}
    )
    limiter = PausingBucket()
    worker = BroadcastWorker(
        world.uow,
        world.broadcasts,
        world.people,
        world.events,
        world.clock,
        transport,
        limiter,
        FAST,
    )
    report = await worker.run(drafted.draft.id)
    assert report is not None and report.status == "done" and report.locale == "ro"
    assert (report.delivered, report.blocked, report.failed, report.total) == (3, 1, 1, 5)
    assert transport.reports == [report]
    assert limiter.pauses == [3]  # 429: everyone waits, the same person is sent again
    assert transport.calls == Counter({11: 1, 12: 2, 13: 1, 14: 3, STAFF: 1})
    blocked = await world.people.by_telegram_id(13)
    assert blocked is not None and blocked.blocked_at == NOW
    assert world.events.kinds(blocked.id) == [EventKind.BLOCKED_BOT]
    statuses = {d.chat_id: d.status for d in world.broadcasts.of_job(drafted.draft.id)}
    assert statuses == {
        11: "delivered",
        12: "delivered",
        13: "blocked",
        14: "failed",
        STAFF: "delivered",
    }
    # Whoever blocked the bot is left out of the next broadcast.
    assert (
        await world.desk.draft(
            staff_id=STAFF, content=Content(STAFF, 1, "text"), segment=Segment(SegmentKind.ALL)
        )
    ).total == 4


class NoBroadcastReplies:
    async def broadcast_message(self, chat_id: int, message_id: int) -> int | None:
        return 7 if message_id == 70 else None

    async def latest_broadcast(self, chat_id: int, since: datetime) -> int | None:
        return None


def inbox(world: World, staff: frozenset[int] = frozenset({STAFF, STAFF + 1})) -> StaffReplies:
    return StaffReplies(
        world.uow,
        NoBroadcastReplies(),
        world.people,
        world.audit,
        world.outbox,
        world.delivery_kick,
        world.clock,
        Signer("unit-test-key"),
        staff,
        "en",
    )


async def test_a_customer_answer_goes_to_every_staff_member_with_a_signed_reply() -> None:
    world = World()
    person = await world.member(61, language="ro")
    world.people.add(telegram_id=STAFF + 1, first_name="Sue", language="it")
    replies = inbox(world)
    assert await replies.answered_broadcast(61, 70) == 7
    assert await replies.answered_broadcast(61, 71) is None
    customer = world.store.people[person]
    forwarded = await replies.take_in(customer, broadcast_id=7, message_id=70, text="Hi?")
    assert forwarded.staff == 2
    rows = world.outbox.rows()
    assert sorted((r.context["chat_id"], r.context["locale"]) for r in rows) == [
        (STAFF, "en"),
        (STAFF + 1, "it"),
    ]
    assert all(r.person_id is None and r.template == "inbox_message" for r in rows)
    assert world.audit.actions() == ["customer_message"]
    assert world.delivery_kick.queued_at_kick == [2]
    token = rows[0].context["reply_token"]

    target = await replies.reply_target(STAFF, token)
    assert target is not None and target.telegram_id == 61
    assert await replies.reply_target(61, token) is None  # not staff
    answered = await replies.answer(staff_id=STAFF, token=token, message_id=5, text="Yes")
    assert answered.outcome == "sent"
    [back] = world.outbox.rows("chat")[2:]
    assert (back.person_id, back.template, back.context) == (person, "staff_reply", {"text": "Yes"})
    assert world.audit.actions() == ["customer_message", "staff_reply"]


async def test_forged_or_stale_reply_targets_send_nothing() -> None:
    world = World()
    person = await world.member(62)
    replies = inbox(world)
    other = Signer("another-key").sign_compact("inbox-reply", str(person))
    for token in ("", "garbage", other):
        assert await replies.reply_target(STAFF, token) is None
        outcome = await replies.answer(staff_id=STAFF, token=token, message_id=1, text="x")
        assert outcome.outcome == "bad_target"
    good = Signer("unit-test-key").sign_compact("inbox-reply", str(person))
    assert (await replies.answer(staff_id=62, token=good, message_id=1, text="x")).outcome == (
        "not_staff"
    )
    world.store.people[person].blocked_at = NOW
    blocked = await replies.answer(staff_id=STAFF, token=good, message_id=1, text="x")
    assert blocked.outcome == "unreachable"
    assert world.outbox.rows() == [] and world.audit.entries() == []


async def test_with_no_staff_configured_no_message_is_taken_as_an_answer() -> None:
    world = World()
    assert await inbox(world, frozenset()).answered_broadcast(61, 70) is None


async def test_each_recipient_gets_the_version_in_their_language_else_the_default() -> None:
    world = World()
    await world.member(71, language="ro")
    content = Content(
        1,
        10,
        "text",
        "Hi {{ name }}",
        variants={
            "ro": Variant(1, 11, "photo", None),
            "it": Variant(1, 12, "text", "Ciao {{ name }}"),
        },
    )
    drafted = await world.desk.draft(
        staff_id=STAFF, content=content, segment=Segment(SegmentKind.ALL)
    )
    job = drafted.draft
    assert job is not None
    en = build_outgoing(job, 5, "Ana", "en")
    ro = build_outgoing(job, 5, "Ana", "ro")
    it = build_outgoing(job, 5, "Ana", "it")
    unknown = build_outgoing(job, 5, "Ana", None)
    assert (en.message_id, en.kind, en.html) == (10, "text", "Hi Ana")
    assert (ro.message_id, ro.kind, ro.html) == (11, "photo", None)
    assert (it.message_id, it.kind, it.html) == (12, "text", "Ciao Ana")
    assert unknown == en
