"""Walks through the owner console in a real browser (Debian's chromium through Playwright) at
a phone's width (390 px), as an owner or a support person clicks, types and reads (issue 20).
Effects are checked where they land: the bot's messages and calls in the fake Bot API, and the
database. The sign-in link's single use is walked in test_console_browser.py.

Covered here: a link that is too old signs nobody in; without a session or without the form's
CSRF token every POST is refused and nothing changes; the dashboard's figures against the
hand-computed history of tests/unit/test_kpi.py; a plan's new price for the next new member
and not an existing one; a text edit is the bot's next message; a scheduled broadcast goes out
at its time (injected clock, the sweep run by hand); a photo broadcast; an email broadcast
(preview, then send) and cancelling scheduled ones; the offers, journeys and experiments TOML
editors, the catalog import and a rollback; inbox answers, grant, refund and erasure; support
staff cannot edit the catalog or texts; bad input on every form is refused next to its field
and changes nothing; reloading after a send or a grant repeats nothing; every main page
(error pages and long words included) fits 390 px and labels every field."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from sqlalchemy import func, select

from forever import catalogs
from forever.config import Settings
from forever.db.models import (
    Broadcast,
    BroadcastDelivery,
    CatalogVersion,
    Event,
    OutboxMessage,
    Person,
    Subscription,
    TextOverride,
)
from forever.domain.clock import ManualClock
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.services.console_catalog import section_text
from forever.wiring import console
from forever.wiring.email import run_sweeps
from tests.conftest import STAFF_ID, START
from tests.e2e.staff_helpers import add_people, wait_for, wait_for_status
from tests.e2e.test_chat_cancel import paying_user
from tests.e2e.test_chat_payments import subscribe_monthly, trial_user
from tests.integration.test_journeys import person_with
from tests.unit.test_kpi import END, HISTORY

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WIDTH = 390
SUPPORT_ID = 900002
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
WELCOME = "Hello, %(name)s! Welcome to <b>%(business)s</b>."
MINE = "Hi %(name)s, so glad you found <b>%(business)s</b>!"

# Assertions wait as long as actions do (Playwright's own default is 5 s).
expect.set_options(timeout=20_000)


@pytest.fixture
def e2e_settings(settings: Settings, tg: FakeBotAPI) -> Settings:
    return settings.model_copy(
        update={"telegram_api_url": tg.base_url, "support_ids": frozenset({SUPPORT_ID})}
    )


@pytest.fixture(autouse=True)
def no_overrides_left() -> Iterator[None]:
    """Text overrides are process-wide: none before a test, none after."""
    catalogs.set_overrides({})
    yield
    catalogs.set_overrides({})


@dataclass
class Console:
    """A browser at a phone's width, pointed at the running bot's console."""

    bot: Runtime
    browser: Browser
    context: BrowserContext
    page: Page

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.bot.web_port}"

    async def sign_in(self, telegram_id: int = STAFF_ID) -> None:
        """Open the link the bot would send and press its one button."""
        token = await console.auth(self.bot.container).issue_link(telegram_id)
        assert token is not None
        await self.page.goto(f"{self.base}/console/login/{token}")
        await self.page.get_by_role("button", name="Sign in").click()
        await expect(self.page.get_by_role("heading", name=re.compile("Dashboard"))).to_be_visible()

    async def open(self, path: str) -> None:
        await self.page.goto(self.base + path)

    async def csrf(self) -> str:
        return str(await self.page.locator('input[name="csrf"]').first.get_attribute("value"))

    async def fits(self) -> None:
        """No sideways scrolling at 390 px, and every field a person fills has a label."""
        width = await self.page.evaluate("document.documentElement.scrollWidth")
        assert width <= WIDTH, f"{self.page.url} is {width} px wide"
        unlabelled = await self.page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea')]
                .filter(e => e.type !== 'hidden')
                .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                             && !e.getAttribute('aria-labelledby'))
                .map(e => e.name || e.id)"""
        )
        assert unlabelled == [], f"{self.page.url}: fields without a label: {unlabelled}"

    async def refused(self, field: str, message: str | re.Pattern[str]) -> None:
        """The page says nothing was done, and the message sits next to the field, which
        points at it (aria-describedby) and is marked invalid."""
        error = self.page.locator(f'[id="e-{field}"]')
        await expect(error).to_contain_text(message)
        described = self.page.locator(f'[aria-describedby="e-{field}"]')
        if await described.count():
            await expect(described.first).to_have_attribute("aria-invalid", "true")


