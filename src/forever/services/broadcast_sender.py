"""Delivering broadcast jobs: several sends in flight, one global budget, resumable.

Per recipient: pending → sending (claimed just before the send) → delivered | blocked | failed.
A delivery is written as soon as Telegram accepts it; other results in small batches. A graceful
stop lets in-flight sends finish, records them and puts claimed-but-unsent recipients back to
pending, so the next start sends the rest and nobody twice. After a crash (kill -9, power loss)
the instance that takes the job over sends everyone still `sending` again: never a loss, and a
second copy only for the few whose send was in flight at the crash (at most `concurrency`), the
same promise the email outbox makes.

429 pauses the shared budget for `retry_after` and retries the same recipient (not counted as
an attempt); 403 marks the person as having blocked the bot and is never retried; any other
error is retried `max_attempts` times with a growing delay, then counted as failed.

A paid job (fast paid mode) takes its permits from its own, faster budget and sends every copy
with allow_paid_broadcast; a 429 still pauses both budgets. If the bot's Star balance runs out
mid-way, the job stops: the recipient in hand goes back to pending, nobody is lost, and the
report says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from forever.domain.clock import Clock
from forever.domain.events import EventKind
from forever.domain.paid_broadcasts import Stars, spent
from forever.domain.progress import Progress, progress
from forever.logs import redact
from forever.services import personalize
from forever.services.broadcasts import ACTIVE_STATUSES, BroadcastRecord, variants_of
from forever.services.ports import EventLog, PeopleRepository, UnitOfWork
from forever.services.ratelimit import Permit, RateLimiter, Sleep, TimeSource

log = logging.getLogger(__name__)

# One instance sends a job, holding this lease and renewing it every LEASE_RENEW. Short, so
# that after a crash the job resumes within seconds (at once when the restarted instance keeps
# its name, as it takes back its own lease); a sender that misses its renewals long enough to
# lose the lease stops, so two instances never send one job for longer than that.
LEASE_TTL = timedelta(seconds=10)
LEASE_RENEW = timedelta(seconds=2)


# --- the outside world, as the sender sees it --------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    """A recipient this worker claimed (marked `sending`) just before its turn."""

    delivery_id: int
    person_id: int
    chat_id: int
    name: str | None
    attempts: int
    language: str | None = None


@dataclass(eq=False, slots=True)
class DeliveryResult:
    """How one recipient's delivery settled; written with its claim cleared."""

    delivery_id: int
    status: str  # delivered | blocked | failed
    attempts: int
    message_id: int | None = None
    error: str | None = None


class BroadcastJobs(Protocol):
    """The stored jobs and their recipients, as the sender works through them. Every call
    runs in the unit of work's open transaction."""

    async def next_active(self) -> int | None:
        """The oldest job queued or running."""
        ...

    async def get(self, job_id: int) -> BroadcastRecord | None: ...

    async def reclaim_sending(self, job_id: int, now: datetime) -> None:
        """Recipients left `sending` (by a process that died) go back to pending."""
        ...

    async def claim(
        self, job_id: int, limit: int, *, holder: str, until: datetime, now: datetime
    ) -> list[Claimed]:
        """The next `limit` pending recipients in order, marked `sending` by `holder`."""
        ...

    async def record_results(self, results: Sequence[DeliveryResult], now: datetime) -> None: ...

    async def release(self, delivery_ids: Sequence[int]) -> None:
        """Claimed recipients that were not sent go back to pending (if still `sending`)."""
        ...

    async def delivery_counts(self, job_id: int) -> Counter[str]: ...

    async def status_of(self, job_id: int) -> str | None: ...

    async def take_lease(self, job_id: int, *, holder: str, ttl: timedelta, now: datetime) -> bool:
        """Take or renew the job's lease (one instance sends a job); True if held."""
        ...

    async def release_lease(self, job_id: int, *, holder: str, now: datetime) -> None: ...


class RetryAfter(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}s")
        self.seconds = seconds


class RecipientBlocked(Exception):
    pass


class OutOfStars(Exception):
    """A paid send was refused: the bot's Star balance no longer covers it."""


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
    paid: bool = False  # send with allow_paid_broadcast (0.1 Star, up to 1000/s)


