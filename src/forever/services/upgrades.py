"""Upgrade prompts: who should be shown a higher tier now (catalog rules, domain.upgrades),
queued as chat outbox rows in the same transaction as the UPGRADE_PROMPTED event, so the one
delivery worker sends each exactly once and retries what fails for a while.

Every trial and active member is considered, a page at a time in person id order (keyset
pagination): however many there are, everyone due is prompted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, Protocol

from forever.domain.catalog import Catalog
from forever.domain.events import EventKind
from forever.domain.experiments import Surface
from forever.domain.lifecycle import Billing, Membership, State
from forever.domain.upgrades import (
    PromptFacts,
    may_prompt,
    spends_more_than_plan,
    suggest_addon,
    upgrade_rule,
)
from forever.services.experiments import ExperimentChooser
from forever.services.ports import EventLog, Outbox, UnitOfWork

log = logging.getLogger(__name__)

PAGE = 500
TEMPLATE = "upgrade_prompt"  # a chat view with buttons (telegram/upgrade_prompts.py)
ADDON_SUGGESTION = "addon_suggestion"  # a chat view with a buy button (telegram/economy_views)
SPENDING_DAYS = 30  # the pay-per-use spending compared with a plan's monthly price
STATES = (State.TRIAL.value, State.ACTIVE.value)


class UpgradeCandidate(NamedTuple):
    person_id: int
    language: str | None
    first_name: str | None
    trial_used_at: datetime | None
    state: str
    plan_id: str | None
    billing: str | None
    period_end: datetime | None
    usage: int
    last_prompt_at: datetime | None
    last_cancel_at: datetime | None


class UpgradeCandidates(Protocol):
    async def page(
        self,
        *,
        states: tuple[str, ...],
        after_person_id: int,
        limit: int,
        usage_metric: str,
        now: datetime,
        prompted_kind: str,
        canceled_kind: str,
    ) -> list[UpgradeCandidate]:
        """Members in `states` we can write to, with person id > `after_person_id`, in id
        order, at most `limit`."""
        ...


class PersonEconomy(NamedTuple):
    ppu_stars: int = 0  # Stars paid for credit packs in the last SPENDING_DAYS, not refunded
    addons: frozenset[str] = frozenset()  # add-ons in force (not refunded, not ended)
    last_suggested_at: datetime | None = None


class EconomyFacts(Protocol):
    async def of(
        self, person_ids: Sequence[int], *, since: datetime, now: datetime, suggested_kind: str
    ) -> dict[int, PersonEconomy]:
        """What the prompts need of each person's purchases (issue 19)."""
        ...


