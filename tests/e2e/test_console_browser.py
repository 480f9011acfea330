"""Acceptance: the owner console in a real browser (Debian's chromium through Playwright),
at a phone's width: the link the bot sends signs in once, then dashboard -> people ->
person, then sign out; the same link again is refused."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright, expect

from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from tests.conftest import STAFF_ID

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

# Assertions wait as long as actions do (Playwright's own default is 5 s).
expect.set_options(timeout=20_000)


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    if not HAVE_CHROMIUM:
        pytest.fail("chromium is missing: run `make browser` (Debian's chromium package)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        context = await browser.new_context(viewport={"width": 390, "height": 844})
        context.set_default_timeout(20_000)
        page = await context.new_page()
        yield page
        await browser.close()


async def fits_the_width(page: Page) -> bool:
    return bool(await page.evaluate("document.documentElement.scrollWidth <= 390"))


async def test_link_dashboard_people_person(
    tg: FakeBotAPI, running_bot: Runtime, page: Page
) -> None:
    customer = tg.add_user(4242, "Ana", language_code="ro", username="ana_r")
    await customer.send_text("/start")
    staff = tg.user(STAFF_ID)
    await staff.send_text("/console")
    found = re.search(r"https://forever\.test(/console/login/\S+)", staff.last_message.text)
    assert found
    link = f"http://127.0.0.1:{running_bot.web_port}{found.group(1)}"

    await page.goto(link)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name=re.compile("Dashboard"))).to_be_visible()
    assert await fits_the_width(page)

    await page.get_by_role("link", name="People", exact=True).click()
    await expect(page.get_by_role("heading", name="People")).to_be_visible()
    await page.get_by_label("Language", exact=True).select_option("ro")
    await page.get_by_role("button", name="Filter").click()
    await page.get_by_role("link", name="Ana").click()
    await expect(page.get_by_role("heading", name=re.compile("Ana"))).to_be_visible()
    await expect(page.get_by_text("@ana_r")).to_be_visible()
    await expect(page.get_by_role("cell", name="signed_up")).to_be_visible()  # the timeline
    assert await fits_the_width(page)

    await page.get_by_role("button", name=re.compile("Sign out")).click()
    await expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()
    await page.goto(f"http://127.0.0.1:{running_bot.web_port}/console")
    await expect(page.get_by_role("heading", name="Please sign in")).to_be_visible()

    await page.goto(link)  # the link was used: it signs nobody in again
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name=re.compile("not valid"))).to_be_visible()
