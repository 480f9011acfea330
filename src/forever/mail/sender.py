"""The outbox sender: claims due rows with a lease, sends them, records the outcome.

Delivery is at-least-once. A row is claimed (`sending`, `claimed_until` = now + lease) and
committed before anything is sent; the outcome is written after. If the process dies in
between, the lease runs out and another sender (or this one after a restart) sends the row
again: a crash can cause at most one duplicate of each message that was in flight, and never
a loss. Copies carry the same Message-ID, so mail clients can fold them.

On PostgreSQL several instances drain together (`FOR UPDATE SKIP LOCKED`); on SQLite the
claim is one UPDATE ... RETURNING, which SQLite runs alone, so two processes never share a row.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import aiosmtplib
from sqlalchemy import JSON, Row, and_, bindparam, func, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from forever.db.models import Consent, Event, OutboxMessage, Person, Subscription
from forever.db.outbox import from_json
from forever.db.types import UTCDateTime
from forever.domain.journeys import MAX_ATTEMPTS, quiet_until, retry_delay, zone_or_default
from forever.mail.message import HeaderInjection, Unsubscribe, bare_address, build_message
from forever.mail.smtp import SmtpPool, SmtpSecurityError
from forever.services.consent import CHANNEL as CONSENT_CHANNEL
from forever.services.consent import PURPOSE as CONSENT_PURPOSE
from forever.services.events import record_event
from forever.services.suppressions import suppress, suppressed_among

if TYPE_CHECKING:
    from forever.app import Container
    from forever.domain.catalog import Catalog
    from forever.domain.clock import Clock
    from forever.domain.signing import Signer
    from forever.metrics import Metrics
    from forever.rendering import Renderer
    from forever.services.ports import ChatPort

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
BATCH = 100
CHAT_CONCURRENCY = 5

_T = OutboxMessage.__table__
_EVENTS = Event.__table__
# What sending needs to know about a person, read as plain rows (no ORM objects per mail).
_P = Person.__table__.c
_PERSON_COLUMNS = (
    _P.id,
    _P.telegram_id,
    _P.first_name,
    _P.language,
    _P.timezone,
    _P.email,
    _P.blocked_at,
    _P.erased_at,
)


@dataclass
class DrainReport:
    sent: int = 0
    retried: int = 0
    deferred: int = 0
    failed: int = 0
    suppressed: int = 0
    canceled: int = 0

    def add(self, other: DrainReport) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def handled(self) -> int:
        return (
            self.sent + self.retried + self.deferred + self.failed + self.suppressed + self.canceled
        )


@dataclass
class _Outcome:
    status: str  # sent | pending (retry or defer) | failed | suppressed | canceled
    not_before: datetime | None = None
    error: str | None = None
    refund_attempt: bool = False  # a deferral is not a try
    bounced_address: str | None = None
    blocked: bool = False


@dataclass
class _Job:
    row: Row[Any]
    person: Row[Any] | None  # _PERSON_COLUMNS
    address: str | None = None
    outcome: _Outcome | None = None
    message: Any = None
    chat_html: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class OutboxSender:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        renderer: Renderer,
        catalog: Catalog,
        signer: Signer,
        public_url: str,
        default_timezone: str = "UTC",
        mail_from: str | None = None,
        smtp: SmtpPool | None = None,
        chat: ChatPort | None = None,
        instance_id: str | None = None,
        rng: random.Random | None = None,
        batch_size: int = BATCH,
        lease: timedelta = LEASE,
        bot_username: str | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.renderer = renderer
        self.catalog = catalog
        self.signer = signer
        self.public_url = public_url.rstrip("/")
        self.default_zone = ZoneInfo(default_timezone)
        self.mail_from = mail_from
        self.smtp = smtp
        self.chat = chat
        self.instance_id = instance_id or f"sender-{uuid.uuid4().hex[:12]}"
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self.batch_size = batch_size
        self.lease = lease
        self.metrics = metrics
        self.bot_username = bot_username

    @classmethod
    def from_container(
        cls, container: Container, *, smtp: SmtpPool | None, chat: ChatPort | None, **kw: Any
    ) -> OutboxSender:
        settings = container.settings
        kw.setdefault("bot_username", container.extras.get("bot_username"))
        kw.setdefault("metrics", getattr(container, "metrics", None))
        return cls(
            sessions=container.sessions,
            clock=container.clock,
            renderer=container.renderer,
            catalog=container.catalog,
            signer=container.signer,
            public_url=str(settings.public_url),
            default_timezone=settings.timezone,
            mail_from=settings.mail_from,
            smtp=smtp,
            chat=chat,
            **kw,
        )

    # --- the loop --------------------------------------------------------------------------

    @property
    def channels(self) -> list[str]:
        out = []
        if self.smtp is not None and self.mail_from:
            out.append("email")
        if self.chat is not None:
            out.append("chat")
        return out

    async def drain(self, max_batches: int | None = None) -> DrainReport:
        """Send everything due now; returns once nothing due is left (or after max_batches).

        Rows that fail for now get a later `not_before`, so a drain always ends. Batches
        overlap: the next one is claimed and prepared while this one is being sent, and a
        batch's outcome is recorded while the next one is sent."""
        report = DrainReport()
        reserved: dict[int, datetime] = {}  # marketing slots taken during this drain
        limit = max_batches if max_batches is not None else -1
        next_batch: asyncio.Task[tuple[list[_Job], datetime]] | None = asyncio.create_task(
            self._claim_and_prepare(reserved)
        )
        recording: asyncio.Task[DrainReport] | None = None
        batches = 0
        try:
            while next_batch is not None:
                jobs, now = await next_batch
                next_batch = None
                if not jobs:
                    break
                batches += 1
                if batches != limit:
                    next_batch = asyncio.create_task(self._claim_and_prepare(reserved))
                await self._deliver(jobs, now)
                if recording is not None:
                    report.add(await recording)
                recording = asyncio.create_task(self._record(jobs, now))
            if recording is not None:
                report.add(await recording)
                recording = None
        finally:
            # On an error, rows already claimed stay claimed until their lease runs out and
            # are then sent by the next drain: delayed, never lost.
            for task in (next_batch, recording):
                if task is not None and not task.done():
                    task.cancel()
        return report

    async def send_batch(self) -> DrainReport:
        """One batch, start to end (no overlap)."""
        jobs, now = await self._claim_and_prepare({})
        if not jobs:
            return DrainReport()
        await self._deliver(jobs, now)
        return await self._record(jobs, now)

    async def _claim_and_prepare(
        self, reserved: dict[int, datetime]
    ) -> tuple[list[_Job], datetime]:
        now = self.clock.now()
        rows = await self.claim(now)
        if not rows:
            return [], now
        return await self._prepare(rows, now, reserved), now

    # --- claiming --------------------------------------------------------------------------

    async def claim(self, now: datetime) -> Sequence[Row[Any]]:
        channels = self.channels
        if not channels:
            return []
        c = _T.c  # Core, not ORM: the claimed rows come back as plain rows
        due = (
            select(c.id)
            .where(c.channel.in_(channels))
            .where(
                or_(
                    and_(c.status == "pending", c.not_before <= now),
                    # A sender that died holding rows: its lease has run out.
                    and_(c.status == "sending", c.claimed_until < now),
                )
            )
            .order_by(c.not_before, c.id)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
        )
        stmt = (
            update(_T)
            .where(c.id.in_(due.scalar_subquery()))
            .values(
                status="sending",
                claimed_by=self.instance_id,
                claimed_until=now + self.lease,
                attempts=c.attempts + 1,
            )
            .returning(
                c.id,
                c.idempotency_key,
                c.channel,
                c.person_id,
                c.template,
                c.context,
                c.marketing,
                c.attempts,
                c.not_before,
            )
        )
        async with self.sessions.begin() as session:
            result = await session.execute(stmt)
            return sorted(result.all(), key=lambda r: (r.not_before, r.id))

    # --- deciding what to do with each claimed row ------------------------------------------

    async def _prepare(
        self, rows: Sequence[Row[Any]], now: datetime, reserved: dict[int, datetime]
    ) -> list[_Job]:
        person_ids = {r.person_id for r in rows if r.person_id is not None}
        marketing_people = {r.person_id for r in rows if r.marketing and r.person_id is not None}
        async with self.sessions() as session:
            people = {
                p.id: p
                for p in await session.execute(
                    select(*_PERSON_COLUMNS).where(_P.id.in_(person_ids))
                )
            }
            consenting, last_marketing = await self._marketing_facts(
                session, marketing_people, reserved
            )
            states = await self._journey_states(session, rows)
            jobs = [_Job(row=r, person=people.get(r.person_id)) for r in rows]
            for job in jobs:
                if job.row.channel == "email":
                    job.address = self._address(job)
            addresses = {j.address for j in jobs if j.address}
            suppressed = await suppressed_among(session, addresses)

        cap = timedelta(hours=self.catalog.email.marketing_cap_hours)
        for job in jobs:
            row, person = job.row, job.person
            if row.attempts > MAX_ATTEMPTS:
                job.outcome = _Outcome("failed", error="gave up after too many attempts")
                continue
            if row.person_id is not None and (person is None or person.erased_at is not None):
                job.outcome = _Outcome("canceled", error="person erased")
                continue
            if row.channel == "email":
                if not job.address:
                    job.outcome = _Outcome("canceled", error="no email address")
                    continue
                if job.address in suppressed:
                    job.outcome = _Outcome("suppressed", error="address suppressed")
                    continue
            elif person is None or person.telegram_id is None:
                job.outcome = _Outcome("canceled", error="no chat")
                continue
            elif person.blocked_at is not None:
                job.outcome = _Outcome("failed", error="bot blocked by the person")
                continue
            wanted = (row.context or {}).get("journey_states")
            if wanted is not None and states.get(row.person_id, "none") not in wanted:
                # e.g. they subscribed again: the win-back journey is over.
                job.outcome = _Outcome("canceled", error="journey ended")
                continue
            if row.marketing:
                if row.person_id not in consenting:
                    job.outcome = _Outcome("canceled", error="no marketing consent")
                    continue
                later = self._marketing_time(person, last_marketing.get(row.person_id), cap, now)
                if later > now:
                    job.outcome = _Outcome("pending", not_before=later, refund_attempt=True)
                    continue
                # Reserve the slot: a second marketing row for this person waits its turn.
                last_marketing[row.person_id] = now
                reserved[row.person_id] = now
            if row.channel == "chat":
                self._render_or_fail(job, now)
        return jobs

    # The lookups below are skipped when no row in the batch needs them (e.g. no marketing
    # rows): a statement costs a round trip to the database even when it finds nothing.

    async def _marketing_facts(
        self, session: AsyncSession, people: set[int], reserved: dict[int, datetime]
    ) -> tuple[set[int], dict[int, datetime]]:
        """Who has confirmed marketing consent, and when each was last sent marketing mail
        (including slots this drain reserved and may not have recorded yet)."""
        if not people:
            return set(), {}
        consenting = set(
            await session.scalars(
                select(Consent.person_id)
                .where(Consent.person_id.in_(people))
                .where(Consent.channel == CONSENT_CHANNEL, Consent.purpose == CONSENT_PURPOSE)
                .where(Consent.confirmed_at.is_not(None), Consent.withdrawn_at.is_(None))
            )
        )
        last: dict[int, datetime] = dict(
            (
                await session.execute(
                    select(OutboxMessage.person_id, func.max(OutboxMessage.sent_at))
                    .where(OutboxMessage.person_id.in_(people))
                    .where(OutboxMessage.marketing.is_(True))
                    .where(OutboxMessage.status == "sent")
                    .group_by(OutboxMessage.person_id)
                )
            ).all()
        )
        for person_id, at in reserved.items():
            if person_id in people:
                previous = last.get(person_id)
                last[person_id] = at if previous is None else max(previous, at)
        return consenting, last

    async def _journey_states(
        self, session: AsyncSession, rows: Sequence[Row[Any]]
    ) -> dict[int, str]:
        """Subscription states of the people whose rows only hold in some states."""
        people = {r.person_id for r in rows if (r.context or {}).get("journey_states") is not None}
        if not people:
            return {}
        found = await session.execute(
            select(Subscription.person_id, Subscription.state).where(
                Subscription.person_id.in_(people)
            )
        )
        return dict(found.all())

    def _render_or_fail(self, job: _Job, now: datetime) -> bool:
        try:
            self._render(job, now)
        except Exception as exc:  # a template or data error: retrying will not fix it
            log.exception("outbox row %s (%s) cannot be rendered", job.row.id, job.row.template)
            job.outcome = _Outcome("failed", error=f"render: {exc}"[:500])
            return False
        return True

    def _address(self, job: _Job) -> str | None:
        context = job.row.context or {}
        to = context.get("to")
        if isinstance(to, str) and to:
            return to
        return job.person.email if job.person is not None else None

    def _zone(self, person: Row[Any] | None) -> ZoneInfo:
        if person is None:
            return self.default_zone
        return zone_or_default(person.timezone, self.default_zone, person.language)

    def _marketing_time(
        self, person: Row[Any] | None, last_sent: datetime | None, cap: timedelta, now: datetime
    ) -> datetime:
        earliest = now if last_sent is None else max(now, last_sent + cap)
        rules = self.catalog.email
        return quiet_until(
            earliest, self._zone(person), rules.quiet_start_hour, rules.quiet_end_hour
        )

    def _context(self, job: _Job) -> dict[str, Any]:
        row, person = job.row, job.person
        context: dict[str, Any] = from_json(dict(row.context or {}))
        context.pop("to", None)
        context.pop("journey_states", None)
        start = context.pop("start_token", None)
        if start is not None:
            # The one-tap way back: opens the bot with the signed offer as /start parameter.
            context["offer_url"] = (
                f"https://t.me/{self.bot_username}?start={start}" if self.bot_username else ""
            )
        context.setdefault("business", self.catalog.business_name)
        context.setdefault("name", (person.first_name if person else None) or "")
        zone = self._zone(person)
        context["tz"] = zone
        for name, value in context.items():
            if isinstance(value, datetime):  # dates read in the person's own time zone
                context[name] = value.astimezone(zone)
        token = context.pop("confirm_token", None)
        if token:
            context["confirm_url"] = f"{self.public_url}/c/{token}"
        if row.marketing and row.person_id is not None:
            context["unsubscribe_url"] = self.unsubscribe_url(row.person_id)
        return context

    def unsubscribe_url(self, person_id: int) -> str:
        return f"{self.public_url}/u/{self.signer.sign('unsubscribe', str(person_id))}"

    def _render(self, job: _Job, now: datetime) -> None:
        row, person = job.row, job.person
        locale = self.renderer.locale_for(person.language if person else None)
        context = self._context(job)
        if row.channel == "chat":
            job.chat_html = self.renderer.chat(row.template, locale, **context)
            return
        assert self.mail_from is not None and job.address is not None
        subject, html, text = self.renderer.email(row.template, locale, **context)
        unsubscribe = None
        if "unsubscribe_url" in context:
            mailto = f"mailto:{bare_address(self.mail_from)}?subject=unsubscribe"
            unsubscribe = Unsubscribe(url=context["unsubscribe_url"], mailto=mailto)
        job.message = build_message(
            mail_from=self.mail_from,
            to=job.address,
            subject=subject,
            html=html,
            text=text,
            key=row.idempotency_key,
            date=now,
            unsubscribe=unsubscribe,
        )

    # --- handing over ------------------------------------------------------------------------

    async def _deliver(self, jobs: list[_Job], now: datetime) -> None:
        ready = [j for j in jobs if j.outcome is None]
        marketing_ids = [j.row.id for j in ready if j.row.marketing]
        if marketing_ids:
            # Someone may have unsubscribed since the claim: their rows are 'canceled' now.
            async with self.sessions() as session:
                still = set(
                    await session.scalars(
                        select(OutboxMessage.id)
                        .where(OutboxMessage.id.in_(marketing_ids))
                        .where(OutboxMessage.status == "sending")
                        .where(OutboxMessage.claimed_by == self.instance_id)
                    )
                )
            for job in ready:
                if job.row.marketing and job.row.id not in still:
                    job.outcome = _Outcome("canceled", error="called off while sending")
            ready = [j for j in ready if j.outcome is None]
        emails = [j for j in ready if j.row.channel == "email"]
        chats = [j for j in ready if j.row.channel == "chat"]
        chat_gate = asyncio.Semaphore(CHAT_CONCURRENCY)

        async def send_chat(job: _Job) -> None:
            async with chat_gate:
                await self._send_chat(job, now)

        # Emails are rendered by the workers that send them, so building one message
        # overlaps with the SMTP round trips of the others.
        queue: asyncio.Queue[_Job] = asyncio.Queue()
        for job in emails:
            queue.put_nowait(job)

        async def email_worker() -> None:
            while not queue.empty():
                job = queue.get_nowait()
                if self._render_or_fail(job, now):
                    await self._send_email(job, now)

        workers = min(len(emails), 2 * (self.smtp.size if self.smtp else 1))
        await asyncio.gather(
            *(email_worker() for _ in range(workers)), *(send_chat(j) for j in chats)
        )

    async def _send_email(self, job: _Job, now: datetime) -> None:
        assert self.smtp is not None and job.address is not None
        try:
            await self.smtp.send(job.message)
            job.outcome = _Outcome("sent")
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)[:500]
            if any(code >= 500 for code in codes):
                job.outcome = _Outcome("suppressed", error=detail, bounced_address=job.address)
            else:
                job.outcome = self._retry(job, now, detail)
        except aiosmtplib.SMTPDataError as exc:
            if exc.code >= 500:  # the server refuses this message for good
                job.outcome = _Outcome("failed", error=f"{exc.code} {exc.message}"[:500])
            else:
                job.outcome = self._retry(job, now, f"{exc.code} {exc.message}")
        except aiosmtplib.SMTPNotSupported as exc:  # e.g. a Unicode address, no SMTPUTF8
            job.outcome = _Outcome("failed", error=str(exc)[:500])
        except SmtpSecurityError as exc:
            log.error("%s", exc)
            job.outcome = self._retry(job, now, str(exc))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # 4xx answers, refused or dropped connections, timeouts: try again later.
            job.outcome = self._retry(job, now, f"{type(exc).__name__}: {exc}")
        except (ValueError, HeaderInjection) as exc:
            job.outcome = _Outcome("failed", error=str(exc)[:500])

    async def _send_chat(self, job: _Job, now: datetime) -> None:
        assert self.chat is not None and job.person is not None
        assert job.person.telegram_id is not None and job.chat_html is not None
        try:
            result = await self.chat.send_text(job.person.telegram_id, job.chat_html)
        except Exception as exc:
            job.outcome = self._retry(job, now, f"{type(exc).__name__}: {exc}")
            return
        if result.ok:
            job.outcome = _Outcome("sent")
        elif result.blocked:
            job.outcome = _Outcome("failed", error="bot blocked by the person", blocked=True)
        else:
            job.outcome = self._retry(job, now, "chat send failed")

    def _retry(self, job: _Job, now: datetime, error: str) -> _Outcome:
        if job.row.attempts >= MAX_ATTEMPTS:
            return _Outcome("failed", error=f"gave up: {error}"[:500])
        when = now + retry_delay(job.row.attempts, self.rng)
        return _Outcome("pending", not_before=when, error=error[:500])

    # --- recording ---------------------------------------------------------------------------

    async def _record(self, jobs: list[_Job], now: datetime) -> DrainReport:
        report = DrainReport()
        sent: list[_Job] = []
        others: list[dict[str, Any]] = []
        for job in jobs:
            outcome = job.outcome or _Outcome("pending", not_before=now, refund_attempt=True)
            if outcome.status == "pending":
                if outcome.refund_attempt:
                    report.deferred += 1
                else:
                    report.retried += 1
            else:
                setattr(report, outcome.status, getattr(report, outcome.status) + 1)
            if outcome.status == "sent":
                sent.append(job)
                continue
            others.append(
                {
                    "b_id": job.row.id,
                    "b_status": outcome.status,
                    "b_not_before": outcome.not_before or job.row.not_before,
                    "b_error": outcome.error,
                    "b_refund": 1 if outcome.refund_attempt else 0,
                }
            )
        async with self.sessions.begin() as session:
            if sent:
                await self._mark_sent(session, sent, now)
            if others:
                await session.execute(self._outcome_statement(), others)
            for job in jobs:
                outcome = job.outcome
                if outcome is None:
                    continue
                if outcome.bounced_address:
                    await self._bounce(session, job, outcome.bounced_address, now)
                if outcome.blocked and job.person is not None:
                    await session.execute(
                        update(Person).where(Person.id == job.person.id).values(blocked_at=now)
                    )
        if self.metrics is not None:
            self.metrics.emails_sent.inc(sum(1 for j in sent if j.row.channel == "email"))
        if report.retried or report.failed or report.suppressed:
            log.info("outbox batch: %s", report)
        return report

    def _claimed(self, stmt: Any) -> Any:
        # Only rows this sender still holds: not one called off (unsubscribe) meanwhile.
        return stmt.where(_T.c.claimed_by == self.instance_id).where(_T.c.status == "sending")

    async def _mark_sent(self, session: AsyncSession, jobs: list[_Job], now: datetime) -> None:
        """The common outcome in set-wise statements, so a batch costs a few statements and
        no per-row parameters: one UPDATE for all, one INSERT ... SELECT of the events per
        (channel, template, marketing)."""
        ids = [j.row.id for j in jobs]
        await session.execute(
            self._claimed(update(_T).where(_T.c.id.in_(ids))).values(
                status="sent", last_error=None, sent_at=now, claimed_by=None, claimed_until=None
            )
        )
        kinds: dict[tuple[str, str, bool], list[int]] = {}
        for job in jobs:
            kind = (job.row.channel, job.row.template, bool(job.row.marketing))
            kinds.setdefault(kind, []).append(job.row.id)
        for (channel, template, marketing), row_ids in kinds.items():
            data = {"template": template, "marketing": marketing}
            rows = select(
                _T.c.person_id,
                literal(f"{channel}_sent"),
                literal(now, UTCDateTime()),
                literal(data, JSON()),
            ).where(_T.c.id.in_(row_ids))
            await session.execute(
                insert(_EVENTS).from_select(["person_id", "kind", "at", "data"], rows)
            )

    def _outcome_statement(self) -> Any:
        """Every other outcome: one executemany, a row's own status, time and error each."""
        return self._claimed(update(_T).where(_T.c.id == bindparam("b_id"))).values(
            status=bindparam("b_status"),
            not_before=bindparam("b_not_before"),
            last_error=bindparam("b_error"),
            sent_at=None,
            attempts=_T.c.attempts - bindparam("b_refund"),
            claimed_by=None,
            claimed_until=None,
        )

    async def _bounce(self, session: AsyncSession, job: _Job, address: str, now: datetime) -> None:
        await suppress(session, address, "bounced", now)
        if job.person is not None and (job.person.email or "").lower() == address.lower():
            await session.execute(
                update(Person)
                .where(Person.id == job.person.id)
                .values(email_status="undeliverable")
            )
        record_event(session, "email_bounced", now, job.row.person_id, template=job.row.template)
