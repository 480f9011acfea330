"""The email journeys sweep: asks who is due for which step, queues the personal mail.

Who is due is the policy's (domain.marketing: the step's window and eligibility, consent for
marketing journeys); the repository turns it into one query per step. Rows go into the outbox
with a key (journey, step, person, occasion), so a second sweep for the same instant, or two
sweeps at once, queue nothing new. Each partition is its own unit of work.

With `rounds`, a sweep reads only what became due since the last one that finished (the
moments that passed since, and the people whose facts changed since): the same people as
reading every window in full, at a cost proportional to the work due.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from forever.domain.catalog import OFFER_TRIGGERS, Catalog, Journey, OfferKind, Trigger
from forever.domain.marketing import MarketingPolicy, Window, windows
from forever.domain.offers import offer_window_start
from forever.services.ports import UnitOfWork

log = logging.getLogger(__name__)

ONE_DAY = timedelta(days=1)
WRITE_BATCH = 2000  # candidates per unit of work

# The signed /start parameter of a win-back link: (person id, offer id or "none", valid until).
StartLink = Callable[[int, str, datetime], str]


class Candidate(NamedTuple):
    """One due person as the candidate query gives them (plain tuples: cheaper than rows)."""

    id: int
    language: str | None
    timezone: str | None
    plan_id: str | None
    period_end: datetime | None
    cancel_reason: str | None
    usage: int | None
    anchor: datetime
    key: str  # the outbox key, built by the query so queued people are skipped there


class GiftHistory(Protocol):
    """Who among some people took a gift offer (a discount, a longer trial) since a moment:
    a win-back or trial-ended email makes no discount to them (once per catalog period)."""

    async def gifted(
        self, person_ids: Sequence[int], offer_ids: Sequence[str], since: datetime
    ) -> set[int]: ...


class JourneyCandidates(Protocol):
    def due(
        self, window: Window, *, now: datetime, usage_metric: str, trial_days: int
    ) -> AsyncIterator[Sequence[Sequence[Any]]]:
        """The not yet queued due people of one step, in partitions (Candidate tuples)."""
        ...


@dataclass(frozen=True, slots=True)
class DirectQueue:
    """What a round needs to queue a step's mail in the database itself (INSERT ... SELECT)
    with the context `JourneyPlanner.rows_for` would build: for steps without an offer."""

    template: str
    marketing: bool
    shared: Mapping[str, Any]  # the context values every row of the step has
    days_left: bool  # a step before the moment: the days left until it
    plans: tuple[str, ...]  # the catalog's plan ids
    locale_for: Callable[[str | None], str]
    plan_name: Callable[[str | None, str], str]  # (plan id, locale)
    not_before: Callable[[str | None, str | None], datetime]  # (time zone, language)


class SweepRound(JourneyCandidates, Protocol):
    """One sweep's view of who is due: `due` as JourneyCandidates, limited to what became due
    since the last round that finished (everything when there is none)."""

    async def direct(
        self,
        window: Window,
        queue: DirectQueue,
        *,
        now: datetime,
        usage_metric: str,
        trial_days: int,
    ) -> Sequence[Any] | None:
        """Statements that queue the step's due people in the database, each its own unit of
        work (`BulkOutbox.enqueue_from`); None: read them with `due` instead."""
        ...

    async def finish(self) -> None:
        """The sweep queued everything due: the next round starts from this one."""
        ...

    async def close(self) -> None:
        """Let go of what the round holds (finished or not)."""
        ...


class SweepRounds(Protocol):
    async def start(self, now: datetime, setup: str) -> SweepRound:
        """Open a round for `now`; `setup` names the windows' configuration (a round after
        one with another setup reads everything)."""
        ...


def journey_setup(catalog: Catalog) -> str:
    """A fingerprint of what decides the windows: journeys, their days and triggers, how late
    a step may still go, the trial's length (the trial-start moment)."""
    parts = [(j.id, j.trigger.value, j.days, j.marketing) for j in catalog.journeys]
    text = repr((parts, catalog.email.late_days, catalog.trial.days))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class WinbackArms(Protocol):
    """A win-back offer experiment's arms (services/experiments.py): person id -> the offer
    id their arm carries (None: no offer), for those it holds; records first exposures in the
    open transaction."""

    async def offers(
        self, journey: Journey, rows: Sequence[Candidate], now: datetime, gifted: Collection[int]
    ) -> Mapping[int, str | None]: ...


