"""Every email that mentions the bot links to it (https://t.me/<bot username>), in the HTML
part and in the plain-text part, in every locale and every variant a template can take."""

from __future__ import annotations

import re
from typing import Any

import pytest

from forever.config import LOCALES
from forever.rendering import Renderer
from tests.template_samples import BOT_URL, EMAIL

renderer = Renderer()

# "the bot", "botul", "il bot", "nel bot": the word, not a username such as forever_bot.
MENTION = re.compile(r"(?<![\w/])bot(ul)?\b", re.IGNORECASE)
URL = re.compile(r"https?://\S+")
TAG = re.compile(r"<[^>]+>")


def variants(name: str) -> list[dict[str, Any]]:
    """The sample, and the branches that change what a mail says."""
    sample = EMAIL[name]
    out = [sample]
    if "offer_url" in sample:
        out.append(sample | {"offer_url": "", "offer_kind": None})
    if "cancel_reason" in sample:
        for reason in ("not_using", "missing_feature", "technical", "other", ""):
            out.append(sample | {"cancel_reason": reason, "offer_url": ""})
    if "step" in sample:
        out += [sample | {"step": step} for step in (2, 3)]
    if name == "welcome":
        out += [sample | {"standing": s} for s in ("trial", "member", "former")]
    if name == "receipt":
        out += [
            sample | {"renews": False, "kind": "yearly"},
            sample | {"renewal": True},
            sample | {"renews": False, "kind": "one_month"},
        ]
    return out


def cases() -> list[tuple[str, str, int]]:
    return [
        (name, locale, i)
        for name in sorted(EMAIL)
        for locale in LOCALES
        for i in range(len(variants(name)))
    ]


def mentions_bot(text: str) -> bool:
    return bool(MENTION.search(URL.sub("", text)))


@pytest.mark.parametrize(("name", "locale", "variant"), cases())
def test_every_mention_of_the_bot_is_a_link(name: str, locale: str, variant: int) -> None:
    context = variants(name)[variant]
    _subject, html, text = renderer.email(name, locale, **context)
    for paragraph in re.split(r"\n\s*\n", text):
        if mentions_bot(paragraph):
            assert BOT_URL in paragraph, f"plain text names the bot with no link: {paragraph!r}"
    body = html.split("<body", 1)[1]
    for block in re.findall(r"<(?:p|td)\b[^>]*>(.*?)</(?:p|td)>", body, re.DOTALL):
        if mentions_bot(TAG.sub("", block)):
            assert f'href="{BOT_URL}' in block, f"HTML names the bot with no link: {block!r}"


def test_the_bot_is_mentioned_with_its_link_in_every_journey_that_sends_people_there() -> None:
    """The check above is not empty: the mails that send people to the bot do link to it."""
    for name in ("welcome", "receipt", "cancel_confirmed", "payment_failed", "trial_ending"):
        for locale in LOCALES:
            _subject, html, text = renderer.email(name, locale, **EMAIL[name])
            assert BOT_URL in text and f'href="{BOT_URL}' in html, (name, locale)


def test_without_a_known_username_the_mail_still_reads_well() -> None:
    context = EMAIL["cancel_confirmed"] | {"bot_url": "", "account_url": ""}
    _subject, html, text = renderer.email("cancel_confirmed", "en", **context)
    assert "Open the bot and tap" in text and "t.me" not in html
