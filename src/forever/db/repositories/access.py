"""Membership access: grants, who is in each chat, cached invite links (services.access)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from forever.db.models import (
    AccessGrant,
    AccessLink,
    AccessMember,
    AddonPurchase,
    Event,
    OutboxMessage,
    Person,
    Subscription,
)
from forever.db.transactions import SqlUnitOfWork
from forever.domain.events import EventKind
from forever.services.access import REMOVE as REMOVE_TEMPLATE
from forever.services.access import AddonHolding, Holder, Presence


def _postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


class SqlAccessStore:
    """services.access.AccessStore."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def holders(self, person_ids: Collection[int] | None) -> Sequence[Holder]:
        query = select(
            Person.id, Person.telegram_id, Subscription.state, Subscription.plan_id, Person.language
        ).outerjoin(Subscription, Subscription.person_id == Person.id)
        # An add-on opens its chats without a membership (ended ones are closed by their grant).
        bought = select(AddonPurchase.person_id).where(AddonPurchase.refunded_at.is_(None))
        if person_ids is not None:
            query = query.where(
                Person.id.in_(list(person_ids)),
                or_(Subscription.person_id.is_not(None), Person.id.in_(bought)),
            )
        else:
            # Everyone whose membership may open a chat, and everyone holding a grant.
            granted = select(AccessGrant.person_id).where(AccessGrant.status == "granted")
            query = query.where(
                or_(
                    Subscription.state.notin_(("none", "expired")),
                    Person.id.in_(granted),
                    Person.id.in_(bought),
                )
            )
        rows = await self._uow.session.execute(query)
        return [Holder(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    async def addon_holdings(
        self, person_ids: Collection[int] | None, addon_ids: Collection[str]
    ) -> Sequence[AddonHolding]:
        query = select(
            AddonPurchase.person_id,
            AddonPurchase.addon_id,
            AddonPurchase.ends_at,
            AddonPurchase.refunded_at,
        ).where(AddonPurchase.addon_id.in_(list(addon_ids)))
        if person_ids is not None:
            query = query.where(AddonPurchase.person_id.in_(list(person_ids)))
        rows = await self._uow.session.execute(query)
        return [AddonHolding(r[0], r[1], _utc(r[2]), _utc(r[3])) for r in rows]

    async def grants(self, person_ids: Collection[int] | None) -> Sequence[AccessGrant]:
        # Removed grants too: a second grant reuses the row (one per person and chat).
        query = select(AccessGrant)
        if person_ids is not None:
            query = query.where(AccessGrant.person_id.in_(list(person_ids)))
        return list(await self._uow.session.scalars(query.order_by(AccessGrant.id)))

    async def grant_of(self, chat_id: int, telegram_id: int) -> AccessGrant | None:
        return await self._uow.session.scalar(
            select(AccessGrant)
            .where(AccessGrant.chat_id == chat_id, AccessGrant.telegram_id == telegram_id)
            .order_by(AccessGrant.status.asc(), AccessGrant.id.desc())  # 'granted' first
            .limit(1)
        )

    def add_grant(
        self, *, person_id: int, chat_id: int, telegram_id: int | None, now: datetime
    ) -> AccessGrant:
        grant = AccessGrant(
            person_id=person_id,
            chat_id=chat_id,
            telegram_id=telegram_id,
            status="granted",
            round=1,
            granted_at=now,
        )
        self._uow.session.add(grant)
        return grant

    async def present(self, chat_ids: Collection[int]) -> Sequence[Presence]:
        rows = await self._uow.session.execute(
            select(AccessMember.chat_id, AccessMember.user_id, AccessMember.status).where(
                AccessMember.chat_id.in_(list(chat_ids)),
                AccessMember.status.in_(("member", "restricted")),
            )
        )
        return [Presence(r[0], r[1], r[2]) for r in rows]

    async def set_member(self, chat_id: int, user_id: int, status: str, now: datetime) -> None:
        session = self._uow.session
        if status in ("left", "kicked"):
            granted = await session.scalar(
                select(AccessGrant.id).where(AccessGrant.telegram_id == user_id).limit(1)
            )
            if granted is None:
                # Gone, and nobody we know (never given access, or erased): keep no trace.
                await session.execute(
                    delete(AccessMember).where(
                        AccessMember.chat_id == chat_id, AccessMember.user_id == user_id
                    )
                )
                return
        values = {"chat_id": chat_id, "user_id": user_id, "status": status, "updated_at": now}
        keys = ["chat_id", "user_id"]
        changes = {"status": status, "updated_at": now}
        if _postgres(session):
            pg = postgresql.insert(AccessMember).values(**values)
            await session.execute(pg.on_conflict_do_update(index_elements=keys, set_=changes))
        else:
            lite = sqlite.insert(AccessMember).values(**values)
            await session.execute(lite.on_conflict_do_update(index_elements=keys, set_=changes))

    async def mark_removing(self, pairs: Collection[tuple[int, int]], now: datetime) -> None:
        by_chat: dict[int, list[int]] = {}
        for chat_id, user_id in pairs:
            by_chat.setdefault(chat_id, []).append(user_id)
        for chat_id, users in by_chat.items():
            for start in range(0, len(users), 500):  # SQLite's bound parameters
                await self._uow.session.execute(
                    update(AccessMember)
                    .where(
                        AccessMember.chat_id == chat_id,
                        AccessMember.user_id.in_(users[start : start + 500]),
                        AccessMember.status.in_(("member", "restricted")),
                    )
                    .values(status="removing", updated_at=now)
                    .execution_options(synchronize_session=False)
                )

    async def given_up_removals(self, chat_ids: Collection[int]) -> Sequence[dict[str, Any]]:
        session = self._uow.session
        removing = (
            await session.execute(
                select(AccessMember.chat_id, AccessMember.user_id).where(
                    AccessMember.chat_id.in_(list(chat_ids)), AccessMember.status == "removing"
                )
            )
        ).all()
        if not removing:
            return []
        pairs = {(r[0], r[1]) for r in removing}
        users = sorted({user for _, user in pairs})
        latest: dict[tuple[int, int], tuple[str, dict[str, Any]]] = {}
        for start in range(0, len(users), 500):  # SQLite's bound parameters
            user_id = OutboxMessage.context["user_id"].as_integer()
            rows = await session.execute(
                select(OutboxMessage.context, OutboxMessage.status)
                .where(
                    OutboxMessage.template == REMOVE_TEMPLATE,
                    user_id.in_(users[start : start + 500]),
                )
                .order_by(OutboxMessage.id)
            )
            for context, status in rows:
                pair = (int(context.get("chat_id") or 0), int(context.get("user_id") or 0))
                latest[pair] = (status, context)  # the newest row of each pair wins
        return [
            latest[pair][1]
            for pair in sorted(pairs)
            if pair in latest and latest[pair][0] == "failed"
        ]

    async def member_counts(self) -> dict[int, int]:
        rows = await self._uow.session.execute(
            select(AccessMember.chat_id, func.count())
            .where(AccessMember.status.in_(("member", "restricted")))
            .group_by(AccessMember.chat_id)
        )
        return {r[0]: r[1] for r in rows}

    async def changed_since(
        self, event_id: int | None, kinds: Collection[str]
    ) -> tuple[int | None, set[int]]:
        session = self._uow.session
        if event_id is None:
            return await session.scalar(select(func.max(Event.id))), set()
        rows = (
            await session.execute(
                select(Event.id, Event.person_id).where(
                    Event.id > event_id, Event.kind.in_(list(kinds))
                )
            )
        ).all()
        newest = await session.scalar(select(func.max(Event.id)))
        return newest, {r[1] for r in rows if r[1] is not None}

    async def old_plan_paid_until(self, person_id: int) -> datetime | None:
        """When the plan held before the latest plan change would have ended."""
        data = await self._uow.session.scalar(
            select(Event.data)
            .where(Event.person_id == person_id, Event.kind == EventKind.PLAN_CHANGED.value)
            .order_by(Event.id.desc())
            .limit(1)
        )
        text = (data or {}).get("from_period_end")
        if not isinstance(text, str):
            return None
        return datetime.fromisoformat(text)

    async def presence_of(self, user_id: int) -> dict[int, str]:
        rows = await self._uow.session.execute(
            select(AccessMember.chat_id, AccessMember.status).where(AccessMember.user_id == user_id)
        )
        return {r[0]: r[1] for r in rows}


class SqlInviteLinks:
    """The cached join-request link of each chat (jobs.access_effects.LinkCache)."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def get(self, chat_id: int) -> str | None:
        async with self._uow.begin():
            return await self._uow.session.scalar(
                select(AccessLink.invite_link).where(AccessLink.chat_id == chat_id)
            )

    async def put(self, chat_id: int, link: str, now: datetime) -> str:
        """Keeps the first link stored (two workers racing make one each; both work)."""
        async with self._uow.begin():
            session = self._uow.session
            values = {"chat_id": chat_id, "invite_link": link, "created_at": now}
            if _postgres(session):
                await session.execute(
                    postgresql.insert(AccessLink).values(**values).on_conflict_do_nothing()
                )
            else:
                await session.execute(
                    sqlite.insert(AccessLink).values(**values).on_conflict_do_nothing()
                )
            await self._uow.commit()
            stored = await self._uow.session.scalar(
                select(AccessLink.invite_link).where(AccessLink.chat_id == chat_id)
            )
        return stored or link


def _utc(at: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; they were stored in UTC."""
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