@pytest.fixture
async def web(running_bot: Runtime) -> AsyncIterator[Console]:
    if not HAVE_CHROMIUM:
        pytest.fail("chromium is missing: run `make browser` (Debian's chromium package)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        context = await browser.new_context(viewport={"width": WIDTH, "height": 844})
        context.set_default_timeout(20_000)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield Console(running_bot, browser, context, page)
        await browser.close()
        assert not errors, errors


async def rows(bot: Runtime, *models: Any) -> dict[str, int]:
    async with bot.container.sessions() as db:
        return {
            m.__name__: int(await db.scalar(select(func.count()).select_from(m)) or 0)
            for m in models
        }


WRITES = (Broadcast, BroadcastDelivery, CatalogVersion, OutboxMessage, Subscription, TextOverride)


# --- signing in, sessions, CSRF, roles --------------------------------------------------


async def test_a_link_older_than_ten_minutes_signs_nobody_in(
    web: Console, clock: ManualClock
) -> None:
    token = await console.auth(web.bot.container).issue_link(STAFF_ID)
    clock.advance(timedelta(minutes=11))
    await web.open(f"/console/login/{token}")
    await web.page.get_by_role("button", name="Sign in").click()
    await expect(web.page.get_by_role("heading", name=re.compile("not valid"))).to_be_visible()
    await web.open("/console")
    await expect(web.page.get_by_role("heading", name="Please sign in")).to_be_visible()


async def test_without_a_session_or_its_csrf_token_every_change_is_refused(
    tg: FakeBotAPI, web: Console
) -> None:
    await add_people(web.bot.container, tg, [6101])
    before = await rows(web.bot, *WRITES)
    app = web.bot._web_runner.app  # type: ignore[union-attr]
    posts = sorted(
        {
            r.resource.canonical.replace("{id}", "1").replace("{token}", "x")
            for r in app.router.routes()
            if r.method == "POST" and r.resource is not None
        }
    )
    posts = [p for p in posts if p.startswith("/console/") and not p.startswith("/console/login")]
    assert "/console/catalog" in posts and "/console/texts" in posts and len(posts) >= 15
    form = {"text": "x", "segment": "all", "when": "now", "plan": "plus", "days": "5"}

    # No session: a browser that never signed in.
    stranger = await web.browser.new_context()
    for path in posts:
        answer = await stranger.request.post(web.base + path, form=form)
        assert answer.status == 401, path
    await stranger.close()

    # A session, but the form lacks its token or carries another's.
    await web.sign_in()
    for path in posts:
        for token in (None, "0" * 64):
            data = form if token is None else {**form, "csrf": token}
            answer = await web.context.request.post(web.base + path, form=data)
            assert answer.status == 403, (path, token)
            assert "This form cannot be accepted" in await answer.text()

    # The same in the page itself: a catalog form whose token was lost is refused.
    await web.open("/console/catalog")
    plus = web.page.get_by_role("group", name="Plan plus")
    await plus.get_by_label("Monthly price (Stars)").fill("999")
    await web.page.evaluate(
        "document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())"
    )
    await web.page.get_by_role("button", name="Save a new version").click()
    await expect(
        web.page.get_by_role("heading", name="This form cannot be accepted")
    ).to_be_visible()
    assert await rows(web.bot, *WRITES) == before
    assert web.bot.container.catalog.plan("plus").monthly_stars == 300  # type: ignore[union-attr]
    assert tg.user(6101).messages == []


async def test_support_staff_cannot_edit_the_catalog_or_texts(tg: FakeBotAPI, web: Console) -> None:
    await web.sign_in(SUPPORT_ID)
    nav = web.page.get_by_role("navigation", name="Console")
    await expect(nav.get_by_role("link", name="People")).to_be_visible()
    await expect(nav.get_by_role("link", name="Catalog")).to_have_count(0)
    await expect(nav.get_by_role("link", name="Broadcasts")).to_have_count(0)
    await web.open("/console/catalog")
    await expect(web.page.get_by_role("heading", name="Not allowed")).to_be_visible()
    await expect(web.page.get_by_text("Your role (support) cannot do this")).to_be_visible()

    await web.open(f"/console/texts?locale=en&msgid={WELCOME}")
    await expect(web.page.get_by_text("Only owners can change texts")).to_be_visible()
    await expect(web.page.get_by_role("button", name="Save a new version")).to_have_count(0)

    csrf = await web.csrf()
    for path, data in [
        ("/console/catalog", {"plus.monthly_stars": "999"}),
        ("/console/catalog/offers", {"offers": "[offers]\n"}),
        ("/console/catalog/rollback", {"version": "1"}),
        ("/console/texts", {"locale": "en", "context": "", "msgid": WELCOME, "text": MINE}),
        ("/console/broadcasts", {"segment": "all", "text": "Hi", "when": "now"}),
    ]:
        answer = await web.context.request.post(web.base + path, form={**data, "csrf": csrf})
        assert answer.status == 403, path
    assert await rows(web.bot, CatalogVersion, TextOverride, Broadcast) == {
        "CatalogVersion": 0,
        "TextOverride": 0,
        "Broadcast": 0,
    }
    await web.fits()


# --- the dashboard ------------------------------------------------------------------------


async def test_the_dashboard_shows_the_hand_computed_figures(
    web: Console, clock: ManualClock
) -> None:
    clock.set(END)
    async with web.bot.container.sessions.begin() as db:
        for person in range(1, 21):
            db.add(Person(id=person, telegram_id=5000 + person, created_at=END, language="en"))
        await db.flush()
        for e in HISTORY:
            db.add(Event(person_id=e.person_id, kind=e.kind, at=e.at, data=dict(e.data)))
    await web.sign_in()
    page = web.page
    await page.get_by_role("link", name="30 days", exact=True).click()
    await expect(page.get_by_role("heading", name="Dashboard: last 30 days")).to_be_visible()

    def card(title: str) -> Any:
        return page.locator(".card", has_text=title)

    # The figures of tests/unit/test_kpi.py's history, worked out there by hand.
    await expect(card("MRR")).to_contain_text("1975 ⭐")
    await expect(card("MRR")).to_contain_text("-8.1%")
    await expect(card("MRR")).to_contain_text("(was 2150)")
    await expect(card("Active members")).to_contain_text("8")
    await expect(card("Paid churn")).to_contain_text("50.0% (4/8)")
    await expect(card("Trial conversion")).to_contain_text("33.3% (2/6)")
    await expect(card("Save rate")).to_contain_text("40.0% (2/5)")
    await expect(card("Won back")).to_contain_text("1 / 4")
    await expect(card("Revenue")).to_contain_text("3150 ⭐")
    await expect(card("Revenue")).to_contain_text("received 3810, refunded 660")

    def row(table: str, name: str) -> Any:
        return page.get_by_role("table", name=table).get_by_role("row", name=name)

    for plan, active in (("Basic", "3"), ("Plus", "3"), ("Pro", "2")):
        await expect(row("Active members by plan", plan).get_by_role("cell").last).to_have_text(
            active
        )
    for plan, stars in (("Basic", "1890"), ("Plus", "1320"), ("Pro", "600")):
        await expect(
            row("Revenue by plan (Stars received)", plan).get_by_role("cell").last
        ).to_have_text(stars)
    await expect(row("Cancel reasons", "too_expensive").get_by_role("cell").last).to_have_text("3")
    await web.fits()

    # A period that is not a number of days: told next to the field, 30 days shown.
    await page.get_by_label("Period (days)").fill("abc")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("#days-error")).to_contain_text("whole number of days")
    await expect(page.get_by_label("Period (days)")).to_have_attribute("aria-invalid", "true")


