"""/points (issue 19): the balance, what expires next, the history, and a button per reward of
the catalog; a tap redeems once (the tap's id is the ledger's key), and the answer says what
happened: done, too few points, not for this plan, no membership to add days to."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from forever.domain.catalog import Catalog
from forever.domain.points import Reward
from forever.rendering import Renderer
from forever.services.people import Customer
from forever.services.points import Outcome, PointsLedger
from forever.telegram.callbacks import Nav, NavView, PointsCb
from forever.telegram.labels import Labels
from forever.telegram.views import cb, keyboard


def _reward_name(reward: Reward, catalog: Catalog, locale: str) -> str | None:
    """An add-on's name in the person's language; None for extra days (the text says it)."""
    if reward.addon is None:
        return None
    addon = catalog.addon(reward.addon)
    return (addon.name.get(locale) or addon.name["en"]) if addon else reward.addon


def _rewards(catalog: Catalog, locale: str) -> list[dict[str, Any]]:
    return [
        {"name": _reward_name(r, catalog, locale), "days": r.days, "points": r.points}
        for r in catalog.points.rewards
    ]


async def _show(
    bot: Bot,
    chat_id: int,
    person: Customer,
    points: PointsLedger,
    catalog: Catalog,
    renderer: Renderer,
    labels: Labels,
) -> None:
    locale = person.language
    view = await points.view(person.id, last=10)
    text = renderer.chat(
        "points",
        locale,
        enabled=catalog.points.enabled,
        balance=view.balance,
        expiring=view.expiring,
        entries=list(view.entries),
        rewards=_rewards(catalog, locale),
    )
    rows = []
    for reward in catalog.points.rewards:
        name = _reward_name(reward, catalog, locale)
        label = (
            labels.redeem_addon(locale, name, reward.points)
            if name is not None
            else labels.redeem_days(locale, reward.days or 0, reward.points)
        )
        rows.append([cb(label, PointsCb(reward=reward.id))])
    await bot.send_message(chat_id, text, reply_markup=keyboard(*rows))


async def points_command(
    message: Message,
    person: Customer,
    points: PointsLedger,
    catalog: Catalog,
    renderer: Renderer,
    labels: Labels,
    bot: Bot,
) -> None:
    await _show(bot, message.chat.id, person, points, catalog, renderer, labels)


async def points_button(
    query: CallbackQuery,
    person: Customer,
    points: PointsLedger,
    catalog: Catalog,
    renderer: Renderer,
    labels: Labels,
    bot: Bot,
) -> None:
    await query.answer()
    await _show(bot, query.from_user.id, person, points, catalog, renderer, labels)


async def redeem(
    query: CallbackQuery,
    callback_data: PointsCb,
    person: Customer,
    points: PointsLedger,
    catalog: Catalog,
    renderer: Renderer,
    bot: Bot,
) -> None:
    locale = person.language
    result = await points.redeem(query.from_user.id, callback_data.reward, key=query.id)
    reward = result.reward
    text = renderer.chat(
        "points_redeemed",
        locale,
        outcome=result.outcome.value,
        name=_reward_name(reward, catalog, locale) if reward else None,
        days=reward.days if reward else None,
        cost=reward.points if reward else 0,
        balance=result.balance,
        until=result.until,
    )
    ok = result.outcome in (Outcome.DONE, Outcome.REPEATED)
    await query.answer(None if ok else text, show_alert=not ok)
    if result.outcome is not Outcome.REPEATED:
        await bot.send_message(query.from_user.id, text)


async def bad_button(query: CallbackQuery, person: Customer, renderer: Renderer) -> None:
    """Callback data that starts like a points button but does not unpack (forged, or cut)."""
    text = renderer.chat("points_redeemed", person.language, outcome="unknown_reward")
    await query.answer(text, show_alert=True)


def build_router() -> Router:
    router = Router(name="points")
    router.message.register(points_command, Command("points"))
    router.callback_query.register(points_button, Nav.filter(F.view == NavView.POINTS))
    router.callback_query.register(redeem, PointsCb.filter())
    router.callback_query.register(bad_button, F.data.startswith("pt:") | (F.data == "pt"))
    return router
