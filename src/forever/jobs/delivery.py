"""The one delivery worker: every outbox row leaves here, after the commit that queued it.

Channels: `email` (MIME and SMTP from mail/), `chat` (a message through the ChatPort) and
`telegram` (a Bot API effect that is not a chat message: the Stars subscription edit of a
cancel, undo or pause). Before a row leaves, the one policy (domain.marketing) says whether it
still may: consent, the marketing cap, quiet hours, journey eligibility, erasure, blocks.

Delivery is at-least-once. A row is claimed (`sending`, `claimed_until` = now + lease) and
committed before anything is sent; the outcome is written after. If the process dies in
between, the lease runs out and another worker (or this one after a restart) sends the row
again: a crash can cause at most one duplicate of each message that was in flight, and never
a loss. For email it is tighter: each mail is marked sent in its own commit right after the
server's 250, and the SMTP pool lets no other mail end its DATA until then, so a crash repeats
at most one email per process. Copies of an email carry the same Message-ID, so mail clients
can fold them.

`DeliveryLoop` runs a worker when kicked (services.ports.DeliveryKick) and on a timer as a
fallback. The outbox kicks the signal after each commit that queued a row due now (db/outbox.py),
and on PostgreSQL other instances' rows arrive by LISTEN/NOTIFY (db/notify.py), so a
transactional mail or a Stars edit after a tap leaves at once, not at the next timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiogram.exceptions import (
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from sqlalchemy import Row

from forever.db.outbox import Bounce, Facts, Outcome, SqlDeliveryStore, from_json
from forever.domain.catalog import Catalog, Trigger
from forever.domain.clock import Clock
from forever.domain.journeys import MAX_ATTEMPTS, retry_delay
from forever.domain.marketing import (
    Action,
    MarketingPolicy,
    Message,
    Recipient,
    Verdict,
    standing,
)
from forever.domain.signing import Signer
from forever.logs import describe_error, redact
from forever.mail.message import OutgoingMail, Unsubscribe, bare_address, build_message
from forever.mail.sender import Handover, hand_over
from forever.mail.smtp import SmtpPool
from forever.metrics import Metrics
from forever.rendering import Renderer
from forever.services.ports import ChatPort, Keyboard

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
BATCH = 100
CHAT_CONCURRENCY = 5
DRAIN_SECONDS = 5.0

# The Stars subscription edit (channel "telegram"): quick retries, then the member and staff
# are told, so the database never silently says cancelled while Stars still charges.
STAR_EDIT = "edit_star_subscription"
STAR_EDIT_MAX_ATTEMPTS = 6
STAR_EDIT_RETRY_BASE = timedelta(seconds=2)
STAR_EDIT_RETRY_CAP = timedelta(minutes=2)
STAR_EDIT_FAILED = "star_edit_failed"  # message_templates/chat/, to the member
STAR_EDIT_FAILED_STAFF = "star_edit_failed_staff"  # to each owner (ADMIN_IDS)
REFUND = "refund_star_payment"
REFUND_FAILED = "refund_failed"  # message_templates/chat/ (shared), to the member
REFUND_FAILED_STAFF = "refund_failed_staff"  # to each owner (ADMIN_IDS)

# The /start parameter of the "open your account" links in emails (telegram/routers/signup.py).
ACCOUNT_START = "account"

# A chat template whose message carries buttons: (locale, context) -> (html, keyboard).
ChatView = Callable[[str, dict[str, Any]], tuple[str, Keyboard | None]]
# A Bot API effect of channel "telegram" beyond the Stars ones (membership access):
# (template, context, the person's language or None, now); raises to be retried.
TelegramEffect = Callable[[str, dict[str, Any], str | None, datetime], Awaitable[None]]


@dataclass
class DrainReport:
    sent: int = 0
    retried: int = 0
    deferred: int = 0
    failed: int = 0
    suppressed: int = 0
    canceled: int = 0
    sent_by_template: dict[str, int] = field(default_factory=dict)

    def add(self, other: DrainReport) -> None:
        for name in ("sent", "retried", "deferred", "failed", "suppressed", "canceled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for template, count in other.sent_by_template.items():
            self.sent_by_template[template] = self.sent_by_template.get(template, 0) + count

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
    gave_up_star_edit: bool = False

    def __post_init__(self) -> None:
        # Stored in outbox.last_error and shown to staff: never a token (aiohttp errors name
        # the Bot API URL, token included).
        if self.error is not None:
            self.error = redact(self.error)[:500]


@dataclass
class _Job:
    row: Row[Any]
    person: Row[Any] | None
    context: dict[str, Any]  # the row's context, read back from JSON
    address: str | None = None
    outcome: _Outcome | None = None
    message: OutgoingMail | None = None
    chat_html: str | None = None
    keyboard: Keyboard | None = None
    standing: str | None = None  # domain.marketing.Standing at send time, for the template
    recorded: bool = False  # its `sent` already written, right after the handover


_STATUS = {
    Action.CANCEL: "canceled",
    Action.FAIL: "failed",
    Action.SUPPRESSED: "suppressed",
}


def temporary_telegram_failure(exc: BaseException) -> tuple[bool, float | None]:
    """(try again?, seconds Telegram asked us to wait). 5xx, network trouble and 429 are
    temporary; a 400 or 403 about this call will not change by retrying."""
    if isinstance(exc, TelegramRetryAfter):
        return True, float(exc.retry_after)
    if isinstance(exc, TelegramServerError | TelegramNetworkError | OSError | TimeoutError):
        return True, None
    return False, None


def star_edit_delay(attempts: int, rng: random.Random) -> timedelta:
    exponent = min(max(attempts - 1, 0), 10)
    base: timedelta = min(STAR_EDIT_RETRY_BASE * (2**exponent), STAR_EDIT_RETRY_CAP)
    return base * rng.uniform(0.8, 1.2)


class DeliveryWorker:
    """Claims due outbox rows, re-checks them against the policy, hands them over, records
    the outcomes. `drain()` sends everything due now."""

    def __init__(
        self,
        *,
        store: SqlDeliveryStore,
        clock: Clock,
        renderer: Renderer,
        catalog: Catalog,
        signer: Signer,
        public_url: str,
        default_timezone: str = "UTC",
        mail_from: str | None = None,
        smtp: SmtpPool | None = None,
        chat: ChatPort | None = None,
        staff_chat_ids: Iterable[int] = (),
        chat_views: Mapping[str, ChatView] | None = None,
        rng: random.Random | None = None,
        batch_size: int = BATCH,
        lease: timedelta = LEASE,
        bot_username: str | Callable[[], str | None] | None = None,
        metrics: Metrics | None = None,
        effects: Mapping[str, TelegramEffect] | None = None,
    ) -> None:
        self.effects = dict(effects or {})
        self.store = store
        self.clock = clock
        self.renderer = renderer
        self.catalog = catalog
        self.signer = signer
        self.public_url = public_url.rstrip("/")
        self.default_zone = ZoneInfo(default_timezone)
        self.policy = MarketingPolicy.from_rules(catalog.email, self.default_zone)
        self.mail_from = mail_from
        self.smtp = smtp
        self.chat = chat
        self.staff_chat_ids = tuple(staff_chat_ids)
        self.chat_views = dict(chat_views or {})
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self.batch_size = batch_size
        self.lease = lease
        self.metrics = metrics
        self._bot_username = bot_username

    @property
    def instance_id(self) -> str:
        return self.store.instance_id

    @property
    def bot_username(self) -> str | None:
        name = self._bot_username
        return name() if callable(name) else name

    @property
    def channels(self) -> list[str]:
        out = []
        if self.smtp is not None and self.mail_from:
            out.append("email")
        if self.chat is not None:
            out += ["chat", "telegram"]
        return out

    # --- the loop ----------------------------------------------------------------------------

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
            pending: list[asyncio.Future[Any]] = []
            for task in (next_batch, recording):
                if task is not None and not task.done():
                    task.cancel()
                    pending.append(task)
            # Wait for them to unwind, so no database work outlives this drain.
            await asyncio.gather(*pending, return_exceptions=True)
        return report

    async def send_batch(self) -> DrainReport:
        """One batch, start to end (no overlap)."""
        jobs, now = await self._claim_and_prepare({})
        if not jobs:
            return DrainReport()
        await self._deliver(jobs, now)
        return await self._record(jobs, now)

    async def claim(self, now: datetime) -> list[Row[Any]]:
        return await self.store.claim(now, self.channels, self.lease, self.batch_size)

    async def _claim_and_prepare(
        self, reserved: dict[int, datetime]
    ) -> tuple[list[_Job], datetime]:
        now = self.clock.now()
        rows = await self.claim(now)
        if not rows:
            return [], now
        return await self._prepare(rows, now, reserved), now

    # --- deciding what to do with each claimed row (the policy) -----------------------------

    async def _prepare(
        self, rows: list[Row[Any]], now: datetime, reserved: dict[int, datetime]
    ) -> list[_Job]:
        jobs = [_Job(row=r, person=None, context=from_json(dict(r.context or {}))) for r in rows]
        person_ids = {r.person_id for r in rows if r.person_id is not None}
        marketing = {r.person_id for r in rows if r.marketing and r.person_id is not None}
        journey = {
            j.row.person_id
            for j in jobs
            if j.row.person_id is not None
            and ("trigger" in j.context or "journey_states" in j.context)
        }
        facts = await self.store.facts(
            person_ids, marketing, journey, lambda people: self._addresses(jobs, people)
        )
        for person_id, at in reserved.items():
            if person_id in marketing:
                previous = facts.last_marketing.get(person_id)
                facts.last_marketing[person_id] = at if previous is None else max(previous, at)
        for job in jobs:
            recipient = self._recipient(job, facts)
            verdict = self.policy.verdict(self._message(job, facts), recipient, now)
            if not verdict.send:
                job.outcome = self._outcome_of(verdict)
                continue
            if recipient is not None:
                job.standing = standing(recipient).value
            row = job.row
            if row.marketing and row.person_id is not None:
                # Reserve the slot: a second marketing row for this person waits its turn.
                facts.last_marketing[row.person_id] = now
                reserved[row.person_id] = now
            if row.channel == "chat":
                self._render_or_fail(job, now)
        return jobs

    @staticmethod
    def _outcome_of(verdict: Verdict) -> _Outcome:
        if verdict.action is Action.DEFER:
            return _Outcome("pending", not_before=verdict.not_before, refund_attempt=True)
        return _Outcome(_STATUS[verdict.action], error=verdict.reason)

    def _message(self, job: _Job, facts: Facts) -> Message:
        row, context = job.row, job.context
        trigger = context.get("trigger")
        legacy = context.get("journey_states")
        chat_id = context.get("chat_id")
        return Message(
            channel=row.channel,
            marketing=bool(row.marketing),
            attempts=row.attempts,
            has_person=row.person_id is not None,
            trigger=Trigger(trigger) if trigger else None,
            legacy_states=tuple(legacy) if legacy is not None else None,
            address=job.address,
            suppressed=job.address in facts.suppressed if job.address else False,
            chat_id=int(chat_id) if chat_id is not None else None,
            quiet_hours=bool(context.get("quiet_hours")),
        )

    @staticmethod
    def _recipient(job: _Job, facts: Facts) -> Recipient | None:
        person = job.person
        if person is None:
            return None
        state, billing = facts.subscriptions.get(person.id, (None, None))
        return Recipient(
            erased=person.erased_at is not None,
            telegram_id=person.telegram_id,
            blocked=person.blocked_at is not None,
            timezone=person.timezone,
            language=person.language,
            state=state,
            billing=billing,
            consent=person.id in facts.consenting,
            last_marketing_at=facts.last_marketing.get(person.id),
            trial_used=person.trial_used_at is not None,
        )

    @staticmethod
    def _addresses(jobs: list[_Job], people: Mapping[int, Row[Any]]) -> set[str]:
        """Where each email goes (the row's own `to`, else the person's address); asked by
        the store between reading the people and checking the suppression list."""
        for job in jobs:
            job.person = people.get(job.row.person_id)
            if job.row.channel != "email":
                continue
            to = job.context.get("to")
            if isinstance(to, str) and to:
                job.address = to
            elif job.person is not None:
                job.address = job.person.email
        return {j.address for j in jobs if j.address}

    # --- rendering ---------------------------------------------------------------------------

    def _render_or_fail(self, job: _Job, now: datetime) -> bool:
        try:
            self._render(job, now)
        except Exception as exc:  # a template or data error: retrying will not fix it
            log.exception("outbox row %s (%s) cannot be rendered", job.row.id, job.row.template)
            job.outcome = _Outcome("failed", error=f"render: {redact(str(exc))}"[:500])
            return False
        return True

    def _zone(self, person: Row[Any] | None) -> ZoneInfo:
        if person is None:
            return self.default_zone
        return self.policy.zone(person.timezone, person.language)

    def _context(self, job: _Job, locale: str) -> dict[str, Any]:
        row, person = job.row, job.person
        context = dict(job.context)
        for name in ("to", "journey_states", "trigger", "chat_id", "locale", "quiet_hours"):
            context.pop(name, None)
        username = self.bot_username
        bot_url = f"https://t.me/{username}" if username else ""
        start = context.pop("start_token", None)
        if start is not None:
            # The one-tap way back: opens the bot with the signed offer as /start parameter.
            context["offer_url"] = f"{bot_url}?start={start}" if bot_url else ""
        if row.channel == "email":
            # Every "open the bot" in an email is a link; /start account opens the account
            # view (plan, Cancel, Pause) in one tap.
            context["bot_url"] = bot_url
            context["account_url"] = f"{bot_url}?start={ACCOUNT_START}" if bot_url else ""
            # What the mail may say about the membership, as it is now (not when queued).
            context["standing"] = job.standing or ""
            plan_id = context.get("plan_id")
            if "plan_name" not in context and isinstance(plan_id, str):
                plan = self.catalog.plan(plan_id)
                context["plan_name"] = plan.name[locale] if plan is not None else plan_id
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
        language = person.language if person else job.context.get("locale")
        locale = self.renderer.locale_for(language)
        context = self._context(job, locale)
        if row.channel == "chat":
            view = self.chat_views.get(row.template)
            if view is not None:
                job.chat_html, job.keyboard = view(locale, context)
            else:
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
            still = await self.store.still_sending(marketing_ids)
            for job in ready:
                if job.row.marketing and job.row.id not in still:
                    job.outcome = _Outcome("canceled", error="called off while sending")
            ready = [j for j in ready if j.outcome is None]
        emails = [j for j in ready if j.row.channel == "email"]
        chats = [j for j in ready if j.row.channel in ("chat", "telegram")]
        chat_gate = asyncio.Semaphore(CHAT_CONCURRENCY)

        async def send_chat(job: _Job) -> None:
            async with chat_gate:
                if job.row.channel == "telegram":
                    await self._call_telegram(job, now)
                else:
                    await self._send_chat(job, now)
                    await self._record_sent_now(job, now)

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

    async def _record_sent_now(self, job: _Job, now: datetime) -> None:
        """Write a handed-over message as sent at once rather than with its batch: after a
        crash only the message just accepted (email) or in flight (chat) can go twice, not
        the batch sent so far."""
        if job.outcome is None or job.outcome.status != "sent":
            return
        try:
            await self.store.mark_sent([job.row], now)
        except Exception as error:  # the batch's record writes it again
            log.warning("could not record outbox row %s now: %s", job.row.id, describe_error(error))
            return
        job.recorded = True

    async def _send_email(self, job: _Job, now: datetime) -> None:
        assert self.smtp is not None and job.message is not None and job.address is not None

        async def accepted() -> None:
            # Committed before the pool lets another mail end its DATA: a crash repeats at
            # most this one mail of the process.
            job.outcome = _Outcome("sent")
            await self._record_sent_now(job, now)

        result = await hand_over(self.smtp, job.message, accepted)
        if result.handover is Handover.SENT:
            job.outcome = _Outcome("sent")
        elif result.handover is Handover.BOUNCED:
            job.outcome = _Outcome("suppressed", error=result.detail, bounced_address=job.address)
        elif result.handover is Handover.REFUSED:
            job.outcome = _Outcome("failed", error=result.detail)
        else:
            job.outcome = self._retry(job, now, result.detail or "temporary failure")

    async def _send_chat(self, job: _Job, now: datetime) -> None:
        assert self.chat is not None and job.chat_html is not None
        chat_id = job.context.get("chat_id")
        if chat_id is None:
            assert job.person is not None and job.person.telegram_id is not None
            chat_id = job.person.telegram_id
        try:
            result = await self.chat.send_text(int(chat_id), job.chat_html, job.keyboard)
        except Exception as exc:
            job.outcome = self._retry(job, now, describe_error(exc))
            return
        if result.ok:
            job.outcome = _Outcome("sent")
        elif result.blocked:
            job.outcome = _Outcome(
                "failed", error="bot blocked by the person", blocked=job.person is not None
            )
        else:
            job.outcome = self._retry(job, now, "chat send failed")

    async def _call_telegram(self, job: _Job, now: datetime) -> None:
        """A Bot API effect on the person's Stars: a subscription edit or a refund."""
        assert self.chat is not None
        context = job.context
        template = job.row.template
        effect = self.effects.get(template)
        if effect is not None:
            await self._run_effect(job, effect, now)
            return
        try:
            if template == STAR_EDIT:
                await self.chat.cancel_star_subscription(
                    int(context["user_id"]),
                    str(context["charge_id"]),
                    bool(context["is_canceled"]),
                )
            elif template == REFUND:
                await self.chat.refund_star_payment(
                    int(context["user_id"]), str(context["charge_id"])
                )
            else:
                job.outcome = _Outcome("failed", error=f"unknown telegram effect {template}")
                return
        except Exception as exc:
            if template == REFUND and "CHARGE_ALREADY_REFUNDED" in str(exc):
                job.outcome = _Outcome("sent")  # an earlier try got through: done
                return
            temporary, retry_after = temporary_telegram_failure(exc)
            error = describe_error(exc)
            if isinstance(exc, TelegramForbiddenError):
                temporary = False
            if temporary and job.row.attempts < STAR_EDIT_MAX_ATTEMPTS:
                delay = (
                    timedelta(seconds=retry_after)
                    if retry_after is not None
                    else star_edit_delay(job.row.attempts, self.rng)
                )
                job.outcome = _Outcome("pending", not_before=now + delay, error=error)
                return
            log.error("%s for user %s kept failing: %s", template, context["user_id"], error)
            job.outcome = _Outcome(
                "failed", error=f"gave up: {error}"[:500], gave_up_star_edit=True
            )
            return
        job.outcome = _Outcome("sent")

    async def _run_effect(self, job: _Job, effect: TelegramEffect, now: datetime) -> None:
        """A membership access effect: temporary failures (429, 5xx, network, and a bot
        not yet allowed in a chat: fixed by the business, then retried) are tried again."""
        language = job.person.language if job.person is not None else None
        try:
            await effect(job.row.template, job.context, language, now)
        except Exception as exc:
            temporary, retry_after = temporary_telegram_failure(exc)
            error = describe_error(exc)
            if temporary and retry_after is not None:
                job.outcome = _Outcome(
                    "pending", not_before=now + timedelta(seconds=retry_after), error=error
                )
                return
            log.warning("%s for %s failed: %s", job.row.template, job.row.id, error)
            job.outcome = self._retry(job, now, error)
            return
        job.outcome = _Outcome("sent")

    def _retry(self, job: _Job, now: datetime, error: str) -> _Outcome:
        if job.row.attempts >= MAX_ATTEMPTS:
            return _Outcome("failed", error=f"gave up: {error}"[:500])
        when = now + retry_delay(job.row.attempts, self.rng)
        return _Outcome("pending", not_before=when, error=error[:500])

    def _star_edit_alerts(self, job: _Job, now: datetime) -> list[dict[str, Any]]:
        """The member is told, and every owner alerted, when a Stars edit or a refund was given
        up: our database says it happened, Telegram may not."""
        row, context = job.row, job.context
        user_id = int(context["user_id"])
        error = (job.outcome.error if job.outcome is not None else None) or ""
        facts: dict[str, Any] = {"user_id": user_id, "charge_id": str(context["charge_id"])}
        if row.template == REFUND:
            member_template, staff_template = REFUND_FAILED, REFUND_FAILED_STAFF
            facts["reason"] = str(context.get("reason") or "")
        else:
            member_template, staff_template = STAR_EDIT_FAILED, STAR_EDIT_FAILED_STAFF
            facts["is_canceled"] = bool(context["is_canceled"])
        member: dict[str, Any] = {
            "key": f"{row.idempotency_key}:failed"[:200],
            "channel": "chat",
            "person_id": row.person_id,
            "template": member_template,
            "context": facts if row.person_id is not None else {**facts, "chat_id": user_id},
            "marketing": False,
            "not_before": now,
        }
        staff = [
            {
                "key": f"{row.idempotency_key}:staff:{chat_id}"[:200],
                "channel": "chat",
                "person_id": None,
                "template": staff_template,
                "context": {**facts, "chat_id": chat_id, "error": error},
                "marketing": False,
                "not_before": now,
            }
            for chat_id in self.staff_chat_ids
        ]
        return [member, *staff]

    # --- recording ---------------------------------------------------------------------------

    async def _record(self, jobs: list[_Job], now: datetime) -> DrainReport:
        report = DrainReport()
        sent: list[Row[Any]] = []
        others: list[Outcome] = []
        bounces: list[Bounce] = []
        blocked: list[int] = []
        follow_ups: list[dict[str, Any]] = []
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
                if not job.recorded:
                    sent.append(job.row)
                template = job.row.template
                report.sent_by_template[template] = report.sent_by_template.get(template, 0) + 1
                continue
            others.append(
                Outcome(
                    row_id=job.row.id,
                    status=outcome.status,
                    not_before=outcome.not_before or job.row.not_before,
                    error=outcome.error,
                    refund_attempt=outcome.refund_attempt,
                )
            )
            if outcome.bounced_address:
                bounces.append(
                    Bounce(
                        person_id=job.row.person_id,
                        address=outcome.bounced_address,
                        template=job.row.template,
                        person_email=job.person.email if job.person is not None else None,
                    )
                )
            if outcome.blocked and job.person is not None:
                blocked.append(job.person.id)
            if outcome.gave_up_star_edit:
                follow_ups += self._star_edit_alerts(job, now)
        await self.store.record(
            sent=sent,
            others=others,
            bounces=bounces,
            blocked=blocked,
            follow_ups=follow_ups,
            now=now,
        )
        if self.metrics is not None:
            self.metrics.emails_sent.inc(
                sum(
                    1
                    for j in jobs
                    if j.outcome is not None
                    and j.outcome.status == "sent"
                    and j.row.channel == "email"
                )
            )
        if report.retried or report.failed or report.suppressed:
            log.info("outbox batch: %s", report)
        return report


