"""/broadcast: compose (content, optional link button), pick a segment, preview, confirm.

Only staff reach these handlers (the router's filter); anyone else falls through to the
ordinary fallback and learns nothing about them.
"""

from __future__ import annotations

import contextlib
import re
from urllib.parse import urlsplit

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from forever.domain.catalog import Catalog
from forever.domain.locales import LOCALES
from forever.domain.paid_broadcasts import Stars, affordable, cost
from forever.domain.segments import Segment, SegmentError, SegmentKind, parse_segment
from forever.rendering import Renderer
from forever.services import personalize
from forever.services.broadcast_sender import RecipientBlocked, RetryAfter, build_outgoing
from forever.services.broadcasts import BroadcastDesk, Content, Variant
from forever.services.records import PersonRecord
from forever.telegram.broadcasts import StopBroadcast, TelegramBroadcastTransport, star_balance
from forever.telegram.staff_filter import IsStaff
from forever.telegram.staff_texts import StaffTexts
from forever.telegram.views import LANGUAGE_NAMES

SUPPORTED = ("text", "photo", "video", "document")
_BUTTON = re.compile(r"^(?P<text>[^|]{1,64}?)\s*\|\s*(?P<url>\S+)$")


class Compose(StatesGroup):
    content = State()
    button = State()
    variant = State()
    segment = State()
    confirm = State()


class Act(CallbackData, prefix="bc"):
    action: str  # cancel | nobutton | confirm | paid | takeover | variant
    draft: int = 0
    lang: str = ""  # variant: the language of the version to add


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


async def _state_draft(state: FSMContext) -> int:
    """The draft being composed in this conversation, if any."""
    data = await state.get_data()
    return int(data.get("draft") or 0)


async def start(
    message: Message,
    state: FSMContext,
    broadcast_desk: BroadcastDesk,
    staff_texts: StaffTexts,
    locale: str,
) -> None:
    texts = staff_texts
    busy = await broadcast_desk.start(previous_draft=await _state_draft(state))
    if busy is not None:
        await message.answer(
            texts("broadcast_busy", locale, id=busy.broadcast_id, done=busy.done, total=busy.total)
        )
        return
    await state.set_state(Compose.content)
    await message.answer(
        texts("broadcast_ask_content", locale),
        reply_markup=_keyboard([(texts("cancel_button", locale), Act(action="cancel").pack())]),
    )


async def _read_content(message: Message, texts: StaffTexts, locale: str) -> Variant | None:
    """The message staff sent as content (a version of it), or None after saying why not."""
    kind = content_kind(message)
    if kind is None:
        await message.answer(texts("broadcast_unsupported", locale))
        return None
    html = message.html_text if (message.text or message.caption) else ""
    template: str | None = None
    if html and personalize.has_placeholders(html):
        try:
            personalize.check_template(html)
        except personalize.TemplateRefused as refusal:
            await message.answer(texts("broadcast_template_refused", locale, refusal=refusal))
            return None
        template = html
    return Variant(message.chat.id, message.message_id, kind, template)


def _language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


async def _ask_button(
    message: Message, state: FSMContext, texts: StaffTexts, locale: str, default_locale: str
) -> None:
    """The link button question, with a way to add a version for each language that has none
    yet (people of other languages get the default)."""
    data = await state.get_data()
    have = dict(data.get("variants") or {})
    await state.set_state(Compose.button)
    missing = [c for c in LOCALES if c != default_locale and c not in have]
    rows: list[list[tuple[str, str]]] = []
    buttons = [
        (
            texts("variant_button", locale, language=_language_name(code)),
            Act(action="variant", lang=code).pack(),
        )
        for code in missing
    ]
    rows += [buttons[i : i + 2] for i in range(0, len(buttons), 2)]  # two a row: four fit
    rows.append([(texts("no_button", locale), Act(action="nobutton").pack())])
    rows.append([(texts("cancel_button", locale), Act(action="cancel").pack())])
    await message.answer(
        texts(
            "broadcast_ask_button",
            locale,
            languages=_versions(default_locale, have),
            missing=[_language_name(c) for c in missing],
        ),
        reply_markup=_keyboard(*rows),
    )


