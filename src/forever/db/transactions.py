"""The SQL unit of work: one AsyncSession per `begin()` block, shared by every repository
used inside it (through a context variable, so concurrent tasks never share a session)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from forever.services.ports import ConcurrentChange

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Open:
    session: AsyncSession
    depth: int = 1
    committed: bool = False
    # Run once the outermost block has committed (e.g. wake the outbox delivery worker).
    after_commit: list[Callable[[], None]] = field(default_factory=list)


class SqlUnitOfWork:
    """Implements services.ports.UnitOfWork. A nested `begin()` joins the open transaction;
    only the outermost block's `commit()` commits."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._current: ContextVar[_Open | None] = ContextVar(f"uow-{id(self)}", default=None)

    @property
    def session(self) -> AsyncSession:
        """The open transaction's session (repositories only)."""
        current = self._current.get()
        if current is None:
            raise RuntimeError("a repository was used outside a unit of work")
        return current.session

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[None]:
        outer = self._current.get()
        if outer is not None:
            outer.depth += 1
            try:
                yield
            finally:
                outer.depth -= 1
            return
        async with self._sessions() as session:
            token = self._current.set(_Open(session))
            try:
                yield
            except StaleDataError as exc:
                await session.rollback()
                raise ConcurrentChange(str(exc)) from exc
            except BaseException:
                await session.rollback()
                raise
            finally:
                self._current.reset(token)
            # Left without commit: closing the session rolls the database back, and leaves
            # what was read loaded (a rollback would expire it), so a read-only use case can
            # return records for the caller to render.

    async def flush(self) -> None:
        try:
            await self.session.flush()
        except StaleDataError as exc:
            raise ConcurrentChange(str(exc)) from exc

    async def commit(self) -> None:
        current = self._current.get()
        if current is None:
            raise RuntimeError("commit outside a unit of work")
        if current.depth > 1:
            return  # the outermost block commits
        try:
            await current.session.commit()
        except StaleDataError as exc:
            raise ConcurrentChange(str(exc)) from exc
        current.committed = True
        hooks, current.after_commit = current.after_commit, []
        for hook in hooks:
            try:
                hook()
            except Exception:  # committed all the same: the caller must not see a failure
                log.exception("an after-commit hook failed")

    def after_commit(self, hook: Callable[[], None]) -> bool:
        """Call `hook` once the open transaction has committed (not at all if it rolls
        back). The same hook given twice in one transaction runs once: False the second
        time."""
        current = self._current.get()
        if current is None:
            raise RuntimeError("after_commit outside a unit of work")
        if hook in current.after_commit:
            return False
        current.after_commit.append(hook)
        return True
