"""One live process per instance name.

A restarted instance keeps its name (wiring/container.py stable_instance_id) and takes back
what its killed predecessor left claimed (db/recovery.py). That is only safe while no other
live process uses the name: the process owns the name through a short lease it renews every
few seconds. The lease's holder says which host and process hold it, so a newcomer on the same
host whose predecessor's process is gone takes the name at once; otherwise it waits for the
lease to lapse (a few seconds). If the lease keeps being renewed, another process runs under
that name and the newcomer takes a name of its own (logged as an error: two instances were
given one INSTANCE_ID).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from forever.db.leases import acquire_lease, release_lease, take_over_lease
from forever.db.models import Lease
from forever.db.recovery import Reclaimed, reclaim_own_claims
from forever.domain.clock import Clock
from forever.logs import describe_error

log = logging.getLogger(__name__)

NAME_LEASE_TTL = timedelta(seconds=6)
HEARTBEAT_SECONDS = 2.0
CLAIM_POLL_SECONDS = 0.5


def lease_name(instance: str) -> str:
    return f"instance:{instance}"


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _process_gone(pid: int) -> bool:
    if pid == os.getpid():  # a restarted container gets its predecessor's pid (1)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, someone else's
        return False
    return False


def predecessor_gone(holder: str, host: str) -> bool:
    """The holder `<name>#<host>#<pid>#<nonce>` was a process on this host that is gone."""
    parts = holder.rsplit("#", 3)
    if len(parts) != 4 or parts[1] != host or not parts[2].isdigit():
        return False
    return _process_gone(int(parts[2]))


class InstanceName:
    """The lease on this process's instance name: `claim` at start, `keep` while running."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        name: str,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.name = name
        self._host = _host_tag()
        # This process, not the name: which host and pid (so a successor on the same host can
        # tell that it died), and a nonce (pids are reused).
        self.holder = f"{name}#{self._host}#{os.getpid()}#{secrets.token_hex(2)}"
        self._sleep = sleep
        self._monotonic = monotonic

    async def claim(self, wait: timedelta = NAME_LEASE_TTL) -> bool:
        """Own the name: at once if free, else when the previous holder's lease lapses (it
        died). False if it is still held after `wait` plus a heartbeat: a live process."""
        deadline = self._monotonic() + wait.total_seconds() + HEARTBEAT_SECONDS
        while not await self.renew():
            if await self._take_from_dead_predecessor():
                return True
            if self._monotonic() >= deadline:
                return False
            await self._sleep(CLAIM_POLL_SECONDS)
        return True

    async def _take_from_dead_predecessor(self) -> bool:
        async with self.sessions.begin() as session:
            holder = await session.scalar(
                select(Lease.holder).where(Lease.name == lease_name(self.name))
            )
            if holder is None or not predecessor_gone(holder, self._host):
                return False
            return await take_over_lease(
                session,
                lease_name(self.name),
                from_holder=holder,
                holder=self.holder,
                ttl=NAME_LEASE_TTL,
                now=self.clock.now(),
            )

    async def renew(self) -> bool:
        async with self.sessions.begin() as session:
            return await acquire_lease(
                session,
                lease_name(self.name),
                holder=self.holder,
                ttl=NAME_LEASE_TTL,
                now=self.clock.now(),
            )

    async def reclaim(self) -> Reclaimed:
        """What the previous process of this name left claimed is due again now."""
        async with self.sessions.begin() as session:
            reclaimed = await reclaim_own_claims(session, self.name, self.clock.now())
        if reclaimed.total:
            log.info(
                "took back what the previous process left in flight: %s emails or chat "
                "messages, %s updates, %s broadcast recipients",
                reclaimed.outbox,
                reclaimed.updates,
                reclaimed.broadcast,
            )
        return reclaimed

    async def keep(self) -> None:
        """Renew the lease until cancelled; a database outage is logged and retried."""
        while True:
            await self._sleep(HEARTBEAT_SECONDS)
            try:
                if not await self.renew():
                    log.error("instance name %s was taken by another process", self.name)
            except Exception as error:
                log.warning("could not renew the instance name lease: %s", describe_error(error))

    async def release(self) -> None:
        with contextlib.suppress(Exception):  # best effort: the lease lapses anyway
            async with self.sessions.begin() as session:
                await release_lease(
                    session, lease_name(self.name), holder=self.holder, now=self.clock.now()
                )
