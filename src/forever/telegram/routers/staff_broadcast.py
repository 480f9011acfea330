"""/broadcast: compose (content, optional link button), pick a segment, preview, confirm.

Only staff reach these handlers (the router's filter); anyone else falls through to the
ordinary fallback and learns nothing about them.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from forever.app import Container
from forever.config import LOCALES
from forever.db.models import Person
from forever.domain.segments import Segment, SegmentError, SegmentKind, parse_segment
from forever.services import broadcasts, personalize
from forever.services.broadcast_sender import RecipientBlocked, RetryAfter, build_outgoing
from forever.telegram.broadcasts import (
    WORKER_KEY,
    StopBroadcast,
    TelegramBroadcastTransport,
)
from forever.telegram.staff_filter import IsStaff
from forever.telegram.staff_texts import StaffTexts

SUPPORTED = ("text", "photo", "video", "document")
_BUTTON = re.compile(r"^(?P<text>[^|]{1,64}?)\s*\|\s*(?P<url>\S+)$")


class Compose(StatesGroup):
    content = State()
    button = State()
    segment = State()
    confirm = State()


class Act(CallbackData, prefix="bc"):
    action: str  # cancel | nobutton | confirm
    draft: int = 0


class Pick(CallbackData, prefix="bcseg"):
    kind: str
    value: str = ""


def content_kind(message: Message) -> str | None:
    if message.text is not None:
        return "text"
    if message.photo:
        return "photo"
    if message.video is not None:
        return "video"
    if message.document is not None:
        return "document"
    return None


def _keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=t, callback_data=d) for t, d in row] for row in rows
        ]
    )


async def start(message: Message, state: FSMContext, container: Container, locale: str) -> None:
    texts = StaffTexts(container.renderer)
    async with container.sessions() as session:
        busy = await broadcasts.active_broadcast(session)
        counts = await broadcasts.delivery_counts(session, busy.id) if busy else None
    if busy is not None and counts is not None:
        done = sum(counts.get(s, 0) for s in broadcasts.SETTLED)
        await message.answer(
            texts("broadcast_busy", locale, id=busy.id, done=done, total=busy.total)
        )
        return
    await _drop_draft(state, container)
    await state.set_state(Compose.content)
    await message.answer(
        texts("broadcast_ask_content", locale),
        reply_markup=_keyboard([(texts("cancel_button", locale), Act(action="cancel").pack())]),
    )


async def receive_content(
    message: Message, state: FSMContext, container: Container, locale: str
) -> None:
    texts = StaffTexts(container.renderer)
    kind = content_kind(message)
    if kind is None:
        await message.answer(texts("broadcast_unsupported", locale))
        return
    html = message.html_text if (message.text or message.caption) else ""
    template: str | None = None
    if html and personalize.has_placeholders(html):
        try:
            personalize.check_template(html)
        except personalize.TemplateRefused as refusal:
            await message.answer(texts("broadcast_template_refused", locale, reason=str(refusal)))
            return
        template = html
    await state.update_data(
        source_chat_id=message.chat.id,
        source_message_id=message.message_id,
        kind=kind,
        template=template,
        button_text=None,
        button_url=None,
    )
    await state.set_state(Compose.button)
    await message.answer(
        texts("broadcast_ask_button", locale),
        reply_markup=_keyboard(
            [(texts("no_button", locale), Act(action="nobutton").pack())],
            [(texts("cancel_button", locale), Act(action="cancel").pack())],
        ),
    )


async def receive_button(
    message: Message, state: FSMContext, container: Container, locale: str
) -> None:
    texts = StaffTexts(container.renderer)
    match = _BUTTON.match((message.text or "").strip())
    url = match.group("url") if match else ""
    parts = urlsplit(url)
    if match is None or parts.scheme not in ("http", "https") or not parts.netloc:
        await message.answer(texts("broadcast_bad_button", locale))
        return
    await state.update_data(button_text=match.group("text").strip(), button_url=url)
    await _ask_segment(message, state, container, locale)


async def no_button(
    query: CallbackQuery, state: FSMContext, container: Container, locale: str
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await _ask_segment(query.message, state, container, locale)


async def _ask_segment(
    message: Message, state: FSMContext, container: Container, locale: str
) -> None:
    texts = StaffTexts(container.renderer)
    await state.set_state(Compose.segment)
    fixed = [
        SegmentKind.ALL,
        SegmentKind.TRIAL,
        SegmentKind.PAYING,
        SegmentKind.CANCELLED,
        SegmentKind.LAPSED,
        SegmentKind.PAUSED,
    ]
    rows: list[list[tuple[str, str]]] = []
    for index in range(0, len(fixed), 3):
        rows.append(
            [
                (texts("segment_name", locale, kind=k.value, value=""), Pick(kind=k.value).pack())
                for k in fixed[index : index + 3]
            ]
        )
    rows.append(
        [
            (
                texts("segment_name", locale, kind="plan", value=plan.name[locale]),
                Pick(kind="plan", value=plan.id).pack(),
            )
            for plan in container.catalog.plans_by_tier()
        ]
    )
    rows.append(
        [
            (
                texts("segment_name", locale, kind="language", value=code),
                Pick(kind="language", value=code).pack(),
            )
            for code in LOCALES
        ]
    )
    rows.append([(texts("cancel_button", locale), Act(action="cancel").pack())])
    await message.answer(texts("broadcast_ask_segment", locale), reply_markup=_keyboard(*rows))


def _segment_label(texts: StaffTexts, locale: str, segment: Segment, container: Container) -> str:
    value = segment.value or ""
    if segment.kind is SegmentKind.PLAN and segment.value:
        plan = container.catalog.plan(segment.value)
        value = plan.name[locale] if plan else segment.value
    return texts("segment_name", locale, kind=segment.kind.value, value=value)


async def pick_segment(
    query: CallbackQuery,
    callback_data: Pick,
    state: FSMContext,
    container: Container,
    locale: str,
    person: Person,
    bot: Bot,
) -> None:
    texts = StaffTexts(container.renderer)
    try:
        segment = parse_segment(
            callback_data.kind,
            callback_data.value or None,
            plans=frozenset(p.id for p in container.catalog.plans),
            locales=frozenset(LOCALES),
        )
    except SegmentError:
        await query.answer(texts("broadcast_stale", locale), show_alert=True)
        return
    data = await state.get_data()
    label = _segment_label(texts, locale, segment, container)
    now = container.clock.now()
    async with container.sessions.begin() as session:
        total = await broadcasts.count_recipients(session, segment)
        if total == 0:
            draft = None
        else:
            await _discard(session, data)
            draft = await broadcasts.create_draft(
                session,
                staff_id=person.telegram_id or 0,
                content=broadcasts.Content(
                    source_chat_id=data["source_chat_id"],
                    source_message_id=data["source_message_id"],
                    kind=data["kind"],
                    template_html=data.get("template"),
                    button_text=data.get("button_text"),
                    button_url=data.get("button_url"),
                ),
                segment=segment,
                total=total,
                now=now,
            )
    await query.answer()
    if not isinstance(query.message, Message):
        return
    if draft is None:
        await query.message.answer(texts("broadcast_nobody", locale, segment=label))
        return
    await state.update_data(draft=draft.id)
    await state.set_state(Compose.confirm)
    # The preview goes through the same path as the real sends: what staff see is what
    # customers get (with the staff member's own name in the placeholder).
    transport = TelegramBroadcastTransport(bot, texts)
    with contextlib.suppress(RetryAfter, RecipientBlocked):
        await transport.deliver(build_outgoing(draft, query.message.chat.id, person.first_name))
    await query.message.answer(
        texts("broadcast_confirm", locale, total=total, segment=label),
        reply_markup=_keyboard(
            [
                (
                    texts("send_button", locale, total=total),
                    Act(action="confirm", draft=draft.id).pack(),
                )
            ],
            [(texts("cancel_button", locale), Act(action="cancel", draft=draft.id).pack())],
        ),
    )


async def confirm(
    query: CallbackQuery,
    callback_data: Act,
    state: FSMContext,
    container: Container,
    locale: str,
    person: Person,
) -> None:
    texts = StaffTexts(container.renderer)
    async with container.sessions.begin() as session:
        result = await broadcasts.confirm(
            session,
            callback_data.draft,
            staff_id=person.telegram_id or 0,
            now=container.clock.now(),
        )
        if result.outcome == "queued" and result.broadcast is not None and query.message:
            result.broadcast.progress_chat_id = query.message.chat.id
    if result.outcome == "busy" and result.busy_with is not None:
        await query.answer(
            texts("broadcast_busy_short", locale, id=result.busy_with.id), show_alert=True
        )
        return
    if result.outcome != "queued" or result.broadcast is None:
        await query.answer(texts(f"broadcast_confirm_{result.outcome}", locale), show_alert=True)
        return
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(
            texts("broadcast_queued", locale, id=result.broadcast.id, total=result.broadcast.total)
        )
    worker = container.extras.get(WORKER_KEY)
    if worker is not None:
        worker.wake()


async def cancel(
    query: CallbackQuery,
    callback_data: Act,
    state: FSMContext,
    container: Container,
    locale: str,
    person: Person,
) -> None:
    texts = StaffTexts(container.renderer)
    dropped = await _drop_draft(state, container, callback_data.draft)
    async with container.sessions.begin() as session:
        broadcasts.audit(
            session,
            person.telegram_id or 0,
            "broadcast_cancelled",
            container.clock.now(),
            draft=callback_data.draft or None,
        )
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        if not dropped and callback_data.draft:
            await query.message.answer(texts("broadcast_confirm_already", locale))
            return
        await query.message.answer(texts("broadcast_cancelled", locale))


async def stop(
    query: CallbackQuery,
    callback_data: StopBroadcast,
    container: Container,
    locale: str,
    person: Person,
) -> None:
    texts = StaffTexts(container.renderer)
    async with container.sessions.begin() as session:
        stopped = await broadcasts.request_stop(
            session,
            callback_data.broadcast_id,
            staff_id=person.telegram_id or 0,
            now=container.clock.now(),
        )
    await query.answer(texts("broadcast_stopping" if stopped else "broadcast_ended", locale))


async def _discard(session: Any, data: dict[str, Any]) -> None:
    if data.get("draft"):
        await broadcasts.discard_draft(session, int(data["draft"]))


async def _drop_draft(state: FSMContext, container: Container, draft_id: int = 0) -> bool:
    data = await state.get_data()
    draft = draft_id or int(data.get("draft") or 0)
    if not draft:
        return False
    async with container.sessions.begin() as session:
        return await broadcasts.discard_draft(session, draft)


def build_router() -> Router:
    router = Router(name="staff_broadcast")
    router.message.filter(IsStaff())
    router.callback_query.filter(IsStaff())
    router.message.register(start, Command("broadcast"))
    # Commands typed mid-way go to their own handlers, not into the broadcast.
    not_command = ~(F.text.startswith("/"))
    router.message.register(receive_content, Compose.content, not_command)
    router.message.register(receive_button, Compose.button, not_command)
    router.callback_query.register(cancel, Act.filter(F.action == "cancel"))
    router.callback_query.register(no_button, Compose.button, Act.filter(F.action == "nobutton"))
    router.callback_query.register(pick_segment, Compose.segment, Pick.filter())
    router.callback_query.register(confirm, Act.filter(F.action == "confirm"))
    router.callback_query.register(stop, StopBroadcast.filter())
    return router
