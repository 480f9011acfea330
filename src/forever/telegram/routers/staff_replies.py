"""The staff inbox in chat: a customer's answer to a broadcast goes to staff (instead of the
"I did not understand that" fallback), and the staff member's Reply goes back to them.

Registered just before `common`: only text that no other router expects gets here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiogram import F, Router
from aiogram.filters import Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from forever.rendering import Renderer
from forever.services.ports import Button, Keyboard
from forever.services.records import PersonRecord
from forever.services.staff_replies import StaffReplies
from forever.telegram.staff_texts import StaffTexts
from forever.telegram.views import LANGUAGE_NAMES


class ReplyTo(CallbackData, prefix="inbox"):
    action: str  # reply | cancel
    token: str = ""  # the customer's id, signed (services/staff_replies.py)


class Answering(StatesGroup):
    text = State()


class InboxStaff(Filter):
    """Staff who receive customers' answers: ADMIN_IDS and SUPPORT_IDS."""

    async def __call__(self, event: Message | CallbackQuery, staff_replies: StaffReplies) -> bool:
        user = event.from_user
        return user is not None and staff_replies.is_staff(user.id)


class AnswersBroadcast(Filter):
    """A customer's text that answers a broadcast: replies to it, or follows it closely."""

    async def __call__(
        self, message: Message, staff_replies: StaffReplies
    ) -> bool | dict[str, Any]:
        user = message.from_user
        if user is None or staff_replies.is_staff(user.id):
            return False
        reply_to = message.reply_to_message.message_id if message.reply_to_message else None
        broadcast_id = await staff_replies.answered_broadcast(message.chat.id, reply_to)
        return {"broadcast_id": broadcast_id} if broadcast_id is not None else False


def inbox_message_view(
    texts: StaffTexts,
) -> Callable[[str, dict[str, Any]], tuple[str, Keyboard | None]]:
    """The outbox's chat view of a customer's message as staff receive it: who, what, and the
    Reply button."""

    def render(locale: str, context: dict[str, Any]) -> tuple[str, Keyboard | None]:
        html = texts(
            "inbox_message",
            locale,
            customer_name=context.get("customer_name") or "",
            customer_username=context.get("customer_username") or "",
            customer_id=int(context["customer_id"]),
            customer_language=LANGUAGE_NAMES.get(
                str(context.get("customer_language")), str(context.get("customer_language"))
            ),
            broadcast_id=int(context["broadcast_id"]),
            text=str(context["text"]),
        )
        button = Button(
            text=texts("inbox_reply_button", locale),
            callback_data=ReplyTo(action="reply", token=str(context["reply_token"])).pack(),
        )
        return html, [[button]]

    return render


async def customer_answer(
    message: Message,
    broadcast_id: int,
    person: PersonRecord,
    locale: str,
    renderer: Renderer,
    staff_replies: StaffReplies,
) -> None:
    await staff_replies.take_in(
        person,
        broadcast_id=broadcast_id,
        message_id=message.message_id,
        text=message.text or "",
    )
    await message.answer(renderer.chat("inbox_received", locale))


async def press_reply(
    query: CallbackQuery,
    callback_data: ReplyTo,
    state: FSMContext,
    staff_replies: StaffReplies,
    staff_texts: StaffTexts,
    locale: str,
) -> None:
    target = await staff_replies.reply_target(query.from_user.id, callback_data.token)
    if target is None:
        await query.answer(staff_texts("inbox_reply_stale", locale), show_alert=True)
        return
    await query.answer()
    await state.set_state(Answering.text)
    await state.update_data(inbox_token=callback_data.token)
    if isinstance(query.message, Message):
        await query.message.answer(
            staff_texts(
                "inbox_ask_reply", locale, name=target.name, telegram_id=target.telegram_id
            ),
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[
                    [
                        InlineKeyboardButton(
                            text=staff_texts("cancel_button", locale),
                            callback_data=ReplyTo(action="cancel").pack(),
                        )
                    ]
                ]
            ),
        )


async def staff_answer(
    message: Message,
    state: FSMContext,
    staff_replies: StaffReplies,
    staff_texts: StaffTexts,
    locale: str,
    person: PersonRecord,
) -> None:
    if not message.text:
        await message.answer(staff_texts("inbox_reply_text_only", locale))
        return
    data = await state.get_data()
    await state.clear()
    answered = await staff_replies.answer(
        staff_id=person.telegram_id or 0,
        token=str(data.get("inbox_token") or ""),
        message_id=message.message_id,
        text=message.text,
    )
    target = answered.target
    if answered.outcome == "sent" and target is not None:
        key = "inbox_reply_sent"
    elif answered.outcome == "unreachable" and target is not None:
        key = "inbox_reply_unreachable"
    else:
        await message.answer(staff_texts("inbox_reply_stale", locale))
        return
    await message.answer(staff_texts(key, locale, name=target.name, telegram_id=target.telegram_id))


async def cancel_reply(
    query: CallbackQuery, state: FSMContext, staff_texts: StaffTexts, locale: str
) -> None:
    if await state.get_state() == Answering.text.state:
        await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(staff_texts("inbox_reply_cancelled", locale))


def build_router() -> Router:
    router = Router(name="staff_replies")
    not_command = ~(F.text.startswith("/"))
    router.callback_query.register(press_reply, InboxStaff(), ReplyTo.filter(F.action == "reply"))
    router.callback_query.register(cancel_reply, InboxStaff(), ReplyTo.filter(F.action == "cancel"))
    router.message.register(staff_answer, InboxStaff(), Answering.text, not_command)
    router.message.register(
        customer_answer,
        F.chat.type == "private",
        F.text,
        not_command,
        AnswersBroadcast(),
    )
    return router
