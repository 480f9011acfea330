"""Delivering broadcast jobs: several sends in flight, one global budget, resumable.

Per recipient: pending → sending (claimed just before the send) → delivered | blocked | failed.
Results are written in small batches. A graceful stop lets in-flight sends finish, records them
and puts claimed-but-unsent recipients back to pending, so the next start sends the rest and
nobody twice. After a crash, recipients caught in `sending` are not sent again (their fate is
unknown and a second copy is worse than none): they are counted as failed, "interrupted".

429 pauses the shared budget for `retry_after` and retries the same recipient (not counted as
an attempt); 403 marks the person as having blocked the bot and is never retried; any other
error is retried `max_attempts` times with a growing delay, then counted as failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from forever.db.leases import acquire_lease, release_lease
from forever.db.models import Broadcast, BroadcastDelivery, Person
from forever.domain.clock import Clock
from forever.domain.events import EventKind
from forever.domain.progress import Progress, progress
from forever.services import personalize
from forever.services.broadcasts import ACTIVE_STATUSES
from forever.services.events import record_event
from forever.services.ratelimit import Permit, RateLimiter, Sleep, TimeSource

log = logging.getLogger(__name__)

LEASE_TTL = timedelta(seconds=60)


# --- the outside world, as the sender sees it --------------------------------------------


class RetryAfter(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}s")
        self.seconds = seconds


class RecipientBlocked(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to one chat, as built from the job."""

    chat_id: int
    from_chat_id: int
    message_id: int
    kind: str
    html: str | None = None  # personalised text or caption
    button_text: str | None = None
    button_url: str | None = None


class BroadcastTransport(Protocol):
    async def deliver(self, message: Outgoing) -> int:
        """Send; return the new message id. Raise RetryAfter, RecipientBlocked or anything."""
        ...

    async def show_progress(
        self, chat_id: int, message_id: int | None, report: JobReport, *, final: bool
    ) -> int | None:
        """Send (message_id None) or edit the staff member's progress message; return its id."""
        ...

    async def send_report(self, chat_id: int, report: JobReport) -> None: ...


@dataclass(frozen=True, slots=True)
class JobReport:
    broadcast_id: int
    status: str
    total: int
    delivered: int
    blocked: int
    failed: int
    progress: Progress
    duration: float
    locale: str = "en"

    @property
    def done(self) -> int:
        return self.delivered + self.blocked + self.failed

    @property
    def unsent(self) -> int:
        return max(self.total - self.done, 0)


@dataclass
class SenderConfig:
    concurrency: int = 8
    max_attempts: int = 3
    retry_delay: float = 1.0  # seconds, times the attempt number
    flush_interval: float = 0.5
    progress_interval: float = 3.0
    poll_interval: float = 1.0
    # Claimed recipients are marked `sending` before their turn; few, so that a crash leaves
    # few of them in doubt.
    claim_batch: int = 16
    # A graceful stop waits this long for in-flight sends before giving up on them.
    drain_timeout: float = 10.0


@dataclass
class _Item:
    delivery_id: int
    person_id: int
    chat_id: int
    name: str | None
    attempts: int


@dataclass
class _Run:
    """The state of one job while this process sends it."""

    job: Broadcast
    locale: str
    counts: dict[str, int]
    started: float
    results: list[dict[str, Any]] = field(default_factory=list)
    blocked_people: list[int] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    sent_now: int = 0
    progress_id: int | None = None
    halt: asyncio.Event = field(default_factory=asyncio.Event)