# --- the catalog ----------------------------------------------------------------------------


async def test_a_new_price_is_for_the_next_new_member_not_an_existing_one(
    tg: FakeBotAPI, web: Console
) -> None:
    member, paid = await paying_user(tg, 6201)
    assert paid.total_amount == 300
    await web.sign_in()
    await web.page.get_by_role("link", name="Catalog", exact=True).click()
    plus = web.page.get_by_role("group", name="Plan plus")
    await expect(plus.get_by_label("Monthly price (Stars)")).to_have_value("300")
    await plus.get_by_label("Monthly price (Stars)").fill("360")
    await web.page.get_by_role("button", name="Save a new version").click()
    await expect(web.page.get_by_role("status")).to_contain_text("Saved as version 1")
    await expect(web.page.get_by_role("cell", name=re.compile("300 → 360"))).to_be_visible()

    newcomer = await trial_user(tg, 6202)
    _, bought = await subscribe_monthly(newcomer, "Plus · 360 ⭐ / month")
    assert bought.accepted and bought.total_amount == 360
    renewal = await tg.renew_subscription(member, paid.charge_id)
    assert renewal.accepted and renewal.total_amount == 300


async def test_offers_journeys_and_experiments_editors_the_import_and_a_rollback(
    web: Console,
) -> None:
    container = web.bot.container
    await web.sign_in()
    await web.open("/console/catalog")
    page = web.page

    offers = page.get_by_label("Offers (TOML)")
    text = await offers.input_value()
    assert "once_per_days = 180" in text
    await offers.fill(text.replace("once_per_days = 180", "once_per_days = 90"))
    await page.get_by_role("button", name="Save the offers as a new version").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved as version 1: in force now")
    assert container.catalog.offer_once_per_days == 90

    journeys = page.get_by_label("Journeys (TOML)")
    text = await journeys.input_value()
    tips = 'id = "trial_tips"\ntrigger = "trial_start"\ndays = [1]'
    assert tips in text
    await journeys.fill(text.replace(tips, tips.replace("[1]", "[2]")))
    await page.get_by_role("button", name="Save the journeys as a new version").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved as version 2: in force now")
    [trial_tips] = [j for j in container.catalog.journeys if j.id == "trial_tips"]
    assert trial_tips.days == (2,)

    experiments = page.get_by_label("Experiments (TOML)")
    text = await experiments.input_value()
    assert "holdout = 0.2" in text
    await experiments.fill(text.replace("holdout = 0.2", "holdout = 0.3", 1))
    await page.get_by_role("button", name="Save the experiments as a new version").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved as version 3")
    assert "holdout = 0.3" in section_text(container.catalog, "experiments")

    # The export, changed by hand and imported back.
    exported = await web.context.request.get(f"{web.base}/console/catalog.toml")
    source = await exported.text()
    assert "once_per_days = 90" in source
    changed = re.sub(r"(id = \"pro\"[^\[]*?monthly_stars = )600", r"\g<1>650", source)
    assert changed != source
    await page.get_by_label("catalog.toml").set_input_files(
        {"name": "catalog.toml", "mimeType": "application/toml", "buffer": changed.encode()}
    )
    await page.get_by_role("button", name="Import as a new version").click()
    await expect(page.get_by_role("status")).to_contain_text(
        "Imported catalog.toml: saved as version 4"
    )
    assert container.catalog.plan("pro").monthly_stars == 650  # type: ignore[union-attr]

    # And back to the first version, from the history.
    await page.get_by_role("button", name="Back to #1").click()
    await expect(page.get_by_role("status")).to_contain_text("Back to version 1")
    assert container.catalog.plan("pro").monthly_stars == 600  # type: ignore[union-attr]
    assert "holdout = 0.2" in section_text(container.catalog, "experiments")
    assert container.catalog.offer_once_per_days == 90
    [trial_tips] = [j for j in container.catalog.journeys if j.id == "trial_tips"]
    assert trial_tips.days == (1,)
    await web.fits()


