"""The text editor's email preview: a message that an email template uses, shown in that email
as it looks (subject, HTML part, text part), rendered with a sample context in the chosen
language with the edited text in place of the one in force (catalogs.drafting: this render
only, nothing saved)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from forever import catalogs
from forever.catalogs import Text
from forever.rendering import TEMPLATES_DIR, Renderer

_WHEN = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
_BOT = "https://t.me/forever_bot"
# What the delivery worker adds to every email's context when it renders it.
_LINKS: dict[str, Any] = {
    "bot_url": _BOT,
    "account_url": f"{_BOT}?start=account",
    "standing": "new",
    "unsubscribe_url": "#unsubscribe",
}
# A sample context per shared email template: what a real one would hold for "Ana".
SAMPLES: dict[str, dict[str, Any]] = {
    "consent_confirm": {"confirm_url": "#confirm"},
    "cancel_confirmed": {"plan_name": "Plus", "access_until": _WHEN, "canceled_at": _WHEN},
    "welcome": {"trial_days": 7},
    "trial_tips": {"plan_name": "Plus", "usage": 2, "usage_metric": "classes", "trial_days": 7},
    "trial_ending": {
        "plan_name": "Plus",
        "days_left": 3,
        "access_until": _WHEN,
        "usage": 4,
        "usage_metric": "classes",
    },
    "trial_ended": {
        "plan_name": "Plus",
        "offer_kind": "discount",
        "offer_percent": 20,
        "offer_until": _WHEN,
        "offer_url": f"{_BOT}?start=offer",
    },
    "renewal_upcoming": {"plan_name": "Plus", "days_left": 1, "access_until": _WHEN},
    "payment_failed": {"plan_name": "Plus", "step": 1, "access_until": _WHEN},
    "inactive": {"plan_name": "Plus", "days_since": 14, "usage": 0, "usage_metric": "classes"},
    "winback": {
        "plan_name": "Plus",
        "step": 1,
        "cancel_reason": "too_expensive",
        "offer_kind": "discount",
        "offer_percent": 40,
        "offer_plan_name": "",
        "offer_until": _WHEN,
        "offer_url": f"{_BOT}?start=offer",
    },
    "receipt": {
        "plan_name": "Plus",
        "kind": "monthly",
        "amount": 300,
        "paid_at": _WHEN,
        "period_start": _WHEN,
        "period_end": _WHEN,
        "renews": True,
        "renewal": False,
        "charge_id": "stxCharge-1",
    },
    "shop_receipt": {
        "kind": "c",
        "item_names": {
            "en": "100 credits",
            "ro": "100 de credite",
            "it": "100 crediti",
            "ru": "100 кредитов",
            "es": "100 créditos",
        },
        "amount": 50,
        "credits": 100,
        "balance": 130,
        "quantity": None,
        "until": None,
        "paid_at": _WHEN,
        "charge_id": "stxCharge-2",
    },
}
_PARTS = (".subject.txt.j2", ".html.j2", ".txt.j2")


@dataclass(frozen=True, slots=True)
class EmailPreview:
    name: str
    subject: str
    html: str
    text: str


def emails_using(
    renderer: Renderer, locale: str, context: str, msgid: str, text: Text
) -> list[str]:
    """The email templates (with a sample) that show the message (whose text in `locale` is
    `text`): from the catalog's locations, its own templates or every email for the shared
    layout and formats; a message of the code (the `days` filter's "%(num)d day") by
    rendering each sample email with a marked copy of its text."""
    found: list[str] = []
    files = catalogs.locations().get((context, msgid), ())
    for path in files:
        folder, _, file = path.rpartition("/")
        if folder != "message_templates/email":
            continue
        if file.startswith("_"):
            return sorted(SAMPLES)
        name = next((file.removesuffix(p) for p in _PARTS if file.endswith(p)), "")
        if name in SAMPLES and name not in found:
            found.append(name)
    if found or not any(path.endswith(".py") for path in files):
        return found
    return _rendered_with(renderer, locale, (locale, context, msgid), text)


_MARK = "\u2063\u2063"  # invisible separators: in no template and no catalog text


def _rendered_with(
    renderer: Renderer, locale: str, key: tuple[str, str, str], text: Text
) -> list[str]:
    marked = tuple(_MARK + t for t in text) if isinstance(text, tuple) else _MARK + text
    found = []
    for name in sorted(SAMPLES):
        with catalogs.drafting({key: marked}):
            parts = renderer.email(name, locale, **_context(name, "B"))
        if any(_MARK in part for part in parts):
            found.append(name)
    return found


def _context(name: str, business: str) -> dict[str, Any]:
    return {"business": business, "name": "Ana", **_LINKS, **SAMPLES[name]}


def email_preview(
    renderer: Renderer,
    name: str,
    locale: str,
    key: tuple[str, str, str],
    draft: str | tuple[str, ...],
    business: str,
) -> EmailPreview:
    """Email `name` in `locale` with `draft` as the text of `key` (locale, context, msgid)."""
    assert name in SAMPLES and (TEMPLATES_DIR / "email" / f"{name}.html.j2").is_file()
    # Rendered once as it is first: what a template imports is built once, at its first
    # render (the `_format.j2` macros), and must not be built with the draft.
    renderer.email(name, locale, **_context(name, business))
    with catalogs.drafting({key: draft}):
        subject, html, text = renderer.email(name, locale, **_context(name, business))
    return EmailPreview(name, subject, html, text)
