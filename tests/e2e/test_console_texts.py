"""The console's text editor (issues 20 and 21): an owner's text replaces the catalog's for
one message in one language, and the bot's next message uses it; bad placeholders and bad
HTML are refused next to the field with nothing changed; support staff cannot save; a revert
brings the catalog's text back. Another instance follows the saved texts."""

from __future__ import annotations

import functools
import html
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from forever import catalogs
from forever.config import Settings
from forever.db.models import AuditEntry, TextOverride
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.web.server import build_web_app
from forever.wiring import console
from tests.conftest import STAFF_ID
from tests.integration.console_helpers import Signed, sign_in

SUPPORT_ID = 900002
WELCOME = "Hello, %(name)s! Welcome to <b>%(business)s</b>."
MINE = "Hi %(name)s, so glad you found <b>%(business)s</b>!"


@pytest.fixture
def e2e_settings(settings: Settings, tg: FakeBotAPI) -> Settings:
    return settings.model_copy(
        update={"telegram_api_url": tg.base_url, "support_ids": frozenset({SUPPORT_ID})}
    )


@pytest.fixture(autouse=True)
def no_overrides_left() -> Iterator[None]:
    """The overrides are process-wide: none before a test, none after."""
    catalogs.set_overrides({})
    yield
    catalogs.set_overrides({})


@pytest.fixture
async def client(running_bot: Runtime) -> AsyncIterator[TestClient]:
    # As the runtime installs the console: with the bot's command menu to register again.
    install = functools.partial(console.install_routes, menus=running_bot.menus)
    app = build_web_app(running_bot.container, [install])
    async with TestClient(TestServer(app)) as c:
        yield c


async def rows(bot: Runtime) -> int:
    async with bot.container.sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(TextOverride)) or 0)


async def edit(owner: Signed, text: str, locale: str = "en") -> tuple[int, str]:
    return await owner.post(
        "/console/texts", {"locale": locale, "context": "", "msgid": WELCOME, "text": text}
    )


async def edit_trial_button(owner: Signed, text: str) -> tuple[int, str]:
    return await owner.post(
        "/console/texts",
        {
            "locale": "en",
            "context": "button:start_trial",
            "msgid": "Start my free trial",
            "text": text,
        },
    )


async def test_an_owners_text_is_the_bots_next_message_in_that_language_only(
    tg: FakeBotAPI, running_bot: Runtime, client: TestClient
) -> None:
    owner = await sign_in(client, running_bot.container)
    status, page = await owner.get("/console/texts?locale=en&q=Welcome+to")
    assert status == 200 and html.escape(WELCOME, quote=False) in page

    status, page = await edit(owner, MINE)
    assert status == 200, page
    assert "the bot uses it now" in page
    assert "<b><mark>[business]</mark></b>" in page  # the preview, formatted as Telegram shows it

    status, page = await edit_trial_button(owner, "Try it free")
    assert status == 200, page

    ana = tg.add_user(4001, "Ana", language_code="en")
    await ana.send_text("/start")
    assert "Hi Ana, so glad you found" in ana.messages[0].text
    assert "Try it free" in [t for m in ana.messages for t in m.button_texts]
    ioana = tg.add_user(4002, "Ioana", language_code="ro")
    await ioana.send_text("/start")
    assert "Bună, Ioana! Bine ai venit la" in ioana.messages[0].text
    assert "Try it free" not in [t for m in ioana.messages for t in m.button_texts]

    async with running_bot.container.sessions() as db:
        actions = list(await db.scalars(select(AuditEntry.action)))
    assert "text_saved" in actions

    # Back to the catalog's text: the next newcomer gets it again.
    status, page = await owner.post(
        "/console/texts/revert",
        {"locale": "en", "context": "", "msgid": WELCOME, "version": "catalog"},
    )
    assert status == 200 and "Back to the catalog" in page
    eve = tg.add_user(4003, "Eve", language_code="en")
    await eve.send_text("/start")
    assert "Hello, Eve! Welcome to" in eve.messages[0].text
    assert await rows(running_bot) == 3  # every save kept as a version


async def test_an_edited_button_label_is_under_the_next_message_after_the_old_one_was_shown(
    tg: FakeBotAPI, running_bot: Runtime, client: TestClient
) -> None:
    """The welcome keyboard is built once per language: an owner's edit must still reach it."""
    ana = tg.add_user(4021, "Ana", language_code="en")
    await ana.send_text("/start")
    assert "Start my free trial" in [t for m in ana.messages for t in m.button_texts]

    owner = await sign_in(client, running_bot.container)
    status, page = await edit_trial_button(owner, "Try it free")
    assert status == 200, page
    bob = tg.add_user(4022, "Bob", language_code="en")
    await bob.send_text("/start")
    labels = [t for m in bob.messages for t in m.button_texts]
    assert "Try it free" in labels and "Start my free trial" not in labels


