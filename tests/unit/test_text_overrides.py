"""The checks an owner's text passes (console text editor): the catalogs' own texts pass
them, and the HTML they accept is the HTML the fake Bot API (Telegram's rules) accepts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from forever import catalogs
from forever.domain.texts import LOCALES, html_error, plural_error, text_error
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


@pytest.fixture
def no_overrides_left() -> Iterator[None]:
    catalogs.set_overrides({})
    yield
    catalogs.set_overrides({})


@pytest.mark.parametrize("locale", LOCALES)
def test_every_catalog_plural_would_be_accepted_form_by_form(locale: str) -> None:
    examples = catalogs.plural_examples(locale)
    refused = [
        (one, i, form, error)
        for _ctx, one, many, forms in catalogs.plurals(locale)
        for i, form in enumerate(forms)
        if (error := plural_error(one, many, form, last=i == len(forms) - 1))
    ]
    assert refused == []
    assert all(len(forms) == len(examples) for *_, forms in catalogs.plurals(locale))


def test_each_locale_has_its_plural_forms() -> None:
    assert catalogs.plural_examples("ru") == ((1, 21, 31, 41), (2, 3, 4, 22), (0, 5, 6, 7))
    assert len(catalogs.plural_examples("ro")) == 3
    assert len(catalogs.plural_examples("en")) == 2


def test_a_form_may_leave_the_number_out_but_the_last_keeps_every_placeholder() -> None:
    one, many = "%(num)d day left for %(name)s", "%(num)d days left for %(name)s"
    assert plural_error(one, many, "o zi pentru %(name)s", last=False) is None
    assert "missing num" in (plural_error(one, many, "zile pentru %(name)s", last=True) or "")
    assert "unknown x" in (plural_error(one, many, "%(x)s zi %(name)s", last=False) or "")
    assert "percent" in (plural_error(one, many, "%(num)d 5% %(name)s", last=True) or "")


@pytest.mark.usefixtures("no_overrides_left")
def test_a_russian_plural_override_takes_each_form_by_the_number() -> None:
    catalogs.set_overrides(
        {("ru", "", "%(num)d day"): ("%(num)d денёк", "%(num)d денька", "%(num)d деньков")}
    )
    assert [catalogs.days(n, "ru") for n in (1, 2, 5, 21)] == [
        "1 денёк",
        "2 денька",
        "5 деньков",
        "21 денёк",
    ]
    assert catalogs.days(5, "ro") == "5 zile"  # another locale keeps its catalog
    assert catalogs.months(5, "ru") == "5 месяцев"  # and so does another message
    catalogs.set_overrides({})
    assert catalogs.days(21, "ru") == "21 день"


@pytest.mark.usefixtures("no_overrides_left")
def test_npgettext_and_a_draft_come_before_the_catalog() -> None:
    ru = catalogs.translations("ru")
    key = ("ru", "unit", "%(num)d cat")
    catalogs.set_overrides({key: ("%(num)d кот", "%(num)d кота", "%(num)d котов")})
    assert ru.npgettext("unit", "%(num)d cat", "%(num)d cats", 3) == "%(num)d кота"
    assert ru.npgettext("other", "%(num)d cat", "%(num)d cats", 3) == "%(num)d cats"
    with catalogs.drafting({key: ("a", "b", "c"), ("ru", "", "%(num)d day"): ("x", "y", "z")}):
        assert ru.npgettext("unit", "%(num)d cat", "%(num)d cats", 5) == "c"
        assert ru.ngettext("%(num)d day", "%(num)d days", 1) == "x"
    assert ru.ngettext("%(num)d day", "%(num)d days", 1) == "%(num)d день"
