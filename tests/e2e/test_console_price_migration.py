"""Moving existing members to a new price from the owner console (issue 20): after a price
edit, /console/catalog/migrate shows who would move, from which price to which; Confirm moves
them (their next invoice is at the new price from the date given) and tells each once, even
submitted twice; a page shown before who moves changed moves nobody; support staff are
refused, and so is a form without the CSRF token. The use case is the chat's
(tests/e2e/test_price_migration_buttons.py)."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from forever.config import Settings
from forever.db.models import AuditEntry, Event, OutboxMessage
from forever.domain.clock import ManualClock
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.web.console import LANGUAGE_COOKIE
from forever.web.server import build_web_app
from forever.wiring import console
from tests.conftest import STAFF_ID
from tests.e2e.test_access import settle
from tests.e2e.test_chat_cancel import paying_user
from tests.e2e.test_stable_prices import issue_plus, sold_at
from tests.e2e.test_stable_yearly_prices import yearly_plus_member
from tests.integration.console_helpers import Signed, sign_in
from tests.integration.test_console_catalog import form_of

SUPPORT_ID = 900002
PAGE = "/console/catalog/migrate"


@pytest.fixture
def e2e_settings(settings: Settings, tg: FakeBotAPI) -> Settings:
    return settings.model_copy(
        update={"telegram_api_url": tg.base_url, "support_ids": frozenset({SUPPORT_ID})}
    )


@pytest.fixture
async def client(running_bot: Runtime) -> AsyncIterator[TestClient]:
    app = build_web_app(running_bot.container, [console.install_routes])
    async with TestClient(TestServer(app)) as c:
        yield c


async def plus_at(owner: Signed, stars: int) -> None:
    """The owner saves Plus at `stars` a month in the console's catalog form."""
    form = await form_of(owner)
    status, page = await owner.post("/console/catalog", {**form, "plus.monthly_stars": str(stars)})
    assert status == 200 and "Saved as version" in page, page


def token_of(page: str, plan: str) -> str:
    found = re.search(
        rf'name="plan" value="{plan}">\s*<input type="hidden" name="token" value="([0-9a-f]+)"',
        page,
    )
    assert found, page
    return found.group(1)


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


async def moved(bot: Runtime) -> list[Event]:
    async with bot.container.sessions() as session:
        return list(await session.scalars(select(Event).where(Event.kind == "price_migrated")))


async def notices(bot: Runtime) -> int:
    async with bot.container.sessions() as session:
        query = select(func.count()).where(OutboxMessage.template == "price_change")
        return int(await session.scalar(query) or 0)


async def test_after_a_price_edit_the_page_shows_who_moves_and_confirm_moves_each_once(
    tg: FakeBotAPI, running_bot: Runtime, client: TestClient, clock: ManualClock
) -> None:
    members = [(await paying_user(tg, telegram_id))[0] for telegram_id in (6101, 6102)]
    romanian, _ = await paying_user(tg, 6103, "ro", "Plus · 300 ⭐ / lună")
    members.append(romanian)
    await sold_at(running_bot, 6103, 250)  # sold before the catalog said 300
    members.append(await yearly_plus_member(tg, 6104))
    await sold_at(running_bot, 6104, 2500)  # the catalog's yearly price is 3000
    owner = await sign_in(client, running_bot.container)
    await plus_at(owner, 350)
    _, catalog = await owner.get("/console/catalog")
    assert f'href="{PAGE}"' in catalog

    status, page = await owner.get(PAGE)
    assert status == 200
    shown = " ".join(text_of(page).split())
    assert "4 members of plus keep an older price" in shown
    assert "monthly 1 250 ⭐ 350 ⭐" in shown and "monthly 2 300 ⭐ 350 ⭐" in shown
    assert "yearly 1 2500 ⭐ 3000 ⭐" in shown
    assert "the new price applies from 2026-12-23" in shown
    assert "Confirm: move 4" in shown
    assert "Every member of basic already pays the catalog price" in shown
    before = [len(m.messages) for m in members]
    await settle(tg, running_bot)
    assert [len(m.messages) for m in members] == before  # a preview tells nobody

    # Submitted twice at once (a double click): each member is moved and told once.
    form = {"plan": "plus", "token": token_of(page, "plus")}
    answers = await asyncio.gather(owner.post(PAGE, form), owner.post(PAGE, form))
    assert [status for status, _ in answers] == [200, 200]
    texts = [" ".join(text_of(a).split()) for _, a in answers]
    assert sum("Done: 4 members of plus are being told" in t for t in texts) == 1
    assert sum("Already done: nobody is left to move on plus" in t for t in texts) == 1
    done = next(t for t in texts if "Done:" in t)
    assert "applies from 2026-12-23" in done
    assert "Every member of plus already pays the catalog price (or has been told of it)" in done

    await settle(tg, running_bot)
    told = [m.messages[seen:] for m, seen in zip(members, before, strict=True)]
    assert [len(t) for t in told] == [1, 1, 1, 1]
    assert "the month costs 350 ⭐ instead of the 300 ⭐" in told[0][0].text
    assert "luna costă 350 ⭐ în loc de 250 ⭐" in told[2][0].text
    assert "the year costs 3\u202f000 ⭐ instead of the 2\u202f500 ⭐" in told[3][0].text
    assert sorted(e.data["old"] for e in await moved(running_bot)) == [250, 300, 300, 2500]
    assert await notices(running_bot) == 4
    async with running_bot.container.sessions() as session:
        (entry,) = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "price_migration")
        )
    assert entry.actor_telegram_id == STAFF_ID
    assert entry.arguments["members"] == 4 and entry.arguments["plan"] == "plus"
    assert entry.arguments["confirmed"] == "button" and entry.arguments["via"] == "console"

    # Until the date given they keep their price; from it, the catalog's.
    clock.advance(timedelta(days=29))
    assert await issue_plus(running_bot, 6101) == 300
    assert await issue_plus(running_bot, 6103) == 250
    clock.advance(timedelta(days=1))
    assert [await issue_plus(running_bot, t) for t in (6101, 6102, 6103)] == [350, 350, 350]


