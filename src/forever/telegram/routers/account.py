"""/account and /cancel: one-tap cancel and its undo, the optional reason and one offer,
pause and resume; and Telegram's own `subscription` updates. Buttons carry the subscription
version; an old one shows the current view.

Handlers parse the update, call one lifecycle use case and render its result. When the
result asks for a payment (resume a Stars membership, a discount, a lower tier), the link or
invoice that answers the tap comes from `invoicing`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Protocol

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from markupsafe import Markup

from forever.domain.account import AccountAction, Snapshot, Status
from forever.domain.catalog import CancelReason, Catalog, Offer, OfferKind, Plan
from forever.domain.payments import InvoiceKind
from forever.rendering import Renderer
from forever.services.accounts import AccountReader
from forever.services.billing import InvoiceTexts
from forever.services.experiments import PersonalPrices
from forever.services.points import PointsLedger
from forever.services.ports import ChatPort
from forever.services.records import PersonRecord
from forever.services.retention import Accepted, Result, Retention
from forever.services.shop import Shop
from forever.telegram.callbacks import AccountCb, CancelCb, Nav, OfferCb, PauseCb, ReasonCb
from forever.telegram.routers.helpers import chat_of, send
from forever.telegram.views import Views, keyboard, url

log = logging.getLogger(__name__)


class Invoices(Protocol):
    """The payment link or invoice that answers a tap (issued by the billing area)."""

    async def subscription_link(
        self,
        chat: ChatPort,
        person_id: int,
        plan: Plan,
        *,
        texts: InvoiceTexts,
        offer: Offer | None = None,
    ) -> str: ...

    async def priced_subscription_link(
        self,
        chat: ChatPort,
        person_id: int,
        plan: Plan,
        *,
        texts: InvoiceTexts,
        offer: Offer | None = None,
    ) -> tuple[str, int]: ...

    async def monthly_price(self, person_id: int, plan: Plan) -> int: ...

    async def send_one_off(
        self,
        chat: ChatPort,
        chat_id: int,
        person_id: int,
        plan: Plan,
        kind: InvoiceKind,
        *,
        texts: InvoiceTexts,
        offer: Offer | None = None,
    ) -> bool: ...


async def _show_current(
    query: CallbackQuery, bot: Bot, views: Views, renderer: Renderer, snap: Snapshot
) -> None:
    """The button was for an older state: say so briefly, then show the current view."""
    await query.answer(renderer.chat("stale", snap.language), show_alert=False)
    await send(bot, query.from_user.id, views.account(snap))


# --- /account and /cancel ----------------------------------------------------------------


async def _own_price(snap: Snapshot, prices: PersonalPrices | None) -> int | None:
    """The monthly price the renewal line names when no Stars subscription is on record: the
    one this person keeps, or the arm they were shown (as /plans names it)."""
    m = snap.membership
    if prices is None or snap.renewal_stars is not None or not m.auto_renew:
        return None
    return await prices.renewal_monthly(snap.person_id, m.plan_id)


async def account_command(
    message: Message,
    person: PersonRecord,
    account_reader: AccountReader,
    views: Views,
    bot: Bot,
    shop: Shop | None = None,
    points: PointsLedger | None = None,
    personal_prices: PersonalPrices | None = None,
) -> None:
    snap = await account_reader.current(person.id)
    wallet = await shop.wallet(person.id, snap.language) if shop is not None else None
    held = await points.view(person.id) if points is not None else None
    own = await _own_price(snap, personal_prices)
    await send(bot, message.chat.id, views.account(snap, wallet=wallet, points=held, own_price=own))


async def account_button(
    query: CallbackQuery,
    person: PersonRecord,
    account_reader: AccountReader,
    views: Views,
    bot: Bot,
    shop: Shop | None = None,
    points: PointsLedger | None = None,
    personal_prices: PersonalPrices | None = None,
) -> None:
    await query.answer()
    snap = await account_reader.current(person.id)
    wallet = await shop.wallet(person.id, snap.language) if shop is not None else None
    held = await points.view(person.id) if points is not None else None
    own = await _own_price(snap, personal_prices)
    await send(
        bot, query.from_user.id, views.account(snap, wallet=wallet, points=held, own_price=own)
    )


async def cancel_command(
    message: Message,
    person: PersonRecord,
    account_reader: AccountReader,
    views: Views,
    renderer: Renderer,
    bot: Bot,
) -> None:
    status, snap = await account_reader.for_action(person.id, AccountAction.CANCEL, None)
    if status is Status.DONE:
        await send(bot, message.chat.id, views.cancel_confirm(snap))
        return
    note = renderer.chat("nothing_to_cancel", snap.language)
    await send(bot, message.chat.id, views.account(snap, note=Markup(note)))  # noqa: S704


async def account_action(
    query: CallbackQuery,
    callback_data: AccountCb,
    person: PersonRecord,
    retention: Retention,
    account_reader: AccountReader,
    invoicing: Invoices,
    views: Views,
    renderer: Renderer,
    catalog: Catalog,
    bot: Bot,
) -> None:
    action, v = callback_data.action, callback_data.v
    if action == "undo":
        # Undo acts only on a scheduled cancel, so any "keep" button may do it, once.
        result = await retention.undo_cancel(person.id, expected_version=None)
        if result.status is not Status.DONE:
            await _show_current(query, bot, views, renderer, result.snap)
            return
        await query.answer()
        snap = result.snap
        await bot.send_message(
            query.from_user.id,
            renderer.chat(
                "undo_done",
                snap.language,
                plan=views.plan_name(snap.membership.plan_id, snap.language),
                until=snap.membership.period_end,
                renews=snap.membership.auto_renew,
            ),
        )
        return
    if action == "resume":
        result = await retention.resume(person.id, expected_version=v)
        if result.status is not Status.DONE:
            await _show_current(query, bot, views, renderer, result.snap)
            return
        await query.answer()
        await _resumed(query, bot, views, renderer, catalog, invoicing, result)
        return
    try:
        wanted = AccountAction(action)
    except ValueError:
        wanted = None
    if wanted not in (AccountAction.CANCEL, AccountAction.PAUSE):
        await _show_current(query, bot, views, renderer, await account_reader.current(person.id))
        return
    status, snap = await account_reader.for_action(person.id, wanted, v)
    if status is not Status.DONE:
        await _show_current(query, bot, views, renderer, snap)
        return
    await query.answer()
    ask = views.cancel_confirm(snap) if wanted is AccountAction.CANCEL else views.pause_ask(snap)
    await send(bot, query.from_user.id, ask)


async def _resumed(
    query: CallbackQuery,
    bot: Bot,
    views: Views,
    renderer: Renderer,
    catalog: Catalog,
    invoices: Invoices,
    result: Result,
) -> None:
    snap = result.snap
    locale = snap.language
    m = snap.membership
    markup = None
    plan = catalog.plan(m.plan_id or "")
    if result.needs_new_link and plan is not None:
        # The payment screen and the button name what the link charges: the price this
        # member keeps.
        link, amount = await invoices.priced_subscription_link(
            chat_of(bot), snap.person_id, plan, texts=views.texts_for(locale)
        )
        markup = keyboard([url(views.label(locale, "renew", price=views.stars(amount)), link)])
    text = renderer.chat(
        "resumed",
        locale,
        plan=views.plan_name(m.plan_id, locale),
        until=m.period_end,
        active=m.has_access,
        needs_link=markup is not None,
    )
    await bot.send_message(query.from_user.id, text, reply_markup=markup)


# --- cancel, why, one offer ----------------------------------------------------------------


async def confirm_cancel(
    query: CallbackQuery,
    callback_data: CancelCb,
    person: PersonRecord,
    retention: Retention,
    views: Views,
    renderer: Renderer,
    bot: Bot,
) -> None:
    result = await retention.cancel(person.id, expected_version=callback_data.v)
    if result.status is not Status.DONE:
        await _show_current(query, bot, views, renderer, result.snap)
        return
    await query.answer()
    await send(bot, query.from_user.id, views.canceled(result.snap))
    await send(bot, query.from_user.id, views.reason_ask(result.snap))


async def reason(
    query: CallbackQuery,
    callback_data: ReasonCb,
    person: PersonRecord,
    retention: Retention,
    account_reader: AccountReader,
    views: Views,
    renderer: Renderer,
    bot: Bot,
    invoicing: Invoices,
) -> None:
    given: CancelReason | None = None
    if callback_data.reason != "skip":
        try:
            given = CancelReason(callback_data.reason)
        except ValueError:
            snap = await account_reader.current(person.id)
            await _show_current(query, bot, views, renderer, snap)
            return
    result = await retention.give_reason(person.id, expected_version=callback_data.v, reason=given)
    if result.status is not Status.DONE:
        await _show_current(query, bot, views, renderer, result.snap)
        return
    await query.answer()
    snap = result.snap
    thanks = renderer.chat("reason_thanks", snap.language, skipped=given is None)
    await bot.send_message(query.from_user.id, thanks)
    if result.offer is not None:
        # The prices the offer names are the ones its link will charge this person.
        prices = {}
        for plan in (
            views.catalog.plan(snap.membership.plan_id or ""),
            views.catalog.next_tier_down(snap.membership.plan_id or ""),
        ):
            if plan is not None:
                prices[plan.id] = await invoicing.monthly_price(snap.person_id, plan)
        await send(bot, query.from_user.id, views.offer(snap, result.offer, prices))


async def offer(
    query: CallbackQuery,
    callback_data: OfferCb,
    person: PersonRecord,
    locale: str,
    retention: Retention,
    invoicing: Invoices,
    views: Views,
    renderer: Renderer,
    catalog: Catalog,
    bot: Bot,
) -> None:
    if callback_data.offer == "-":
        await query.answer()
        await bot.send_message(query.from_user.id, renderer.chat("offer_declined", locale))
        return
    accepted = await retention.accept_offer(
        person.id, expected_version=callback_data.v, offer_id=callback_data.offer
    )
    result = accepted.result
    if result.status is not Status.DONE or result.offer is None:
        await _show_current(query, bot, views, renderer, result.snap)
        return
    await query.answer()
    await _offer_taken(query, bot, views, renderer, catalog, invoicing, accepted)


async def _offer_taken(
    query: CallbackQuery,
    bot: Bot,
    views: Views,
    renderer: Renderer,
    catalog: Catalog,
    invoices: Invoices,
    accepted: Accepted,
) -> None:
    result = accepted.result
    taken = result.offer
    assert taken is not None
    snap = result.snap
    locale = snap.language
    m = snap.membership
    chat_id = query.from_user.id
    if taken.kind is OfferKind.PAUSE:
        await bot.send_message(chat_id, renderer.chat("paused", locale, until=m.paused_until))
    elif taken.kind is OfferKind.LONGER_TRIAL:
        text = renderer.chat(
            "longer_trial", locale, plan=views.plan_name(m.plan_id, locale), until=m.period_end
        )
        await bot.send_message(chat_id, text)
    else:
        # A discount: the same plan's Stars subscription at the offer's price, renewing at
        # it; a lower tier: the next tier down's subscription at its price.
        discount = taken.kind is OfferKind.DISCOUNT
        plan_id = m.plan_id if discount else accepted.lower_plan_id
        plan = catalog.plan(plan_id or "")
        assert plan is not None
        link, amount = await invoices.priced_subscription_link(
            chat_of(bot), snap.person_id, plan, texts=views.texts_for(locale), offer=taken
        )
        percent = taken.percent if discount else 0
        # "N% off the regular M": M is this person's own price, not the catalog's.
        plan = replace(plan, monthly_stars=await invoices.monthly_price(snap.person_id, plan))
        await send(bot, chat_id, views.plan_link(locale, plan, link, amount, percent))


# --- pause -------------------------------------------------------------------------------


async def pause_choice(
    query: CallbackQuery,
    callback_data: PauseCb,
    person: PersonRecord,
    retention: Retention,
    views: Views,
    renderer: Renderer,
    bot: Bot,
) -> None:
    result = await retention.pause(
        person.id, expected_version=callback_data.v, months=callback_data.months
    )
    if result.status is not Status.DONE:
        await _show_current(query, bot, views, renderer, result.snap)
        return
    await query.answer()
    snap = result.snap
    paused = renderer.chat("paused", snap.language, until=snap.membership.paused_until)
    await bot.send_message(query.from_user.id, paused)


# --- Telegram's own subscription updates -----------------------------------------------------


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
