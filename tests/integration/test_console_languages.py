"""The console in the staff member's language (issue 21): the header's switch (a cookie),
else their own bot language, else the browser's Accept-Language, else the default; the
console's texts stay out of the customer text editor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer

from forever import catalogs
from forever.app import Container
from forever.db.models import Person
from forever.domain.lazy_text import CONSOLE, lazy
from forever.web.console import COOKIE, LANGUAGE_COOKIE, accepted_languages
from forever.web.server import build_web_app
from forever.wiring import console
from tests.conftest import STAFF_ID, START
from tests.integration.console_helpers import Signed, sign_in

# English a page in another language must not show (headings, menu, labels).
ENGLISH = {
    "dashboard": [
        "Dashboard:",
        "Active members",
        "In trial now",
        "Retention by sign-up month",
        "Cancel reasons",
        "Sign out",
        "Audit log",
        "Period (days)",
    ],
    "people": ["<h1>People</h1>", "Search", "Newest first", ">Filter<", ">Joined<", "Sign out"],
    "texts": [
        "<h1>Texts</h1>",
        "Search the messages",
        ">Search<",
        ">Language<",
        "Edit (",
        "Source:",
        "The catalog's form",
        "<h3>Preview</h3>",
        "Preview as Telegram shows it",
        "Form 1: for",
        "One text per plural form",
        "Keep the placeholders",
        "Save a new version",
        "<h3>History</h3>",
        "When (UTC)",
        "Never edited",
        "In an email",
        "This text is in",
        "Shown with a sample person",
        "Text part",
    ],
    "email": [
        "<h1>Email broadcasts</h1>",
        "Chat broadcasts",
        ">Audience<",
        ">Count<",
        "in this segment have confirmed",
        "<h2>New email</h2>",
        "Only people with confirmed",
        ">Subject<",
        "HTML body",
        "Text body",
        "<legend>When</legend>",
        "> Now<",
        "At (UTC)",
        ">Send<",
        "<h2>History</h2>",
        ">Recipients<",
        ">Waiting<",
        ">Suppressed<",
        "No email broadcasts yet",
        "Refresh results",
        ">language ro<",
        ">paying<",
    ],
}
PLURAL = "%25(num)d+day"  # a plural message, in emails too (the `days` filter)
WELCOME = "Hello, %(name)s! Welcome to <b>%(business)s</b>."


@pytest.fixture
async def client(container: Container) -> AsyncIterator[TestClient]:
    app = build_web_app(container, [console.install_routes])
    async with TestClient(TestServer(app)) as c:
        yield c


async def page(client: TestClient, session: str, path: str, **headers: str) -> str:
    cookie = f"{COOKIE}={session}"
    if "language" in headers:
        cookie += f"; {LANGUAGE_COOKIE}={headers.pop('language')}"
    response = await client.get(path, headers={"Cookie": cookie, **headers})
    assert response.status == 200
    return await response.text()


def no_english(html: str, name: str) -> None:
    left = [s for s in ENGLISH[name] if s in html]
    assert not left, f"English left on the {name} page: {left}"


@pytest.mark.parametrize(
    ("accept", "lang", "heading", "people"),
    [
        ("ru-RU,ru;q=0.9,en;q=0.5", "ru", "Сводка за 30 дней", "<h1>Люди</h1>"),
        ("es-419,es;q=0.9", "es", "Panel: últimos 30 días", "<h1>Personas</h1>"),
    ],
)
async def test_pages_follow_the_browsers_language(
    client: TestClient, container: Container, accept: str, lang: str, heading: str, people: str
) -> None:
    signed = await sign_in(client, container)
    html = await page(client, signed.session, "/console?days=30", **{"Accept-Language": accept})
    assert f'<html lang="{lang}">' in html and heading in html
    no_english(html, "dashboard")
    html = await page(client, signed.session, "/console/people", **{"Accept-Language": accept})
    assert f'<html lang="{lang}">' in html and people in html
    no_english(html, "people")


@pytest.mark.parametrize(
    ("code", "heading", "people"),
    [
        ("ru", "Сводка за 30 дней", "<h1>Люди</h1>"),
        ("es", "Panel: últimos 30 días", "<h1>Personas</h1>"),
    ],
)
async def test_the_switch_sets_the_language(
    client: TestClient, container: Container, code: str, heading: str, people: str
) -> None:
    signed = await sign_in(client, container)
    english = await page(client, signed.session, "/console/people")
    assert f'href="/console/language/{code}?next=/console/people"' in english
    response = await client.get(
        f"/console/language/{code}?next=/console/people", allow_redirects=False
    )
    assert response.status == 303 and response.headers["Location"] == "/console/people"
    assert response.cookies[LANGUAGE_COOKIE].value == code
    # The switch wins over the browser's language.
    html = await page(
        client, signed.session, "/console/people", language=code, **{"Accept-Language": "it"}
    )
    assert f'<html lang="{code}">' in html and people in html
    assert f'lang="{code}" hreflang="{code}" aria-current="true"' in html
    no_english(html, "people")
    html = await page(client, signed.session, "/console?days=30", language=code)
    assert heading in html
    no_english(html, "dashboard")


async def test_the_staff_members_bot_language_comes_before_the_browsers(
    client: TestClient, container: Container
) -> None:
    async with container.sessions.begin() as db:
        db.add(Person(id=1, telegram_id=STAFF_ID, language="ro", created_at=START))
    signed = await sign_in(client, container)
    html = await page(client, signed.session, "/console?days=30", **{"Accept-Language": "es"})
    assert '<html lang="ro">' in html and "Panou: ultimele 30 de zile" in html
    html = await page(client, signed.session, "/console?days=30", language="it")
    assert '<html lang="it">' in html and "Riepilogo: ultimi 30 giorni" in html


async def test_unknown_languages_fall_back_along_the_chain_then_to_the_default(
    client: TestClient, container: Container
) -> None:
    signed = await sign_in(client, container)
    html = await page(client, signed.session, "/console", **{"Accept-Language": "de-CH,de,it-CH"})
    assert '<html lang="it">' in html
    html = await page(client, signed.session, "/console", **{"Accept-Language": "de"})
    assert '<html lang="en">' in html and "Dashboard: last 30 days" in html
    html = await page(client, signed.session, "/console", language="xx")
    assert '<html lang="en">' in html


async def test_messages_made_in_python_are_shown_in_the_readers_language(
    client: TestClient, container: Container
) -> None:
    signed = await sign_in(client, container)
    response = await client.get(
        "/console/people?state=nonsense",
        headers={"Cookie": f"{COOKIE}={signed.session}; {LANGUAGE_COOKIE}=ru"},
    )
    assert response.status == 400
    html = await response.text()
    assert "Выберите статус из списка." in html and "Pick a state" not in html
    response = await client.get("/console?days=0", headers={"Accept-Language": "es"})
    assert response.status == 401  # signed out: the page still speaks the browser's language
    html = await response.text()
    assert '<html lang="es">' in html and "Inicia sesión, por favor" in html


async def test_the_switch_only_goes_back_into_the_console(client: TestClient) -> None:
    for back in ("https://evil.example/", "//evil.example/console", "/elsewhere", "/console\\x"):
        response = await client.get(f"/console/language/es?next={back}", allow_redirects=False)
        assert response.headers["Location"] == "/console", back
    response = await client.get("/console/language/zz?next=/console", allow_redirects=False)
    assert response.status == 303 and LANGUAGE_COOKIE not in response.cookies


@pytest.mark.parametrize(
    ("lang", "texts", "emails"),
    [
        ("ru", "<h1>Тексты</h1>", "<h1>Рассылки по почте</h1>"),
        ("es", "<h1>Textos</h1>", "<h1>Difusiones por correo</h1>"),
    ],
)
async def test_the_text_editor_and_email_broadcasts_speak_the_readers_language(
    client: TestClient, container: Container, lang: str, texts: str, emails: str
) -> None:
    signed = await sign_in(client, container)
    html = await page(client, signed.session, f"/console/texts?locale={lang}", language=lang)
    assert texts in html
    no_english(html, "texts")
    html = await page(
        client, signed.session, f"/console/texts?locale={lang}&msgid={PLURAL}", language=lang
    )
    assert texts in html and 'name="form2"' in html
    no_english(html, "texts")
    html = await page(client, signed.session, "/console/broadcasts/email", language=lang)
    assert emails in html
    no_english(html, "email")


async def post_in(signed: Signed, lang: str, path: str, form: dict[str, str]) -> tuple[int, str]:
    await signed.get("/console")  # the CSRF token
    cookie = f"{COOKIE}={signed.session}; {LANGUAGE_COOKIE}={lang}"
    response = await signed.client.post(
        path, headers={"Cookie": cookie}, data={**form, "csrf": signed.csrf}
    )
    return response.status, await response.text()


async def test_the_editors_checks_are_shown_in_russian(
    client: TestClient, container: Container
) -> None:
    signed = await sign_in(client, container)
    text = {"locale": "ru", "context": "", "msgid": WELCOME, "text": "Привет, %(nom)s!"}
    status, html = await post_in(signed, "ru", "/console/texts", text)
    assert status == 400
    assert (
        "Подстановки должны совпадать с исходным текстом (не хватает: business, name; "
        "неизвестные: nom). Допустимы: business, name." in html
    )
    assert "Ничего не сохранено" in html and "Placeholders must match" not in html
    text["text"] = "Привет, %(name)s! <b>%(business)s</i>"
    status, html = await post_in(signed, "ru", "/console/texts", text)
    assert status == 400 and "&lt;/i&gt; не закрывает последний открытый тег." in html
    form = {"segment": "all", "subject": "", "body_html": "<p>Hi</p>", "body_text": "Hi"}
    status, html = await post_in(signed, "ru", "/console/broadcasts/email", form)
    assert status == 400 and "Напишите тему." in html and "Write a subject" not in html
    form |= {"subject": "x" * 151, "body_html": "<script>1</script>"}
    status, html = await post_in(signed, "ru", "/console/broadcasts/email", form)
    assert "Не больше 150 символов (сейчас 151)." in html
    assert "В письме не допускается: &#39;&lt;script&#39; (никаких скриптов" in html


async def test_the_audit_log_names_actions_and_dates_in_spanish(
    client: TestClient, container: Container
) -> None:
    signed = await sign_in(client, container)
    await page(client, signed.session, "/console/people?state=trial")
    html = await page(client, signed.session, "/console/audit", language="es")
    assert "<td>inicio de sesión en la consola</td>" in html
    assert ">console_sign_in<" not in html and "<td>console_sign_in</td>" not in html
    assert "23 nov 2026, 10:00" in html  # the test clock's moment, as Spanish writes it
    html = await page(client, signed.session, "/console/audit")
    assert "<td>console_sign_in</td>" in html and "23 Nov 2026, 10:00" in html


async def test_a_catalog_sections_toml_errors_are_framed_in_russian(
    client: TestClient, container: Container
) -> None:
    signed = await sign_in(client, container)
    path = "/console/catalog/experiments"
    status, html = await post_in(signed, "ru", path, {"experiments": "[[experiments]\nid = 1"})
    assert status == 400 and "Некорректный TOML: " in html and "Not valid TOML" not in html
    status, html = await post_in(signed, "ru", path, {"experiments": '[[plans]]\nid = "free"'})
    assert "Здесь только таблицы [[experiments]], а не &#39;plans&#39;." in html


def test_a_stored_name_the_mapping_does_not_know_is_shown_as_it_is() -> None:
    from forever.rendering import Renderer

    macros = Renderer().console_env("es").get_template("console/_macros.html.j2").module
    assert str(macros.label_of("text_saved")) == "texto guardado"  # type: ignore[attr-defined]
    assert str(macros.label_of("something_new")) == "something_new"  # type: ignore[attr-defined]


def test_the_console_texts_are_not_in_the_customer_text_editor() -> None:
    for locale in ("en", "ru"):
        found = catalogs.messages(locale)
        assert found and not [m for m in found if m[0] == CONSOLE]
        assert "Sign in to the console" not in {msgid for _, msgid, _ in found}


def test_a_lazy_text_is_english_until_shown() -> None:
    text = lazy("At most %(num)s characters.", num=64)
    assert text == "At most 64 characters."
    assert text.translated(catalogs.translations("ru").pgettext) == "Не больше 64 символов."


def test_accept_language_is_read_by_weight() -> None:
    assert accepted_languages("de-DE,de;q=0.9,es;q=0.95,*;q=0.1,fr;q=0") == ["de-DE", "es", "de"]
    assert accepted_languages("") == []


def test_rates_use_the_languages_decimal_sign() -> None:
    assert [catalogs.tenths(33.333, loc) for loc in ("en", "ro", "ru", "es")] == [
        "33.3",
        "33,3",
        "33,3",
        "33,3",
    ]


def test_console_moments_are_written_as_each_language_writes_them() -> None:
    at = datetime(2026, 12, 1, 9, 5, 42, tzinfo=UTC)
    assert [catalogs.short_datetime(at, loc) for loc in ("en", "ro", "ru", "es")] == [
        "1 Dec 2026, 09:05",
        "1 dec. 2026, 09:05",
        "1 дек. 2026\u202fг., 09:05",  # CLDR keeps "г." with its number
        "1 dic 2026, 09:05",
    ]
    assert catalogs.short_datetime("2026-12-03T14:00:00+00:00", "it") == "3 dic 2026, 14:00"
    assert catalogs.short_datetime("soon", "ru") == "soon"  # not a moment: shown as stored