class BroadcastTransport(Protocol):
    async def deliver(self, message: Outgoing) -> int:
        """Send; return the new message id. Raise RetryAfter, RecipientBlocked, OutOfStars
        (paid only) or anything."""
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
    paid: bool = False
    out_of_stars: bool = False  # stopped because the bot's Star balance ran out

    @property
    def done(self) -> int:
        return self.delivered + self.blocked + self.failed

    @property
    def stars_spent(self) -> Stars | None:
        """What a paid job took from the bot's balance (Telegram charges delivered copies)."""
        return spent(self.delivered) if self.paid else None

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
    # Paid jobs: sends in flight (and claimed at once) to reach their faster budget.
    paid_concurrency: int = 48


@dataclass
class _Item:
    delivery_id: int
    person_id: int
    chat_id: int
    name: str | None
    attempts: int
    language: str | None = None


@dataclass
class _Run:
    """The state of one job while this process sends it."""

    job: BroadcastRecord
    locale: str
    counts: dict[str, int]
    started: float
    results: list[DeliveryResult] = field(default_factory=list)
    blocked_people: list[int] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    sent_now: int = 0
    progress_id: int | None = None
    halt: asyncio.Event = field(default_factory=asyncio.Event)
    out_of_stars: bool = False
    # Deliveries waiting for their commit, and the task committing them (group commit).
    to_commit: list[tuple[DeliveryResult, asyncio.Future[None]]] = field(default_factory=list)
    committer: asyncio.Task[None] | None = None


