"""The checks an owner's text passes (console text editor): the catalogs' own texts pass
them, and the HTML they accept is the HTML the fake Bot API (Telegram's rules) accepts."""

from __future__ import annotations

import pytest

from forever import catalogs
from forever.domain.texts import LOCALES, html_error, text_error
from forever.sandbox.fake_bot_api.html_entities import EntityParseError, parse_html


@pytest.mark.parametrize("locale", LOCALES)
def test_every_catalog_text_would_be_accepted_as_an_override(locale: str) -> None:
    refused = [
        (mid, text, error)
        for ctx, mid, text in catalogs.messages(locale)
        if (error := text_error(mid, text, percent=not ctx.startswith(("button:", "command:"))))
    ]
    assert refused == []


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        "<b>bold</b> and <i>it</i> &amp; <a href='https://x.test'>link</a>",
        "<tg-spoiler>s</tg-spoiler> <code>c</code> <pre>p</pre> &lt;3",
        "<b>not closed",
        "<b><i>crossed</b></i>",
        "<div>no</div>",
        "a & b",
        "a < b",
        "&nbsp;",
        "<a>no link</a>",
        '<span class="x">s</span>',
        '<span class="tg-spoiler">s</span>',
        "<blockquote>q</blockquote>",
    ],
)
def test_the_html_check_agrees_with_telegrams_rules(text: str) -> None:
    try:
        parse_html(text)
        telegram_accepts = True
    except EntityParseError:
        telegram_accepts = False
    assert (html_error(text) is None) == telegram_accepts, html_error(text)
