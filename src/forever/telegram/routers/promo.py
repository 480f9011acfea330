"""Promo codes (issue 19): `/promo CODE` and `t.me/<bot>?start=p_CODE` for customers;
`/promo new|list|off` for staff."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message

from forever.domain.catalog import Catalog
from forever.domain.promo import START_PREFIX, PromoError, PromoKind, code_from_start
from forever.rendering import Renderer
from forever.services.people import Customer
from forever.services.promo import Promos, Redeemed
from forever.services.records import PersonRecord
from forever.services.referrals import Referrals
from forever.services.signup import Signup
from forever.telegram.routers import signup as signup_router
from forever.telegram.staff_filter import IsStaff
from forever.telegram.staff_texts import StaffTexts
from forever.telegram.views import Views

STAFF_ACTIONS = frozenset({"new", "list", "off"})


def _plan_names(catalog: Catalog, plans: tuple[str, ...], locale: str) -> list[str]:
    return [p.name[locale] if (p := catalog.plan(i)) else i for i in plans]


def _answer(r: Redeemed, renderer: Renderer, catalog: Catalog, locale: str) -> str:
    spec = r.spec
    plan = catalog.plan(r.plan_id or "")
    return renderer.chat(
        "promo",
        locale,
        outcome=r.refusal.value if r.refusal is not None else "applied",
        code=r.code,
        kind=spec.kind.value if spec else None,
        percent=spec.percent if spec else None,
        days=spec.days if spec else None,
        plans=_plan_names(catalog, spec.plans, locale) if spec else [],
        plan=plan.name[locale] if plan else "",
        until=r.until,
    )


async def use_code(
    message: Message,
    command: CommandObject,
    person: Customer,
    promos: Promos,
    renderer: Renderer,
    catalog: Catalog,
) -> None:
    locale = person.language
    raw = (command.args or "").strip()
    if not raw or len(raw.split()) > 1:
        await message.answer(renderer.chat("promo", locale, outcome="usage", code=raw[:32]))
        return
    redeemed = await promos.redeem(person.id, raw)
    await message.answer(_answer(redeemed, renderer, catalog, locale))


async def start_with_code(
    message: Message,
    command: CommandObject,
    person: Customer,
    signup: Signup,
    promos: Promos,
    views: Views,
    renderer: Renderer,
    catalog: Catalog,
    bot: Bot,
    referrals: Referrals,
) -> None:
    """/start p_CODE: the usual greeting, then the code is used as with /promo CODE."""
    plain = CommandObject(prefix=command.prefix, command=command.command, mention=command.mention)
    await signup_router.start(
        message, plain, person, signup, views, renderer, catalog, bot, referrals
    )
    raw = code_from_start(command.args) or ""
    redeemed = await promos.redeem(person.id, raw)
    await message.answer(_answer(redeemed, renderer, catalog, person.language))


async def staff_promo(
    message: Message,
    command: CommandObject,
    promos: Promos,
    staff_texts: StaffTexts,
    catalog: Catalog,
    locale: str,
    person: PersonRecord,
    bot: Bot,
) -> None:
    texts = staff_texts
    action, _, rest = (command.args or "").strip().partition(" ")
    action = action.lower()
    staff_id = person.telegram_id or 0
    if action == "list":
        codes = await promos.listing()
        listed = {plan for c in codes for plan in c.spec.plans}
        names = dict(zip(listed, _plan_names(catalog, tuple(listed), locale), strict=True))
        await message.answer(texts("promo_list", locale, codes=codes, plan_names=names))
        return
    if action == "off":
        done = await promos.disable(staff_id=staff_id, raw_code=rest)
        await message.answer(texts("promo_off", locale, code=rest.strip()[:32], disabled_now=done))
        return
    try:
        spec = await promos.create(staff_id=staff_id, text=rest)
    except PromoError as problem:
        await message.answer(
            texts(
                "promo_error",
                locale,
                problem=problem.problem,
                value=problem.value,
                known=list(problem.known),
            )
        )
        return
    me = await bot.me()
    link = f"https://t.me/{me.username}?start={START_PREFIX}{spec.code}"
    await message.answer(
        texts(
            "promo_created",
            locale,
            spec=spec,
            percent_kind=spec.kind is PromoKind.PERCENT,
            code_plans=_plan_names(catalog, spec.plans, locale),
            link=link,
        )
    )


async def staff_usage(message: Message, staff_texts: StaffTexts, locale: str) -> None:
    await message.answer(staff_texts("promo_usage", locale))


def build_staff_router() -> Router:
    """Before the customers' router: staff's `/promo new|list|off` (any other /promo from
    staff is a customer's use of a code, and `/promo` alone shows staff the syntax)."""
    router = Router(name="staff_promo")
    router.message.filter(IsStaff())
    router.message.register(staff_promo, Command("promo", magic=F.args.func(_first_is_action)))
    router.message.register(staff_usage, Command("promo", magic=F.args.is_(None)))
    return router


def _first_is_action(args: str | None) -> bool:
    first = (args or "").strip().split(" ", 1)[0].lower()
    return first in STAFF_ACTIONS


def _may_carry_code(message: Message) -> bool:
    """True for every message whose /start argument could start with the prefix (the
    command filter reads the text, else the caption)."""
    return START_PREFIX in (message.text or message.caption or "")


def build_router() -> Router:
    """Before the signup router: its /start would take the promo link for a plain start."""
    router = Router(name="promo")
    router.message.register(
        start_with_code,
        # A cheap look first: a plain /start (most of them) skips parsing the command here.
        F.func(_may_carry_code),
        CommandStart(deep_link=True, magic=F.args.startswith(START_PREFIX)),
    )
    router.message.register(use_code, Command("promo"), F.chat.type == "private")
    return router
