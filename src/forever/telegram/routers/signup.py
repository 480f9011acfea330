"""/start (greeting, trial offer, win-back links), the optional email address and the
separate question about marketing email; /email to change the address."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart, Filter
from aiogram.types import CallbackQuery, Message
from markupsafe import Markup

from forever.app import Container
from forever.db.models import Person
from forever.db.repositories import lifecycle_compat as accounts
from forever.domain.catalog import OfferKind
from forever.domain.lifecycle import State
from forever.domain.payments import InvoiceKind, price
from forever.services import billing, signup, winback
from forever.services.accounts import Status
from forever.services.signup import AWAITING_EMAIL, AWAITING_SIGNUP_EMAIL, EmailOutcome
from forever.telegram.callbacks import ConsentCb, EmailCb, Nav, TrialCb
from forever.telegram.routers.helpers import answer_stale, chat_of, send, views_of
from forever.telegram.views import cb, keyboard


class AwaitingEmail(Filter):
    """Free text while the bot waits for an address (not a command)."""

    async def __call__(self, message: Message, person: Person | None = None) -> bool:
        return (
            person is not None
            and person.awaiting in (AWAITING_SIGNUP_EMAIL, AWAITING_EMAIL)
            and message.text is not None
            and not message.text.startswith("/")
        )


async def start(
    message: Message, command: CommandObject, person: Person, container: Container, bot: Bot
) -> None:
    views = views_of(container)
    if command.args and command.args.startswith(winback.PREFIX):
        if await _winback(message, command.args, person, container, bot):
            return
        await message.answer(container.renderer.chat("winback_invalid", person.language))
    snap = await accounts.current(container, person.id)
    if snap.membership.state is State.NONE and not snap.trial_used:
        await send(bot, message.chat.id, views.welcome(snap.language, snap.first_name))
        return
    note = container.renderer.chat(
        "welcome_back",
        snap.language,
        name=snap.first_name,
        business=container.catalog.business_name,
    )
    await send(bot, message.chat.id, views.account(snap, note=Markup(note)))  # noqa: S704


async def _winback(
    message: Message, parameter: str, person: Person, container: Container, bot: Bot
) -> bool:
    found = await winback.read_winback(container, person.id, parameter)
    if found is None:
        return False
    views = views_of(container)
    locale = person.language
    offer, plan = found.offer, found.plan
    await message.answer(
        container.renderer.chat(
            "winback_offer",
            locale,
            kind=offer.kind.value,
            percent=offer.percent,
            plan=plan.name[locale],
            price=price(plan, InvoiceKind.ONE_MONTH, offer),
        )
    )
    chat = chat_of(bot)
    if offer.kind is OfferKind.DISCOUNT:
        title, description = views.invoice_texts(locale, plan, InvoiceKind.ONE_MONTH, offer)
        await billing.send_one_off_invoice(
            container,
            chat,
            message.chat.id,
            person.id,
            plan,
            InvoiceKind.ONE_MONTH,
            title=title,
            description=description,
            offer=offer,
        )
    else:
        title, description = views.invoice_texts(locale, plan, InvoiceKind.SUBSCRIPTION)
        link = await billing.subscription_link(
            container, chat, person.id, plan, title=title, description=description, offer=offer
        )
        await send(bot, message.chat.id, views.plan_link(locale, plan, link, plan.monthly_stars))
    return True


async def trial(
    query: CallbackQuery, callback_data: TrialCb, person: Person, container: Container, bot: Bot
) -> None:
    views = views_of(container)
    if callback_data.action == "start":
        status, snap = await signup.begin_trial(container, person.id)
    elif callback_data.action == "skip":
        status, snap = await signup.skip_email(container, person.id)
    else:
        status, snap = Status.STALE, await accounts.current(container, person.id)
    if status is Status.DONE:
        await query.answer()
        if callback_data.action == "start":
            await send(bot, query.from_user.id, views.email_ask(snap.language))
        else:
            await send(bot, query.from_user.id, views.trial_started(snap))
        return
    await answer_stale(query, container, snap.language)
    note = container.renderer.chat("trial_not_available", snap.language)
    await send(bot, query.from_user.id, views.account(snap, note=Markup(note)))  # noqa: S704


async def email_text(message: Message, person: Person, container: Container, bot: Bot) -> None:
    views = views_of(container)
    during_signup = person.awaiting == AWAITING_SIGNUP_EMAIL
    result = await signup.submit_email(container, person.id, message.text or "")
    snap = result.snap
    locale = snap.language
    r = container.renderer
    if result.outcome is EmailOutcome.INVALID:
        await send(bot, message.chat.id, views.email_invalid(locale, during_signup))
    elif result.outcome is EmailOutcome.TRIAL_STARTED:
        await send(bot, message.chat.id, views.trial_started(snap))
        await send(bot, message.chat.id, views.consent_ask(locale))
    elif result.outcome is EmailOutcome.TRIAL_USED:
        await send(
            bot,
            message.chat.id,
            (
                r.chat("trial_used_email", locale),
                keyboard([cb(views.label(locale, "see_plans"), Nav(view="plans"))]),
            ),
        )
    elif result.outcome is EmailOutcome.SAVED:
        await message.answer(r.chat("email_saved", locale, email=snap.email))
        if result.ask_consent or during_signup:
            await send(bot, message.chat.id, views.consent_ask(locale))
    elif result.outcome is EmailOutcome.UNCHANGED:
        await message.answer(r.chat("email_unchanged", locale, email=snap.email))
    else:
        await message.answer(r.chat("unknown", locale))


async def consent_answer(
    query: CallbackQuery, callback_data: ConsentCb, person: Person, container: Container, bot: Bot
) -> None:
    locale = person.language
    r = container.renderer
    status = await signup.answer_marketing(
        container,
        person.id,
        yes=callback_data.yes,
        wording=r.chat("consent_ask", locale, business=container.catalog.business_name),
        wording_version=f"chat-consent-1-{locale}",
    )
    if status is not Status.DONE:
        snap = await accounts.current(container, person.id)
        await answer_stale(query, container, locale)
        await send(bot, query.from_user.id, views_of(container).account(snap))
        return
    await query.answer()
    snap = await accounts.current(container, person.id)
    if callback_data.yes:
        await bot.send_message(
            query.from_user.id, r.chat("consent_pending", locale, email=snap.email)
        )
    else:
        await bot.send_message(query.from_user.id, r.chat("consent_declined", locale))


async def email_command(message: Message, person: Person, container: Container) -> None:
    await signup.ask_for_email(container, person.id)
    locale = person.language
    await message.answer(
        container.renderer.chat("email_prompt", locale, email=person.email),
        reply_markup=keyboard(
            [cb(views_of(container).label(locale, "stop_editing"), EmailCb(action="stop"))]
        ),
    )


async def email_stop(
    query: CallbackQuery, callback_data: EmailCb, person: Person, container: Container, bot: Bot
) -> None:
    await signup.stop_waiting(container, person.id)
    await query.answer()
    await bot.send_message(
        query.from_user.id, container.renderer.chat("no_change", person.language)
    )


def build_router() -> Router:
    router = Router(name="signup")
    router.message.register(start, CommandStart())
    router.message.register(email_command, Command("email"))
    router.message.register(email_text, F.chat.type == "private", AwaitingEmail())
    router.callback_query.register(trial, TrialCb.filter())
    router.callback_query.register(consent_answer, ConsentCb.filter())
    router.callback_query.register(email_stop, EmailCb.filter())
    return router
