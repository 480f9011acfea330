"""/plans, paying with Telegram Stars (subscription links and one-off invoices), the
pre-checkout check, successful payments, and Telegram's `subscription` updates."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramForbiddenError
from aiogram.filters import Command
from aiogram.types import BotSubscriptionUpdated, CallbackQuery, Message, PreCheckoutQuery

from forever.domain.catalog import OfferKind
from forever.domain.payments import InvoiceKind, Refusal, UpgradeCredit
from forever.rendering import Renderer
from forever.services.billing import (
    ChoosePlan,
    IncomingPayment,
    IssuedInvoice,
    PaymentOutcome,
    PlanChoice,
    PreCheckout,
    RecordPayment,
    TelegramSubscriptionUpdate,
)
from forever.services.experiments import PersonalPrices
from forever.services.people import Customer, ReadSnapshot
from forever.services.promo import Promos
from forever.telegram.bot_port import BotChatPort
from forever.telegram.callbacks import Nav, PlanCb
from forever.telegram.routers.helpers import send
from forever.telegram.views import View, Views, keyboard, url

log = logging.getLogger(__name__)


async def present_invoice(
    bot: Bot,
    chat_id: int,
    views: Views,
    locale: str,
    issued: IssuedInvoice,
    credit: UpgradeCredit | None = None,
) -> None:
    """Show an issued (committed) invoice: a Stars subscription link, or a one-off invoice.
    An upgrade mid-period says first what the days left on the lower tier become."""
    chat = BotChatPort(bot)
    title, description = views.invoice_texts(
        locale, issued.plan, issued.kind, issued.offer, credit, amount=issued.amount
    )
    if issued.kind is InvoiceKind.SUBSCRIPTION:
        link = await chat.create_invoice_link(
            title=title,
            description=description,
            payload=issued.payload,
            amount=issued.amount,
            subscription=True,
        )
        offer = issued.offer
        percent = offer.percent if offer is not None and offer.kind is OfferKind.DISCOUNT else 0
        await send(
            bot,
            chat_id,
            views.plan_link(locale, issued.plan, link, issued.amount, percent, credit),
        )
    else:
        if credit is not None:
            await send(bot, chat_id, views.upgrade_credit(locale, issued.plan, credit))
        await chat.send_invoice(
            chat_id,
            title=title,
            description=description,
            payload=issued.payload,
            amount=issued.amount,
        )


async def plans_command(
    message: Message,
    person: Customer,
    read_snapshot: ReadSnapshot,
    views: Views,
    bot: Bot,
    personal_prices: PersonalPrices,
    promos: Promos | None = None,
) -> None:
    snap = await read_snapshot(person.id)
    prices = await personal_prices(person.id, snap.language)
    view = await _with_codes(views.plans(snap.language, snap, prices), promos, person, views)
    await send(bot, message.chat.id, view)


async def plans_button(
    query: CallbackQuery,
    person: Customer,
    read_snapshot: ReadSnapshot,
    views: Views,
    bot: Bot,
    personal_prices: PersonalPrices,
    promos: Promos | None = None,
) -> None:
    await query.answer()
    snap = await read_snapshot(person.id)
    prices = await personal_prices(person.id, snap.language)
    view = await _with_codes(views.plans(snap.language, snap, prices), promos, person, views)
    await send(bot, query.from_user.id, view)


async def _with_codes(view: View, promos: Promos | None, person: Customer, views: Views) -> View:
    """/plans lists the usual prices; a percent promo code waiting for the next payment is
    said above them (the invoice then charges the discounted price)."""
    waiting = await promos.waiting(person.id) if promos is not None else []
    if not waiting:
        return view
    locale = person.language
    codes = [
        {"code": code, "percent": percent, "plans": [views.plan_name(p, locale) for p in plans]}
        for code, percent, plans in waiting
    ]
    text, markup = view
    return f"{views.r.chat('promo_waiting', locale, codes=codes)}\n\n{text}", markup


async def pick_plan(
    query: CallbackQuery,
    callback_data: PlanCb,
    person: Customer,
    choose_plan: ChoosePlan,
    views: Views,
    renderer: Renderer,
    bot: Bot,
    personal_prices: PersonalPrices,
) -> None:
    locale = person.language
    chosen = await choose_plan(person.id, callback_data.plan, callback_data.kind)
    if chosen.choice is PlanChoice.NOT_POSSIBLE:
        # An old button for a plan that is gone, or forged data.
        await query.answer(renderer.chat("not_possible", locale), show_alert=True)
        prices = await personal_prices(person.id, chosen.snap.language)
        await send(bot, query.from_user.id, views.plans(locale, chosen.snap, prices))
        return
    await query.answer()
    if chosen.choice is PlanChoice.ALREADY_SUBSCRIBED:
        assert chosen.plan is not None
        note = renderer.chat("already_subscribed", locale, plan=chosen.plan.name[locale])
        await bot.send_message(query.from_user.id, note)
        return
    assert chosen.issued is not None
    await present_invoice(bot, query.from_user.id, views, locale, chosen.issued, chosen.credit)


async def pre_checkout(
    query: PreCheckoutQuery, pre_checkout: PreCheckout, renderer: Renderer
) -> None:
    language: str | None = None
    try:
        answer = await pre_checkout(
            payer_telegram_id=query.from_user.id,
            currency=query.currency,
            amount=query.total_amount,
            payload=query.invoice_payload,
        )
        refusal, language = answer.refusal, answer.language
    except Exception:
        # Telegram waits at most 10 s: a clear "no" now beats a timeout.
        log.exception("pre-checkout check failed; refusing")
        refusal = Refusal.UNKNOWN
    if refusal is None:
        await query.answer(ok=True)
        return
    log.info("pre-checkout from %s refused: %s", query.from_user.id, refusal.value)
    locale = language or renderer.locale_for(query.from_user.language_code)
    await query.answer(
        ok=False,
        error_message=renderer.chat("precheckout_refused", locale, reason=refusal.value),
    )


async def successful_payment(
    message: Message,
    person: Customer,
    record_payment: RecordPayment,
    views: Views,
    renderer: Renderer,
    bot: Bot,
) -> None:
    paid = message.successful_payment
    assert paid is not None
    expires = paid.subscription_expiration_date
    result = await record_payment(
        IncomingPayment(
            payer_telegram_id=message.chat.id,
            currency=paid.currency,
            amount=paid.total_amount,
            payload=paid.invoice_payload,
            charge_id=paid.telegram_payment_charge_id,
            provider_charge_id=paid.provider_payment_charge_id,
            is_recurring=bool(paid.is_recurring),
            is_first_recurring=bool(paid.is_first_recurring),
            subscription_expires_at=(
                datetime.fromtimestamp(expires, UTC) if expires is not None else None
            ),
        ),
    )
    if result.outcome is PaymentOutcome.DUPLICATE:
        return  # already recorded and thanked for
    locale = person.language
    if result.outcome is PaymentOutcome.UNKNOWN:
        await message.answer(renderer.chat("payment_unknown", locale))
        return
    if result.outcome.refunded or result.outcome is PaymentOutcome.KEPT_AFTER_CANCEL:
        # One honest sentence: what Telegram charged, what we do with it, what stays.
        await message.answer(
            renderer.chat(
                f"payment_{result.outcome.value}",
                locale,
                plan=views.plan_name(result.plan_id or "", locale),
                amount=result.amount or 0,
                until=result.period_end,
            )
        )
        return
    await send(
        bot,
        message.chat.id,
        views.payment_done(
            locale,
            result.plan_id or "",
            result.period_end,
            renewed=result.outcome is PaymentOutcome.RENEWED,
            renews=result.renews,
        ),
    )


async def subscription_update(
    update: BotSubscriptionUpdated,
    telegram_subscription_update: TelegramSubscriptionUpdate,
    views: Views,
    renderer: Renderer,
    bot: Bot,
) -> None:
    updated = await telegram_subscription_update(
        update.user.id, update.invoice_payload, update.state
    )
    change = updated.change
    if change.snap is None or change.kind == "ignored":
        return
    snap = change.snap
    locale = snap.language
    chat_id = update.user.id
    try:
        if change.kind == "canceled":
            await send(bot, chat_id, views.canceled(snap, from_telegram=True))
            await send(bot, chat_id, views.reason_ask(snap))
        elif change.kind == "reactivated":
            await send(bot, chat_id, views.account(snap, note=None))
        elif change.kind == "failed":
            markup = None
            issued = updated.pay_again
            if issued is not None:
                title, description = views.invoice_texts(
                    locale, issued.plan, issued.kind, amount=issued.amount
                )
                link = await BotChatPort(bot).create_invoice_link(
                    title=title,
                    description=description,
                    payload=issued.payload,
                    amount=issued.amount,
                    subscription=True,
                )
                price = views.stars(issued.amount)
                markup = keyboard([url(views.label(locale, "pay_now", price=price), link)])
            text = renderer.chat(
                "payment_failed",
                locale,
                plan=views.plan_name(snap.membership.plan_id, locale),
                until=snap.membership.period_end,
            )
            await bot.send_message(chat_id, text, reply_markup=markup)
    except TelegramForbiddenError:
        log.info("user %s blocked the bot; subscription change recorded", chat_id)
        await telegram_subscription_update.blocked(chat_id)


def build_router() -> Router:
    router = Router(name="plans")
    router.message.register(plans_command, Command("plans"))
    router.callback_query.register(plans_button, Nav.filter(F.view == "plans"))
    router.callback_query.register(pick_plan, PlanCb.filter())
    router.pre_checkout_query.register(pre_checkout)
    router.message.register(successful_payment, F.successful_payment)
    router.subscription.register(subscription_update)
    return router
