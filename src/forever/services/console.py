"""The owner console's sign-in: a one-time link asked for in the chat, then a session.

A staff member sends /console; the bot answers with a link that works once, within
`LINK_TTL`, for that Telegram id. Opening it (and pressing its button) starts a session
whose token lives in a cookie. Only SHA-256 hashes of both tokens are stored. The role is
read from the settings at each request, so taking someone out of ADMIN_IDS/SUPPORT_IDS
closes the console to them at once.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from forever.domain import console
from forever.domain.clock import Clock
from forever.domain.cohorts import Cohort, cohort_retention, revenue_by_plan
from forever.domain.kpi import Kpis, compute
from forever.services.ports import UnitOfWork
from forever.services.staff import AuditLog
from forever.services.stats import MAX_DAYS, EventHistory


@dataclass(frozen=True, slots=True)
class SessionRow:
    telegram_id: int
    created_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class Staff:
    """Who is signed in, and their session's secret (the CSRF token derives from it)."""

    telegram_id: int
    role: str
    session_token: str

    @property
    def csrf(self) -> str:
        return console.csrf_token(self.session_token)

    def may(self, action: str) -> bool:
        return console.may(self.role, action)


class ConsoleStore(Protocol):
    async def add_link(self, digest: str, telegram_id: int, now: datetime) -> None: ...

    async def take_link(self, digest: str, now: datetime) -> int | None:
        """Mark the link used and return its Telegram id, if it was unused and not expired
        (once only, even with two requests at the same time)."""
        ...

    async def add_session(self, digest: str, telegram_id: int, now: datetime) -> None: ...

    async def session(self, digest: str) -> SessionRow | None: ...

    async def touch(self, digest: str, now: datetime) -> None: ...

    async def end(self, digest: str, now: datetime) -> None: ...

    async def language(self, telegram_id: int) -> str | None:
        """The bot language of the person with this Telegram id, if they have used the bot."""
        ...


class ConsoleAuth:
    def __init__(
        self,
        uow: UnitOfWork,
        store: ConsoleStore,
        audit: AuditLog,
        clock: Clock,
        *,
        owners: Set[int],
        support: Set[int],
    ) -> None:
        self.uow = uow
        self.store = store
        self.audit = audit
        self.clock = clock
        self.owners = owners
        self.support = support

    def role(self, telegram_id: int) -> str | None:
        return console.role_of(telegram_id, self.owners, self.support)

    async def issue_link(self, telegram_id: int) -> str | None:
        """A fresh one-time sign-in token for a staff member (None for anyone else)."""
        if self.role(telegram_id) is None:
            return None
        token = console.new_token()
        now = self.clock.now()
        async with self.uow.begin():
            await self.store.add_link(console.token_hash(token), telegram_id, now)
            self.audit.record(telegram_id, "console_link", now)
            await self.uow.commit()
        return token

    async def sign_in(self, link_token: str) -> Staff | None:
        """Use a link: a new session, or None when the link is unknown, used or expired."""
        now = self.clock.now()
        session_token = console.new_token()
        async with self.uow.begin():
            telegram_id = await self.store.take_link(console.token_hash(link_token), now)
            if telegram_id is None:
                await self.uow.commit()  # nothing changed; keep the transaction tidy
                return None
            role = self.role(telegram_id)
            if role is None:
                await self.uow.commit()  # the link is spent; its owner is staff no more
                return None
            await self.store.add_session(console.token_hash(session_token), telegram_id, now)
            self.audit.record(telegram_id, "console_sign_in", now, role=role)
            await self.uow.commit()
        return Staff(telegram_id, role, session_token)

    async def who(self, session_token: str, *, keep_alive: bool = True) -> Staff | None:
        """The staff member of a live session (and the session is kept alive, unless
        `keep_alive` is False: a page's own polling is not someone using the console), or
        None."""
        now = self.clock.now()
        digest = console.token_hash(session_token)
        async with self.uow.begin():
            row = await self.store.session(digest)
            if row is None or row.ended_at is not None:
                return None
            if not console.session_alive(row.created_at, row.last_seen_at, now):
                return None
            role = self.role(row.telegram_id)
            if role is None:
                return None
            if keep_alive:
                await self.store.touch(digest, now)
                await self.uow.commit()
        return Staff(row.telegram_id, role, session_token)

    async def language(self, staff: Staff) -> str | None:
        """The language the staff member chose for the bot (the console's default), if any."""
        async with self.uow.begin():
            return await self.store.language(staff.telegram_id)

    async def sign_out(self, staff: Staff) -> None:
        now = self.clock.now()
        async with self.uow.begin():
            await self.store.end(console.token_hash(staff.session_token), now)
            self.audit.record(staff.telegram_id, "console_sign_out", now)
            await self.uow.commit()


@dataclass(frozen=True, slots=True)
class Dashboard:
    days: int
    kpis: Kpis
    cohorts: list[Cohort]
    revenue_by_plan: dict[str, int]


class ConsoleDashboard:
    """The dashboard: /stats's figures (domain/kpi.py, same definitions) for the last `days`
    days, plus the cohorts and the revenue per plan, from one read of the history."""

    def __init__(self, uow: UnitOfWork, history: EventHistory, clock: Clock) -> None:
        self.uow = uow
        self.history = history
        self.clock = clock

    async def __call__(self, days: int) -> Dashboard:
        if not 1 <= days <= MAX_DAYS:
            raise ValueError(days)
        now = self.clock.now()
        async with self.uow.begin():
            events = await self.history.until(now)
        start = now - timedelta(days=days)
        return Dashboard(
            days,
            compute(events, start, now),
            cohort_retention(events, now),
            revenue_by_plan(events, start, now),
        )
