"""Every template renders in every locale; chat output is HTML that Telegram accepts."""

from pathlib import Path

import pytest
from jinja2 import UndefinedError

from forever.config import LOCALES
from forever.domain.locales import CATALOG_LOCALES
from forever.rendering import TEMPLATES_DIR, Renderer
from tests.template_samples import CHAT, EMAIL

renderer = Renderer()


def names(kind: str, suffix: str) -> set[str]:
    """The messages of a kind: one shared template each, for every locale (issue 21)."""
    return {
        p.name.removesuffix(suffix)
        for p in (TEMPLATES_DIR / kind).glob(f"*{suffix}")
        if not p.name.startswith("_")
    }


def test_every_template_is_shared_by_every_locale() -> None:
    """No copy per locale is left (an owner may still add one: the renderer prefers it)."""
    for kind in ("chat", "email"):
        assert not [p for p in (TEMPLATES_DIR / kind).iterdir() if p.is_dir()], kind


def test_every_template_has_a_sample_context() -> None:
    assert names("chat", ".j2") == set(CHAT)
    email = {n.removesuffix(".html") for n in names("email", ".html.j2")}
    assert email == set(EMAIL)


@pytest.mark.parametrize("locale", CATALOG_LOCALES)
@pytest.mark.parametrize("name", sorted(CHAT))
def test_chat_template_renders_html_telegram_accepts(name: str, locale: str) -> None:
    from forever.sandbox.fake_bot_api.html_entities import parse_html

    html = renderer.chat(name, locale, **CHAT[name])
    assert html.strip()
    text, _entities = parse_html(html)  # raises on markup Telegram would refuse
    assert 0 < len(text) <= 4096
    for value in CHAT[name].values():
        if isinstance(value, str) and "<" in value:
            # Markup in people's data (a name like "Ana <b>") is shown as text, not obeyed.
            assert value in text


@pytest.mark.parametrize("locale", CATALOG_LOCALES)
@pytest.mark.parametrize("name", sorted(EMAIL))
def test_email_template_renders_both_parts(name: str, locale: str) -> None:
    subject, html, text = renderer.email(name, locale, **EMAIL[name])
    assert subject and "\n" not in subject
    assert "<html" in html.lower()
    assert text.strip()


def test_a_missing_variable_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(UndefinedError):
        renderer.chat("welcome", "en", name="x")


def test_locale_for_falls_back_to_the_default() -> None:
    assert renderer.locale_for("it-IT") == "it"
    assert renderer.locale_for("ro") == "ro"
    assert renderer.locale_for("de") == "en"
    assert renderer.locale_for(None) == "en"
    assert Renderer(default_locale="ro").locale_for("fr") == "ro"


def test_templates_dir_is_inside_the_project() -> None:
    assert Path(TEMPLATES_DIR).is_dir()


@pytest.mark.parametrize("locale", LOCALES)
def test_access_texts_for_add_ons_render_in_every_locale(locale: str) -> None:
    """The removal note for each reason (an add-on's end too) and the invite naming an
    add-on, each a different sentence per locale."""
    notes = {
        reason: renderer.chat("access_removed", locale, chat_name="Pro room", reason=reason)
        for reason in ("ended", "paused", "plan", "addon")
    }
    assert len(set(notes.values())) == 4 and all("Pro room" in n for n in notes.values())
    assert "/shop" in notes["addon"]
    invite = renderer.chat(
        "access_invite", locale, chats=["Pro room"], plan_name="Plus", addon_name="Pro pass"
    )
    assert "Pro pass" in invite and "Plus" not in invite


@pytest.mark.parametrize("locale", LOCALES)
def test_customer_help_lists_every_customer_command(locale: str) -> None:
    html = renderer.chat("help", locale, business="Forever")
    for command in ("/plans", "/account", "/promo", "/points", "/shop", "/invite", "/help"):
        assert f"\n{command}" in html, (locale, command)


def test_the_shop_receipt_counts_in_each_languages_plural() -> None:
    """Credits and Stars take the CLDR plural form of the reader's language; the item's name
    is the one in that language, English when the catalog has none."""
    context = EMAIL["shop_receipt"] | {"credits": 21, "balance": 22, "amount": 1}
    _s, _h, text = renderer.email("shop_receipt", "ru", **dict(context))
    assert "100 кредитов (21 кредит)" in text
    assert ": 22 кредита" in text and ": 1 звезда Telegram" in text
    _s, _h, text = renderer.email("shop_receipt", "ro", **dict(context, amount=20))
    assert "(21 de credite)" in text and "20 de Stele Telegram" in text
    names = {"en": "Pass"}
    addon = {"kind": "a", "credits": None, "balance": None, "quantity": 2, "item_names": names}
    subject, _h, text = renderer.email("shop_receipt", "es", **(context | addon))
    assert subject == "Recibo de Pass"
    assert "Qué has comprado: Pass × 2" in text and "Tus complementos" in text


def test_the_text_editor_previews_every_email_with_texts_of_its_own() -> None:
    """The console's text editor previews an edited message in the emails that show it: every
    shared email but the console's broadcast (the owner's own subject and body)."""
    from forever.web.console_text_preview import SAMPLES

    assert set(SAMPLES) == set(EMAIL) - {"console_broadcast"}
    for name in SAMPLES:
        for locale in CATALOG_LOCALES:
            context = {"business": "B", "name": "Ana", **EMAIL[name], **SAMPLES[name]}
            assert renderer.email(name, locale, **context)[0]
