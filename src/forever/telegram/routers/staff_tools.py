"""/stats, /user, /grant and /audit for staff. Everyone else never reaches these handlers."""

from __future__ import annotations

import secrets

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from forever.app import Container
from forever.db.models import Person
from forever.services import staff, stats
from forever.telegram.staff_filter import IsStaff
from forever.telegram.staff_texts import StaffTexts

DEFAULT_DAYS = 30


class GrantAct(CallbackData, prefix="grant"):
    action: str  # ok | no
    nonce: str


def _plan_name(container: Container, plan_id: str | None, locale: str) -> str:
    plan = container.catalog.plan(plan_id) if plan_id else None
    return plan.name[locale] if plan else (plan_id or "–")


async def show_stats(
    message: Message,
    command: CommandObject,
    container: Container,
    locale: str,
    person: Person,
) -> None:
    texts = StaffTexts(container.renderer)
    argument = (command.args or "").strip()
    if argument and not (argument.isdigit() and 1 <= int(argument) <= stats.MAX_DAYS):
        await message.answer(texts("stats_bad_days", locale, max_days=stats.MAX_DAYS))
        return
    days = int(argument) if argument else DEFAULT_DAYS
    now = container.clock.now()
    async with container.sessions.begin() as session:
        kpis = await stats.kpis_for(session, days=days, now=now)
        staff.record(session, person.telegram_id or 0, "stats", now, days=days)
    plan_names = {p.id: p.name[locale] for p in container.catalog.plans}
    await message.answer(texts("stats_report", locale, days=days, k=kpis, plan_names=plan_names))
    png = await stats.chart_png(
        kpis,
        title=texts("chart_title", locale, days=days),
        active_label=texts("chart_active", locale),
        churn_label=texts("chart_churn", locale),
    )
    await message.answer_photo(BufferedInputFile(png, filename=f"stats-{days}d.png"))


async def show_user(
    message: Message,
    command: CommandObject,
    container: Container,
    locale: str,
    person: Person,
) -> None:
    texts = StaffTexts(container.renderer)
    who = (command.args or "").strip()
    try:
        staff.parse_who(who)
    except ValueError:
        await message.answer(texts("user_usage", locale))
        return
    now = container.clock.now()
    async with container.sessions.begin() as session:
        found = await staff.find_person(session, who)
        card = await staff.person_card(session, found) if found is not None else None
        staff.record(session, person.telegram_id or 0, "user_lookup", now, query=who)
    if card is None:
        await message.answer(texts("user_not_found", locale, who=who))
        return
    sub = card.subscription
    await message.answer(
        texts(
            "user_card",
            locale,
            p=card.person,
            s=sub,
            events=card.events,
            plan_name=_plan_name(container, sub.plan_id if sub else None, locale),
        )
    )


async def ask_grant(
    message: Message,
    command: CommandObject,
    container: Container,
    locale: str,
    state: FSMContext,
) -> None:
    texts = StaffTexts(container.renderer)
    parts = (command.args or "").split()
    if len(parts) != 3:
        await message.answer(texts("grant_usage", locale))
        return
    who, plan_id, days_text = parts
    try:
        days = staff.parse_days(days_text)
    except ValueError:
        await message.answer(
            texts("grant_bad_days", locale, text=days_text, max_days=staff.MAX_GRANT_DAYS)
        )
        return
    plan = container.catalog.plan(plan_id.lower())
    if plan is None:
        await message.answer(
            texts(
                "grant_unknown_plan",
                locale,
                plan=plan_id,
                plans=[p.id for p in container.catalog.plans_by_tier()],
            )
        )
        return
    try:
        staff.parse_who(who)
    except ValueError:
        await message.answer(texts("grant_usage", locale))
        return
    async with container.sessions() as session:
        target = await staff.find_person(session, who)
    if target is None:
        await message.answer(texts("user_not_found", locale, who=who))
        return
    nonce = secrets.token_hex(4)
    await state.update_data(
        grant={"person": target.id, "plan": plan.id, "days": days, "nonce": nonce}
    )
    await message.answer(
        texts(
            "grant_confirm",
            locale,
            name=target.first_name,
            telegram_id=target.telegram_id,
            plan_name=plan.name[locale],
            days=days,
        ),
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=texts("grant_button", locale),
                        callback_data=GrantAct(action="ok", nonce=nonce).pack(),
                    ),
                    InlineKeyboardButton(
                        text=texts("cancel_button", locale),
                        callback_data=GrantAct(action="no", nonce=nonce).pack(),
                    ),
                ]
            ]
        ),
    )


async def answer_grant(
    query: CallbackQuery,
    callback_data: GrantAct,
    container: Container,
    locale: str,
    state: FSMContext,
    person: Person,
) -> None:
    texts = StaffTexts(container.renderer)
    data = await state.get_data()
    pending = data.get("grant")
    if not pending or pending.get("nonce") != callback_data.nonce:
        await query.answer(texts("grant_stale", locale), show_alert=True)
        return
    # Taken out before applying, so a second tap finds nothing to do.
    await state.update_data(grant=None)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
    if callback_data.action != "ok":
        async with container.sessions.begin() as session:
            staff.record(
                session,
                person.telegram_id or 0,
                "grant_cancelled",
                container.clock.now(),
                **pending,
            )
        if isinstance(query.message, Message):
            await query.message.answer(texts("grant_cancelled", locale))
        return
    now = container.clock.now()
    async with container.sessions.begin() as session:
        membership = await staff.grant(
            session,
            person_id=int(pending["person"]),
            plan_id=str(pending["plan"]),
            days=int(pending["days"]),
            staff_id=person.telegram_id or 0,
            now=now,
        )
        target = await session.get(Person, int(pending["person"]))
    if isinstance(query.message, Message):
        await query.message.answer(
            texts(
                "grant_done",
                locale,
                name=target.first_name if target else None,
                plan_name=_plan_name(container, membership.plan_id, locale),
                until=membership.period_end,
            )
        )


async def show_audit(message: Message, container: Container, locale: str, person: Person) -> None:
    texts = StaffTexts(container.renderer)
    now = container.clock.now()
    async with container.sessions.begin() as session:
        entries = list(await staff.recent_audit(session))
        staff.record(session, person.telegram_id or 0, "audit_viewed", now)
    await message.answer(texts("audit_list", locale, entries=entries))


def build_router() -> Router:
    router = Router(name="staff_tools")
    router.message.filter(IsStaff())
    router.callback_query.filter(IsStaff())
    router.message.register(show_stats, Command("stats"))
    router.message.register(show_user, Command("user"))
    router.message.register(ask_grant, Command("grant"))
    router.message.register(show_audit, Command("audit"))
    router.callback_query.register(answer_grant, GrantAct.filter(F.action.in_({"ok", "no"})))
    return router
