"""/account and /cancel: one-tap cancel and its undo, the optional reason and one offer,
pause and resume. Buttons carry the subscription version; an old one shows the current view."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from markupsafe import Markup

from forever.app import Container
from forever.db.models import Person
from forever.domain.catalog import CancelReason, OfferKind
from forever.domain.lifecycle import ALLOWED, Action
from forever.domain.payments import InvoiceKind, price
from forever.services import accounts, retention
from forever.services.accounts import Snapshot, Status
from forever.services.billing import Invoicing
from forever.telegram.callbacks import AccountCb, CancelCb, Nav, OfferCb, PauseCb, ReasonCb
from forever.telegram.routers.helpers import answer_stale, chat_of, send, views_of
from forever.telegram.views import keyboard, url


async def account_command(message: Message, person: Person, container: Container, bot: Bot) -> None:
    snap = await accounts.current(container, person.id)
    await send(bot, message.chat.id, views_of(container).account(snap))


async def account_button(
    query: CallbackQuery, person: Person, container: Container, bot: Bot
) -> None:
    await query.answer()
    snap = await accounts.current(container, person.id)
    await send(bot, query.from_user.id, views_of(container).account(snap))


async def cancel_command(message: Message, person: Person, container: Container, bot: Bot) -> None:
    snap = await accounts.current(container, person.id)
    views = views_of(container)
    if snap.membership.state in ALLOWED[Action.CANCEL]:
        await send(bot, message.chat.id, views.cancel_confirm(snap))
        return
    note = container.renderer.chat("nothing_to_cancel", snap.language)
    await send(bot, message.chat.id, views.account(snap, note=Markup(note)))  # noqa: S704


async def _show_current(
    query: CallbackQuery, container: Container, bot: Bot, snap: Snapshot
) -> None:
    await answer_stale(query, container, snap.language)
    await send(bot, query.from_user.id, views_of(container).account(snap))


async def account_action(
    query: CallbackQuery,
    callback_data: AccountCb,
    person: Person,
    container: Container,
    bot: Bot,
    invoicing: Invoicing,
) -> None:
    views = views_of(container)
    action = callback_data.action
    v = callback_data.v
    if action == "undo":
        # Undo acts only on a scheduled cancel, so any "keep" button may do it, once.
        result = await retention.undo_cancel(
            container, chat_of(bot), person.id, expected_version=None
        )
        if result.status is not Status.DONE:
            await _show_current(query, container, bot, result.snap)
            return
        await query.answer()
        snap = result.snap
        await bot.send_message(
            query.from_user.id,
            container.renderer.chat(
                "undo_done",
                snap.language,
                plan=views.plan_name(snap.membership.plan_id, snap.language),
                until=snap.membership.period_end,
                renews=snap.membership.auto_renew,
            ),
        )
        return
    if action == "resume":
        result = await retention.resume(container, person.id, expected_version=v)
        if result.status is not Status.DONE:
            await _show_current(query, container, bot, result.snap)
            return
        await query.answer()
        await _resumed(query, container, bot, invoicing, result.snap, result.needs_new_link)
        return
    snap = await accounts.current(container, person.id)
    if snap.version != v or action not in ("cancel", "pause"):
        await _show_current(query, container, bot, snap)
        return
    if action == "cancel" and snap.membership.state in ALLOWED[Action.CANCEL]:
        await query.answer()
        await send(bot, query.from_user.id, views.cancel_confirm(snap))
    elif action == "pause" and snap.membership.state in ALLOWED[Action.PAUSE]:
        await query.answer()
        await send(bot, query.from_user.id, views.pause_ask(snap))
    else:
        await _show_current(query, container, bot, snap)


async def _resumed(
    query: CallbackQuery,
    container: Container,
    bot: Bot,
    invoicing: Invoicing,
    snap: Snapshot,
    needs_link: bool,
) -> None:
    views = views_of(container)
    locale = snap.language
    m = snap.membership
    markup = None
    plan = container.catalog.plan(m.plan_id or "")
    if needs_link and plan is not None:
        title, description = views.invoice_texts(locale, plan, InvoiceKind.SUBSCRIPTION)
        link = await invoicing.subscription_link(
            chat_of(bot), snap.person_id, plan, title=title, description=description
        )
        markup = keyboard(
            [url(views.label(locale, "renew", price=views.stars(plan.monthly_stars)), link)]
        )
    text = container.renderer.chat(
        "resumed",
        locale,
        plan=views.plan_name(m.plan_id, locale),
        until=m.period_end,
        active=m.has_access,
        needs_link=markup is not None,
    )
    await bot.send_message(query.from_user.id, text, reply_markup=markup)


async def confirm_cancel(
    query: CallbackQuery, callback_data: CancelCb, person: Person, container: Container, bot: Bot
) -> None:
    result = await retention.cancel(
        container, chat_of(bot), person.id, expected_version=callback_data.v
    )
    if result.status is not Status.DONE:
        await _show_current(query, container, bot, result.snap)
        return
    await query.answer()
    views = views_of(container)
    await send(bot, query.from_user.id, views.canceled(result.snap))
    await send(bot, query.from_user.id, views.reason_ask(result.snap))


async def reason(
    query: CallbackQuery, callback_data: ReasonCb, person: Person, container: Container, bot: Bot
) -> None:
    given: CancelReason | None = None
    if callback_data.reason != "skip":
        try:
            given = CancelReason(callback_data.reason)
        except ValueError:
            snap = await accounts.current(container, person.id)
            await _show_current(query, container, bot, snap)
            return
    result = await retention.give_reason(
        container, person.id, expected_version=callback_data.v, reason=given
    )
    if result.status is not Status.DONE:
        await _show_current(query, container, bot, result.snap)
        return
    await query.answer()
    snap = result.snap
    r = container.renderer
    await bot.send_message(
        query.from_user.id, r.chat("reason_thanks", snap.language, skipped=given is None)
    )
    if result.offer is not None:
        await send(bot, query.from_user.id, views_of(container).offer(snap, result.offer))


async def offer(
    query: CallbackQuery,
    callback_data: OfferCb,
    person: Person,
    container: Container,
    bot: Bot,
    invoicing: Invoicing,
) -> None:
    r = container.renderer
    views = views_of(container)
    if callback_data.offer == "-":
        await query.answer()
        await bot.send_message(query.from_user.id, r.chat("offer_declined", person.language))
        return
    accepted = await retention.accept_offer(
        container, person.id, expected_version=callback_data.v, offer_id=callback_data.offer
    )
    result = accepted.result
    if result.status is not Status.DONE or result.offer is None:
        await _show_current(query, container, bot, result.snap)
        return
    await query.answer()
    snap = result.snap
    locale = snap.language
    chat = chat_of(bot)
    m = snap.membership
    if result.offer.kind is OfferKind.PAUSE:
        await bot.send_message(query.from_user.id, r.chat("paused", locale, until=m.paused_until))
    elif result.offer.kind is OfferKind.DISCOUNT:
        plan = container.catalog.plan(m.plan_id or "")
        assert plan is not None
        await bot.send_message(
            query.from_user.id,
            r.chat(
                "offer_discount_ready",
                locale,
                percent=result.offer.percent,
                plan=plan.name[locale],
                price=price(plan, InvoiceKind.ONE_MONTH, result.offer),
                until=m.period_end,
            ),
        )
        title, description = views.invoice_texts(locale, plan, InvoiceKind.ONE_MONTH, result.offer)
        await invoicing.send_one_off(
            chat,
            query.from_user.id,
            person.id,
            plan,
            InvoiceKind.ONE_MONTH,
            title=title,
            description=description,
            offer=result.offer,
        )
    else:
        plan = container.catalog.plan(accepted.lower_plan_id or "")
        assert plan is not None
        title, description = views.invoice_texts(locale, plan, InvoiceKind.SUBSCRIPTION)
        link = await invoicing.subscription_link(
            chat,
            person.id,
            plan,
            title=title,
            description=description,
            offer=result.offer,
        )
        await send(bot, query.from_user.id, views.plan_link(locale, plan, link, plan.monthly_stars))


async def pause_choice(
    query: CallbackQuery, callback_data: PauseCb, person: Person, container: Container, bot: Bot
) -> None:
    result = await retention.pause(
        container,
        chat_of(bot),
        person.id,
        expected_version=callback_data.v,
        months=callback_data.months,
    )
    if result.status is not Status.DONE:
        await _show_current(query, container, bot, result.snap)
        return
    await query.answer()
    snap = result.snap
    await bot.send_message(
        query.from_user.id,
        container.renderer.chat("paused", snap.language, until=snap.membership.paused_until),
    )


def build_router() -> Router:
    router = Router(name="account")
    router.message.register(account_command, Command("account"))
    router.message.register(cancel_command, Command("cancel"))
    router.callback_query.register(account_button, Nav.filter(F.view == "account"))
    router.callback_query.register(account_action, AccountCb.filter())
    router.callback_query.register(confirm_cancel, CancelCb.filter())
    router.callback_query.register(reason, ReasonCb.filter())
    router.callback_query.register(offer, OfferCb.filter())
    router.callback_query.register(pause_choice, PauseCb.filter())
    return router
