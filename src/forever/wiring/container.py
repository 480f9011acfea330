"""The typed container: what is built once per process and shared by every area."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from forever.config import Settings
from forever.db.outbox import SqlOutbox
from forever.db.repositories.core import SqlEventLog, SqlPeople, SqlSubscriptions
from forever.db.transactions import SqlUnitOfWork
from forever.domain.catalog import Catalog
from forever.domain.clock import Clock
from forever.domain.flood import FloodGuard
from forever.domain.signing import Signer
from forever.jobs.delivery import DeliverySignal
from forever.metrics import Metrics
from forever.rendering import Renderer
from forever.telegram.broadcasts import Broadcasting
from forever.telegram.labels import Labels
from forever.telegram.views import Views


def new_instance_id() -> str:
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass
class Container:
    """Everything the handlers, jobs and web endpoints use, built once per process."""

    settings: Settings
    clock: Clock
    catalog: Catalog
    renderer: Renderer
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    signer: Signer
    # Keys the experiment assignment hash (derived from SECRET_KEY; see domain/experiments.py).
    experiment_key: bytes = b""
    # Learnt from Telegram at start (getMe): win-back links open the bot by its username.
    bot_username: str | None = None
    metrics: Metrics = field(default_factory=Metrics)
    # Names this process in leases and claims (outbox, update inbox, broadcasts).
    instance: str = field(default_factory=new_instance_id)
    # The broadcast sender: tests and benchmarks may set its limiter or config before start.
    broadcasting: Broadcasting = field(default_factory=Broadcasting)
    # Wakes the outbox delivery worker after a commit that queued a row due now.
    delivery_kick: DeliverySignal = field(default_factory=DeliverySignal)
    # The unit of work and the shared repositories on it (built from `sessions`).
    uow: SqlUnitOfWork = field(init=False)
    people_repo: SqlPeople = field(init=False)
    subscriptions: SqlSubscriptions = field(init=False)
    events: SqlEventLog = field(init=False)
    outbox: SqlOutbox = field(init=False)
    # The per-user flood guard (in memory: per process). Tests may replace it (a fake clock)
    # before the Runtime is built.
    flood: FloodGuard = field(init=False)
    # Button labels and the chat views, read once (handlers receive them by name).
    labels: Labels = field(init=False)
    views: Views = field(init=False)

    def __post_init__(self) -> None:
        self.uow = SqlUnitOfWork(self.sessions)
        self.people_repo = SqlPeople(self.uow)
        self.subscriptions = SqlSubscriptions(self.uow)
        self.events = SqlEventLog(self.uow)
        # A row due now wakes the delivery worker after its commit (in process; NOTIFY on
        # PostgreSQL for the other instances).
        self.outbox = SqlOutbox(self.uow, self.delivery_kick.kick, self.instance)
        self.flood = FloodGuard(self.settings.flood_rate, self.settings.flood_burst)
        self.labels = Labels()
        self.views = Views(self.renderer, self.labels, self.catalog)

    async def close(self) -> None:
        await self.engine.dispose()
