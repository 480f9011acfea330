"""Helpers for the customer-side e2e tests: reading the database behind the bot."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from forever.db.models import Event, Invoice, Payment, Person, Subscription
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.services.accounts import Snapshot
from forever.wiring.lifecycle import account_reader


async def snap(bot: Runtime, telegram_id: int) -> Snapshot:
    found = await account_reader(bot.container).by_telegram_id(telegram_id)
    assert found is not None, f"no person for {telegram_id}"
    return found


async def events(
    bot: Runtime, telegram_id: int | None = None, kind: str | None = None
) -> list[Event]:
    async with bot.container.sessions() as session:
        query = select(Event).order_by(Event.id)
        if telegram_id is not None:
            person_id = await session.scalar(
                select(Person.id).where(Person.telegram_id == telegram_id)
            )
            query = query.where(Event.person_id == person_id)
        if kind is not None:
            query = query.where(Event.kind == kind)
        return list(await session.scalars(query))


async def kinds(bot: Runtime, telegram_id: int) -> list[str]:
    return [e.kind for e in await events(bot, telegram_id)]


async def count(bot: Runtime, model: Any, **where: Any) -> int:
    async with bot.container.sessions() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(await session.scalar(query) or 0)


async def subscription(bot: Runtime, telegram_id: int) -> Subscription:
    async with bot.container.sessions() as session:
        person_id = await session.scalar(select(Person.id).where(Person.telegram_id == telegram_id))
        row = await session.scalar(select(Subscription).where(Subscription.person_id == person_id))
        assert row is not None
        return row


def unanswered_callbacks(tg: Any) -> list[str]:
    """Callback data of every button press the bot left without an answer."""
    return [q.data for q in tg.state.callback_queries.values() if q.answer is None]


__all__ = [
    "Invoice",
    "Payment",
    "count",
    "events",
    "kinds",
    "snap",
    "subscription",
    "unanswered_callbacks",
]


def edits(tg: FakeBotAPI) -> list[tuple[str, str]]:
    return [
        (c.params["telegram_payment_charge_id"], str(c.params["is_canceled"]).lower())
        for c in tg.calls_to("editUserStarSubscription")
    ]


async def edits_soon(tg: FakeBotAPI, wanted: tuple[str, str]) -> list[tuple[str, str]]:
    """The Stars edit leaves through the outbox after the commit, and the delivery worker is
    woken at once: it reaches Telegram within about a second of the tap."""
    for _ in range(100):  # 2 s at most
        if wanted in edits(tg):
            break
        await asyncio.sleep(0.02)
    return edits(tg)
