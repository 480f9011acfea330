"""Experiments at run time: which arm a person is in on a surface (recorded at first exposure,
inside the caller's transaction, with an `experiment_exposed` event), and the surfaces that
are sweeps or views (win-back emails, plan prices). Staff's view: experiment_results.py.

The arm is the keyed hash's (domain/experiments.py); the recorded row wins over the hash, so a
person keeps the arm they saw even if the catalog's weights change later.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from forever.domain.catalog import Catalog, Journey, OfferKind, Plan
from forever.domain.clock import Clock
from forever.domain.experiment_outcomes import Happened
from forever.domain.experiments import (
    Experiment,
    ExperimentStatus,
    Surface,
    Variant,
    assign,
    running_for,
)
from forever.services.ports import EventLog, UnitOfWork

EXPOSED = "experiment_exposed"  # experiment, variant, surface, holdout


class AssignmentRecord(Protocol):
    experiment_id: str
    person_id: int
    variant_id: str
    holdout: bool
    exposed_at: datetime


class OverrideRecord(Protocol):
    experiment_id: str
    status: str
    winner_variant_id: str | None


class ExperimentStore(Protocol):
    async def assignment(self, experiment_id: str, person_id: int) -> AssignmentRecord | None: ...

    async def add_assignment(
        self,
        *,
        experiment_id: str,
        person_id: int,
        variant_id: str,
        holdout: bool,
        surface: str,
        at: datetime,
    ) -> bool:
        """Insert unless the person has a row for this experiment; True if this call did."""
        ...

    async def overrides(self) -> Sequence[OverrideRecord]: ...

    async def set_override(
        self, experiment_id: str, status: str, winner: str | None, by: int, at: datetime
    ) -> None: ...

    async def assignments(self, experiment_id: str) -> Sequence[AssignmentRecord]: ...

    async def exposure_counts(self) -> dict[str, int]: ...

    async def events_of(
        self, person_ids: Sequence[int], since: datetime
    ) -> Sequence[tuple[int, Happened]]:
        """The events of these people at or after `since`, in time order."""
        ...


@dataclass(frozen=True, slots=True)
class Choice:
    experiment: Experiment
    variant: Variant
    promoted: bool = False  # staff promoted this arm: everyone's default, nothing recorded


class ExperimentChooser:
    """The arm a person is in; used inside another use case's unit of work."""

    def __init__(self, store: ExperimentStore, events: EventLog, catalog: Catalog, key: bytes):
        self.store = store
        self.events = events
        self.catalog = catalog
        self.key = key

    async def choose(
        self,
        surface: Surface,
        person_id: int,
        *,
        now: datetime,
        reason: str | None = None,
        plan: str | None = None,
        language: str | None = None,
        eligible: Callable[[Variant], bool] | None = None,
        record: bool = True,
    ) -> Choice | None:
        """With `record`, this is an exposure: a running experiment whose audience holds the
        person, and where every arm could be given to them (`eligible`), assigns them and
        records it the first time. Without it, only what was shown before: the recorded arm,
        or a promoted winner. None: today's default applies."""
        if not any(e.surface is surface for e in self.catalog.experiments):
            return None  # nothing on this surface: no query at all
        overrides = {o.experiment_id: o for o in await self.store.overrides()}
        statuses = {k: ExperimentStatus(o.status) for k, o in overrides.items()}
        who: dict[str, Any] = {"reason": reason, "plan": plan, "language": language}
        ok = eligible or (lambda _v: True)
        if not record:
            # What is not known here (None) does not narrow: the arm was recorded only for
            # someone in the audience.
            known = {k: v for k, v in who.items() if v is not None}
            for experiment in self.catalog.experiments:
                status = statuses.get(experiment.id, experiment.status)
                if (
                    experiment.surface is surface
                    and status is ExperimentStatus.RUNNING
                    and _loosely(experiment, known)
                ):
                    seen = await self.store.assignment(experiment.id, person_id)
                    variant = experiment.variant(seen.variant_id) if seen else None
                    if variant is not None:
                        return Choice(experiment, variant)
        else:
            running = running_for(self.catalog.experiments, surface, statuses=statuses, **who)
            if running is not None:
                return await self._expose(running, person_id, now, ok, plan)
        return self._promoted(surface, overrides, who, ok)

    async def _expose(
        self,
        experiment: Experiment,
        person_id: int,
        now: datetime,
        eligible: Callable[[Variant], bool],
        plan: str | None = None,
    ) -> Choice | None:
        seen = await self.store.assignment(experiment.id, person_id)
        if seen is not None:
            known = experiment.variant(seen.variant_id)
            # An arm since removed from the catalog: today's default, never another arm.
            return Choice(experiment, known) if known is not None else None
        if not all(eligible(v) for v in experiment.arms()):
            return None  # not everyone could get every arm: a fair comparison leaves them out
        variant = assign(self.key, experiment, person_id)
        inserted = await self.store.add_assignment(
            experiment_id=experiment.id,
            person_id=person_id,
            variant_id=variant.id,
            holdout=variant.holdout,
            surface=experiment.surface.value,
            at=now,
        )
        if inserted:
            self.events.record(
                EXPOSED,
                now,
                person_id,
                experiment=experiment.id,
                variant=variant.id,
                surface=experiment.surface.value,
                holdout=variant.holdout,
                plan=plan,  # the plan they were on (an upgrade is counted from it)
            )
        return Choice(experiment, variant)

    def _promoted(
        self,
        surface: Surface,
        overrides: dict[str, OverrideRecord],
        who: dict[str, Any],
        eligible: Callable[[Variant], bool],
    ) -> Choice | None:
        for experiment in self.catalog.experiments:
            o = overrides.get(experiment.id)
            if (
                o is None
                or o.status != ExperimentStatus.CONCLUDED
                or experiment.surface is not surface
                or not experiment.audience.matches(**who)
            ):
                continue
            winner = experiment.variant(o.winner_variant_id or "")
            if winner is not None and eligible(winner):
                return Choice(experiment, winner, promoted=True)
        return None


