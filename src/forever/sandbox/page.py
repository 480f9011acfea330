"""The sandbox page in the reader's language (issue 21): en, ro, it, ru, es.

The page (templates/index.html.j2) is rendered through Jinja with the catalogs; every message
of this package has the context `sandbox` (forever.catalogs), which keeps it out of the
customer text editor. The texts app.js writes come with the page as a JSON object: `texts`
(one text each, `{name}` placeholders) and `plurals` (for each message, its text per CLDR
plural category, chosen in the browser with Intl.PluralRules).

Language: the switch on the page (a cookie), else the browser's Accept-Language, each along
the fallback chain, else the default locale.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from forever import catalogs
from forever.domain.lazy_text import SANDBOX
from forever.domain.locales import CATALOG_LOCALES, NAMES, fallback_chain
from forever.rendering import _install_gettext
from forever.web.console import accepted_languages

TEMPLATES = Path(__file__).resolve().parent / "templates"
LANGUAGE_COOKIE = "forever_sandbox_language"
LANGUAGES = NAMES  # the switch on the page: each language in its own name

# The customer's Telegram language: ours, and one the bot does not speak (its fallback).
CUSTOMER_LANGUAGES = {**LANGUAGES, "de": "Deutsch"}


def page_language(cookie: str | None, accept_language: str, default: str) -> str:
    """The switch's choice, else the first of the browser's languages we have, else
    `default`."""
    wanted = [(cookie or "")[:16], *accepted_languages(accept_language)]
    for code in wanted:
        chain = fallback_chain(code, CATALOG_LOCALES, "")
        if chain[0]:
            return chain[0]
    return default


def render(locale: str) -> str:
    """The whole page in `locale`."""
    return _page(locale)


@cache
def _page(locale: str) -> str:
    env = _env(locale)
    translations = catalogs.translations(locale)

    def gettext(message: str) -> str:
        return translations.pgettext(SANDBOX, message)

    def ngettext(one: str, many: str, n: int) -> str:
        return translations.npgettext(SANDBOX, one, many, n)

    plurals: dict[str, dict[str, str]] = {}
    for category, n in _plural_examples(locale).items():
        for key, text in script_plurals(ngettext, n).items():
            plurals.setdefault(key, {})[category] = text
    script = {"lang": locale, "texts": script_texts(gettext), "plurals": plurals}
    return env.get_template("index.html.j2").render(
        lang=locale,
        languages=LANGUAGES,
        customer_languages=CUSTOMER_LANGUAGES,
        script=script,
    )


def _env(locale: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.policies["ext.i18n.trimmed"] = True
    _install_gettext(env, catalogs.translations(locale), SANDBOX)
    return env


def _plural_examples(locale: str) -> dict[str, int]:
    """A whole number for each CLDR plural category of the locale: en {'one': 1, 'other':
    0}; ru {'one': 1, 'few': 2, 'many': 0}."""
    rule = catalogs.cldr(locale).plural_form
    found: dict[str, int] = {}
    for n in range(0, 201):
        found.setdefault(rule(n), n)
    return found


# The texts app.js writes (its `t(key, values)`), in the page's language.
def script_texts(_: Callable[[str], str]) -> dict[str, str]:
    return {
        "answered": _("The sandbox answered {status}"),
        "no_language": _("no language"),
        "describe_staff": _("Staff · {language} · id {id}"),
        "staff_name": _("{name} (staff)"),
        "real_time": _("real time"),
        "hours_ahead": _("{hours} h ahead of real time"),
        "moving": _("Moving the clock {label}: running the scheduled work…"),
        "moved": _("Clock moved {label}: {mail}."),
        "now": _("Now {time} UTC · {mail}"),
        "to_date": _("to {date}"),
        "staff_meta": _(
            "Support staff: try /broadcast and /stats. The inbox shows every email the "
            "sandbox caught."
        ),
        "suggested_email": _("{about} · suggested email {email}"),
        "send_command": _("Send {command}"),
        "send_email": _("Send the email address {email}"),
        "use_promo": _("Use the promo code {code}"),
        "block": _("Block the bot"),
        "unblock": _("Unblock the bot"),
        "usage": _("Usage this month: {usage}."),
        "credits": _("Credits left: {balance}."),
        "renewal_failed": _(
            "Telegram could not renew the subscription: the bot was told (state failed)."
        ),
        "blocked": _("{name} blocked the bot."),
        "unblocked": _("{name} unblocked the bot."),
        "paste_link": _("Paste a link to this bot, like https://t.me/<bot>?start=r_…"),
        "no_messages_staff": _("No messages yet: send /stats or /broadcast below."),
        "no_messages": _("No messages yet: press /start below to open the bot."),
        "started_subscription": _("You started a Stars subscription: ⭐ {amount}"),
        "renewed": _("You renewed the subscription: ⭐ {amount}"),
        "you_paid": _("You paid: ⭐ {amount}"),
        "edited": _("edited"),
        "bot": _("Bot:"),
        "you": _("You:"),
        "picture": _("Picture: {name}"),
        "picture_from_bot": _("Picture sent by the bot"),
        "subscription_invoice": _("Subscription invoice"),
        "invoice": _("Invoice"),
        "paid": _("Paid"),
        "keyboard": _("Buttons under the bot's message"),
        "opens_link": _("{text} (opens a link)"),
        "button_does_nothing": _("This kind of button does nothing in the sandbox."),
        "once": _("once"),
        "pay_amount": _("Pay ⭐ {amount}"),
        "payment_refused": _("Payment refused: {error}"),
        "paid_amount": _("Paid ⭐ {amount}"),
        "all_mail": _("Every email the mail catcher received ({count})."),
        "customer_mail": _("Email to the address {name} gave the bot ({count})."),
        "no_mail": _("No email yet."),
        "no_mail_customer": _(
            "No email yet. Give the bot an email address in the chat (try ✉ {email}), then "
            "move the clock."
        ),
        "no_subject": _("(no subject)"),
        "from": _("From"),
        "to": _("To"),
        "received": _("Received"),
        "marketing": _("Promotional"),
        "transactional": _("Transactional"),
        "unsubscribe": _("Unsubscribe (one click)"),
        "unsubscribed": _(
            "Unsubscribed: the bot answered {status} to the one-click POST (RFC 8058)."
        ),
        "unsubscribe_answered": _("The unsubscribe link answered {status}."),
        "no_one_click": _("List-Unsubscribe is set, but without one-click POST."),
        "email_frame": _("Email: {subject}"),
        "plain_text": _("Plain-text part"),
        "headers": _("Headers ({count})"),
        "links": _("Links in this email"),
        "in_chat": _("{text} (in the chat)"),
        "live": _("Live"),
        "reconnecting": _("Reconnecting…"),
        "stopped": _("The sandbox stopped"),
        "business": _("{business} · everything runs on this machine"),
        "channel": _("channel"),
        "group": _("group"),
        "not_member": _("Not a member: join with the button in the chat"),
        "posts_in": _("Posts in {title}"),
        "name_needed": _("Give the customer a name."),
        "ready": _("{name} is ready: press /start to open the bot."),
    }


# The texts app.js writes with a number (its `plural(n, key)`): `{num}` is the number.
def script_plurals(ngettext: Callable[[str, str, int], str], n: int) -> dict[str, str]:
    return {
        "days_ahead": ngettext("{num} day ahead of real time", "{num} days ahead of real time", n),
        "by_days": ngettext("{num} day ahead", "{num} days ahead", n),
        "by_hours": ngettext("{num} hour ahead", "{num} hours ahead", n),
        "new_email": ngettext("{num} new email", "{num} new emails", n),
        "unread_email": ngettext("{num} unread email", "{num} unread emails", n),
        "new_message": ngettext("{num} new message", "{num} new messages", n),
        "members": ngettext("Member · {num} person inside", "Member · {num} people inside", n),
        "stars": ngettext("{num} Star", "{num} Stars", n),
        "per_days": ngettext("/ {num} day", "/ {num} days", n),
        "every_days": ngettext(
            "every {num} day until you cancel", "every {num} days until you cancel", n
        ),
    }
