"""/stats: load the event history, compute the figures (domain/kpi.py), draw the chart."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime, timedelta
from typing import Any, Protocol

from forever import catalogs
from forever.domain.clock import Clock
from forever.domain.kpi import EventRow, Kpis, compute
from forever.services.ports import UnitOfWork
from forever.services.staff import AuditLog

MAX_DAYS = 3650


class EventHistory(Protocol):
    async def until(self, end: datetime) -> list[EventRow]:
        """Every event up to and including `end`, in time order (the figures replay whole
        histories)."""
        ...


class StaffStats:
    """/stats: the figures for the last `days` days, computed from the event history."""

    def __init__(
        self, uow: UnitOfWork, history: EventHistory, audit: AuditLog, clock: Clock
    ) -> None:
        self.uow = uow
        self.history = history
        self.audit = audit
        self.clock = clock

    async def __call__(self, *, staff_id: int, days: int) -> Kpis:
        now = self.clock.now()
        async with self.uow.begin():
            events = await self.history.until(now)
            self.audit.record(staff_id, "stats", now, days=days)
            await self.uow.commit()
        return compute(events, now - timedelta(days=days), now)


def _draw(kpis: Kpis, title: str, active_label: str, churn_label: str, locale: str) -> bytes:
    # The object API (no pyplot): no global figure state, safe in a worker thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import num2date
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    # Datetimes: matplotlib converts them (its stubs only name numbers and arrays).
    days: list[Any] = [p.day for p in kpis.series]
    figure = Figure(figsize=(8, 4), dpi=100)
    FigureCanvasAgg(figure)
    left = figure.add_subplot()
    left.plot(days, [p.active for p in kpis.series], color="#2a6f97", linewidth=2)
    left.set_ylabel(active_label, color="#2a6f97")
    left.set_ylim(bottom=0)
    right = left.twinx()
    right.bar(days, [p.churned for p in kpis.series], color="#d62828", alpha=0.5, width=0.8)
    right.set_ylabel(churn_label, color="#d62828")
    right.set_ylim(bottom=0)
    left.set_title(title)

    # The days as the reader's language writes them ("23 нояб."), not matplotlib's ISO dates.
    def day(x: float, _position: int) -> str:
        return catalogs.day_month(num2date(x), locale)  # type: ignore[no-untyped-call]

    left.xaxis.set_major_formatter(FuncFormatter(day))
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


async def chart_png(
    kpis: Kpis, *, title: str, active_label: str, churn_label: str, locale: str = "en"
) -> bytes:
    """The chart as PNG, drawn in a thread so the bot keeps answering meanwhile; its days are
    written in `locale`."""
    return await asyncio.to_thread(_draw, kpis, title, active_label, churn_label, locale)