class JourneyArms:
    """The win-back surface for the journey sweep (services.journeys.WinbackArms): the offer a
    win-back email's link carries is the person's arm; the link is signed with it, so the
    chat shows the very same offer when it is opened."""

    def __init__(self, chooser: ExperimentChooser) -> None:
        self.chooser = chooser

    async def offers(
        self,
        journey: Journey,
        rows: Sequence[JourneyRow],
        now: datetime,
        gifted: Collection[int],
    ) -> dict[int, str | None]:
        catalog = self.chooser.catalog
        if not any(e.surface is Surface.WINBACK_OFFER for e in catalog.experiments):
            return {}
        out: dict[int, str | None] = {}
        for row in rows:

            def eligible(v: Variant, row: JourneyRow = row) -> bool:
                offer = catalog.offers.get(v.offer or "")
                if offer is None:
                    return True
                if offer.kind is OfferKind.LOWER_TIER and not (
                    row.plan_id and catalog.next_tier_down(row.plan_id)
                ):
                    return False
                return not (offer.limited and row.id in gifted)

            choice = await self.chooser.choose(
                Surface.WINBACK_OFFER,
                row.id,
                now=now,
                reason=row.cancel_reason,
                plan=row.plan_id,
                language=row.language,
                eligible=eligible,
            )
            if choice is not None:
                out[row.id] = choice.variant.offer
        return out


class KeptMonthly(Protocol):
    """services.billing.KeptPrices: the price a person keeps for a plan, if any."""

    async def paid(
        self, person_id: int, plan_id: str, billing: str, now: datetime
    ) -> int | None: ...


ArmPrices = tuple[int | None, int | None]
"""A plan_price arm's (monthly, yearly) Stars; None where the arm leaves the catalog's."""


