"""The console's text editor (issues 20 and 21): an owner's text replaces the catalog's for
one message in one language, and the bot's next message uses it; bad placeholders and bad
HTML are refused next to the field with nothing changed; support staff cannot save; a revert
brings the catalog's text back. Another instance follows the saved texts."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator, Iterator

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
    app = build_web_app(running_bot.container, [console.install_routes])
    async with TestClient(TestServer(app)) as c:
        yield c


async def rows(bot: Runtime) -> int:
    async with bot.container.sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(TextOverride)) or 0)


async def edit(owner: Signed, text: str, locale: str = "en") -> tuple[int, str]:
    return await owner.post(
        "/console/texts", {"locale": locale, "context": "", "msgid": WELCOME, "text": text}
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

    status, page = await owner.post(
        "/console/texts",
        {
            "locale": "en",
            "context": "button:start_trial",
            "msgid": "Start my free trial",
            "text": "Try it free",
        },
    )
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
