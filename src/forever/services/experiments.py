"""Experiments at run time: which arm a person is in on a surface (recorded at first exposure,
inside the caller's transaction, with an `experiment_exposed` event), and staff's view of the
results: the table, the call, stop and promote.

The arm is the keyed hash's (domain/experiments.py); the recorded row wins over the hash, so a
person keeps the arm they saw even if the catalog's weights change later.
"""

from __future__ import annotations

import asyncio
import io
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from forever.domain.catalog import Catalog, Journey, OfferKind
from forever.domain.clock import Clock
from forever.domain.experiment_outcomes import Happened, outcome, window
from forever.domain.experiment_stats import ArmData, Verdict, decide
from forever.domain.experiments import (
    Experiment,
    ExperimentStatus,
    Surface,
    Variant,
    assign,
    running_for,
)
from forever.services.ports import EventLog, UnitOfWork
from forever.services.staff import AuditLog

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


class PersonalPrices:
    """The plan_price surface: a person's monthly price of each plan under a running price
    experiment (the holdout: the catalog's). With `record`, showing the prices is the exposure;
    without, only prices already shown count (the invoice charges what was seen)."""

    def __init__(self, uow: UnitOfWork, chooser: ExperimentChooser, clock: Clock) -> None:
        self.uow = uow
        self.chooser = chooser
        self.clock = clock

    async def __call__(self, person_id: int, language: str | None) -> dict[str, int]:
        if not any(e.surface is Surface.PLAN_PRICE for e in self.chooser.catalog.experiments):
            return {}
        async with self.uow.begin():
            found = await self.monthly(person_id, language, record=True)
            await self.uow.commit()
        return found

    async def monthly(
        self, person_id: int, language: str | None, *, record: bool, plan_id: str | None = None
    ) -> dict[str, int]:
        """In the caller's unit of work: plan id -> the arm's monthly Stars."""
        out: dict[str, int] = {}
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
            if choice is not None and choice.variant.monthly_stars is not None:
                out[plan.id] = choice.variant.monthly_stars
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


# --- staff: results, stop and promote ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    experiment: Experiment
    status: ExperimentStatus
    winner: str | None  # a promoted arm
    exposed: int


@dataclass(frozen=True, slots=True)
class Result:
    experiment: Experiment
    status: ExperimentStatus
    promoted: str | None
    verdict: Verdict
    window_days: int


class ChangeRefused(Exception):
    """Staff asked for something the experiment's state does not allow (the text says what)."""


class ExperimentDesk:
    """/experiments: list, results, stop, promote. Every call leaves an audit entry."""

    def __init__(
        self,
        uow: UnitOfWork,
        store: ExperimentStore,
        audit: AuditLog,
        catalog: Catalog,
        clock: Clock,
    ) -> None:
        self.uow = uow
        self.store = store
        self.audit = audit
        self.catalog = catalog
        self.clock = clock

    async def _state(self) -> dict[str, tuple[ExperimentStatus, str | None]]:
        found = {o.experiment_id: o for o in await self.store.overrides()}
        out: dict[str, tuple[ExperimentStatus, str | None]] = {}
        for e in self.catalog.experiments:
            o = found.get(e.id)
            out[e.id] = (ExperimentStatus(o.status), o.winner_variant_id) if o else (e.status, None)
        return out

    async def summaries(self, *, staff_id: int | None = None) -> list[Summary]:
        now = self.clock.now()
        async with self.uow.begin():
            state = await self._state()
            counts = await self.store.exposure_counts()
            if staff_id is not None:
                self.audit.record(staff_id, "experiments", now)
            await self.uow.commit()
        return [
            Summary(e, state[e.id][0], state[e.id][1], counts.get(e.id, 0))
            for e in self.catalog.experiments
        ]

    async def results(self, experiment_id: str, *, staff_id: int | None = None) -> Result | None:
        experiment = self.catalog.experiment(experiment_id)
        if experiment is None:
            return None
        now = self.clock.now()
        async with self.uow.begin():
            status, promoted = (await self._state())[experiment.id]
            rows = await self.store.assignments(experiment.id)
            since = min((r.exposed_at for r in rows), default=now)
            happened = await self.store.events_of(sorted({r.person_id for r in rows}), since)
            if staff_id is not None:
                self.audit.record(staff_id, "experiment_results", now, experiment=experiment.id)
            await self.uow.commit()
        verdict = evaluate(self.catalog, experiment, status, rows, happened, now)
        return Result(experiment, status, promoted, verdict, window(experiment.surface).days)

    async def stop(self, experiment_id: str, *, staff_id: int) -> Result:
        return await self._conclude(experiment_id, staff_id, ExperimentStatus.STOPPED, None)

    async def promote(self, experiment_id: str, variant_id: str, *, staff_id: int) -> Result:
        return await self._conclude(experiment_id, staff_id, ExperimentStatus.CONCLUDED, variant_id)

    async def _conclude(
        self, experiment_id: str, staff_id: int, status: ExperimentStatus, winner: str | None
    ) -> Result:
        experiment = self.catalog.experiment(experiment_id)
        if experiment is None:
            raise ChangeRefused("unknown_experiment")
        if winner is not None and experiment.variant(winner) is None:
            raise ChangeRefused("unknown_variant")
        now = self.clock.now()
        async with self.uow.begin():
            current, _ = (await self._state())[experiment.id]
            if current is ExperimentStatus.CONCLUDED:
                raise ChangeRefused("already_concluded")
            await self.store.set_override(experiment.id, status.value, winner, staff_id, now)
            self.audit.record(
                staff_id,
                "experiment_promote" if winner else "experiment_stop",
                now,
                experiment=experiment.id,
                variant=winner,
            )
            await self.uow.commit()
        found = await self.results(experiment.id)
        assert found is not None
        return found


