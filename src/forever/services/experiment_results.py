"""Staff's view of experiments: each arm's exposed, measured and converted people (from the
assignments and the event history), the statistical call (domain/experiment_stats.py), the
chart, stop and promote, and the report scripts read."""

from __future__ import annotations

import asyncio
import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from forever.domain.catalog import Catalog
from forever.domain.clock import Clock
from forever.domain.experiment_outcomes import Happened, outcome, window
from forever.domain.experiment_stats import ArmData, Verdict, decide
from forever.domain.experiments import Experiment, ExperimentStatus, Surface
from forever.domain.whatif import PricePoint, WhatIf, history_points, what_if
from forever.services.experiments import EXPOSED, AssignmentRecord, ExperimentStore
from forever.services.ports import UnitOfWork
from forever.services.staff import AuditLog


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


class PaymentHistory(Protocol):
    async def monthly_payments(self, plan_id: str) -> list[tuple[int, int, datetime]]:
        """(person, Stars, when) of each unrefunded full-price monthly payment for the plan."""
        ...


class ExperimentDesk:
    """/experiments: list, results, stop, promote. Every call leaves an audit entry."""

    def __init__(
        self,
        uow: UnitOfWork,
        store: ExperimentStore,
        audit: AuditLog,
        catalog: Catalog,
        clock: Clock,
        history: PaymentHistory | None = None,
    ) -> None:
        self.history = history
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

    async def what_if(
        self, plan_id: str, price: int, *, staff_id: int | None = None
    ) -> WhatIf | None:
        """What-if pricing for a plan (domain/whatif.py), from its price experiments (and, for paid
        churn only, the prices charged in the past);
        None for an unknown plan."""
        plan = self.catalog.plan(plan_id)
        if plan is None:
            return None
        now = self.clock.now()
        experiments = [
            e
            for e in self.catalog.experiments
            if e.surface is Surface.PLAN_PRICE and plan_id in e.audience.plans
        ]
        points: list[PricePoint] = []
        exposed, first = 0, now
        async with self.uow.begin():
            for experiment in experiments:
                rows = await self.store.assignments(experiment.id)
                since = min((r.exposed_at for r in rows), default=now)
                happened = await self.store.events_of(sorted({r.person_id for r in rows}), since)
                points += _price_points(experiment, plan.monthly_stars, rows, happened, now)
                exposed += len(rows)
                first = min(first, since)
            paid = await self.history.monthly_payments(plan_id) if self.history else []
            if staff_id is not None:
                self.audit.record(staff_id, "whatif", now, plan=plan_id, price=price)
            await self.uow.commit()
        days = max((now - first).total_seconds() / 86400, 1.0)
        found = what_if(plan_id, price, plan.monthly_stars, points, exposed / days * 30)
        return replace(found, history=history_points(paid, now))

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


def _price_points(
    experiment: Experiment,
    catalog_price: int,
    rows: Sequence[AssignmentRecord],
    happened: Sequence[tuple[int, Happened]],
    now: datetime,
) -> list[PricePoint]:
    """Per arm of a price experiment: the price shown (the holdout's is the catalog's) and
    what became of the measured people."""
    by_person: dict[int, list[Happened]] = defaultdict(list)
    for person_id, event in happened:
        by_person[person_id].append(event)
    counts: dict[str, list[int]] = {v.id: [0, 0, 0] for v in experiment.arms()}
    for row in rows:
        if row.variant_id not in counts:
            continue
        got = outcome(Surface.PLAN_PRICE, row.exposed_at, by_person[row.person_id], now)
        if got.measured:
            tally = counts[row.variant_id]
            tally[0] += 1
            tally[1] += got.converted
            tally[2] += got.churned
    return [PricePoint(v.monthly_stars or catalog_price, *counts[v.id]) for v in experiment.arms()]


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


def _draw_whatif(found: WhatIf, title: str, label: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = [(str(e.stars), e.revenue_12m) for e in (found.today, found.at_price) if e is not None]
    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    values = [r.value for _, r in shown]
    below = [r.value - r.low for _, r in shown]
    above = [r.high - r.value for _, r in shown]
    axes.bar([n for n, _ in shown], values, color="#2a6f97", yerr=[below, above], capsize=6)
    axes.set_ylabel(label)
    axes.set_ylim(bottom=0)
    axes.set_title(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


async def whatif_chart_png(found: WhatIf, *, title: str, label: str) -> bytes | None:
    """12-month revenue at today's price and at the asked one, with their ranges; None when
    neither can be estimated."""
    if found.today is None and found.at_price is None:
        return None
    return await asyncio.to_thread(_draw_whatif, found, title, label)