class BroadcastWorker:
    """Runs queued broadcast jobs one at a time, in the background of the bot's process."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        transport: BroadcastTransport,
        limiter: RateLimiter,
        config: SenderConfig | None = None,
        *,
        monotonic: TimeSource = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        locale_of: Callable[[int], Awaitable[str]] | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.transport = transport
        self.limiter = limiter
        self.config = config or SenderConfig()
        self._monotonic = monotonic
        self._sleep = sleep
        self._locale_of = locale_of
        self.worker_id = f"bc-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._current: _Run | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="broadcast-worker")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, *, graceful: bool = True) -> None:
        """Finish in-flight sends, record them, and leave the rest for the next start.

        `graceful=False` is a killed process: everything stops where it is."""
        if not graceful and self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            return
        self._stopping.set()
        if self._current is not None:
            self._current.halt.set()
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, self.config.drain_timeout + 5)
            except TimeoutError:
                log.warning("broadcast worker did not stop in time")
            self._task = None

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                job_id = await self._next_job()
                # None: another instance holds that job; look again after the pause.
                if job_id is not None and await self.run(job_id) is not None:
                    continue
            except Exception:
                log.exception("broadcast worker failed; retrying")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.poll_interval)

    async def _next_job(self) -> int | None:
        async with self.sessions() as session:
            return await session.scalar(
                select(Broadcast.id)
                .where(Broadcast.status.in_(ACTIVE_STATUSES))
                .order_by(Broadcast.id)
                .limit(1)
            )

    # -- one job ---------------------------------------------------------------------------

    async def run(self, job_id: int) -> JobReport | None:
        """Send job `job_id` until done, stopped, or this worker stops. None if another
        instance holds the job."""
        if not await self._take_lease(job_id):
            return None
        try:
            run = await self._begin(job_id)
            if run is None:
                return None
            self._current = run
            if self._stopping.is_set():
                run.halt.set()
            try:
                await self._send_all(run)
            finally:
                self._current = None
                await self._flush(run)
            return await self._finish(run)
        finally:
            await self._release_lease(job_id)

    async def _begin(self, job_id: int) -> _Run | None:
        now = self.clock.now()
        async with self.sessions.begin() as session:
            job = await session.get(Broadcast, job_id)
            if job is None or job.status not in ACTIVE_STATUSES:
                return None
            # Recipients left `sending` by a process that died mid-send: fate unknown.
            await session.execute(
                update(BroadcastDelivery)
                .where(
                    BroadcastDelivery.broadcast_id == job_id,
                    BroadcastDelivery.status == "sending",
                )
                .values(
                    status="failed",
                    error="interrupted while sending; not sent again",
                    updated_at=now,
                )
            )
            job.status = "running"
            if job.started_at is None:
                job.started_at = now
            counts = await _counts(session, job_id)
        locale = await self._locale_of(job.created_by) if self._locale_of else "en"
        run = _Run(job=job, locale=locale, counts=counts, started=self._monotonic())
        run.progress_id = job.progress_message_id
        await self._show_progress(run, final=False)
        return run

    async def _send_all(self, run: _Run) -> None:
        queue: asyncio.Queue[_Item | None] = asyncio.Queue(maxsize=self.config.concurrency)
        senders = [
            asyncio.create_task(self._sender(run, queue)) for _ in range(self.config.concurrency)
        ]
        finished = asyncio.Event()
        housekeeper = asyncio.create_task(self._housekeeping(run, finished))
        try:
            await self._feed(run, queue)
        finally:
            for _ in senders:
                await queue.put(None)
            done, pending = await asyncio.wait(senders, timeout=self.config.drain_timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for task in done:
                if task.exception() is not None:
                    log.error("broadcast sender crashed", exc_info=task.exception())
            # Claimed but never handed to a sender: back to pending.
            while not queue.empty():
                item = queue.get_nowait()
                if item is not None:
                    run.released.append(item.delivery_id)
            # Not cancelled: a flush cut short would lose the results it was writing.
            finished.set()
            try:
                await housekeeper
            except Exception:
                log.exception("broadcast housekeeping failed")

    async def _feed(self, run: _Run, queue: asyncio.Queue[_Item | None]) -> None:
        while not run.halt.is_set():
            items = await self._claim(run.job.id, self.config.claim_batch)
            if not items:
                return
            for index, item in enumerate(items):
                if run.halt.is_set():
                    run.released.extend(i.delivery_id for i in items[index:])
                    return
                await queue.put(item)

    async def _claim(self, job_id: int, limit: int) -> list[_Item]:
        now = self.clock.now()
        async with self.sessions.begin() as session:
            rows = (
                await session.execute(
                    select(
                        BroadcastDelivery.id,
                        BroadcastDelivery.person_id,
                        BroadcastDelivery.chat_id,
                        BroadcastDelivery.attempts,
                        Person.first_name,
                    )
                    .join(Person, Person.id == BroadcastDelivery.person_id)
                    .where(
                        BroadcastDelivery.broadcast_id == job_id,
                        BroadcastDelivery.status == "pending",
                    )
                    .order_by(BroadcastDelivery.id)
                    .limit(limit)
                )
            ).all()
            if not rows:
                return []
            await session.execute(
                update(BroadcastDelivery)
                .where(BroadcastDelivery.id.in_([r.id for r in rows]))
                .values(
                    status="sending",
                    claimed_by=self.worker_id,
                    claimed_until=now + LEASE_TTL,
                    updated_at=now,
                )
            )
        return [_Item(r.id, r.person_id, r.chat_id, r.first_name, r.attempts) for r in rows]

    async def _sender(self, run: _Run, queue: asyncio.Queue[_Item | None]) -> None:
        while (item := await queue.get()) is not None:
            if run.halt.is_set():
                run.released.append(item.delivery_id)
                continue
            try:
                await self._deliver_one(run, item)
            except Exception as error:  # a bug here must not stall the whole job
                log.exception("broadcast %s: delivery %s crashed", run.job.id, item.delivery_id)
                self._result(run, item, "failed", error=_describe(error))

    async def _deliver_one(self, run: _Run, item: _Item) -> None:
        job = run.job
        try:
            outgoing = build_outgoing(job, item.chat_id, item.name)
        except personalize.TemplateRefused as error:
            self._result(run, item, "failed", error=str(error))
            return
        while True:
            permit = await self._acquire(run)
            if permit is None:
                run.released.append(item.delivery_id)
                return
            try:
                try:
                    message_id = await self.transport.deliver(outgoing)
                finally:
                    await permit.done()
            except RetryAfter as error:
                log.info("broadcast %s: 429, pausing %ss", job.id, error.seconds)
                await self.limiter.pause(error.seconds)
                continue
            except RecipientBlocked:
                self._result(run, item, "blocked", error="blocked the bot")
                run.blocked_people.append(item.person_id)
                return
            except Exception as error:
                item.attempts += 1
                if item.attempts >= self.config.max_attempts:
                    self._result(run, item, "failed", error=_describe(error))
                    return
                await self._sleep(self.config.retry_delay * item.attempts)
                continue
            self._result(run, item, "delivered", message_id=message_id)
            return

    async def _acquire(self, run: _Run) -> Permit | None:
        """Wait for the budget; None if the job was halted meanwhile (nothing was sent)."""
        if run.halt.is_set():
            return None
        take = asyncio.ensure_future(self.limiter.acquire())
        halted = asyncio.ensure_future(run.halt.wait())
        try:
            await asyncio.wait({take, halted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            halted.cancel()
        if take.done() and not take.cancelled() and take.exception() is None:
            permit = take.result()
            if not run.halt.is_set():
                return permit
            await permit.done()
            return None
        take.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await take
        return None

    def _result(
        self,
        run: _Run,
        item: _Item,
        status: str,
        *,
        message_id: int | None = None,
        error: str | None = None,
    ) -> None:
        run.results.append(
            {
                "id": item.delivery_id,
                "status": status,
                "attempts": item.attempts + (1 if status != "failed" else 0),
                "message_id": message_id,
                "error": error,
                "claimed_by": None,
                "claimed_until": None,
            }
        )
        run.counts[status] = run.counts.get(status, 0) + 1
        run.sent_now += 1

    # -- writing results, progress, and watching for Stop ----------------------------------

    async def _housekeeping(self, run: _Run, finished: asyncio.Event) -> None:
        last_progress = last_lease = self._monotonic()
        while not finished.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), self.config.flush_interval)
            await self._flush(run)
            if self._monotonic() - last_lease >= LEASE_TTL.total_seconds() / 4:
                # Also while nothing is sent (a long 429 pause), so no one else takes over.
                last_lease = self._monotonic()
                await self._take_lease(run.job.id)
            if await self._stop_requested(run.job.id):
                run.halt.set()
            if self._monotonic() - last_progress >= self.config.progress_interval:
                last_progress = self._monotonic()
                await self._show_progress(run, final=False)

    async def _flush(self, run: _Run) -> None:
        results, run.results = run.results, []
        blocked, run.blocked_people = run.blocked_people, []
        released, run.released = run.released, []
        if not (results or blocked or released):
            return
        now = self.clock.now()
        try:
            async with self.sessions.begin() as session:
                if results:
                    for row in results:
                        row["updated_at"] = now
                    await session.execute(update(BroadcastDelivery), results)
                if released:
                    await session.execute(
                        update(BroadcastDelivery)
                        .where(
                            BroadcastDelivery.id.in_(released),
                            BroadcastDelivery.status == "sending",
                        )
                        .values(status="pending", claimed_by=None, claimed_until=None)
                    )
                if blocked:
                    await session.execute(
                        update(Person).where(Person.id.in_(blocked)).values(blocked_at=now)
                    )
                    for person_id in blocked:
                        record_event(
                            session, EventKind.BLOCKED_BOT, now, person_id, source="broadcast"
                        )
                await self._renew_lease(session, run.job.id, now)
        except BaseException as error:
            # Keep them for the next flush rather than lose them.
            run.results[:0] = results
            run.blocked_people[:0] = blocked
            run.released[:0] = released
            if not isinstance(error, Exception):
                raise
            log.exception("could not record broadcast results; will retry")

    async def _stop_requested(self, job_id: int) -> bool:
        async with self.sessions() as session:
            status = await session.scalar(select(Broadcast.status).where(Broadcast.id == job_id))
        return status not in ACTIVE_STATUSES

    def _report(self, run: _Run, status: str, duration: float | None = None) -> JobReport:
        c = run.counts
        done = c.get("delivered", 0) + c.get("blocked", 0) + c.get("failed", 0)
        elapsed = self._monotonic() - run.started
        return JobReport(
            broadcast_id=run.job.id,
            status=status,
            total=run.job.total,
            delivered=c.get("delivered", 0),
            blocked=c.get("blocked", 0),
            failed=c.get("failed", 0),
            progress=progress(done, run.job.total, run.sent_now, elapsed),
            duration=elapsed if duration is None else duration,
            locale=run.locale,
        )

    async def _show_progress(self, run: _Run, *, final: bool, status: str = "running") -> None:
        report = self._report(run, status)
        try:
            new_id = await self.transport.show_progress(
                run.job.progress_chat_id or run.job.created_by,
                run.progress_id,
                report,
                final=final,
            )
        except Exception:
            log.warning("could not update broadcast progress", exc_info=True)
            return
        if new_id is not None and new_id != run.progress_id:
            run.progress_id = new_id
            async with self.sessions.begin() as session:
                await session.execute(
                    update(Broadcast)
                    .where(Broadcast.id == run.job.id)
                    .values(
                        progress_chat_id=run.job.progress_chat_id or run.job.created_by,
                        progress_message_id=new_id,
                    )
                )

    async def _finish(self, run: _Run) -> JobReport:
        now = self.clock.now()
        async with self.sessions.begin() as session:
            job = await session.get(Broadcast, run.job.id)
            assert job is not None
            counts = await _counts(session, job.id)
            run.counts = counts
            left = counts.get("pending", 0) + counts.get("sending", 0)
            if job.status == "stopped":
                status = "stopped"
            elif left == 0:
                status = "done"
            else:
                status = "interrupted"  # this process is stopping; the job stays running
            if status != "interrupted":
                job.status = status
                job.finished_at = now
            started_at = job.started_at or now
        wall = (now - started_at).total_seconds()
        report = self._report(run, status, max(wall, self._monotonic() - run.started))
        if status == "interrupted":
            return report
        await self._show_progress(run, final=True, status=status)
        try:
            await self.transport.send_report(run.job.progress_chat_id or run.job.created_by, report)
        except Exception:
            log.warning("could not send the broadcast report", exc_info=True)
        log.info(
            "broadcast %s %s: delivered %s, blocked %s, failed %s",
            job.id,
            status,
            report.delivered,
            report.blocked,
            report.failed,
        )
        return report

    # -- one instance per job ---------------------------------------------------------------

    async def _take_lease(self, job_id: int) -> bool:
        async with self.sessions.begin() as session:
            return await acquire_lease(
                session,
                _lease_name(job_id),
                holder=self.worker_id,
                ttl=LEASE_TTL,
                now=self.clock.now(),
            )

    async def _renew_lease(self, session: AsyncSession, job_id: int, now: datetime) -> None:
        await acquire_lease(
            session, _lease_name(job_id), holder=self.worker_id, ttl=LEASE_TTL, now=now
        )

    async def _release_lease(self, job_id: int) -> None:
        async with self.sessions.begin() as session:
            await release_lease(
                session, _lease_name(job_id), holder=self.worker_id, now=self.clock.now()
            )


def _lease_name(job_id: int) -> str:
    return f"broadcast:{job_id}"


def build_outgoing(job: Broadcast, chat_id: int, name: str | None) -> Outgoing:
    kind = str((job.segment or {}).get("content", "text"))
    html = personalize.render(job.personalized_html, name=name) if job.personalized_html else None
    return Outgoing(
        chat_id=chat_id,
        from_chat_id=job.source_chat_id,
        message_id=job.source_message_id,
        kind=kind,
        html=html,
        button_text=job.button_text,
        button_url=job.button_url,
    )


async def _counts(session: AsyncSession, job_id: int) -> dict[str, int]:
    from forever.services.broadcasts import delivery_counts

    return dict(await delivery_counts(session, job_id))


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text[:500]
