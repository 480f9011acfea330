"""Fake of services.access.AccessStore over the shared FakeStore (grants and chat members in
`store.extra`, so a rolled-back unit of work forgets them too)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from forever.services.access import AddonHolding, Holder, Presence
from tests.fakes.core import FakeStore


@dataclass
class FakeGrant:
    id: int
    person_id: int
    chat_id: int
    telegram_id: int | None
    status: str
    round: int
    granted_at: datetime
    lost_at: datetime | None = None
    removed_at: datetime | None = None


class FakeAccessStore:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        store.extra.setdefault("grants", [])
        store.extra.setdefault("members", {})

    @property
    def _grants(self) -> list[FakeGrant]:
        grants: list[FakeGrant] = self.store.extra["grants"]
        return grants

    @property
    def _members(self) -> dict[tuple[int, int], str]:
        members: dict[tuple[int, int], str] = self.store.extra["members"]
        return members

    async def holders(self, person_ids: Collection[int] | None) -> Sequence[Holder]:
        out = []
        for sub in self.store.subscriptions.values():
            if person_ids is not None and sub.person_id not in person_ids:
                continue
            person = self.store.people[sub.person_id]
            out.append(
                Holder(person.id, person.telegram_id, sub.state, sub.plan_id, person.language)
            )
        return out

    async def grants(self, person_ids: Collection[int] | None) -> Sequence[FakeGrant]:
        return [g for g in self._grants if person_ids is None or g.person_id in person_ids]

    async def grant_of(self, chat_id: int, telegram_id: int) -> FakeGrant | None:
        found = [g for g in self._grants if g.chat_id == chat_id and g.telegram_id == telegram_id]
        return sorted(found, key=lambda g: g.status)[0] if found else None

    def add_grant(
        self, *, person_id: int, chat_id: int, telegram_id: int | None, now: datetime
    ) -> FakeGrant:
        grant = FakeGrant(len(self._grants) + 1, person_id, chat_id, telegram_id, "granted", 1, now)
        self._grants.append(grant)
        return grant

    async def addon_holdings(
        self, person_ids: Collection[int] | None, addon_ids: Collection[str]
    ) -> Sequence[AddonHolding]:
        held: list[AddonHolding] = self.store.extra.get("addon_purchases", [])
        return [
            h
            for h in held
            if h.addon_id in addon_ids and (person_ids is None or h.person_id in person_ids)
        ]

    async def present(self, chat_ids: Collection[int]) -> Sequence[Presence]:
        return [
            Presence(chat, user, status)
            for (chat, user), status in self._members.items()
            if chat in chat_ids and status in ("member", "restricted")
        ]

    async def set_member(self, chat_id: int, user_id: int, status: str, now: datetime) -> None:
        self._members[(chat_id, user_id)] = status

    async def mark_removing(self, pairs: Collection[tuple[int, int]], now: datetime) -> None:
        for pair in pairs:
            if self._members.get(pair) in ("member", "restricted"):
                self._members[pair] = "removing"

    async def given_up_removals(self, chat_ids: Collection[int]) -> Sequence[dict[str, Any]]:
        latest: dict[tuple[int, int], tuple[str, dict[str, Any]]] = {}
        for row in self.store.outbox.values():  # in the order queued
            if row.template == "access_remove":
                pair = (row.context["chat_id"], row.context["user_id"])
                latest[pair] = (row.status, row.context)
        return [
            latest[pair][1]
            for pair, status in self._members.items()
            if pair[0] in chat_ids
            and status == "removing"
            and pair in latest
            and latest[pair][0] == "failed"
        ]

    async def member_counts(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for (chat, _), status in self._members.items():
            if status in ("member", "restricted"):
                counts[chat] = counts.get(chat, 0) + 1
        return counts

    async def changed_since(
        self, event_id: int | None, kinds: Collection[str]
    ) -> tuple[int | None, set[int]]:
        events = self.store.events
        newest = events[-1].id if events else None
        if event_id is None:
            return newest, set()
        people = {
            e.person_id
            for e in events
            if e.id > event_id and e.kind in kinds and e.person_id is not None
        }
        return newest, people

    async def presence_of(self, user_id: int) -> dict[int, str]:
        return {chat: s for (chat, user), s in self._members.items() if user == user_id}