async def test_a_page_shown_before_who_moves_changed_moves_nobody(
    tg: FakeBotAPI, running_bot: Runtime, client: TestClient
) -> None:
    first, _ = await paying_user(tg, 6111)
    owner = await sign_in(client, running_bot.container)
    await plus_at(owner, 350)
    _, page = await owner.get(PAGE)
    assert "Confirm: move 1" in page
    old_token = token_of(page, "plus")
    # Meanwhile someone else turns out to keep an older price.
    second, _ = await paying_user(tg, 6112, label="Plus · 350 ⭐ / month")
    await sold_at(running_bot, 6112, 250)
    seen = (len(first.messages), len(second.messages))

    status, answer = await owner.post(PAGE, {"plan": "plus", "token": old_token})
    assert status == 409
    shown = " ".join(text_of(answer).split())
    assert "Nobody was moved: who keeps an older price on plus has changed" in shown
    assert "2 members of plus keep an older price" in shown and "Confirm: move 2" in shown
    assert token_of(answer, "plus") != old_token
    for forged in ("", "deadbeef", "x" * 500):  # no token, or one no preview gave: nobody
        status, _ = await owner.post(PAGE, {"plan": "plus", "token": forged})
        assert status == 409
    status, unknown = await owner.post(PAGE, {"plan": "gold", "token": old_token})
    assert status == 400 and "No such plan in the catalog" in unknown
    await settle(tg, running_bot)
    assert (len(first.messages), len(second.messages)) == seen
    assert await moved(running_bot) == [] and await notices(running_bot) == 0

    # The page as it stands now confirms.
    status, answer = await owner.post(PAGE, {"plan": "plus", "token": token_of(answer, "plus")})
    assert status == 200 and "Done: 2 members of plus are being told" in text_of(answer)
    assert len(await moved(running_bot)) == 2


async def test_support_staff_and_forms_without_the_csrf_token_are_refused(
    tg: FakeBotAPI, running_bot: Runtime, client: TestClient
) -> None:
    await paying_user(tg, 6121)
    owner = await sign_in(client, running_bot.container)
    await plus_at(owner, 350)
    _, page = await owner.get(PAGE)
    form = {"plan": "plus", "token": token_of(page, "plus")}

    support = await sign_in(client, running_bot.container, SUPPORT_ID)
    status, _ = await support.get(PAGE)
    assert status == 403
    status, _ = await support.post(PAGE, form)  # with their own valid CSRF token
    assert status == 403

    status, refused = await owner.post(PAGE, form, csrf=False)
    assert status == 403 and "Move members" not in refused
    status, _ = await owner.post(PAGE, {**form, "csrf": "0" * 64}, csrf=False)
    assert status == 403
    response = await client.post(PAGE, data=form)  # no session at all
    assert response.status == 401

    assert await moved(running_bot) == [] and await notices(running_bot) == 0
    async with running_bot.container.sessions() as session:
        actions = set(await session.scalars(select(AuditEntry.action)))
    assert "price_migration" not in actions
    # The owner's page still offers the same move.
    _, again = await owner.get(PAGE)
    assert token_of(again, "plus") == form["token"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (
            "ru",
            [
                "<h1>Перевод участников на новые цены</h1>",
                "<b>2</b> участника тарифа plus платят по старой цене:",
                "помесячно",
                "Подтвердить: перевести 2",
                "Готово: 2 участника тарифа plus получают уведомление",
            ],
        ),
        (
            "ro",
            [
                "<h1>Mutarea membrilor la prețuri noi</h1>",
                "<b>2</b> membri ai planului plus păstrează un preț mai vechi:",
                "lunar",
                "Confirmă: mută 2",
                "Gata: 2 membri ai planului plus sunt anunțați",
            ],
        ),
    ],
)
async def test_the_page_speaks_the_owners_language(
    tg: FakeBotAPI, running_bot: Runtime, client: TestClient, code: str, expected: list[str]
) -> None:
    for telegram_id in (6131, 6132):
        await paying_user(tg, telegram_id)
    owner = await sign_in(client, running_bot.container)
    await plus_at(owner, 350)
    cookie = {"Cookie": f"{owner.headers['Cookie']}; {LANGUAGE_COOKIE}={code}"}
    response = await client.get(PAGE, headers=cookie)
    shown = await response.text()
    assert response.status == 200 and f'<html lang="{code}">' in shown
    for english in ("Move members", "keep an older price", "Confirm: move", "Billing"):
        assert english not in shown
    form = {"plan": "plus", "token": token_of(shown, "plus"), "csrf": owner.csrf}
    response = await client.post(PAGE, data=form, headers=cookie)
    done = await response.text()
    assert response.status == 200
    assert [e for e in expected if e not in shown + done] == []