async def test_bad_placeholders_or_html_are_refused_next_to_the_field(
    tg: FakeBotAPI, running_bot: Runtime, client: TestClient
) -> None:
    owner = await sign_in(client, running_bot.container)
    for bad, says in [
        ("Hi %(nick)s at <b>%(business)s</b>", "Placeholders must match"),
        ("Hi %(name)s at <b>%(business)s", "is never closed"),
        ("Hi %(name)s at <div>%(business)s</div>", "does not know the tag"),
        ("Hi %(name)s, 50% off at %(business)s", "percent sign"),
    ]:
        status, page = await edit(owner, bad)
        assert status == 400
        assert 'id="e-text"' in page and html.escape(says, quote=False) in page
        assert "Nothing was saved" in page
    assert await rows(running_bot) == 0
    ana = tg.add_user(4011, "Ana", language_code="en")
    await ana.send_text("/start")
    assert "Hello, Ana! Welcome to" in ana.messages[0].text


async def test_support_staff_read_the_texts_but_cannot_save(
    running_bot: Runtime, client: TestClient
) -> None:
    support = await sign_in(client, running_bot.container, SUPPORT_ID)
    status, page = await support.get(f"/console/texts?locale=en&msgid={WELCOME}")
    assert status == 200 and "Only owners can change texts" in page
    status, _ = await edit(support, MINE)
    assert status == 403
    assert await rows(running_bot) == 0


async def test_a_revert_to_an_earlier_version_and_another_instance_follows(
    tg: FakeBotAPI, running_bot: Runtime, client: TestClient
) -> None:
    owner = await sign_in(client, running_bot.container)
    assert (await edit(owner, MINE, "it"))[0] == 200
    second = "Ciao %(name)s! <i>%(business)s</i> ti aspettava."
    assert (await edit(owner, second, "it"))[0] == 200
    async with running_bot.container.sessions() as db:
        first_id = await db.scalar(select(func.min(TextOverride.id)))
    status, page = await owner.post(
        "/console/texts/revert",
        {"locale": "it", "context": "", "msgid": WELCOME, "version": str(first_id)},
    )
    assert status == 200 and f"Back to version {first_id}" in page
    luca = tg.add_user(4021, "Luca", language_code="it")
    await luca.send_text("/start")
    assert "Hi Luca, so glad you found" in luca.messages[0].text

    # An instance that did not make the change picks it up on its follow loop.
    catalogs.set_overrides({})
    assert await console.follow_catalog(running_bot.container, running_bot.container.clock.now())
    assert catalogs.overrides()[("it", "", WELCOME)] == MINE


DAY = "%(num)d day"
MY_DAYS = ["%(num)d денёк", "%(num)d денька", "%(num)d деньков"]


async def edit_forms(owner: Signed, forms: list[str], locale: str = "ru") -> tuple[int, str]:
    data = {"locale": locale, "context": "", "msgid": DAY}
    return await owner.post("/console/texts", data | {f"form{i}": f for i, f in enumerate(forms)})


async def test_a_plural_message_has_a_field_per_plural_form_of_the_language(
    running_bot: Runtime, client: TestClient
) -> None:
    owner = await sign_in(client, running_bot.container)
    # "day" alone now finds more than MAX_FOUND singular messages before the plural one.
    status, page = await owner.get("/console/texts?locale=ru&q=%25(num)d+day")
    assert status == 200 and "%(num)d день / %(num)d дня / %(num)d дней" in page
    status, page = await owner.get("/console/texts?locale=ru&msgid=%25(num)d+day")
    assert status == 200
    assert 'name="form2"' in page and 'name="form3"' not in page
    assert "Form 1: for 1, 21, 31, 41, …" in page and "Form 3: for 0, 5, 6, 7, …" in page
    # The `days` filter's message (in the code, not a template) is found in the emails.
    assert "In an email" in page and "<strong>inactive</strong>" in page and "welcome" in page
    for locale, count in (("ro", 3), ("en", 2)):
        _, page = await owner.get(f"/console/texts?locale={locale}&msgid=%25(num)d+day")
        assert f'name="form{count - 1}"' in page and f'name="form{count}"' not in page

    # A form with a placeholder the source lacks, or a last form without the number.
    status, page = await edit_forms(owner, [MY_DAYS[0], "%(n)d денька", "деньков"])
    assert status == 400 and "Nothing was saved" in page
    assert 'id="e-form1"' in page and 'id="e-form2"' in page and 'id="e-form0"' not in page
    assert await rows(running_bot) == 0

    status, page = await edit_forms(owner, MY_DAYS)
    assert status == 200 and "the bot uses it now" in page
    assert [catalogs.days(n, "ru") for n in (1, 2, 5, 21)] == [
        "1 денёк",
        "2 денька",
        "5 деньков",
        "21 денёк",
    ]
    assert catalogs.days(5, "ro") == "5 zile"
    assert " / ".join(MY_DAYS) in page  # the history

    # Another instance picks the forms up on its loop; a revert brings the catalog back.
    catalogs.set_overrides({})
    assert await console.follow_catalog(running_bot.container, running_bot.container.clock.now())
    assert catalogs.overrides()[("ru", "", DAY)] == tuple(MY_DAYS)
    status, page = await owner.post(
        "/console/texts/revert", {"locale": "ru", "context": "", "msgid": DAY, "version": "catalog"}
    )
    assert status == 200 and catalogs.days(5, "ru") == "5 дней"