def _versions(default_locale: str, variants: dict[str, object]) -> list[str]:
    """The languages that have a version: the default first."""
    return [_language_name(default_locale)] + [
        _language_name(c) for c in LOCALES if c in variants and c != default_locale
    ]


async def receive_content(
    message: Message,
    state: FSMContext,
    staff_texts: StaffTexts,
    locale: str,
    renderer: Renderer,
) -> None:
    content = await _read_content(message, staff_texts, locale)
    if content is None:
        return
    await state.update_data(
        source_chat_id=content.source_chat_id,
        source_message_id=content.source_message_id,
        kind=content.kind,
        template=content.template_html,
        button_text=None,
        button_url=None,
        variants={},
    )
    await _ask_button(message, state, staff_texts, locale, renderer.default_locale)


async def ask_variant(
    query: CallbackQuery,
    callback_data: Act,
    state: FSMContext,
    staff_texts: StaffTexts,
    locale: str,
    renderer: Renderer,
) -> None:
    code = callback_data.lang
    if code not in LOCALES or code == renderer.default_locale:
        await query.answer(staff_texts("broadcast_stale", locale), show_alert=True)
        return
    await query.answer()
    await state.update_data(variant_lang=code)
    await state.set_state(Compose.variant)
    if isinstance(query.message, Message):
        await query.message.answer(
            staff_texts("broadcast_ask_variant", locale, language=_language_name(code)),
            reply_markup=_keyboard(
                [(staff_texts("cancel_button", locale), Act(action="cancel").pack())]
            ),
        )


async def receive_variant(
    message: Message,
    state: FSMContext,
    staff_texts: StaffTexts,
    locale: str,
    renderer: Renderer,
) -> None:
    content = await _read_content(message, staff_texts, locale)
    if content is None:
        return
    data = await state.get_data()
    code = str(data.get("variant_lang") or "")
    if code in LOCALES and code != renderer.default_locale:
        variants = dict(data.get("variants") or {})
        variants[code] = content.to_json()
        await state.update_data(variants=variants, variant_lang=None)
    await _ask_button(message, state, staff_texts, locale, renderer.default_locale)


async def receive_button(
    message: Message,
    state: FSMContext,
    staff_texts: StaffTexts,
    catalog: Catalog,
    locale: str,
) -> None:
    match = _BUTTON.match((message.text or "").strip())
    url = match.group("url") if match else ""
    parts = urlsplit(url)
    if match is None or parts.scheme not in ("http", "https") or not parts.netloc:
        await message.answer(staff_texts("broadcast_bad_button", locale))
        return
    await state.update_data(button_text=match.group("text").strip(), button_url=url)
    await _ask_segment(message, state, staff_texts, catalog, locale)


async def no_button(
    query: CallbackQuery,
    state: FSMContext,
    staff_texts: StaffTexts,
    catalog: Catalog,
    locale: str,
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await _ask_segment(query.message, state, staff_texts, catalog, locale)


async def _ask_segment(
    message: Message, state: FSMContext, texts: StaffTexts, catalog: Catalog, locale: str
) -> None:
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
            for plan in catalog.plans_by_tier()
        ]
    )
    languages = [
        (
            texts("segment_name", locale, kind="language", value=code),
            Pick(kind="language", value=code).pack(),
        )
        for code in LOCALES
    ]
    rows += [languages[i : i + 3] for i in range(0, len(languages), 3)]  # "Language: ro" ×3
    rows.append([(texts("cancel_button", locale), Act(action="cancel").pack())])
    await message.answer(texts("broadcast_ask_segment", locale), reply_markup=_keyboard(*rows))


def _segment_label(texts: StaffTexts, locale: str, segment: Segment, catalog: Catalog) -> str:
    value = segment.value or ""
    if segment.kind is SegmentKind.PLAN and segment.value:
        plan = catalog.plan(segment.value)
        value = plan.name[locale] if plan else segment.value
    return texts("segment_name", locale, kind=segment.kind.value, value=value)