# --- texts -----------------------------------------------------------------------------------


async def test_an_edited_text_is_the_bots_next_message(tg: FakeBotAPI, web: Console) -> None:
    await web.sign_in()
    page = web.page
    await page.get_by_role("link", name="Texts", exact=True).click()
    await page.get_by_label("Search the messages").fill("Welcome to")
    await page.get_by_label("Language", exact=True).select_option("en")
    await page.get_by_role("button", name="Search").click()
    await page.get_by_role("link", name=WELCOME).click()
    await expect(page.get_by_role("heading", name="Edit (en)")).to_be_visible()
    await web.fits()

    await page.get_by_label("Text", exact=True).fill("Hi %(nick)s at <b>%(business)s</b>")
    await page.get_by_role("button", name="Save a new version").click()
    await web.refused("text", "Placeholders must match")
    await expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    assert (await rows(web.bot, TextOverride))["TextOverride"] == 0

    await page.get_by_label("Text", exact=True).fill(MINE)
    await page.get_by_role("button", name="Save a new version").click()
    await expect(page.get_by_role("status")).to_contain_text("the bot uses it now")

    ana = tg.add_user(6301, "Ana", language_code="en")
    await ana.send_text("/start")
    assert "Hi Ana, so glad you found" in ana.messages[0].text
    ioana = tg.add_user(6302, "Ioana", language_code="ro")
    await ioana.send_text("/start")
    assert "Bună, Ioana!" in ioana.messages[0].text

    await page.get_by_role("button", name="Use the catalog's text again").click()
    await expect(page.get_by_role("status")).to_contain_text("Back to the catalog")
    eve = tg.add_user(6303, "Eve", language_code="en")
    await eve.send_text("/start")
    assert "Hello, Eve! Welcome to" in eve.messages[0].text


# --- broadcasts ------------------------------------------------------------------------------


async def test_a_scheduled_broadcast_goes_out_at_its_time(
    tg: FakeBotAPI, web: Console, clock: ManualClock
) -> None:
    container = web.bot.container
    await add_people(container, tg, [6401, 6402])
    await add_people(container, tg, [6403], language="ro")
    await web.sign_in()
    page = web.page
    await page.get_by_role("link", name="Broadcasts", exact=True).click()
    await page.locator("#c-segment").select_option("language:ro")
    await page.get_by_role("button", name="Count").click()
    await expect(page.get_by_text("1 person in this segment now")).to_be_visible()

    # The count's choice carries over to the new broadcast's audience: back to everyone.
    await expect(page.locator("#f-segment")).to_have_value("language:ro")
    await page.locator("#f-segment").select_option("all")
    at = START + timedelta(minutes=20)  # within the session's 30 idle minutes
    await page.get_by_label("Message (plain text", exact=False).fill("Hi {{ name }}, live Q&A!")
    await page.get_by_label("Version for people speaking ro").fill("Salut {{ name }}, live!")
    await page.get_by_label("Button label").fill("Join")
    await page.get_by_label("Button link").fill("https://forever.test/live")
    await page.get_by_label("At (UTC)").check()
    await page.get_by_label("Send at, UTC").fill(at.strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.get_by_role("status").first).to_contain_text(
        "Scheduled: it goes to about 3 people"
    )
    await expect(page.get_by_role("button", name=re.compile(r"Cancel #\d+"))).to_be_visible()

    clock.advance(timedelta(minutes=19))
    assert (await run_sweeps(container, clock.now()))["scheduled_broadcasts"] == 0
    assert all(tg.user(t).messages == [] for t in (6401, 6402, 6403))

    clock.set(at)
    assert (await run_sweeps(container, clock.now()))["scheduled_broadcasts"] == 1
    async with container.sessions() as db:
        job = await db.scalar(select(Broadcast.id))
    assert job is not None
    await wait_for_status(container, job, {"done"})
    [en] = tg.user(6401).messages
    [ro] = tg.user(6403).messages
    assert en.text == "Hi P6401, live Q&A!" and ro.text == "Salut P6403, live!"
    assert en.buttons[0][0].target == "https://forever.test/live"
    await page.get_by_role("link", name="Refresh progress").click()
    await expect(page.get_by_role("cell", name="done")).to_be_visible()
    await expect(page.get_by_role("cell", name="3 / 3")).to_be_visible()


