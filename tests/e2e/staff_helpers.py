"""Helpers for the staff e2e tests: people in bulk, waiting for a background job."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import insert, select

from forever.app import Container
from forever.db.models import Broadcast, Person, Subscription
from forever.sandbox.fake_bot_api import FakeBotAPI, FakeMessage, FakeUser, Media
from forever.sandbox.fake_bot_api.formatting import format_text
from tests.conftest import START


async def add_people(
    container: Container,
    tg: FakeBotAPI,
    ids: range | list[int],
    *,
    state: str | None = None,
    plan: str | None = None,
    billing: str | None = None,
    language: str = "en",
) -> None:
    """People who opened the bot before (so the bot may write to them), in bulk."""
    for telegram_id in ids:
        tg.add_user(telegram_id, f"P{telegram_id}", language_code=language, started=True)
    async with container.sessions.begin() as session:
        await session.execute(
            insert(Person),
            [
                {
                    "telegram_id": t,
                    "first_name": f"P{t}",
                    "language": language,
                    "created_at": START,
                    "email_status": "none",
                }
                for t in ids
            ],
        )
        if state is not None:
            people = (
                await session.execute(select(Person.id).where(Person.telegram_id.in_(list(ids))))
            ).scalars()
            await session.execute(
                insert(Subscription),
                [
                    {
                        "person_id": pid,
                        "state": state,
                        "plan_id": plan,
                        "billing": billing,
                        "period_end": START + timedelta(days=20),
                        "auto_renew": False,
                        "updated_at": START,
                        "version": 1,
                    }
                    for pid in people
                ],
            )


async def wait_for(predicate: Callable[[], bool], within: float = 20.0) -> None:
    """Wait for a background job (real time: the sender runs on its own)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


async def broadcast_status(container: Container, broadcast_id: int) -> str:
    async with container.sessions() as session:
        return str(
            await session.scalar(select(Broadcast.status).where(Broadcast.id == broadcast_id))
        )


async def wait_for_status(
    container: Container, broadcast_id: int, statuses: set[str], within: float = 20.0
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while await broadcast_status(container, broadcast_id) not in statuses:
        if loop.time() > deadline:
            raise TimeoutError(f"broadcast {broadcast_id} did not reach {statuses}")
        await asyncio.sleep(0.05)


async def send_rich(
    user: FakeUser,
    *,
    text: str | None = None,
    entities: tuple[dict, ...] = (),
    media_kind: str | None = None,
    extra: dict | None = None,
) -> FakeMessage:
    """What the fake's FakeUser cannot send yet: formatted text, media with a caption, or
    other message types (a location...). Built like FakeUser.send_text does."""
    fake = user.fake
    chat = user.chat
    user.record.started = True
    media = None
    if media_kind is not None:
        media = Media(media_kind, fake.state.new_file(media_kind, data=b"\x89PNG fake"))
    html = ""
    if text:
        html = format_text(text, None, list(entities), is_caption=media is not None).html
    message = FakeMessage(
        message_id=chat.allocate_id(),
        chat=user.record.chat_json(),
        sender=user.record.to_json(),
        date=fake.state.now(),
        from_bot=False,
        text=text,
        html=html,
        entities=entities,
        media=media,
        extra=extra or {},
    )
    await user._post_message(chat, message, wait=True)
    return message


async def only_job(container: Container) -> int:
    """The id of the one broadcast that was confirmed."""
    async with container.sessions() as session:
        ids = (await session.scalars(select(Broadcast.id).where(Broadcast.status != "draft"))).all()
    assert len(ids) == 1
    return ids[0]