async def pick_segment(
    query: CallbackQuery,
    callback_data: Pick,
    state: FSMContext,
    broadcast_desk: BroadcastDesk,
    staff_texts: StaffTexts,
    catalog: Catalog,
    locale: str,
    person: PersonRecord,
    bot: Bot,
    renderer: Renderer,
) -> None:
    texts = staff_texts
    try:
        segment = parse_segment(
            callback_data.kind,
            callback_data.value or None,
            plans=frozenset(p.id for p in catalog.plans),
            locales=frozenset(LOCALES),
        )
    except SegmentError:
        await query.answer(texts("broadcast_stale", locale), show_alert=True)
        return
    data = await state.get_data()
    label = _segment_label(texts, locale, segment, catalog)
    variants = {
        code: Variant.from_json(v)
        for code, v in (data.get("variants") or {}).items()
        if code in LOCALES and code != renderer.default_locale
    }
    result = await broadcast_desk.draft(
        staff_id=person.telegram_id or 0,
        content=Content(
            source_chat_id=data["source_chat_id"],
            source_message_id=data["source_message_id"],
            kind=data["kind"],
            template_html=data.get("template"),
            button_text=data.get("button_text"),
            button_url=data.get("button_url"),
            variants=variants,
        ),
        segment=segment,
        previous_draft=int(data.get("draft") or 0),
    )
    await query.answer()
    if not isinstance(query.message, Message):
        return
    draft, total = result.draft, result.total
    if draft is None:
        await query.message.answer(texts("broadcast_nobody", locale, segment=label))
        return
    await state.update_data(draft=draft.id)
    await state.set_state(Compose.confirm)
    # The preview goes through the same path as the real sends: what staff see is what
    # customers get (with the staff member's own name in the placeholder).
    # Each language's version in turn: the default first.
    transport = TelegramBroadcastTransport(bot, texts)
    for code in [None, *(c for c in LOCALES if c in variants)]:
        with contextlib.suppress(RetryAfter, RecipientBlocked):
            await transport.deliver(
                build_outgoing(draft, query.message.chat.id, person.first_name, code)
            )
    # The fast paid mode's price for the people counted, against the bot's balance now.
    balance = await star_balance(bot)
    price = cost(total)
    await query.message.answer(
        texts(
            "broadcast_confirm",
            locale,
            total=total,
            segment=label,
            languages=_versions(renderer.default_locale, dict(variants)),
            fallback=_language_name(renderer.default_locale),
        )
        + "\n\n"
        + texts(
            "broadcast_paid_offer",
            locale,
            total=total,
            cost=price,
            balance=_stars(balance),
            enough=balance is not None and affordable(balance, total),
        ),
        reply_markup=_keyboard(
            [
                (
                    texts("send_button", locale, total=total),
                    Act(action="confirm", draft=draft.id).pack(),
                )
            ],
            [
                (
                    texts("send_paid_button", locale, cost=price),
                    Act(action="paid", draft=draft.id).pack(),
                )
            ],
            [(texts("cancel_button", locale), Act(action="cancel", draft=draft.id).pack())],
        ),
    )


def _stars(amount: Stars | None) -> str | None:
    return amount.text() if amount is not None else None


async def confirm(
    query: CallbackQuery,
    callback_data: Act,
    state: FSMContext,
    broadcast_desk: BroadcastDesk,
    staff_texts: StaffTexts,
    locale: str,
    person: PersonRecord,
    bot: Bot,
) -> None:
    texts = staff_texts
    paid = callback_data.action == "paid"
    result = await broadcast_desk.confirm(
        callback_data.draft,
        staff_id=person.telegram_id or 0,
        progress_chat_id=query.message.chat.id if query.message else None,
        paid=paid,
        # Read at the tap: the balance shown with the preview may have changed since.
        balance=await star_balance(bot) if paid else None,
    )
    if result.outcome == "balance_low":
        # Refused before anything was sent; the draft stays, to send for free or later.
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(
                texts(
                    "broadcast_paid_refused",
                    locale,
                    total=result.total,
                    cost=result.cost,
                    balance=_stars(result.balance),
                )
            )
        return
    if result.outcome == "busy" and result.busy_with is not None:
        await query.answer(
            texts("broadcast_busy_short", locale, id=result.busy_with), show_alert=True
        )
        return
    if result.outcome == "not_yours":
        # Another staff member's draft: confirming it takes an explicit, audited takeover.
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(
                texts("broadcast_not_yours", locale, owner=result.owner_name),
                reply_markup=_keyboard(
                    [
                        (
                            texts("takeover_button", locale),
                            Act(action="takeover", draft=result.broadcast_id).pack(),
                        )
                    ]
                ),
            )
        return
    if result.outcome != "queued":
        await query.answer(texts(f"broadcast_confirm_{result.outcome}", locale), show_alert=True)
        return
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        queued = texts("broadcast_queued", locale, id=result.broadcast_id, total=result.total)
        if result.paid:
            queued += "\n" + texts("broadcast_paid_queued", locale, cost=result.cost)
        await query.message.answer(queued)