async def test_a_photo_broadcast_from_the_page(tg: FakeBotAPI, web: Console) -> None:
    container = web.bot.container
    await add_people(container, tg, [6501, 6502])
    await web.sign_in()
    page = web.page
    await web.open("/console/broadcasts")
    await page.get_by_label("Photo (optional", exact=False).set_input_files(
        {"name": "class.png", "mimeType": "image/png", "buffer": PNG}
    )
    await page.get_by_label("Message (plain text", exact=False).fill("New room, {{ name }}!")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.get_by_role("status").first).to_contain_text(
        "Queued: sending to 2 people now."
    )
    assert len(tg.calls_to("sendPhoto")) == 1  # uploaded once, into the owner's chat
    async with container.sessions() as db:
        job = await db.scalar(select(Broadcast.id))
    assert job is not None
    await wait_for_status(container, job, {"done"})
    for telegram_id in (6501, 6502):
        [copy] = tg.user(telegram_id).messages
        assert copy.media is not None and copy.media.kind == "photo"
        assert copy.text == f"New room, P{telegram_id}!"


async def test_a_broadcasts_progress_goes_live_without_reloading_the_page(
    tg: FakeBotAPI, web: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = web.bot.container
    people = [6551, 6552, 6553]
    await add_people(container, tg, people)
    # The fake Bot API holds the broadcast's messages until the page has shown them waiting.
    release = asyncio.Event()
    call = tg.methods.call

    async def held(method: str, params: dict[str, Any]) -> Any:
        if method == "sendMessage" and params.get("chat_id") in people:
            await release.wait()
        return await call(method, params)

    monkeypatch.setattr(tg.methods, "call", held)
    await web.sign_in()
    page = web.page
    await web.open("/console/broadcasts")
    await page.get_by_label("Message (plain text", exact=False).fill("Doors open at 7, {{ name }}!")
    await page.get_by_role("button", name="Send", exact=True).click()
    try:
        await expect(page.get_by_role("status").first).to_contain_text(
            "Queued: sending to 3 people now."
        )
        async with container.sessions() as db:
            job = await db.scalar(select(Broadcast.id))
        row = page.locator(f'tr[data-id="{job}"]')
        await expect(row.locator('[data-k="progress"]')).to_have_text("0 / 3")
        await expect(page.locator("#live-note")).to_be_visible()
        await page.evaluate("window.notReloaded = true")
        # Someone starts writing the next one meanwhile: the updates leave the form alone.
        await page.get_by_label("Message (plain text", exact=False).fill("Next time")
        await page.get_by_label("Message (plain text", exact=False).focus()
    finally:
        release.set()
    await expect(row.locator('[data-k="status"]')).to_have_text("done")
    await expect(row.locator('[data-k="progress"]')).to_have_text("3 / 3")
    await expect(row.locator('[data-k="percent"]')).to_have_text("100%")
    await expect(row.locator('[data-k="delivered"]')).to_have_text("3")
    await expect(row.locator("progress")).to_have_attribute("value", "3")
    await expect(page.locator("#live-note")).to_be_hidden()
    assert await page.evaluate("window.notReloaded") is True
    await expect(page.get_by_label("Message (plain text", exact=False)).to_have_value("Next time")
    await expect(page.get_by_label("Message (plain text", exact=False)).to_be_focused()
    assert all(len(tg.user(t).messages) == 1 for t in people)
    await expect(page.get_by_role("link", name="Refresh progress")).to_be_visible()


async def test_an_email_broadcast_preview_then_send(web: Console) -> None:
    container = web.bot.container
    await person_with(container, telegram_id=6601, name="Ana", email="ana@example.com")
    await person_with(container, telegram_id=6602, name="Bo", email="bo@example.com")
    await person_with(
        container, telegram_id=6603, name="Cy", email="cy@example.com", consent_given=False
    )
    before = (await rows(web.bot, OutboxMessage))["OutboxMessage"]
    await web.sign_in()
    page = web.page
    await page.get_by_role("link", name="Broadcasts", exact=True).click()
    await page.get_by_role("link", name="Email broadcasts").click()
    await expect(page.get_by_role("heading", name="Email broadcasts")).to_be_visible()
    await expect(page.get_by_text("2 people in this segment have confirmed")).to_be_visible()
    await web.fits()

    await page.get_by_label("Subject").fill("New classes in December")
    await page.get_by_label("HTML body").fill("<p>Twelve <b>new</b> classes.</p>")
    await page.get_by_label("Text body").fill("Twelve new classes.")
    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator("#preview-subject")).to_have_text("New classes in December")
    await expect(page.locator("#preview-text")).to_contain_text("Twelve new classes.")
    frame = page.frame_locator('iframe[title="HTML preview"]')
    await expect(frame.locator("b", has_text="new")).to_be_visible()
    assert (await rows(web.bot, OutboxMessage))["OutboxMessage"] == before  # nothing sent

    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.get_by_role("status").first).to_contain_text("Queued: 2 emails")
    await expect(page.get_by_role("cell", name="New classes in December")).to_be_visible()
    assert (await rows(web.bot, OutboxMessage))["OutboxMessage"] == before + 2


# --- bad input on every form -----------------------------------------------------------------