class PersonalPrices:
    """The plan_price surface: a person's prices of each plan under a running price
    experiment (the holdout: the catalog's). With `record`, showing the prices is the exposure;
    without, only prices already shown count (the invoice charges what was seen)."""

    def __init__(
        self,
        uow: UnitOfWork,
        chooser: ExperimentChooser,
        clock: Clock,
        kept: KeptMonthly | None = None,
    ) -> None:
        self.uow = uow
        self.chooser = chooser
        self.clock = clock
        self.kept = kept

    async def __call__(self, person_id: int, language: str | None) -> dict[str, Plan]:
        """The plans as /plans names them to this person, by id, where a price differs from
        the catalog's: for monthly and for yearly, the price they keep (stable prices: while
        a member, and 90 days after paid access ended), else the arm shown, else the
        catalog's. The yearly saving then follows from these prices. Each is what the
        invoice will charge (services.billing.Invoicing takes the same steps)."""
        catalog = self.chooser.catalog
        testing = any(e.surface is Surface.PLAN_PRICE for e in catalog.experiments)
        if not testing and self.kept is None:
            return {}
        found: dict[str, Plan] = {}
        async with self.uow.begin():
            arms = await self.arms(person_id, language, record=True) if testing else {}
            now = self.clock.now()
            for plan in catalog.plans:
                monthly, yearly = arms.get(plan.id, (None, None))
                if self.kept is not None:
                    monthly = await self.kept.paid(person_id, plan.id, "monthly", now) or monthly
                    yearly = await self.kept.paid(person_id, plan.id, "yearly", now) or yearly
                if monthly is not None or yearly is not None:
                    found[plan.id] = replace(
                        plan,
                        monthly_stars=monthly or plan.monthly_stars,
                        yearly_stars=yearly or plan.yearly_stars,
                    )
            await self.uow.commit()
        return found

    async def renewal_monthly(self, person_id: int, plan_id: str | None) -> int | None:
        """In a unit of work of its own: the monthly price this person would be charged for
        the plan (kept, else the arm shown), for /account's renewal line when no Stars
        subscription of theirs is on record; None: the catalog's."""
        if not plan_id:
            return None
        async with self.uow.begin():
            price = await self.own_monthly(person_id, plan_id, self.clock.now())
            await self.uow.commit()
        return price

    async def own_monthly(self, person_id: int, plan_id: str, now: datetime) -> int | None:
        """In the caller's unit of work: the monthly price this person keeps for the plan,
        else the arm they were shown; None: the catalog's (what a link would charge)."""
        if self.kept is not None:
            kept = await self.kept.paid(person_id, plan_id, "monthly", now)
            if kept is not None:
                return kept
        shown = await self.monthly(person_id, None, record=False, plan_id=plan_id)
        return shown.get(plan_id)

    async def monthly(
        self, person_id: int, language: str | None, *, record: bool, plan_id: str | None = None
    ) -> dict[str, int]:
        """In the caller's unit of work: plan id -> the arm's monthly Stars."""
        arms = await self.arms(person_id, language, record=record, plan_id=plan_id)
        return {k: m for k, (m, _) in arms.items() if m is not None}

    async def arms(
        self, person_id: int, language: str | None, *, record: bool, plan_id: str | None = None
    ) -> dict[str, ArmPrices]:
        """In the caller's unit of work: plan id -> the arm's (monthly, yearly) Stars."""
        out: dict[str, ArmPrices] = {}
        for plan in self.chooser.catalog.plans:
            if plan_id is not None and plan.id != plan_id:
                continue
            choice = await self.chooser.choose(
                Surface.PLAN_PRICE,
                person_id,
                now=self.clock.now(),
                plan=plan.id,
                language=language,
                record=record,
            )
            if choice is None:
                continue
            arm = (choice.variant.monthly_stars, choice.variant.yearly_stars)
            if arm != (None, None):
                out[plan.id] = arm
        return out


class JourneyRow(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def language(self) -> str | None: ...

    @property
    def plan_id(self) -> str | None: ...

    @property
    def cancel_reason(self) -> str | None: ...


def _loosely(experiment: Experiment, known: dict[str, Any]) -> bool:
    audience = experiment.audience
    return all(
        not allowed or known.get(name) is None or known[name] in allowed
        for name, allowed in (
            ("reason", audience.reasons),
            ("plan", audience.plans),
            ("language", audience.languages),
        )
    )