def prompt_key(person_id: int, now: datetime, cap_days: int) -> str:
    """One prompt per person and cap period: two sweeps racing queue it once."""
    period = int(now.timestamp() // timedelta(days=max(cap_days, 1)).total_seconds())
    return f"upgrade:{person_id}:{period}"


class OwnPrices(Protocol):
    """services.experiments.PersonalPrices: the monthly price a person would be charged."""

    async def own_monthly(self, person_id: int, plan_id: str, now: datetime) -> int | None: ...


class QueueUpgradePrompts:
    """The sweep: returns how many prompts were queued."""

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        candidates: UpgradeCandidates,
        events: EventLog,
        outbox: Outbox,
        catalog: Catalog,
        page_size: int = PAGE,
        experiments: ExperimentChooser | None = None,
        economy: EconomyFacts | None = None,
        prices: OwnPrices | None = None,
    ) -> None:
        self.experiments = experiments
        self.economy = economy
        self.prices = prices
        self.uow = uow
        self.candidates = candidates
        self.events = events
        self.outbox = outbox
        self.catalog = catalog
        self.page_size = page_size

    async def __call__(self, now: datetime) -> int:
        queued = 0
        after = 0
        while True:
            async with self.uow.begin():
                page = await self.candidates.page(
                    states=STATES,
                    after_person_id=after,
                    limit=self.page_size,
                    usage_metric=self.catalog.upgrade.usage_metric,
                    now=now,
                    prompted_kind=EventKind.UPGRADE_PROMPTED.value,
                    canceled_kind=EventKind.CANCELED.value,
                )
                facts: dict[int, PersonEconomy] = {}
                if self.economy is not None and page:
                    facts = await self.economy.of(
                        [c.person_id for c in page],
                        since=now - timedelta(days=SPENDING_DAYS),
                        now=now,
                        suggested_kind=EventKind.ADDON_SUGGESTED.value,
                    )
                for candidate in page:
                    economy = facts.get(candidate.person_id, PersonEconomy())
                    queued += await self._consider(candidate, now, economy)
                await self.uow.commit()
            if len(page) < self.page_size:
                break
            after = page[-1].person_id
        if queued:
            log.info("upgrade prompts: %d queued", queued)
        return queued

    async def _consider(
        self, c: UpgradeCandidate, now: datetime, economy: PersonEconomy | None = None
    ) -> int:
        catalog = self.catalog
        economy = economy or PersonEconomy()
        higher = catalog.next_tier_up(c.plan_id or "")
        plan = catalog.plan(c.plan_id or "")
        prompted = [t for t in (c.last_prompt_at, economy.last_suggested_at) if t is not None]
        membership = Membership(
            state=State(c.state),
            plan_id=c.plan_id,
            billing=Billing(c.billing) if c.billing else None,
            period_end=c.period_end,
        )
        facts = PromptFacts(
            membership=membership,
            trial_started_at=c.trial_used_at,
            trial_days=catalog.trial.days,
            usage=c.usage,
            usage_limit=plan.usage_limit if plan else None,
            has_higher_tier=higher is not None,
            last_prompt_at=max(prompted, key=_utc) if prompted else None,
            last_cancel_at=c.last_cancel_at,
            ppu_stars=economy.ppu_stars,
            higher_monthly_stars=higher.monthly_stars if higher is not None else None,
        )
        rule = upgrade_rule(facts, catalog.upgrade, now)
        if rule is None or higher is None:
            # No upgrade to propose now: perhaps an add-on, under the same cap.
            return await self._suggest_addon(c, facts, economy, now)
        context: dict[str, object] = {}
        if spends_more_than_plan(economy.ppu_stars, higher.monthly_stars):
            # The prompt says so, with the figures.
            context["ppu_stars"] = economy.ppu_stars
        if self.experiments is not None:
            # An upgrade_prompt experiment's arm: its text opens the prompt (the holdout and
            # everyone outside get the usual one). Exposed as the prompt is queued.
            choice = await self.experiments.choose(
                Surface.UPGRADE_PROMPT, c.person_id, now=now, plan=c.plan_id, language=c.language
            )
            if choice is not None and choice.variant.prompt:
                context["prompt_texts"] = dict(choice.variant.prompt)
        if self.prices is not None:
            # The monthly prices the prompt names are this person's (a kept price, or a price
            # experiment's arm they were shown): what the upgrade link would charge them.
            own = {}
            for listed in (plan, higher):
                if listed is not None:
                    stars = await self.prices.own_monthly(c.person_id, listed.id, now)
                    if stars is not None:
                        own[listed.id] = stars
            if own:
                context["prices"] = own
        new = await self.outbox.enqueue(
            key=prompt_key(c.person_id, now, catalog.upgrade.cap_days),
            channel="chat",
            person_id=c.person_id,
            template=TEMPLATE,
            context={
                "from_plan": c.plan_id or "",
                "to_plan": higher.id,
                "rule": rule.value,
                "usage": c.usage,
                # Not at night in the person's zone: the worker defers it to the morning.
                "quiet_hours": True,
                **context,
            },
            marketing=False,
            not_before=now,
            now=now,
        )
        if not new:
            return 0
        self.events.record(
            EventKind.UPGRADE_PROMPTED,
            now,
            c.person_id,
            from_plan=c.plan_id,
            to_plan=higher.id,
            rule=rule.value,
        )
        return 1

    async def _suggest_addon(
        self, c: UpgradeCandidate, facts: PromptFacts, economy: PersonEconomy, now: datetime
    ) -> int:
        catalog = self.catalog
        if not may_prompt(facts, catalog.upgrade, now):
            return 0
        addon = suggest_addon(catalog.addons, c.plan_id, c.usage, economy.addons)
        if addon is None:
            return 0
        new = await self.outbox.enqueue(
            # The upgrade prompt's key: one of the two per person and cap period.
            key=prompt_key(c.person_id, now, catalog.upgrade.cap_days),
            channel="chat",
            person_id=c.person_id,
            template=ADDON_SUGGESTION,
            context={"addon_id": addon.id, "usage": c.usage, "quiet_hours": True},
            marketing=False,
            not_before=now,
            now=now,
        )
        if not new:
            return 0
        self.events.record(
            EventKind.ADDON_SUGGESTED,
            now,
            c.person_id,
            addon=addon.id,
            plan=c.plan_id,
            usage=c.usage,
        )
        return 1


def _utc(at: datetime) -> datetime:
    """SQLite gives naive datetimes back; they were stored in UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
