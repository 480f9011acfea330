"""A photo broadcast composed in the owner console: the photo is uploaded once (sendPhoto,
into the owner's chat as their preview) and reaches every customer with their caption and the
button, through the fake Bot API. Files that are not a JPEG or PNG, or too large, and captions
over Telegram's 1024 characters are refused next to their field, and nothing is sent."""

from __future__ import annotations

import re

import aiohttp
import pytest
from sqlalchemy import select

from forever.db.models import Broadcast
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.web.console import COOKIE
from forever.web.console_broadcasts import MAX_PHOTO
from forever.wiring import console
from tests.conftest import STAFF_ID
from tests.e2e.staff_helpers import add_people, only_job, wait_for_status

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200


async def post_form(
    running_bot: Runtime, fields: dict[str, str], photo: bytes | None, filename: str = "p.png"
) -> tuple[int, str]:
    container = running_bot.container
    token = await console.auth(container).issue_link(STAFF_ID)
    base = f"http://127.0.0.1:{running_bot.web_port}"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/console/login/{token}", allow_redirects=False) as signed:
            cookie = {"Cookie": f"{COOKIE}={signed.cookies[COOKIE].value}"}
        async with http.get(f"{base}/console/broadcasts", headers=cookie) as page:
            found = re.search(r'name="csrf" value="([0-9a-f]+)"', await page.text())
            assert found
        form = aiohttp.FormData()
        form.add_field("csrf", found.group(1))
        for name, value in fields.items():
            form.add_field(name, value)
        if photo is not None:
            form.add_field("photo", photo, filename=filename, content_type="image/png")
        async with http.post(f"{base}/console/broadcasts", data=form, headers=cookie) as sent:
            return sent.status, await sent.text()


async def test_a_photo_with_a_caption_and_button_reaches_everyone(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    container = running_bot.container
    await add_people(container, tg, [5301, 5302])
    status, page = await post_form(
        running_bot,
        {
            "segment": "all",
            "text": "Hi {{ name }}, new <classes>",
            "button_text": "Book",
            "button_url": "https://forever.test/book",
            "when": "now",
        },
        PNG,
    )
    assert status == 200, page
    assert "Queued: sending to 2 people now." in page, re.findall(r"<p class=.*?</p>", page)
    assert len(tg.calls_to("sendPhoto")) == 1  # one upload, into the owner's chat
    # The owner's chat holds the one uploaded photo (and, by now, maybe the progress message).
    [preview] = [m for m in tg.user(STAFF_ID).messages if m.media is not None]
    assert preview.media is not None and preview.media.kind == "photo"
    job = await only_job(container)
    await wait_for_status(container, job, {"done"})
    for telegram_id in (5301, 5302):
        [copy] = tg.user(telegram_id).messages
        assert copy.media is not None and copy.media.kind == "photo"
        assert copy.media.file is preview.media.file  # uploaded once, then copied
        assert copy.text == f"Hi P{telegram_id}, new <classes>"
        assert copy.buttons[0][0].target == "https://forever.test/book"


async def test_a_photo_without_text_needs_no_caption(tg: FakeBotAPI, running_bot: Runtime) -> None:
    container = running_bot.container
    await add_people(container, tg, [5401])
    status, page = await post_form(running_bot, {"segment": "all", "when": "now"}, JPEG, "a.jpg")
    assert status == 200, page
    job = await only_job(container)
    await wait_for_status(container, job, {"done"})
    [copy] = tg.user(5401).messages
    assert copy.media is not None and copy.media.kind == "photo" and not copy.text


@pytest.mark.parametrize(
    ("photo", "text", "field", "message"),
    [
        (b"GIF89a" + b"\x00" * 50, "Hi", "photo", "Only JPEG or PNG photos."),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "Hi", "photo", "Only JPEG or PNG"),
        (PNG + b"\x00" * MAX_PHOTO, "Hi", "photo", "choose a smaller photo"),
        (PNG, "x" * 1025, "text", "caption has at most 1024 characters"),
    ],
)
async def test_bad_photos_and_long_captions_are_refused(
    tg: FakeBotAPI,
    running_bot: Runtime,
    photo: bytes,
    text: str,
    field: str,
    message: str,
) -> None:
    container = running_bot.container
    await add_people(container, tg, [5501])
    status, page = await post_form(
        running_bot, {"segment": "all", "text": text, "when": "now"}, photo
    )
    assert status == 400
    assert message in page.split(f'id="e-{field}"', 1)[1].split("</span>", 1)[0]
    assert not tg.calls_to("sendPhoto")
    async with container.sessions() as session:
        assert (await session.scalars(select(Broadcast))).all() == []


async def test_a_photo_over_the_servers_limit_gets_a_message_not_an_error(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    status, page = await post_form(
        running_bot, {"segment": "all", "text": "Hi", "when": "now"}, PNG + b"\x00" * 1_200_000
    )
    assert status == 413
    assert "choose a smaller photo" in page.split('id="e-photo"', 1)[1].split("</span>", 1)[0]
    assert not tg.calls_to("sendPhoto")


async def test_each_language_gets_its_own_caption_on_the_same_photo(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    container = running_bot.container
    await add_people(container, tg, [5601])
    await add_people(container, tg, [5602], language="ro")
    fields = {
        "segment": "all",
        "text": "New classes, {{ name }}!",
        "text_ro": "Cursuri noi, {{ name }}!",
        "when": "now",
    }
    status, page = await post_form(running_bot, fields, JPEG, "a.jpg")
    assert status == 200, page
    job = await only_job(container)
    await wait_for_status(container, job, {"done"})
    [en] = tg.user(5601).messages
    [ro] = tg.user(5602).messages
    assert en.text == "New classes, P5601!"
    assert ro.text == "Cursuri noi, P5602!"
    assert en.media is not None and ro.media is not None and en.media.file is ro.media.file
    assert len(tg.calls_to("sendPhoto")) == 1