def evaluate(
    catalog: Catalog,
    experiment: Experiment,
    status: ExperimentStatus,
    rows: Sequence[AssignmentRecord],
    happened: Sequence[tuple[int, Happened]],
    now: datetime,
) -> Verdict:
    """Each arm's exposed, measured and converted people (and Stars), and the call."""
    by_person: dict[int, list[Happened]] = defaultdict(list)
    for person_id, event in happened:
        by_person[person_id].append(event)
    tiers = {p.id: p.tier for p in catalog.plans}
    tally: dict[str, list[int]] = {v.id: [0, 0, 0] for v in experiment.arms()}
    stars: dict[str, list[int]] = {v.id: [] for v in experiment.arms()}
    for row in rows:
        if row.variant_id not in tally:
            continue  # an arm since removed from the catalog
        mine = by_person[row.person_id]
        exposure = next(
            (e for e in mine if e.kind == EXPOSED and e.data.get("experiment") == experiment.id),
            None,
        )
        from_plan = exposure.data.get("plan") if exposure is not None else None
        got = outcome(
            experiment.surface,
            row.exposed_at,
            mine,
            now,
            tiers=tiers,
            from_plan=from_plan if isinstance(from_plan, str) else None,
        )
        counts = tally[row.variant_id]
        counts[0] += 1
        if got.measured:
            counts[1] += 1
            counts[2] += got.converted
            stars[row.variant_id].append(got.stars)
    arms = [
        ArmData(
            v.id,
            v.holdout,
            exposed=tally[v.id][0],
            measured=tally[v.id][1],
            converted=tally[v.id][2],
            stars=tuple(stars[v.id]),
        )
        for v in experiment.arms()
    ]
    return decide(
        arms,
        stopped=status is ExperimentStatus.STOPPED,
        with_stars=experiment.surface is Surface.PLAN_PRICE,
    )


def _draw(result: Result, title: str, rate_label: str) -> bytes:
    # The object API (no pyplot): no global figure state, safe in a worker thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    arms = result.verdict.arms
    names = [a.id for a in arms]
    rates = [(a.rate or 0.0) * 100 for a in arms]
    below = [
        max(0.0, r - a.ci[0] * 100) if a.rate is not None else 0.0
        for r, a in zip(rates, arms, strict=True)
    ]
    above = [
        max(0.0, a.ci[1] * 100 - r) if a.rate is not None else 0.0
        for r, a in zip(rates, arms, strict=True)
    ]
    colours = ["#8d99ae" if a.holdout else "#2a6f97" for a in arms]
    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.bar(names, rates, color=colours, yerr=[below, above], capsize=6)
    axes.set_ylabel(rate_label + " (%)")
    axes.set_ylim(bottom=0)
    axes.set_title(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


async def chart_png(result: Result, *, title: str, rate_label: str) -> bytes:
    """Each arm's rate with its 95% interval, drawn in a thread (the bot keeps answering)."""
    return await asyncio.to_thread(_draw, result, title, rate_label)


def as_table(result: Result) -> dict[str, Any]:
    """The result as plain values, for the staff text and the report contract."""
    v = result.verdict
    return {
        "id": result.experiment.id,
        "surface": result.experiment.surface.value,
        "status": result.status.value,
        "promoted": result.promoted,
        "decision": v.decision.value,
        "winner": v.winner,
        "note": v.note,
        "control": v.control,
        "min_sample": v.min_sample,
        "margin": v.margin,
        "window_days": result.window_days,
        "arms": [
            {
                "id": a.id,
                "holdout": a.holdout,
                "exposed": a.exposed,
                "measured": a.measured,
                "converted": a.converted,
                "rate": a.rate,
                "ci": list(a.ci),
                "diff": a.diff,
                "diff_ci": list(a.diff_ci) if a.diff_ci else None,
                "stars": a.stars_per_exposed,
                "stars_ci": list(a.stars_ci) if a.stars_ci else None,
            }
            for a in v.arms
        ],
    }


async def report(desk: ExperimentDesk) -> dict[str, Any]:
    """`bot.py report experiments --json`: every catalog experiment, its call and its arms."""
    out = []
    for summary in await desk.summaries():
        result = await desk.results(summary.experiment.id)
        assert result is not None
        v = result.verdict
        out.append(
            {
                "id": summary.experiment.id,
                "surface": summary.experiment.surface.value,
                "status": result.status.value,
                "decision": v.decision.value,
                "winner": v.winner,
                "promoted": result.promoted,
                "variants": [
                    {
                        "id": a.id,
                        "holdout": a.holdout,
                        "exposed": a.exposed,
                        "measured": a.measured,
                        "converted": a.converted,
                        "rate": a.rate,
                        "ci": [a.ci[0], a.ci[1]],
                        "stars_per_exposed": a.stars_per_exposed,
                    }
                    for a in v.arms
                ],
            }
        )
    return {"experiments": out}
