"""The typed container: what is built once per process and shared by every area."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from forever.config import Settings
from forever.db.one_trip import OneTrip
from forever.db.outbox import SqlOutbox
from forever.db.repositories.core import SqlEventLog, SqlPeople, SqlSubscriptions
from forever.db.transactions import SqlUnitOfWork
from forever.domain.catalog import Catalog, LiveCatalog
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
    """A name no other process has: for a process that must not reuse its predecessor's."""
    return f"{socket.gethostname()[:30]}-{os.getpid()}-{secrets.token_hex(3)}"


def stable_instance_id(settings: Settings) -> str:
    """INSTANCE_ID, else the host name and the web port: the same after a restart (so the
    restarted process takes back its own claims at once), different for two instances on one
    host (they cannot share a port). A port chosen by the system (0) names nothing stable."""
    if settings.instance_id:
        return settings.instance_id
    if settings.web_port:
        return f"{socket.gethostname()[:40]}:{settings.web_port}"
    return new_instance_id()


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
    # Names this instance in leases and claims (outbox, update inbox, broadcasts); empty:
    # stable_instance_id(settings). The runtime makes sure one live process has it.
    instance: str = ""
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
    # Units of work run as one hand-off to the driver (the per-update path: db/one_trip.py).
    one_trip: OneTrip = field(init=False)
    # The per-user flood guard (in memory: per process). Tests may replace it (a fake clock)
    # before the Runtime is built.
    flood: FloodGuard = field(init=False)
    # Button labels and the chat views, read once (handlers receive them by name).
    labels: Labels = field(init=False)
    views: Views = field(init=False)

    def __post_init__(self) -> None:
        # One LiveCatalog shared by everything built from here: the console swaps what it
        # holds, whole (wiring/console.py put_in_force).
        if not isinstance(self.catalog, LiveCatalog):
            self.catalog = LiveCatalog(self.catalog)
        self.instance = self.instance or stable_instance_id(self.settings)
        self.uow = SqlUnitOfWork(self.sessions)
        self.people_repo = SqlPeople(self.uow)
        self.subscriptions = SqlSubscriptions(self.uow)
        self.events = SqlEventLog(self.uow)
        # A row due now wakes the delivery worker after its commit (in process; NOTIFY on
        # PostgreSQL for the other instances).
        self.outbox = SqlOutbox(self.uow, self.delivery_kick.kick, self.instance)
        self.one_trip = OneTrip(self.engine)
        self.flood = FloodGuard(self.settings.flood_rate, self.settings.flood_burst)
        self.labels = Labels()
        self.views = Views(self.renderer, self.labels, self.catalog)

    async def close(self) -> None:
        self.one_trip.close()
        await self.engine.dispose()