class DeliverySignal:
    """services.ports.DeliveryKick: wakes the DeliveryLoop that waits on it. Build it first
    (the use cases that queue urgent rows take it), start the loop later; a kick with no loop
    running yet, or from another thread, is safe."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.kicks = 0  # how many times it was kicked (tests, metrics)

    def kick(self) -> None:
        self.kicks += 1
        loop = self._loop
        if loop is None or loop.is_closed():
            self._event.set()  # remembered: the loop drains as soon as it waits
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._event.set()
        else:
            loop.call_soon_threadsafe(self._event.set)

    @property
    def pending(self) -> bool:
        """Kicked, and the loop has not taken the kick yet."""
        return self._event.is_set()

    async def wait(self) -> None:
        """Until kicked (the kick is consumed); the caller bounds the wait."""
        self._loop = asyncio.get_running_loop()
        await self._event.wait()
        self._event.clear()


STOP_GRACE_SECONDS = 10.0


class DeliveryLoop:
    """Runs a worker every `interval` seconds, and at once when its signal is kicked (the
    loop's `kick` is services.ports.DeliveryKick too). `start()` in a running event loop,
    `stop()` to end."""

    def __init__(
        self,
        worker: DeliveryWorker,
        interval: float = DRAIN_SECONDS,
        signal: DeliverySignal | None = None,
    ) -> None:
        self.worker = worker
        self.interval = interval
        self.signal = signal or DeliverySignal()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()  # set while waiting between drains

    def kick(self) -> None:
        self.signal.kick()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="outbox-delivery")

    async def drain_once(self) -> DrainReport:
        try:
            return await self.worker.drain()
        except Exception:  # the database may be restarting: the next round tries again
            log.exception("outbox drain failed")
            return DrainReport()

    async def _run(self) -> None:
        while True:
            self._idle.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self.signal.wait()
            self._idle.clear()
            await self.drain_once()

    async def settled(self) -> None:
        """Until every kick so far is handled and the loop waits again (the caller bounds the
        wait): the sandbox answers its page only once what an action queued was handed over."""
        while self._task is not None and not self._task.done():
            await asyncio.sleep(0)  # a pending kick wakes the loop first
            await self._idle.wait()
            if not self.signal.pending:
                return

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Let a drain in progress finish (its rows are handed over and recorded), then end.
        Cancelling mid-write would leave claimed rows for the lease to free, and a database
        driver cancelled mid-statement may never hand its connection back."""
        task, self._task = self._task, None
        if task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._idle.wait()), grace)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