async def test_bad_input_on_every_form_is_refused_next_to_its_field(
    tg: FakeBotAPI, web: Console
) -> None:
    container = web.bot.container
    await add_people(container, tg, [6701])
    await person_with(container, telegram_id=6702, name="Ana", email="ana@example.com")
    before = await rows(web.bot, *WRITES)
    await web.sign_in()
    page = web.page

    async def submit(button: str) -> None:
        await page.get_by_role("button", name=button, exact=True).click()

    # Catalog: plan prices and names.
    await web.open("/console/catalog")
    basic = page.get_by_role("group", name="Plan basic")
    await basic.get_by_label("Monthly price (Stars)").fill("cheap")
    await submit("Save a new version")
    await web.refused("basic.monthly_stars", "A whole number of Stars")
    await expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    await expect(basic.get_by_label("Monthly price (Stars)")).to_have_value("cheap")  # kept
    # The TOML sections and the import.
    for section, button, bad in [
        ("offers", "Save the offers as a new version", "[offers]\ndiscount_30 = {kind = 7}\n"),
        ("journeys", "Save the journeys as a new version", "[[journeys]]\nid = 3\n"),
        ("experiments", "Save the experiments as a new version", "[[experiments]\n"),
    ]:
        await web.open("/console/catalog")
        await page.locator(f'[id="f-{section}"]').fill(bad)
        await submit(button)
        await web.refused(section, re.compile(r"\S"))
        await web.fits()
        await expect(page.locator(f'[id="f-{section}"]')).to_have_value(bad)  # kept to fix
    await web.open("/console/catalog")
    await submit("Import as a new version")
    await web.refused("import", "Choose a catalog.toml file.")
    await page.get_by_label("catalog.toml").set_input_files(
        {"name": "catalog.toml", "mimeType": "text/plain", "buffer": b"[[plans]]\nid = 1\n"}
    )
    await submit("Import as a new version")
    await web.refused("import", re.compile(r"\S"))
    await page.get_by_label("catalog.toml").set_input_files(
        {"name": "catalog.toml", "mimeType": "text/plain", "buffer": b"\xff\xfe\x00"}
    )
    await submit("Import as a new version")
    await web.refused("import", "not UTF-8")
    await web.fits()

    # Chat broadcasts.
    await web.open("/console/broadcasts")
    await submit("Send")
    await web.refused("text", "Write the message first.")
    await expect(page.get_by_role("alert")).to_contain_text("Nothing was sent")
    await page.get_by_label("Message (plain text", exact=False).fill("Hi")
    await page.get_by_label("Button label").fill("Join")
    await page.get_by_label("At (UTC)").check()
    await page.get_by_label("Send at, UTC").fill("2020-01-01T09:00")
    await submit("Send")
    await web.refused("button_url", "A button needs both a label and a link.")
    await web.refused("send_at", "This time has passed")
    await expect(page.get_by_label("Message (plain text", exact=False)).to_have_value("Hi")
    await page.get_by_label("Photo (optional", exact=False).set_input_files(
        {"name": "x.gif", "mimeType": "image/png", "buffer": b"GIF89a" + b"\x00" * 50}
    )
    await page.get_by_label("Button label").fill("")
    await page.get_by_label("Now").check()
    await submit("Send")
    await web.refused("photo", "Only JPEG or PNG photos.")
    await web.fits()

    # Email broadcasts.
    await web.open("/console/broadcasts/email")
    await page.get_by_label("HTML body").fill("<p>Hi <script>x()</script></p>")
    await submit("Send")
    await web.refused("subject", "Write a subject.")
    await web.refused("body_html", re.compile(r"\S"))
    await web.refused("body_text", "Write the text body")
    await web.fits()

    # Texts.
    await web.open(f"/console/texts?locale=en&msgid={WELCOME}")
    await page.get_by_label("Text", exact=True).fill("Hi %(name)s at <div>%(business)s</div>")
    await submit("Save a new version")
    await web.refused("text", "does not know the tag")
    await web.fits()

    # A grant on a person's page.
    async with container.sessions() as db:
        person = await db.scalar(select(Person.id).where(Person.telegram_id == 6701))
    await web.open(f"/console/people/{person}")
    await page.get_by_label("Days").fill("0")
    await page.get_by_role("button", name=re.compile("^Grant")).click()
    await web.refused("plan", "Pick a plan from the list.")
    await web.refused("days", "A whole number of days")
    await web.fits()

    # People search.
    await web.open("/console/people?before=nonsense")
    await expect(page.get_by_text("Not a page of this list")).to_be_visible()

    assert await rows(web.bot, *WRITES) == before
    assert tg.calls_to("sendPhoto") == []
    assert tg.user(6701).messages == []


# --- every main page at 390 px ---------------------------------------------------------------


