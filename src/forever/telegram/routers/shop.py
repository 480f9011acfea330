"""/shop: credit packs and add-ons bought with Stars (issue 19). A tap sends an invoice whose
payload names the item; the pre-checkout check and the successful payment of such invoices are
handled here (this router comes before the plans router, which handles every other payload)."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message, PreCheckoutQuery

from forever.rendering import Renderer
from forever.services.people import Customer
from forever.services.shop import PAYLOAD_PREFIX, GrantOutcome, ItemKind, Shop, payload_of
from forever.telegram.bot_port import BotChatPort
from forever.telegram.callbacks import Nav, NavView, ShopCb
from forever.telegram.labels import Labels
from forever.telegram.views import cb, keyboard

log = logging.getLogger(__name__)


def _button(name: str, price: str) -> str:
    """An item's button: its name and price, within Telegram's 64 characters."""
    room = 64 - len(price) - 3
    return f"{name if len(name) <= room else name[: room - 1] + '…'} · {price}"


async def _show(
    bot: Bot,
    chat_id: int,
    person: Customer,
    shop: Shop,
    renderer: Renderer,
    labels: Labels,
    note: str | None = None,
) -> None:
    locale = person.language
    offer = await shop.offer(person.id)
    stars = renderer.env.filters["stars"]

    def loc(names: dict[str, str]) -> str:
        return names.get(locale) or names["en"]

    packs = [{"name": loc(p.name), "credits": p.credits, "stars": p.stars} for p in offer.packs]
    addons = [
        {"name": loc(a.name), "description": loc(a.description), "stars": a.stars}
        for a in offer.addons
    ]
    text = renderer.chat("shop", locale, packs=packs, addons=addons)
    if note:
        text = f"{note}\n\n{text}"
    rows = [
        [
            cb(
                _button(loc(p.name), stars(p.stars)),
                ShopCb(kind=ItemKind.CREDITS.value, item=p.id),
            )
        ]
        for p in offer.packs
    ] + [
        [
            cb(
                _button(loc(a.name), stars(a.stars)),
                ShopCb(kind=ItemKind.ADDON.value, item=a.id),
            )
        ]
        for a in offer.addons
    ]
    await bot.send_message(chat_id, text, reply_markup=keyboard(*rows))


async def shop_command(
    message: Message, person: Customer, shop: Shop, renderer: Renderer, labels: Labels, bot: Bot
) -> None:
    await _show(bot, message.chat.id, person, shop, renderer, labels)


async def shop_button(
    query: CallbackQuery,
    person: Customer,
    shop: Shop,
    renderer: Renderer,
    labels: Labels,
    bot: Bot,
) -> None:
    await query.answer()
    await _show(bot, query.from_user.id, person, shop, renderer, labels)


async def pick_item(
    query: CallbackQuery,
    callback_data: ShopCb,
    person: Customer,
    shop: Shop,
    renderer: Renderer,
    labels: Labels,
    bot: Bot,
) -> None:
    locale = person.language
    kinds = {k.value for k in ItemKind}
    item = (
        await shop.choose(person.id, ItemKind(callback_data.kind), callback_data.item)
        if callback_data.kind in kinds
        else None
    )
    if item is None:
        # An item gone from the catalog, one the person's plan may no longer buy, or forged.
        note = renderer.chat("shop_unavailable", locale)
        await query.answer(note, show_alert=True)
        await _show(bot, query.from_user.id, person, shop, renderer, labels, note=note)
        return
    await query.answer()
    name = item.name(locale)
    if item.addon is not None:
        description = item.addon.description.get(locale) or item.addon.description["en"]
    else:
        description = name
    await BotChatPort(bot).send_invoice(
        query.from_user.id,
        title=name,
        description=description,
        payload=payload_of(item.kind, item.id),
        amount=item.stars,
    )


async def bad_button(query: CallbackQuery, person: Customer, renderer: Renderer) -> None:
    """Callback data that starts like a shop button but does not unpack (forged, or cut)."""
    await query.answer(renderer.chat("shop_bad_button", person.language), show_alert=True)


async def shop_pre_checkout(query: PreCheckoutQuery, shop: Shop, renderer: Renderer) -> None:
    try:
        refusal = await shop.check(
            query.from_user.id, query.invoice_payload, query.currency, query.total_amount
        )
        reason = refusal.value if refusal is not None else None
    except Exception:
        # Telegram waits at most 10 s: a clear "no" now beats a timeout.
        log.exception("shop pre-checkout check failed; refusing")
        reason = "unknown"
    if reason is None:
        await query.answer(ok=True)
        return
    log.info("shop pre-checkout from %s refused: %s", query.from_user.id, reason)
    locale = renderer.locale_for(query.from_user.language_code)
    await query.answer(ok=False, error_message=renderer.chat("shop_refused", locale, reason=reason))


async def shop_paid(message: Message, person: Customer, shop: Shop, renderer: Renderer) -> None:
    paid = message.successful_payment
    assert paid is not None
    granted = await shop.paid(
        message.chat.id, paid.invoice_payload, paid.telegram_payment_charge_id, paid.total_amount
    )
    locale = person.language
    if granted.outcome is GrantOutcome.DUPLICATE:
        return  # already granted and thanked for
    if granted.outcome is GrantOutcome.UNKNOWN or granted.item is None:
        log.warning("shop payment %s matches no item", paid.telegram_payment_charge_id)
        await message.answer(renderer.chat("payment_unknown", locale))
        return
    item = granted.item
    await message.answer(
        renderer.chat(
            "shop_paid",
            locale,
            credits=item.pack.credits if item.pack is not None else None,
            balance=granted.balance,
            name=item.name(locale),
            until=granted.ends_at,
        )
    )


def build_router() -> Router:
    router = Router(name="shop")
    router.message.register(shop_command, Command("shop"))
    router.callback_query.register(shop_button, Nav.filter(F.view == NavView.SHOP))
    router.callback_query.register(pick_item, ShopCb.filter())
    router.callback_query.register(bad_button, F.data.startswith("sh:") | (F.data == "sh"))
    router.pre_checkout_query.register(
        shop_pre_checkout, F.invoice_payload.startswith(PAYLOAD_PREFIX)
    )
    router.message.register(
        shop_paid, F.successful_payment.invoice_payload.startswith(PAYLOAD_PREFIX)
    )
    return router