def menus_sent(tg: FakeBotAPI, since: int) -> list[dict]:
    return [c.params for c in tg.calls_to("setMyCommands")[since:]]


def description(params: dict, command: str) -> str:
    return next(c["description"] for c in params["commands"] if c["command"] == command)


async def test_a_command_description_registers_that_languages_menu_again(
    tg: FakeBotAPI, running_bot: Runtime, client: TestClient
) -> None:
    owner = await sign_in(client, running_bot.container)
    before = len(tg.calls_to("setMyCommands"))
    plans = {"context": "command:plans", "msgid": "Plans and prices"}

    status, page = await owner.post("/console/texts", plans | {"locale": "ro", "text": "x" * 257})
    assert status == 400 and 'id="e-text"' in page and "At most 256 characters" in page
    assert menus_sent(tg, before) == []

    status, page = await owner.post(
        "/console/texts", plans | {"locale": "ro", "text": "Planuri și prețuri, pe scurt"}
    )
    assert status == 200, page
    sent = menus_sent(tg, before)
    assert [p.get("language_code") for p in sent] == ["ro"]
    assert description(sent[0], "plans") == "Planuri și prețuri, pe scurt"

    # The default language's menu is also everyone's without one, and the staff's.
    before = len(tg.calls_to("setMyCommands"))
    grant = {"context": "command:staff.grant", "msgid": "Give someone access", "locale": "en"}
    status, page = await owner.post("/console/texts", grant | {"text": "Give access, free"})
    assert status == 200, page
    sent = menus_sent(tg, before)
    assert [(p.get("language_code"), p.get("scope", {}).get("type")) for p in sent] == [
        ("en", "default"),
        (None, "default"),
        (None, "chat"),
    ]
    assert sent[2]["scope"]["chat_id"] == STAFF_ID
    assert description(sent[2], "grant") == "Give access, free"

    # A revert registers the menu again too.
    before = len(tg.calls_to("setMyCommands"))
    status, _ = await owner.post("/console/texts/revert", plans | {"locale": "ro", "version": ""})
    assert status == 200
    sent = menus_sent(tg, before)
    assert [p.get("language_code") for p in sent] == ["ro"]
    assert description(sent[0], "plans") != "Planuri și prețuri, pe scurt"

    # Another instance's save: this one registers the menu on its 30-second loop.
    async with running_bot.container.sessions.begin() as db:
        db.add(
            TextOverride(
                locale="it",
                context="command:plans",
                msgid="Plans and prices",
                text="Piani, prezzi",
                saved_by=STAFF_ID,
                saved_at=datetime(2026, 12, 1, tzinfo=UTC),
            )
        )
    before = len(tg.calls_to("setMyCommands"))
    await running_bot.follow_catalog()
    sent = menus_sent(tg, before)
    assert [p.get("language_code") for p in sent] == ["it"]
    assert description(sent[0], "plans") == "Piani, prezzi"
    await running_bot.follow_catalog()  # nothing changed since: nothing sent
    assert len(menus_sent(tg, before)) == 1


TRIAL = "You can try everything free for %(days)s, with no payment needed."


async def test_a_text_an_email_uses_is_previewed_in_that_email_unsaved(
    running_bot: Runtime, client: TestClient
) -> None:
    owner = await sign_in(client, running_bot.container)
    status, page = await owner.get(f"/console/texts?locale=ro&msgid={TRIAL}")
    assert status == 200 and "<iframe" in page and "Text part" in page
    assert "gratuit" in page  # the Romanian email

    mine = "Totul e gratuit timp de %(days)s, fără nicio plată acum"
    status, page = await owner.post(
        "/console/texts",
        {"locale": "ro", "context": "", "msgid": TRIAL, "text": mine, "do": "preview"},
    )
    assert status == 200 and "Not saved yet" in page
    frame = page[page.index("<iframe") : page.index("</iframe>")]
    assert "sandbox" in frame and "allow-scripts" not in frame
    assert "Totul e gratuit timp de 7 zile, fără nicio plată acum" in frame  # srcdoc, escaped
    text_part = page[page.index("<pre>") : page.index("</pre>")]
    assert "Totul e gratuit timp de 7 zile, fără nicio plată acum" in text_part
    assert await rows(running_bot) == 0
    # The draft was for the preview only: the bot's own renders keep the catalog's text.
    assert catalogs.translations("ro").gettext(TRIAL).startswith("Poți")

    # A plural message of an email: the preview takes the form of the sample's number.
    classes = "So far you have joined %(num)d class."
    status, page = await owner.post(
        "/console/texts",
        {
            "locale": "ru",
            "context": "",
            "msgid": classes,
            "form0": "Одно занятие: %(num)d.",
            "form1": "Уже %(num)d занятия позади.",
            "form2": "Уже %(num)d занятий.",
            "do": "preview",
        },
    )
    assert status == 200 and "trial_ending" in page
    assert "Уже 4 занятия позади." in page
