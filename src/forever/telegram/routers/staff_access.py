"""/access <person> for staff: the person's chats (given, removed, seen in the chat) and a
button that sends the invite again. Everyone else never reaches these handlers."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from forever.rendering import Renderer
from forever.services.access import StaffAccess
from forever.services.records import PersonRecord
from forever.telegram.staff_filter import IsStaff


class AccessResendCb(CallbackData, prefix="accr"):
    person: int


async def show_access(
    message: Message,
    command: CommandObject,
    staff_access: StaffAccess,
    renderer: Renderer,
    locale: str,
    person: PersonRecord,
) -> None:
    who = (command.args or "").strip()
    try:
        card = await staff_access.card(staff_id=person.telegram_id or 0, who=who)
    except ValueError:
        await message.answer(renderer.chat("access_staff_usage", locale))
        return
    if card is None:
        await message.answer(renderer.chat("access_staff_not_found", locale, who=who))
        return
    markup = None
    if card.can_resend:
        label = renderer.chat("access_staff_resend_button", locale)
        markup = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=label, callback_data=AccessResendCb(person=card.person.id).pack()
                    )
                ]
            ]
        )
    await message.answer(
        renderer.chat("access_staff_card", locale, card=card, lines=card.lines), reply_markup=markup
    )


async def resend_invite(
    query: CallbackQuery,
    callback_data: AccessResendCb,
    staff_access: StaffAccess,
    renderer: Renderer,
    locale: str,
    person: PersonRecord,
) -> None:
    count = await staff_access.resend(
        staff_id=person.telegram_id or 0, person_id=callback_data.person
    )
    await query.answer(renderer.chat("access_staff_resent", locale, count=count))


def build_router() -> Router:
    router = Router(name="staff_access")
    router.message.filter(IsStaff())
    router.callback_query.filter(IsStaff())
    router.message.register(show_access, Command("access"))
    router.callback_query.register(resend_invite, AccessResendCb.filter())
    return router
