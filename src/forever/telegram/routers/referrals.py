"""/invite (a member's own link) and, for owners, /partners (with its CSV). The note a
referral link's /start gets is rendered here too (the signup router says it)."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, Message

from forever.domain.referrals import START_PREFIX
from forever.rendering import Renderer
from forever.services.people import Customer
from forever.services.referrals import Attribution, Referrals, partners_csv
from forever.telegram.staff_filter import IsStaff
from forever.telegram.staff_texts import StaffTexts


def referral_note(renderer: Renderer, locale: str, referral: Attribution) -> str:
    return renderer.chat(
        "referral_start",
        locale,
        outcome=referral.outcome.value,
        name=referral.referrer_name,
        partner=referral.partner.name if referral.partner else None,
        days=referral.referred_days,
        their_days=referral.referrer_days,
    )


async def on_invite(
    message: Message, person: Customer, referrals: Referrals, renderer: Renderer, bot: Bot
) -> None:
    invite = await referrals.invite(person.id)
    me = await bot.me()
    link = f"https://t.me/{me.username}?start={START_PREFIX}{invite.code}"
    await message.answer(
        renderer.chat(
            "invite",
            person.language,
            link=link,
            referrer_days=invite.rules.referrer_days,
            referred_days=invite.rules.referred_days,
            referred=invite.referred,
            rewarded=invite.rewarded,
        )
    )


async def on_partners(
    message: Message,
    person: Customer,
    referrals: Referrals,
    staff_texts: StaffTexts,
    locale: str,
) -> None:
    report = await referrals.partners(staff_id=person.telegram_id or 0)
    await message.answer(staff_texts("partners_report", locale, lines=report.lines))
    if report.lines:
        name = f"partners-{report.at:%Y-%m-%d}.csv"
        await message.answer_document(
            BufferedInputFile(partners_csv(report.lines), filename=name),
            caption=staff_texts("partners_csv_caption", locale),
        )


def build_router() -> Router:
    router = Router(name="referrals")
    router.message.register(on_invite, Command("invite"))
    router.message.register(on_partners, Command("partners"), IsStaff())
    return router