async def take_over(
    query: CallbackQuery,
    callback_data: Act,
    broadcast_desk: BroadcastDesk,
    staff_texts: StaffTexts,
    locale: str,
    person: PersonRecord,
) -> None:
    texts = staff_texts
    result = await broadcast_desk.take_over(callback_data.draft, staff_id=person.telegram_id or 0)
    if result.outcome not in ("taken", "own"):
        await query.answer(texts(f"broadcast_confirm_{result.outcome}", locale), show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        draft = result.broadcast_id
        await query.message.answer(
            texts("broadcast_taken_over", locale, id=draft, total=result.total),
            reply_markup=_keyboard(
                [
                    (
                        texts("send_button", locale, total=result.total),
                        Act(action="confirm", draft=draft).pack(),
                    )
                ],
                [(texts("cancel_button", locale), Act(action="cancel", draft=draft).pack())],
            ),
        )


async def cancel(
    query: CallbackQuery,
    callback_data: Act,
    state: FSMContext,
    broadcast_desk: BroadcastDesk,
    staff_texts: StaffTexts,
    locale: str,
    person: PersonRecord,
) -> None:
    result = await broadcast_desk.cancel(
        staff_id=person.telegram_id or 0,
        draft_id=callback_data.draft,
        previous_draft=await _state_draft(state),
    )
    await query.answer()
    if result.outcome == "not_yours":
        # Another staff member's draft: dropping it, like sending it, takes a takeover.
        if isinstance(query.message, Message):
            await query.message.answer(
                staff_texts("broadcast_not_yours", locale, owner=result.owner_name),
                reply_markup=_keyboard(
                    [
                        (
                            staff_texts("takeover_button", locale),
                            Act(action="takeover", draft=result.broadcast_id).pack(),
                        )
                    ]
                ),
            )
        return
    await state.clear()
    if isinstance(query.message, Message):
        if not result and callback_data.draft:
            await query.message.answer(staff_texts("broadcast_confirm_already", locale))
            return
        await query.message.answer(staff_texts("broadcast_cancelled", locale))


async def stop(
    query: CallbackQuery,
    callback_data: StopBroadcast,
    broadcast_desk: BroadcastDesk,
    staff_texts: StaffTexts,
    locale: str,
    person: PersonRecord,
) -> None:
    stopped = await broadcast_desk.stop(
        callback_data.broadcast_id, staff_id=person.telegram_id or 0
    )
    await query.answer(staff_texts("broadcast_stopping" if stopped else "broadcast_ended", locale))


def build_router() -> Router:
    router = Router(name="staff_broadcast")
    router.message.filter(IsStaff())
    router.callback_query.filter(IsStaff())
    router.message.register(start, Command("broadcast"))
    # Commands typed mid-way go to their own handlers, not into the broadcast.
    not_command = ~(F.text.startswith("/"))
    router.message.register(receive_content, Compose.content, not_command)
    router.message.register(receive_button, Compose.button, not_command)
    router.message.register(receive_variant, Compose.variant, not_command)
    router.callback_query.register(ask_variant, Compose.button, Act.filter(F.action == "variant"))
    router.callback_query.register(cancel, Act.filter(F.action == "cancel"))
    router.callback_query.register(no_button, Compose.button, Act.filter(F.action == "nobutton"))
    router.callback_query.register(pick_segment, Compose.segment, Pick.filter())
    router.callback_query.register(confirm, Act.filter(F.action.in_({"confirm", "paid"})))
    router.callback_query.register(take_over, Act.filter(F.action == "takeover"))
    router.callback_query.register(stop, StopBroadcast.filter())
    return router
