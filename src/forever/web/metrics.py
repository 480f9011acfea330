"""GET /metrics in Prometheus text format.

Gauges that describe shared state (queue depth, active subscribers) are read from the
database at scrape time, so every instance reports the same truth.
"""

from __future__ import annotations

import logging
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from forever.db.models import BroadcastDelivery, OutboxMessage, Subscription, UpdateInbox
from forever.domain.lifecycle import HAS_ACCESS
from forever.metrics import Metrics

log = logging.getLogger(__name__)

WAITING = ("pending", "sending")


class MetricsSource(Protocol):
    """What /metrics reads: this process's registry and the database (for the gauges)."""

    @property
    def metrics(self) -> Metrics: ...

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]: ...


async def refresh_gauges(container: MetricsSource) -> None:
    metrics = container.metrics
    async with container.sessions() as session:
        outbox = dict(
            (
                await session.execute(
                    select(OutboxMessage.channel, func.count())
                    .where(OutboxMessage.status.in_(WAITING))
                    .group_by(OutboxMessage.channel)
                )
            ).all()
        )
        broadcast = await session.scalar(
            select(func.count())
            .select_from(BroadcastDelivery)
            .where(BroadcastDelivery.status.in_(WAITING))
        )
        updates = await session.scalar(
            select(func.count()).select_from(UpdateInbox).where(UpdateInbox.processed_at.is_(None))
        )
        states = dict(
            (
                await session.execute(
                    select(Subscription.state, func.count())
                    .where(Subscription.state.in_([s.value for s in HAS_ACCESS]))
                    .group_by(Subscription.state)
                )
            ).all()
        )
    for channel in ("email", "chat"):
        metrics.queue_depth.labels(f"outbox_{channel}").set(outbox.get(channel, 0))
    metrics.queue_depth.labels("broadcast").set(broadcast or 0)
    metrics.queue_depth.labels("updates").set(updates or 0)
    for state in sorted(s.value for s in HAS_ACCESS):
        metrics.active_subscribers.labels(state).set(states.get(state, 0))


def install(app: web.Application, container: MetricsSource) -> None:
    async def metrics_view(request: web.Request) -> web.Response:
        try:
            await refresh_gauges(container)
        except Exception:
            # Counters are still worth serving when the database is away.
            log.warning("metrics: could not read gauges from the database", exc_info=True)
            container.metrics.errors.labels("metrics").inc()
        body = generate_latest(container.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/metrics", metrics_view)
