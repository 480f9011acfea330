"""/stats: load the event history, compute the figures (domain/kpi.py), draw the chart."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from forever.db.models import Event
from forever.domain.kpi import EventRow, Kpis, compute

MAX_DAYS = 3650


async def kpis_for(session: AsyncSession, *, days: int, now: datetime) -> Kpis:
    start = now - timedelta(days=days)
    rows = await session.execute(
        select(Event.kind, Event.at, Event.person_id, Event.data)
        .where(Event.at < now)
        .order_by(Event.at, Event.id)
    )
    events = [EventRow(kind, at, person_id, data or {}) for kind, at, person_id, data in rows]
    return compute(events, start, now)


def _draw(kpis: Kpis, title: str, active_label: str, churn_label: str) -> bytes:
    # The object API (no pyplot): no global figure state, safe in a worker thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    days = [p.day for p in kpis.series]
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
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


async def chart_png(kpis: Kpis, *, title: str, active_label: str, churn_label: str) -> bytes:
    """The chart as PNG, drawn in a thread so the bot keeps answering meanwhile."""
    return await asyncio.to_thread(_draw, kpis, title, active_label, churn_label)
