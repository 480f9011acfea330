"""/start (greeting, trial offer, win-back links), the optional email address and the
separate question about marketing email; /email to change the address."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart, Filter
from aiogram.types import CallbackQuery, Message
from markupsafe import Markup

from forever.domain.catalog import Catalog
from forever.domain.lifecycle import State
from forever.rendering import Renderer
from forever.services.accounts import Snapshot, Status
from forever.services.people import Customer
from forever.services.referrals import Referrals
from forever.services.signup import AWAITING_EMAIL, AWAITING_SIGNUP_EMAIL, EmailOutcome, Signup
from forever.telegram.callbacks import ConsentCb, EmailCb, Nav, TrialCb
from forever.telegram.routers.helpers import send
from forever.telegram.routers.plans import present_invoice
from forever.telegram.routers.referrals import referral_note
from forever.telegram.views import Views, cb, keyboard


class AwaitingEmail(Filter):
    """Free text while the bot waits for an address (not a command)."""

    async def __call__(self, message: Message, person: Customer | None = None) -> bool:
        return (
            person is not None
            and person.awaiting in (AWAITING_SIGNUP_EMAIL, AWAITING_EMAIL)
            and message.text is not None
            and not message.text.startswith("/")
        )


async def start(
    message: Message,
    command: CommandObject,
    person: Customer,
    signup: Signup,
    views: Views,
    renderer: Renderer,
    catalog: Catalog,
    bot: Bot,
    referrals: Referrals,
    standing: Snapshot | None = None,
) -> None:
    chat_id = message.chat.id
    locale = person.language
    referral = await referrals.attribute(
        person.id, command.args, first_contact=person.first_contact
    )
    if referral is not None:  # a r_<code> link: said first, then the usual greeting
        await message.answer(referral_note(renderer, locale, referral))
    started = await signup.start(
        person.id, None if referral is not None else command.args, known=standing
    )
    if started.winback is not None and started.invoice is not None:
        offer, plan = started.winback.offer, started.winback.plan
        await message.answer(
            renderer.chat(
                "winback_offer",
                locale,
                kind=offer.kind.value,
                percent=offer.percent,
                plan=plan.name[locale],
                # What the invoice charges, and the price this person would pay without the
                # offer (their kept price, if they were a member before).
                price=started.invoice.amount,
                regular=started.invoice.plan.monthly_stars,
            )
        )
        await present_invoice(bot, chat_id, views, locale, started.invoice)
        return
    if started.winback_invalid:
        await message.answer(renderer.chat("winback_invalid", locale))
    snap = started.snap
    if snap.membership.state is State.NONE and not snap.trial_used:
        await send(bot, chat_id, views.welcome(snap.language, snap.first_name))
        return
    note = renderer.chat(
        "welcome_back", snap.language, name=snap.first_name, business=catalog.business_name
    )
    await send(bot, chat_id, views.account(snap, note=Markup(note)))  # noqa: S704


async def trial(
    query: CallbackQuery,
    callback_data: TrialCb,
    person: Customer,
    signup: Signup,
    views: Views,
    renderer: Renderer,
    bot: Bot,
) -> None:
    status, snap = await signup.trial(person.id, callback_data.action)
    if status is Status.DONE:
        await query.answer()
        if callback_data.action == "start":
            await send(bot, query.from_user.id, views.email_ask(snap.language))
        else:
            await send(bot, query.from_user.id, views.trial_started(snap))
        return
    await query.answer(renderer.chat("stale", snap.language), show_alert=False)
    note = renderer.chat("trial_not_available", snap.language)
    await send(bot, query.from_user.id, views.account(snap, note=Markup(note)))  # noqa: S704


async def email_text(
    message: Message,
    person: Customer,
    signup: Signup,
    views: Views,
    renderer: Renderer,
    bot: Bot,
) -> None:
    result = await signup.submit_email(person.id, message.text or "")
    snap = result.snap
    locale = snap.language
    r = renderer
    chat_id = message.chat.id
    if result.outcome is EmailOutcome.INVALID:
        await send(bot, chat_id, views.email_invalid(locale, result.during_signup))
    elif result.outcome is EmailOutcome.TRIAL_STARTED:
        await send(bot, chat_id, views.trial_started(snap))
        await send(bot, chat_id, views.consent_ask(locale))
    elif result.outcome is EmailOutcome.TRIAL_USED:
        await send(
            bot,
            chat_id,
            (
                r.chat("trial_used_email", locale),
                keyboard([cb(views.label(locale, "see_plans"), Nav(view="plans"))]),
            ),
        )
    elif result.outcome is EmailOutcome.SAVED:
        await message.answer(r.chat("email_saved", locale, email=snap.email))
        if result.ask_consent or result.during_signup:
            await send(bot, chat_id, views.consent_ask(locale))
    elif result.outcome is EmailOutcome.UNCHANGED:
        await message.answer(r.chat("email_unchanged", locale, email=snap.email))
        if result.ask_consent:
            await send(bot, chat_id, views.consent_ask(locale))
    else:
        await message.answer(r.chat("unknown", locale))


async def consent_answer(
    query: CallbackQuery,
    callback_data: ConsentCb,
    person: Customer,
    signup: Signup,
    views: Views,
    renderer: Renderer,
    catalog: Catalog,
    bot: Bot,
) -> None:
    locale = person.language
    r = renderer
    status, snap = await signup.answer_marketing(
        person.id,
        yes=callback_data.yes,
        wording=r.chat("consent_ask", locale, business=catalog.business_name),
        wording_version=f"chat-consent-1-{locale}",
    )
    if status is not Status.DONE:
        await query.answer(r.chat("stale", locale), show_alert=False)
        await send(bot, query.from_user.id, views.account(snap))
        return
    await query.answer()
    if callback_data.yes:
        await bot.send_message(
            query.from_user.id, r.chat("consent_pending", locale, email=snap.email)
        )
    else:
        await bot.send_message(query.from_user.id, r.chat("consent_declined", locale))


async def email_command(
    message: Message, person: Customer, signup: Signup, views: Views, renderer: Renderer
) -> None:
    await signup.ask_for_email(person.id)
    locale = person.language
    await message.answer(
        renderer.chat("email_prompt", locale, email=person.email),
        reply_markup=keyboard([cb(views.label(locale, "stop_editing"), EmailCb(action="stop"))]),
    )


async def email_stop(
    query: CallbackQuery,
    callback_data: EmailCb,
    person: Customer,
    signup: Signup,
    renderer: Renderer,
    bot: Bot,
) -> None:
    await signup.stop_waiting(person.id)
    await query.answer()
    await bot.send_message(query.from_user.id, renderer.chat("no_change", person.language))


def build_router() -> Router:
    router = Router(name="signup")
    router.message.register(start, CommandStart())
    router.message.register(email_command, Command("email"))
    router.message.register(email_text, F.chat.type == "private", AwaitingEmail())
    router.callback_query.register(trial, TrialCb.filter())
    router.callback_query.register(consent_answer, ConsentCb.filter())
    router.callback_query.register(email_stop, EmailCb.filter())
    return router
