"""Who is talking, on SQLite and PostgreSQL: first updates racing create one person and one
signed_up event; later updates write only when something we keep changed."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from forever.app import Container
from forever.db.models import Event, Person
from forever.domain.clock import ManualClock
from forever.domain.people import SEEN_RESOLUTION
from forever.services.people import TelegramUser
from forever.wiring import customers
from tests.conftest import START


async def test_first_updates_racing_create_one_person_and_one_sign_up(
    container: Container,
) -> None:
    identify = customers.build(container).identify_person
    user = TelegramUser(4242, "Ana", "ana", "it")
    seen = await asyncio.gather(*(identify(user) for _ in range(4)))
    assert len({p.id for p in seen}) == 1
    assert {p.language for p in seen} == {"it"}
    async with container.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Person)) == 1
        kinds = list(await session.scalars(select(Event.kind)))
    assert kinds == ["signed_up"]


async def test_last_seen_is_kept_within_minutes_and_writing_again_unblocks(
    container: Container, clock: ManualClock
) -> None:
    identify = customers.build(container).identify_person
    user = TelegramUser(4243, "Ana", None, "en")
    first = await identify(user)
    assert first.last_seen_at == START

    async def stored() -> Person:
        async with container.sessions() as session:
            person = await session.get(Person, first.id)
        assert person is not None
        return person

    clock.advance(timedelta(minutes=1))
    await identify(user)
    assert (await stored()).last_seen_at == START  # a moment later: nothing written
    later = clock.advance(SEEN_RESOLUTION)
    await identify(user)
    assert (await stored()).last_seen_at == later

    async with container.sessions.begin() as session:
        person = await session.get(Person, first.id)
        assert person is not None
        person.blocked_at = later
    clock.advance(timedelta(seconds=5))
    again = await identify(TelegramUser(4243, "Ana", "ana_new", "en"))
    assert again.blocked_at is None
    now = await stored()
    assert now.blocked_at is None and now.username == "ana_new"