async def test_every_main_page_fits_a_phone_and_labels_its_fields(
    tg: FakeBotAPI, web: Console
) -> None:
    customer = tg.add_user(6801, "Ana", language_code="en", username="ana")
    await customer.send_text("/start")
    # Long words with no place to break: a link in a customer's message, a line of an email.
    long_link = "https://example.com/" + "a" * 120
    await customer.send_text(f"Is this you? {long_link}")
    async with web.bot.container.sessions() as db:
        person = await db.scalar(select(Person.id).where(Person.telegram_id == 6801))
    long_email = "very.long.address." + "x" * 60 + "@example.com"
    other = await person_with(
        web.bot.container, telegram_id=6802, name="Maximiliana" * 6, email=long_email
    )
    await web.sign_in()
    for path in [
        "/console",
        "/console/people",
        f"/console/people/{person}",
        f"/console/people/{other}",
        f"/console/people?query={long_email}",
        "/console/inbox",
        "/console/broadcasts",
        "/console/broadcasts/email",
        "/console/catalog",
        "/console/texts?locale=en&q=Welcome",
        f"/console/texts?locale=en&msgid={WELCOME}",
        "/console/audit",
        f"/console/inbox/{person}",
    ]:
        await web.open(path)
        await expect(web.page.get_by_role("heading", level=1)).to_be_visible()
        await web.fits()
    await web.open("/console/broadcasts/email")
    await web.page.get_by_label("Subject").fill("Links")
    await web.page.get_by_label("HTML body").fill(f"<p>{long_link}</p>")
    await web.page.get_by_label("Text body").fill(f"Read {long_link} today")
    await web.page.get_by_role("button", name="Preview").click()
    await expect(web.page.locator("#preview-text")).to_contain_text(long_link)
    await web.fits()


# --- inbox and a person's page ----------------------------------------------------------------


async def test_support_answers_from_the_inbox_and_an_owner_grants_days(
    tg: FakeBotAPI, web: Console
) -> None:
    customer = tg.add_user(6901, "Ana", language_code="en")
    await customer.send_text("/start")
    await customer.send_text("Can I pay in euros?")
    told = len(customer.messages)
    await web.sign_in(SUPPORT_ID)
    page = web.page
    await page.get_by_role("link", name="Inbox", exact=True).click()
    await expect(page.get_by_role("cell", name="Can I pay in euros?")).to_be_visible()
    await expect(page.get_by_role("cell", name="waiting")).to_be_visible()
    await page.get_by_role("link", name=re.compile(r"^#\d+$")).click()
    await web.fits()

    await page.get_by_role("button", name="Send in Telegram").click()
    await web.refused("text", "Write an answer first.")
    assert len(customer.messages) == told
    await page.get_by_label("Your answer").fill("Only Stars for now, sorry!")
    await page.get_by_role("button", name="Send in Telegram").click()
    await expect(page.get_by_role("status")).to_contain_text("Sent to the customer in Telegram.")
    await wait_for(lambda: len(customer.messages) > told)
    assert "Only Stars for now, sorry!" in customer.last_message.text
    await page.get_by_role("link", name="Inbox", exact=True).click()
    await expect(page.get_by_role("cell", name="answered")).to_be_visible()

    # Support may not grant; an owner may, after confirming.
    await page.get_by_role("button", name=re.compile("Sign out")).click()
    await web.sign_in()
    await page.get_by_role("link", name="People", exact=True).click()
    await page.get_by_role("link", name="Ana").click()
    await page.get_by_label("Plan").select_option("pro")
    await page.get_by_label("Days").fill("5")
    await page.get_by_role("button", name=re.compile("^Grant")).click()
    await expect(page.get_by_role("heading", name="Please confirm")).to_be_visible()
    assert (await rows(web.bot, Subscription))["Subscription"] == 0
    await page.get_by_role("button", name="Yes, grant").click()
    await expect(page.get_by_role("status")).to_contain_text("They were told in the chat.")
    await wait_for(lambda: "Pro" in customer.last_message.text)


async def test_a_scheduled_photo_broadcast_goes_out_at_its_time(
    tg: FakeBotAPI, web: Console, clock: ManualClock
) -> None:
    container = web.bot.container
    await add_people(container, tg, [6551])
    await web.sign_in()
    page = web.page
    await web.open("/console/broadcasts")
    await page.get_by_label("Photo (optional", exact=False).set_input_files(
        {"name": "class.png", "mimeType": "image/png", "buffer": PNG}
    )
    await page.get_by_label("Message (plain text", exact=False).fill("Tonight, {{ name }}")
    at = START + timedelta(minutes=15)
    await page.get_by_label("At (UTC)").check()
    await page.get_by_label("Send at, UTC").fill(at.strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.get_by_role("status").first).to_contain_text("Scheduled")
    assert tg.user(6551).messages == []
    clock.set(at)
    assert (await run_sweeps(container, clock.now()))["scheduled_broadcasts"] == 1
    async with container.sessions() as db:
        job = await db.scalar(select(Broadcast.id))
    assert job is not None
    await wait_for_status(container, job, {"done"})
    [copy] = tg.user(6551).messages
    assert copy.media is not None and copy.media.kind == "photo"
    assert copy.text == "Tonight, P6551"