class BulkOutbox(Protocol):
    async def enqueue_many(self, rows: list[dict[str, Any]], now: datetime) -> int:
        """Queue rows (keyword arguments of Outbox.enqueue); keys already queued are
        skipped. Returns how many were new."""
        ...

    async def enqueue_from(self, statement: Any, now: datetime) -> int:
        """Run a statement that queues rows itself (SweepRound.direct); returns how many
        were new."""
        ...


class JourneyPlanner:
    """Turns due people into outbox rows with personal content."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        policy: MarketingPolicy,
        locale_for: Callable[[str | None], str],
        start_link: StartLink,
        now: datetime,
    ) -> None:
        self.catalog = catalog
        self.policy = policy
        self.locale_for = locale_for
        self.start_link = start_link
        self.now = now
        # Memos for what repeats across rows: a sweep sees few distinct values of each.
        self._quiet: dict[tuple[str | None, str | None], datetime] = {}
        self._locales: dict[str | None, str] = {}
        self._plan_names: dict[tuple[str | None, str], str] = {}

    def _locale(self, language: str | None) -> str:
        found = self._locales.get(language)
        if found is None:
            found = self._locales[language] = self.locale_for(language)
        return found

    def _plan_name(self, plan_id: str | None, locale: str) -> str:
        found = self._plan_names.get((plan_id, locale))
        if found is None:
            plan = self.catalog.plan(plan_id) if plan_id else None
            found = self._plan_names[(plan_id, locale)] = plan.name[locale] if plan else ""
        return found

    def _offer(
        self,
        journey: Journey,
        row: Candidate,
        locale: str,
        gifted: Collection[int] = (),
        arms: Mapping[int, str | None] | None = None,
    ) -> dict[str, Any]:
        offer_id = journey.offer_id_for(row.cancel_reason)
        if arms is not None and row.id in arms:
            offer_id = arms[row.id]  # an experiment's arm (the holdout: none)
        offer = self.catalog.offers.get(offer_id) if offer_id else None
        out: dict[str, Any] = {
            "offer_kind": None,
            "offer_percent": 0,
            "offer_plan_name": "",
            "offer_until": None,
        }
        target = None
        if offer is not None and offer.kind is OfferKind.LOWER_TIER:
            target = self.catalog.next_tier_down(row.plan_id) if row.plan_id else None
            if target is None:  # nothing cheaper: fall back to the journey's default offer
                offer_id = journey.offers.get("default")
                offer = self.catalog.offers.get(offer_id) if offer_id else None
                if offer is not None and offer.kind is OfferKind.LOWER_TIER:
                    offer = None
        if offer is not None and offer.limited and row.id in gifted:
            offer = None  # a gift goes once per the catalog's period
        expires = self.now + timedelta(days=journey.offer_valid_days)
        # The chat side reads this /start parameter (services/winback.py) and applies the
        # offer for this person only; "none" opens the bot with no offer.
        token_offer = offer.id if offer is not None else "none"
        out["start_token"] = self.start_link(row.id, token_offer, expires)
        if offer is not None:
            out["offer_kind"] = offer.kind.value
            out["offer_percent"] = offer.percent
            out["offer_until"] = expires
            if target is not None:
                out["offer_plan_name"] = target.name[locale]
        return out

    def _anchor(self, row: Candidate) -> datetime:
        anchor: datetime = row.anchor
        if anchor.tzinfo is None:  # defensive: a labelled column that lost its type
            anchor = anchor.replace(tzinfo=self.now.tzinfo)
        return anchor

    def direct(self, window: Window) -> DirectQueue | None:
        """The step as the database can queue it by itself (None: a step with an offer,
        whose start link is signed here)."""
        journey = window.journey
        if journey.trigger in (Trigger.TRIAL_EXPIRED, Trigger.ACCESS_ENDED):
            return None
        return DirectQueue(
            template=journey.template,
            marketing=journey.marketing,
            shared={
                "journey": journey.id,
                "trigger": journey.trigger.value,
                "step": window.index + 1,
                "steps": len(journey.days),
                "trial_days": self.catalog.trial.days,
                "usage_metric": self.catalog.upgrade.usage_metric,
            },
            days_left=journey.days[window.index] < 0,
            plans=tuple(plan.id for plan in self.catalog.plans),
            locale_for=self._locale,
            plan_name=self._plan_name,
            not_before=self._not_before,
        )

    def _not_before(self, timezone: str | None, language: str | None) -> datetime:
        """When quiet hours let a mail go at `now` for this zone and language."""
        found = self._quiet.get((timezone, language))
        if found is None:
            found = self._quiet[(timezone, language)] = self.policy.quiet_until(
                self.now, timezone, language
            )
        return found

    def rows_for(
        self,
        window: Window,
        found: Iterable[Sequence[Any]],
        gifted: Collection[int] = (),
        arms: Mapping[int, str | None] | None = None,
    ) -> list[dict[str, Any]]:
        """Outbox rows for candidates (see `Candidate`)."""
        journey, step = window.journey, window.index
        days = journey.days[step]
        with_offer = journey.trigger in (Trigger.TRIAL_EXPIRED, Trigger.ACCESS_ENDED)
        shared: dict[str, Any] = {
            "journey": journey.id,
            # The worker re-checks the step's eligibility by the trigger before sending.
            "trigger": journey.trigger.value,
            "step": step + 1,
            "steps": len(journey.days),
            "trial_days": self.catalog.trial.days,
            "usage_metric": self.catalog.upgrade.usage_metric,
        }
        out = []
        for row in map(Candidate._make, found):
            locale = self._locale(row.language)
            anchor = self._anchor(row)
            context = {
                **shared,
                "plan_name": self._plan_name(row.plan_id, locale),
                "plan_id": row.plan_id or "",
                "cancel_reason": row.cancel_reason or "",
                "access_until": row.period_end,
                "days_left": max(0, math.ceil((anchor - self.now) / ONE_DAY)) if days < 0 else 0,
                "days_since": max(0, (self.now - anchor).days),
                "usage": int(row.usage or 0),
            }
            if with_offer:
                context.update(self._offer(journey, row, locale, gifted, arms))
            out.append(
                {
                    "key": row.key,
                    "channel": "email",
                    "person_id": row.id,
                    "template": journey.template,
                    "context": context,
                    "marketing": journey.marketing,
                    "not_before": self._not_before(row.timezone, row.language),
                }
            )
        return out


class SweepJourneys:
    """Queue every journey email due at `now`; returns how many new rows were queued.

    Partitions are gathered up to WRITE_BATCH candidates; each batch is built and written (its
    own unit of work) by a task while the next one is fetched, so the database's read, its
    insert and our Python work overlap; at most one batch is being written at a time, in
    order."""

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        candidates: JourneyCandidates,
        outbox: BulkOutbox,
        catalog: Catalog,
        policy: MarketingPolicy,
        locale_for: Callable[[str | None], str],
        start_link: StartLink,
        gifts: GiftHistory | None = None,
        rounds: SweepRounds | None = None,
        arms: WinbackArms | None = None,
    ) -> None:
        self.gifts = gifts
        self.rounds = rounds
        self.arms = arms
        self.uow = uow
        self.candidates = candidates
        self.outbox = outbox
        self.catalog = catalog
        self.policy = policy
        self.locale_for = locale_for
        self.start_link = start_link

    def planner(self, now: datetime) -> JourneyPlanner:
        return JourneyPlanner(
            catalog=self.catalog,
            policy=self.policy,
            locale_for=self.locale_for,
            start_link=self.start_link,
            now=now,
        )

    async def _queue(
        self, planner: JourneyPlanner, batch: Sequence[tuple[Window, Sequence[Sequence[Any]]]]
    ) -> int:
        gifted = await self._gifted(planner.now, batch)
        async with self.uow.begin():
            # By key: a round may find one person twice (the slice and the people who changed).
            rows: dict[str, Any] = {}
            for window, part in batch:
                arms = None
                if self.arms is not None and window.journey.trigger is Trigger.ACCESS_ENDED:
                    # Chosen (and first exposures recorded) with the rows that carry them.
                    found = [Candidate._make(row) for row in part]
                    arms = await self.arms.offers(window.journey, found, planner.now, gifted)
                for row in planner.rows_for(window, part, gifted, arms):
                    rows[row["key"]] = row
            queued = await self.outbox.enqueue_many(list(rows.values()), planner.now)
            await self.uow.commit()
        return queued

    async def _gifted(
        self, now: datetime, batch: Sequence[tuple[Window, Sequence[Sequence[Any]]]]
    ) -> set[int]:
        """People in these partitions who took a gift within the period (offer journeys
        only), in one query."""
        if self.gifts is None:
            return set()
        ids = [
            row[0]
            for window, part in batch
            if window.journey.trigger in OFFER_TRIGGERS and window.journey.offers
            for row in part
        ]
        limited = [o.id for o in self.catalog.offers.values() if o.limited]
        if not ids or not limited:
            return set()
        since = offer_window_start(self.catalog, now)
        return await self.gifts.gifted(ids, limited, since)

    async def __call__(self, now: datetime) -> int:
        planner = self.planner(now)
        catalog = self.catalog
        queued = 0
        source: JourneyCandidates = self.candidates
        round_: SweepRound | None = None
        if self.rounds is not None:
            round_ = await self.rounds.start(now, journey_setup(catalog))
            source = round_
        writing: asyncio.Task[int] | None = None
        # Partitions wait here until there are WRITE_BATCH candidates (or the sweep ends):
        # a steady sweep's few rows from every step go in one unit of work, not one each.
        pending: list[tuple[Window, Sequence[Sequence[Any]]]] = []
        size = 0
        try:
            for window in windows(catalog.journeys, catalog.email.late_days, now):
                direct = planner.direct(window) if round_ is not None else None
                statements = None
                if round_ is not None and direct is not None:
                    statements = await round_.direct(
                        window,
                        direct,
                        now=now,
                        usage_metric=catalog.upgrade.usage_metric,
                        trial_days=catalog.trial.days,
                    )
                if statements is not None:
                    # In order, and never alongside a batch still being written.
                    if writing is not None:
                        queued += await writing
                        writing = None
                    if pending:
                        queued += await self._queue(planner, pending)
                        pending, size = [], 0
                    for statement in statements:
                        async with self.uow.begin():
                            queued += await self.outbox.enqueue_from(statement, now)
                            await self.uow.commit()
                    continue
                parts = source.due(
                    window,
                    now=now,
                    usage_metric=catalog.upgrade.usage_metric,
                    trial_days=catalog.trial.days,
                )
                async for part in parts:
                    pending.append((window, part))
                    size += len(part)
                    if size >= WRITE_BATCH:
                        if writing is not None:
                            queued += await writing
                        writing = asyncio.create_task(self._queue(planner, pending))
                        pending, size = [], 0
            if writing is not None:
                queued += await writing
                writing = None
            if pending:
                queued += await self._queue(planner, pending)
            if round_ is not None:
                await round_.finish()
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
                with contextlib.suppress(BaseException):
                    await writing
            if round_ is not None:
                await round_.close()
        if queued:
            log.info("journeys: %d new emails queued", queued)
        return queued