class BroadcastWorker:
    """Runs queued broadcast jobs one at a time, in the background of the bot's process."""

    def __init__(
        self,
        uow: UnitOfWork,
        jobs: BroadcastJobs,
        people: PeopleRepository,
        events: EventLog,
        clock: Clock,
        transport: BroadcastTransport,
        limiter: RateLimiter,
        config: SenderConfig | None = None,
        *,
        monotonic: TimeSource = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        default_locale: str = "en",
        paid_limiter: RateLimiter | None = None,
        holder: str | None = None,
    ) -> None:
        self.uow = uow
        self.jobs = jobs
        self.people = people
        self.events = events
        self.clock = clock
        self.transport = transport
        self.limiter = limiter
        # Paid jobs' own budget (Telegram allows them up to 1000/s); None: the shared one.
        self.paid_limiter = paid_limiter
        self.config = config or SenderConfig()
        self._monotonic = monotonic
        self._sleep = sleep
        # The language of progress and report messages when the staff member is unknown.
        self._default_locale = default_locale
        # Names this worker in job leases and claims: the instance's name, so that the same
        # instance restarted takes back its job lease at once.
        self.worker_id = holder or f"bc-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._current: _Run | None = None
        self._killed = False
        self._looked = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="broadcast-worker")

    async def first_look(self) -> None:
        """Returns once the worker has looked for a job (found one or not, or failed to
        read): a process waits for it before serving, so its first customers are not
        answered behind that first look (its queries are prepared on first use)."""
        await self._looked.wait()

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, *, graceful: bool = True) -> None:
        """Finish in-flight sends, record them, and leave the rest for the next start.

        `graceful=False` is a killed process: everything stops where it is."""
        if not graceful and self._task is not None:
            self._killed = True  # a dead process releases nothing: its job lease lapses
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
        try:
            async with self.uow.begin():
                return await self.jobs.next_active()
        finally:
            self._looked.set()

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
            if not self._killed:
                await self._release_lease(job_id)

    async def _begin(self, job_id: int) -> _Run | None:
        now = self.clock.now()
        async with self.uow.begin():
            job = await self.jobs.get(job_id)
            if job is None or job.status not in ACTIVE_STATUSES:
                return None
            # Recipients left `sending` by a process that died: we hold the job's lease, so
            # nobody else is sending them. Most were never attempted; send them (again).
            await self.jobs.reclaim_sending(job_id, now)
            job.status = "running"
            if job.started_at is None:
                job.started_at = now
            counts = dict(await self.jobs.delivery_counts(job_id))
            staff = await self.people.by_telegram_id(job.created_by)
            await self.uow.commit()
        locale = staff.language if staff is not None else self._default_locale
        run = _Run(job=job, locale=locale, counts=counts, started=self._monotonic())
        run.progress_id = job.progress_message_id
        await self._show_progress(run, final=False)
        return run

    def _limiter(self, run: _Run) -> RateLimiter:
        if run.job.paid and self.paid_limiter is not None:
            return self.paid_limiter
        return self.limiter

    def _concurrency(self, run: _Run) -> int:
        paid = run.job.paid and self.paid_limiter is not None
        return self.config.paid_concurrency if paid else self.config.concurrency

    async def _send_all(self, run: _Run) -> None:
        concurrency = self._concurrency(run)
        queue: asyncio.Queue[_Item | None] = asyncio.Queue(maxsize=concurrency)
        senders = [asyncio.create_task(self._sender(run, queue)) for _ in range(concurrency)]
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
            if run.committer is not None:
                await asyncio.gather(run.committer, return_exceptions=True)
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
        batch = max(self.config.claim_batch, self._concurrency(run))
        while not run.halt.is_set():
            items = await self._claim(run.job.id, batch)
            if not items:
                return
            for index, item in enumerate(items):
                if run.halt.is_set():
                    run.released.extend(i.delivery_id for i in items[index:])
                    return
                await queue.put(item)

    async def _claim(self, job_id: int, limit: int) -> list[_Item]:
        now = self.clock.now()
        async with self.uow.begin():
            claimed = await self.jobs.claim(
                job_id, limit, holder=self.worker_id, until=now + LEASE_TTL, now=now
            )
            await self.uow.commit()
        return [
            _Item(c.delivery_id, c.person_id, c.chat_id, c.name, c.attempts, c.language)
            for c in claimed
        ]

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
            outgoing = build_outgoing(job, item.chat_id, item.name, item.language)
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
                    await _settle(permit)
            except RetryAfter as error:
                log.info("broadcast %s: 429, pausing %ss", job.id, error.seconds)
                # Telegram told the bot to wait: both budgets, whichever this job uses.
                await self.limiter.pause(error.seconds)
                if self.paid_limiter is not None:
                    await self.paid_limiter.pause(error.seconds)
                continue
            except OutOfStars:
                log.warning("broadcast %s: the bot's Star balance ran out; stopping", job.id)
                run.out_of_stars = True
                run.released.append(item.delivery_id)
                run.halt.set()
                return
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
            # Written at once rather than with the next batch: after a crash only sends in
            # flight can be repeated, not the last half-second of deliveries.
            await self._record_delivery(run, item.delivery_id)
            return

    async def _record_delivery(self, run: _Run, delivery_id: int) -> None:
        """Return once this delivery is committed (or left to the next batch flush).

        Group commit: deliveries that finish while a commit is running go together in the
        next one. Each sender still waits for its own row before taking another recipient,
        so at most one unrecorded delivery per sender can be repeated after a crash, as
        before, with far fewer transactions at paid speeds."""
        row = next((r for r in run.results if r.delivery_id == delivery_id), None)
        if row is None:  # already taken by a batch flush
            return
        committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        run.to_commit.append((row, committed))
        if run.committer is None or run.committer.done():
            run.committer = asyncio.create_task(self._commit_deliveries(run))
        await committed

    async def _commit_deliveries(self, run: _Run) -> None:
        while run.to_commit:
            batch, run.to_commit = run.to_commit, []
            # Rows a batch flush took meanwhile are written there; rewriting is harmless.
            rows = [row for row, _ in batch if any(row is r for r in run.results)]
            try:
                if rows:
                    async with self.uow.begin():
                        await self.jobs.record_results(rows, self.clock.now())
                        await self.uow.commit()
            except Exception:
                log.warning("could not record %s deliveries now; next batch", len(rows))
            else:
                taken = {id(row) for row in rows}
                run.results[:] = [r for r in run.results if id(r) not in taken]
            finally:
                # Even if cancelled: a sender waiting for its row must not wait forever (an
                # unwritten row stays in run.results for the batch flush).
                for _, committed in batch:
                    if not committed.done():
                        committed.set_result(None)

    async def _acquire(self, run: _Run) -> Permit | None:
        """Wait for the budget; None if the job was halted meanwhile (nothing was sent)."""
        if run.halt.is_set():
            return None
        take = asyncio.ensure_future(self._limiter(run).acquire())
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
            DeliveryResult(
                item.delivery_id,
                status,
                item.attempts + (1 if status != "failed" else 0),
                message_id,
                None if error is None else redact(error)[:500],
            )
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
            try:
                if self._monotonic() - last_lease >= LEASE_RENEW.total_seconds():
                    # Also while nothing is sent (a long 429 pause), so no one else takes over.
                    last_lease = self._monotonic()
                    if not await self._take_lease(run.job.id):
                        # Renewals failed long enough for another instance to take the job:
                        # stop at once, so only the sends in flight now may go twice.
                        log.warning("broadcast %s: job lease lost; stopping here", run.job.id)
                        run.halt.set()
                if await self._stop_requested(run.job.id):
                    run.halt.set()
                if self._monotonic() - last_progress >= self.config.progress_interval:
                    last_progress = self._monotonic()
                    await self._show_progress(run, final=False)
            except Exception as error:
                # The database away for a while: keep sending what is claimed, retry later.
                log.warning("broadcast %s: housekeeping failed: %s", run.job.id, _describe(error))

    async def _flush(self, run: _Run) -> None:
        results, run.results = run.results, []
        blocked, run.blocked_people = run.blocked_people, []
        released, run.released = run.released, []
        if not (results or blocked or released):
            return
        now = self.clock.now()
        try:
            async with self.uow.begin():
                if results:
                    await self.jobs.record_results(results, now)
                if released:
                    await self.jobs.release(released)
                for person_id in blocked:
                    # 403: never retried, and left out of later broadcasts.
                    await self.people.mark_blocked(person_id, now)
                    self.events.record(EventKind.BLOCKED_BOT, now, person_id, source="broadcast")
                await self.jobs.take_lease(
                    run.job.id, holder=self.worker_id, ttl=LEASE_TTL, now=now
                )
                await self.uow.commit()
        except BaseException as error:
            # Keep them for the next flush rather than lose them.
            run.results[:0] = results
            run.blocked_people[:0] = blocked
            run.released[:0] = released
            if not isinstance(error, Exception):
                raise
            log.exception("could not record broadcast results; will retry")

    async def _stop_requested(self, job_id: int) -> bool:
        async with self.uow.begin():
            status = await self.jobs.status_of(job_id)
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
            paid=bool(run.job.paid),
            out_of_stars=run.out_of_stars,
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
            async with self.uow.begin():
                job = await self.jobs.get(run.job.id)
                if job is not None:
                    job.progress_chat_id = run.job.progress_chat_id or run.job.created_by
                    job.progress_message_id = new_id
                    await self.uow.commit()

    async def _finish(self, run: _Run) -> JobReport:
        now = self.clock.now()
        async with self.uow.begin():
            job = await self.jobs.get(run.job.id)
            assert job is not None
            counts = dict(await self.jobs.delivery_counts(job.id))
            run.counts = counts
            left = counts.get("pending", 0) + counts.get("sending", 0)
            if job.status == "stopped":
                status = "stopped"
            elif run.out_of_stars and left > 0:
                status = "stopped"  # not resumed by itself: staff top up and send again
            elif left == 0:
                status = "done"
            else:
                status = "interrupted"  # this process is stopping; the job stays running
            if status != "interrupted":
                job.status = status
                job.finished_at = now
            started_at = job.started_at or now
            await self.uow.commit()
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
        async with self.uow.begin():
            held = await self.jobs.take_lease(
                job_id, holder=self.worker_id, ttl=LEASE_TTL, now=self.clock.now()
            )
            await self.uow.commit()
        return held

    async def _release_lease(self, job_id: int) -> None:
        async with self.uow.begin():
            await self.jobs.release_lease(job_id, holder=self.worker_id, now=self.clock.now())
            await self.uow.commit()