async def test_scheduled_chat_and_email_broadcasts_can_be_cancelled(
    tg: FakeBotAPI, web: Console, clock: ManualClock
) -> None:
    container = web.bot.container
    await add_people(container, tg, [6561])
    await person_with(container, telegram_id=6562, name="Ana", email="ana@example.com")
    await web.sign_in()
    page = web.page
    at = (START + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M")

    await web.open("/console/broadcasts")
    await page.get_by_label("Message (plain text", exact=False).fill("Soon")
    await page.get_by_label("At (UTC)").check()
    await page.get_by_label("Send at, UTC").fill(at)
    await page.get_by_role("button", name="Send", exact=True).click()
    await page.get_by_role("button", name=re.compile(r"Cancel #\d+")).click()
    await expect(page.get_by_role("status").first).to_contain_text("Cancelled: it will not be")
    await expect(page.get_by_role("button", name=re.compile(r"Cancel #\d+"))).to_have_count(0)

    await web.open("/console/broadcasts/email")
    await page.get_by_label("Subject").fill("Soon")
    await page.get_by_label("HTML body").fill("<p>Soon</p>")
    await page.get_by_label("Text body").fill("Soon")
    await page.get_by_label("At (UTC)").check()
    await page.get_by_label("Send at, UTC").fill(at)
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.get_by_role("status").first).to_contain_text("Scheduled: 1 email waits")
    await page.get_by_role("button", name="Cancel the waiting ones").click()
    await expect(page.get_by_role("status").first).to_contain_text("Cancelled: 1 email will not")

    clock.set(START + timedelta(minutes=15))
    assert (await run_sweeps(container, clock.now()))["scheduled_broadcasts"] == 0
    assert tg.user(6561).messages == []
    async with container.sessions() as db:
        statuses = list(await db.scalars(select(OutboxMessage.status)))
    assert "canceled" in statuses and "pending" not in statuses and "sending" not in statuses


async def test_an_owner_refunds_a_payment_then_erases_the_person(
    tg: FakeBotAPI, web: Console
) -> None:
    _, paid = await paying_user(tg, 6951)
    await web.sign_in()
    page = web.page
    await page.get_by_role("link", name="People", exact=True).click()
    await page.get_by_label("Search").fill("6951")
    await page.get_by_role("button", name="Filter").click()
    await page.get_by_role("link", name="User6951").click()
    await web.fits()

    await page.get_by_role("button", name="Refund…").click()
    await expect(page.get_by_role("heading", name="Please confirm")).to_be_visible()
    assert tg.calls_to("refundStarPayment") == []  # asking is not doing
    await page.get_by_role("button", name="Yes, refund").click()
    await expect(page.get_by_role("status")).to_contain_text("Refunded")
    await expect(
        page.get_by_role("cell", name=re.compile(r"^refunded \d{1,2} \w+ \d{4}, \d{2}:\d{2}"))
    ).to_be_visible()
    await wait_for(lambda: len(tg.calls_to("refundStarPayment")) == 1)
    [refund] = tg.calls_to("refundStarPayment")
    assert refund.params["telegram_payment_charge_id"] == paid.charge_id

    await page.get_by_role("button", name="Erase this person…").click()
    await page.get_by_role("button", name="Yes, erase").click()
    await expect(page.get_by_role("status")).to_contain_text("Erased")
    async with web.bot.container.sessions() as db:
        assert await db.scalar(select(Person.first_name).where(Person.telegram_id == 6951)) is None


async def test_reloading_the_page_after_a_send_or_grant_does_not_repeat_it(
    tg: FakeBotAPI, web: Console
) -> None:
    container = web.bot.container
    await add_people(container, tg, [6961])
    tg.add_user(6962, "Ana", language_code="en", started=True)
    await person_with(container, telegram_id=6962, name="Ana", email="ana@example.com")
    async with container.sessions() as db:
        person = await db.scalar(select(Person.id).where(Person.telegram_id == 6961))
    await web.sign_in()
    page = web.page

    await web.open("/console/broadcasts")
    await page.get_by_label("Message (plain text", exact=False).fill("Once")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.get_by_role("status").first).to_contain_text("Queued: sending to 2")
    async with container.sessions() as db:
        job = await db.scalar(select(Broadcast.id))
    assert job is not None
    await wait_for_status(container, job, {"done"})
    await page.reload()
    await page.go_back()
    await page.go_forward()
    await expect(page.get_by_role("heading", name="Broadcasts")).to_be_visible()

    await web.open("/console/broadcasts/email")
    await page.get_by_label("Subject").fill("Once")
    await page.get_by_label("HTML body").fill("<p>Once</p>")
    await page.get_by_label("Text body").fill("Once")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.get_by_role("status").first).to_contain_text("Queued: 1 email (")
    mails = (await rows(web.bot, OutboxMessage))["OutboxMessage"]
    await page.reload()
    await expect(page.get_by_role("status").first).to_contain_text("Queued: 1 email (")

    await web.open(f"/console/people/{person}")
    await page.get_by_label("Plan").select_option("pro")
    await page.get_by_label("Days").fill("5")
    await page.get_by_role("button", name=re.compile("^Grant")).click()
    await page.get_by_role("button", name="Yes, grant").click()
    await expect(page.get_by_role("status")).to_contain_text("Granted pro for 5 days.")
    await page.reload()
    await expect(page.get_by_role("status")).to_contain_text("Granted pro for 5 days.")

    async with container.sessions() as db:
        grants = await db.scalar(
            select(func.count()).select_from(Event).where(Event.kind == "granted")
        )
        broadcasts = await db.scalar(select(func.count()).select_from(Broadcast))
    assert grants == 1 and broadcasts == 1
    assert len(tg.user(6961).messages) == 2  # the broadcast and the grant's message, once each
    assert (await rows(web.bot, OutboxMessage))["OutboxMessage"] == mails + 1  # the grant's
