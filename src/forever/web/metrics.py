"""GET /metrics in Prometheus text format, on its own listener (METRICS_HOST/METRICS_PORT,
loopback by default), never on the public web server.

Gauges that describe shared state (queue depth, active subscribers) are read from the
database, so every instance reports the same truth; at most once every
GAUGE_REFRESH_SECONDS, whatever the scrape rate, so scrapes never load the database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
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
GAUGE_REFRESH_SECONDS = 15.0


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


class GaugeRefresher:
    """Reads the gauges from the database at most once every `interval` seconds."""

    def __init__(
        self,
        container: MetricsSource,
        interval: float = GAUGE_REFRESH_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.container = container
        self.interval = interval
        self._monotonic = monotonic
        self._last: float | None = None

    async def maybe_refresh(self) -> None:
        now = self._monotonic()
        if self._last is not None and now - self._last < self.interval:
            return
        # Set first: a failing database is not retried on every scrape either.
        self._last = now
        try:
            await refresh_gauges(self.container)
        except Exception:
            # Counters are still worth serving when the database is away.
            log.warning("metrics: could not read gauges from the database", exc_info=True)
            self.container.metrics.errors.labels("metrics").inc()


def build_metrics_app(
    container: MetricsSource, refresher: GaugeRefresher | None = None
) -> web.Application:
    """The metrics listener's whole app: GET /metrics and nothing else."""
    gauges = refresher or GaugeRefresher(container)

    async def metrics_view(request: web.Request) -> web.Response:
        await gauges.maybe_refresh()
        body = generate_latest(container.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application(client_max_size=1024)
    app.router.add_get("/metrics", metrics_view)
    return app