def build_outgoing(
    job: BroadcastRecord, chat_id: int, name: str | None, language: str | None = None
) -> Outgoing:
    """The message for one recipient: the version in their language if staff wrote one, else
    the default content."""
    variant = variants_of(job).get(language or "")
    if variant is not None:
        source_chat_id, source_message_id = variant.source_chat_id, variant.source_message_id
        kind, template = variant.kind, variant.template_html
    else:
        source_chat_id, source_message_id = job.source_chat_id, job.source_message_id
        kind, template = str((job.segment or {}).get("content", "text")), job.personalized_html
    html = personalize.render(template, name=name) if template else None
    return Outgoing(
        chat_id=chat_id,
        from_chat_id=source_chat_id,
        message_id=source_message_id,
        kind=kind,
        html=html,
        button_text=job.button_text,
        button_url=job.button_url,
        paid=bool(job.paid),
    )


async def _settle(permit: Permit) -> None:
    """Give the permit back. A failure here (the budget's store away) must not count as a
    failed send: the message may have gone out, and retrying it would send it twice."""
    try:
        await permit.done()
    except Exception as error:
        log.warning("could not return a send permit: %s", _describe(error))


def _describe(error: BaseException) -> str:
    # An aiohttp error names the Bot API URL, token included: redacted before it is stored.
    return redact(str(error) or type(error).__name__)[:500]
