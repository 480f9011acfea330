"""/plans, paying with Telegram Stars (subscription links and one-off invoices), the
pre-checkout check and successful payments. (Telegram's `subscription` updates are handled
with the rest of the lifecycle in routers/account.py.)"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message, PreCheckoutQuery

from forever.app import Container
from forever.db.models import Person
from forever.db.repositories import lifecycle_compat as accounts
from forever.domain.payments import InvoiceKind, Refusal
from forever.services import billing
from forever.services.billing import IncomingPayment, PaymentOutcome
from forever.telegram.callbacks import Nav, PlanCb
from forever.telegram.routers.helpers import chat_of, send, views_of

log = logging.getLogger(__name__)


async def plans_command(message: Message, person: Person, container: Container, bot: Bot) -> None:
    snap = await accounts.current(container, person.id)
    await send(bot, message.chat.id, views_of(container).plans(snap.language, snap))


async def plans_button(
    query: CallbackQuery, person: Person, container: Container, bot: Bot
) -> None:
    await query.answer()
    snap = await accounts.current(container, person.id)
    await send(bot, query.from_user.id, views_of(container).plans(snap.language, snap))


async def pick_plan(
    query: CallbackQuery, callback_data: PlanCb, person: Person, container: Container, bot: Bot
) -> None:
    views = views_of(container)
    locale = person.language
    plan = container.catalog.plan(callback_data.plan)
    try:
        kind = InvoiceKind(callback_data.kind)
    except ValueError:
        kind = None
    if plan is None or kind not in (InvoiceKind.SUBSCRIPTION, InvoiceKind.YEARLY):
        # An old button for a plan that is gone, or forged data.
        await query.answer(container.renderer.chat("not_possible", locale), show_alert=True)
        snap = await accounts.current(container, person.id)
        await send(bot, query.from_user.id, views.plans(locale, snap))
        return
    snap = await accounts.current(container, person.id)
    if (
        kind is InvoiceKind.SUBSCRIPTION
        and snap.renewing_star_subscription
        and snap.membership.plan_id == plan.id
    ):
        await query.answer()
        note = container.renderer.chat("already_subscribed", locale, plan=plan.name[locale])
        await bot.send_message(query.from_user.id, note)
        return
    await query.answer()
    chat = chat_of(bot)
    title, description = views.invoice_texts(locale, plan, kind)
    if kind is InvoiceKind.SUBSCRIPTION:
        link = await billing.subscription_link(
            container, chat, person.id, plan, title=title, description=description
        )
        await send(bot, query.from_user.id, views.plan_link(locale, plan, link, plan.monthly_stars))
    else:
        await billing.send_one_off_invoice(
            container,
            chat,
            query.from_user.id,
            person.id,
            plan,
            kind,
            title=title,
            description=description,
        )


async def pre_checkout(query: PreCheckoutQuery, container: Container) -> None:
    try:
        refusal = await billing.pre_checkout(
            container,
            payer_telegram_id=query.from_user.id,
            currency=query.currency,
            amount=query.total_amount,
            payload=query.invoice_payload,
        )
    except Exception:
        # Telegram waits at most 10 s: a clear "no" now beats a timeout.
        log.exception("pre-checkout check failed; refusing")
        refusal = Refusal.UNKNOWN
    if refusal is None:
        await query.answer(ok=True)
        return
    log.info("pre-checkout from %s refused: %s", query.from_user.id, refusal.value)
    locale = container.renderer.locale_for(query.from_user.language_code)
    snap = await accounts.snapshot_by_telegram_id(container, query.from_user.id)
    if snap is not None:
        locale = snap.language
    await query.answer(
        ok=False,
        error_message=container.renderer.chat("precheckout_refused", locale, reason=refusal.value),
    )


async def successful_payment(
    message: Message, person: Person, container: Container, bot: Bot
) -> None:
    paid = message.successful_payment
    assert paid is not None
    expires = paid.subscription_expiration_date
    result = await billing.record_payment(
        container,
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
    if result.stop_charge_id is not None:
        try:  # the plan changed: the old Stars subscription must not renew too
            await chat_of(bot).cancel_star_subscription(
                message.chat.id, result.stop_charge_id, True
            )
        except TelegramAPIError:
            log.warning("could not stop the old subscription of %s", message.chat.id, exc_info=True)
    if result.outcome is PaymentOutcome.UNKNOWN:
        await message.answer(container.renderer.chat("payment_unknown", locale))
        return
    snap = await accounts.current(container, person.id)
    await send(
        bot,
        message.chat.id,
        views_of(container).payment_done(
            locale,
            result.plan_id or "",
            result.period_end,
            renewed=result.outcome is PaymentOutcome.RENEWED,
            renews=snap.membership.auto_renew,
        ),
    )


def build_router() -> Router:
    router = Router(name="plans")
    router.message.register(plans_command, Command("plans"))
    router.callback_query.register(plans_button, Nav.filter(F.view == "plans"))
    router.callback_query.register(pick_plan, PlanCb.filter())
    router.pre_checkout_query.register(pre_checkout)
    router.message.register(successful_payment, F.successful_payment)
    return router
