"""Acceptance: the sandbox page in a real browser (Debian's chromium through Playwright).

A newcomer's tour: sign a customer up, start the trial, confirm marketing email from the
inbox, move the clock past the trial reminder and read it, pay a plan, cancel with one tap,
give the reason and see the matched offer; then, as staff, send a broadcast and see it arrive.
Screenshots of the chat, inbox and staff views go to docs/ when FOREVER_SCREENSHOTS=docs
(`make screenshots`), else to the test's temporary directory.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright, expect

from forever.config import load_settings
from forever.sandbox.fake_bot_api import FakeUser
from forever.sandbox.world import Sandbox
from tests.conftest import ROOT

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 20_000
# Assertions wait as long as actions (Playwright's own default is 5 s): a clock jump does a
# day's work per step, which takes longer on a busy machine.
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    settings = load_settings(
        _env_file=None, catalog_path=str(ROOT / "catalog.toml"), log_level="WARNING"
    )
    # As `bot.py sandbox` runs it: scheduler, outbox worker and all.
    box = await Sandbox.start(settings, db_path=tmp_path / "sandbox.db", port=0)
    yield box
    await box.stop()
    box.fake.assert_no_refused_calls()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    if os.environ.get("FOREVER_SCREENSHOTS") == "docs":
        return ROOT / "docs"
    return tmp_path


@pytest.fixture
async def page(sandbox: Sandbox) -> AsyncIterator[Page]:
    if not HAVE_CHROMIUM:
        pytest.fail("chromium is missing: run `make browser` (Debian's chromium package)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        context = await browser.new_context(
            viewport={"width": 1440, "height": 900}, device_scale_factor=1
        )
        context.set_default_timeout(TIMEOUT_MS)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(sandbox.url)
        yield page
        await browser.close()
        assert not errors, f"the page had script errors: {errors}"


def staff_tools_merged() -> bool:
    return importlib.util.find_spec("forever.telegram.routers.staff_broadcast") is not None


class Tour:
    """What a person does on the page, in words a reader of the test follows."""

    def __init__(self, page: Page, shots: Path) -> None:
        self.page = page
        self.shots = shots
        self.messages = page.get_by_role("log", name="Conversation with the bot")

    async def ready(self) -> None:
        await expect(self.page.locator("#live")).to_have_class(re.compile(r"\bon\b"))

    async def add_customer(self, name: str, language: str) -> None:
        await self.page.get_by_label("Name").fill(name)
        await self.page.get_by_label("Telegram language").select_option(language)
        await self.page.get_by_role("button", name="Add customer").click()
        await expect(self.page.get_by_role("heading", name=name)).to_be_visible()

    async def command(self, command: str) -> None:
        await self.page.get_by_role("button", name=f"Send {command}").click()

    async def tap(self, label: str | re.Pattern[str]) -> None:
        """Press the newest inline button with this label, as a customer would."""
        await self.page.locator(".kb-btn", has_text=label).last.click()

    async def sees(self, text: str | re.Pattern[str], **kwargs: float) -> None:
        await expect(self.messages).to_contain_text(text, **kwargs)

    async def snap(self, name: str) -> None:
        # Passing notices would hide part of the view: clear them for the picture.
        await self.page.evaluate("document.getElementById('toasts').replaceChildren()")
        await self.page.screenshot(path=str(self.shots / name))


# /stats over the whole story above (90 days cover it), computed by hand: Ana started one trial
# and paid Plus during it (1 of 1 converted); she cancelled once, "Too expensive", was shown
# the 30% offer and took it (a save: 1 of 1); her saved subscription renewed at 210 ⭐, so the
# MRR is 210 ⭐ and Plus has 1 active member; nobody was paying 90 days ago, so paid churn is
# 0 of 0 (a cancel that was saved is not churn).
STORY_STATS = (
    "Trials started: 1, converted to paid: 1 of 1",
    "Plus: 1",
    "MRR: 210 ⭐",
    "Paid churn (paid memberships at the start that ended): 0 of 0",
    "Cancellations: 1; reasons: Too expensive 1",
    "Save rate (offer taken, of cancels that saw one): 1 of 1",
    "Offers accepted: 30% off 1",
)


async def test_a_customer_signs_up_pays_gets_reminded_and_cancels(
    sandbox: Sandbox,
    page: Page,
    shots: Path,
) -> None:
    tour = Tour(page, shots)
    await tour.ready()

    # Sign up and start the trial, giving an email and saying yes to news.
    await tour.add_customer("Ana", "en")
    await tour.command("/start")
    await tour.sees("Welcome")
    await tour.tap("Start my free trial")
    await tour.sees("What is your email address?")
    email = next(c.email for c in sandbox.customers.values() if c.user.first_name == "Ana")
    await page.get_by_role("button", name=f"Send the email address {email}").click()
    await tour.sees("Your free trial of Plus has started")
    await tour.tap("Yes, email me")
    await tour.sees("We sent a confirmation link")

    # The double opt-in email is in the inbox; its link confirms (in a new tab).
    await page.get_by_role("tab", name=re.compile("Inbox")).click()
    await page.get_by_role("button", name=re.compile("Please confirm")).click()
    frame = page.frame_locator("iframe.mail-frame")
    await expect(frame.locator("body")).to_contain_text("Please confirm it is really you")
    async with page.context.expect_page() as popup_info:
        await page.get_by_role("link", name=re.compile("Yes, send me news")).click()
    popup = await popup_info.value
    # Opening the link (as a mail scanner would) confirms nothing: the person presses the button.
    await expect(popup.locator("body")).to_contain_text("Get news and offers")
    await expect(popup.locator("body")).not_to_contain_text("you are subscribed")
    await popup.get_by_role("button", name="Yes, confirm").click()
    await expect(popup.locator("body")).to_contain_text("Thank you, you are subscribed")
    await popup.close()

    # Jump five days ahead: past the "trial ends in 3 days" reminder, which is in the inbox.
    five_days = (sandbox.clock.now() + timedelta(days=5)).date().isoformat()
    await page.get_by_label("Jump to date").fill(five_days)
    await page.get_by_role("button", name="Jump", exact=True).click()
    reminder = page.get_by_role("button", name=re.compile("Your Plus trial ends in 3 days"))
    await expect(reminder).to_be_visible()
    await reminder.click()
    await expect(frame.locator("body")).to_contain_text("Your free Plus trial ends on")
    await expect(page.locator("#reader")).to_contain_text("Transactional")
    await page.locator("#reader details.headers summary").click()
    await expect(page.locator("#reader dl")).to_contain_text("Subject")
    await tour.snap("sandbox-inbox.png")

    # Pay the monthly Plus plan with Stars: it completes at once.
    await page.get_by_role("tab", name="Chat").click()
    await tour.command("/plans")
    await tour.tap("Plus · 300 ⭐ / month")
    await tour.tap("Subscribe · 300 ⭐ / month")
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("300 Stars")
    await dialog.get_by_role("button", name="Pay ⭐ 300").click()
    await tour.sees("You started a Stars subscription: ⭐ 300")
    await tour.sees("Payment received. Welcome to Plus!")

    # Cancel with one tap, say why, and see the offer matched to the reason.
    await tour.command("/cancel")
    await tour.sees("Cancel your Plus membership?")
    await tour.tap("Yes, cancel")
    await tour.sees("Done: cancelled")
    await tour.tap("Too expensive")
    await tour.sees("Would 30% off help?")
    await expect(page.locator(".kb-btn", has_text="Take 30% off, renewing")).to_be_visible()
    await tour.snap("sandbox-chat.png")

    # Take the save: a Stars subscription at the stated price, and /account says it renews.
    await tour.tap("Take 30% off, renewing")
    await tour.sees("210 ⭐ every 30 days (30% off the regular 300 ⭐")
    await tour.tap("Subscribe · 210 ⭐ / month")
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("210 Stars")
    await dialog.get_by_role("button", name="Pay ⭐ 210").click()
    # The second "Payment received" (the first was for 300 ⭐): the save is recorded.
    received = tour.messages.locator(".msg.bot", has_text="Payment received. Welcome to Plus!")
    await expect(received).to_have_count(2)
    await tour.command("/account")
    await tour.sees("then 210 ⭐ every 30 days until you cancel")

    # A month on, Telegram renews the saved subscription by itself: still a renewing member.
    month_on = (sandbox.clock.now() + timedelta(days=31)).date().isoformat()
    await page.get_by_label("Jump to date").fill(month_on)
    await page.get_by_role("button", name="Jump", exact=True).click()
    await tour.sees("Your Plus membership renewed")
    await tour.command("/account")
    account = tour.messages.locator(".msg.bot").last
    await expect(account).to_contain_text("every 30 days until you cancel")
    await expect(account).to_contain_text("210 ⭐")

    # The numbers on this story, as staff read them (STORY_STATS, computed by hand).
    await page.get_by_role("button", name=re.compile(r"Sam \(staff\)")).click()
    composer = page.get_by_label("Message", exact=True)
    await composer.fill("/stats 90")
    await composer.press("Enter")
    await tour.sees("Paid churn")
    for line in STORY_STATS:
        await tour.sees(line)


async def paying_customer(sandbox: Sandbox, name: str, plan: str) -> FakeUser:
    user = sandbox.add_customer(name, "en").user
    await user.start()
    await user.press("Start my free trial")
    await user.press("Skip")
    await user.send_text("/plans")
    await user.press(plan)
    paid = await user.press(user.last_message.button_texts[0])
    assert paid.accepted
    return user


@pytest.mark.skipif(not staff_tools_merged(), reason="/broadcast and /stats (staff) not merged")
async def test_staff_broadcast_arrives_and_stats_show_a_chart(
    sandbox: Sandbox,
    page: Page,
    shots: Path,
) -> None:
    # Some history for the numbers, played straight through the fake Telegram.
    await paying_customer(sandbox, "Lee", "Plus · 300 ⭐ / month")
    noor = await paying_customer(sandbox, "Noor", "Pro · 600 ⭐ / month")
    await noor.send_text("/cancel")
    await noor.press("Yes, cancel")
    await noor.press("Too expensive")

    tour = Tour(page, shots)
    await tour.ready()
    for name, language, welcome in (("Ioana", "ro", "Bine ai venit"), ("Marco", "it", "Benvenut")):
        await tour.add_customer(name, language)
        await tour.command("/start")
        await tour.sees(welcome)

    await page.get_by_role("button", name=re.compile(r"Sam \(staff\)")).click()
    await tour.command("/broadcast")
    await tour.sees("Send or forward")
    composer = page.get_by_label("Message", exact=True)
    await composer.fill("New: sunrise classes every Monday, {{ name }}!")
    await composer.press("Enter")
    await tour.tap("No button")
    await tour.tap("Everyone")
    await tour.sees("New: sunrise classes every Monday, Sam!")  # the preview
    await tour.tap(re.compile(r"^Send to \d+$"))
    await tour.sees("Delivered:", timeout=30_000)
    await tour.command("/stats")
    chart = tour.messages.locator("img.media").last
    await expect(chart).to_be_visible()
    await chart.evaluate("img => img.decode()")  # the chart image really loads
    assert await chart.evaluate("img => img.naturalWidth") > 100
    await tour.snap("sandbox-staff.png")

    # It arrived in a customer's chat, personalised.
    await page.get_by_role("button", name=re.compile(r"^Marco\b")).click()
    await tour.sees("New: sunrise classes every Monday, Marco!")


async def test_a_failed_renewal_from_the_page_shows_the_payment_failed_message(
    sandbox: Sandbox, page: Page, shots: Path
) -> None:
    """Issue 13, item 11: the page's "Renewal fails" control, then the bot's answer; and
    (issue 19) a credit pack bought from /shop and spent with "Spend credits"."""
    tour = Tour(page, shots)
    await tour.ready()
    await paying_customer(sandbox, "Rita", "Plus · 300 ⭐ / month")
    await page.get_by_role("button", name=re.compile(r"^Rita\b")).click()
    await expect(page.get_by_role("heading", name="Rita")).to_be_visible()
    simulate = page.get_by_role("group", name="What happens outside the chat")
    # Issue 19: the shop from its chip, a credit pack paid in the dialog, then credits spent
    # from "Outside the chat" until the low-balance notice comes.
    await tour.command("/shop")
    await tour.tap("100 credits · 50 ⭐")
    await tour.tap(re.compile(r"Pay"))
    dialog = page.get_by_role("dialog")
    await dialog.get_by_role("button", name="Pay ⭐ 50").click()
    await tour.sees("100 credits were added")
    await page.get_by_label("Usage to add, or credits to spend").fill("85")
    await simulate.get_by_role("button", name="Spend credits").click()
    await tour.sees("Your credit balance is low: 15 credits left.")
    await simulate.get_by_role("button", name="Renewal fails").click()
    await tour.sees("The renewal payment for Plus did not go through")
    await expect(page.locator(".kb-btn", has_text="Pay now · 300 ⭐")).to_be_visible()
    # Blocking is shown on the control itself.
    await simulate.get_by_role("button", name="Block the bot").click()
    await expect(simulate.get_by_role("button", name="Unblock the bot")).to_be_visible()


async def test_a_trial_member_joins_the_club_chats_and_is_removed_when_access_ends(
    sandbox: Sandbox,
    page: Page,
    shots: Path,
) -> None:
    """The catalog has no chats, so the sandbox shows its demo channel and group."""
    tour = Tour(page, shots)
    await tour.ready()
    club = page.get_by_role("region", name="Club chats")
    channel = club.get_by_role("article", name="Club channel")
    group = club.get_by_role("article", name="Members' group")

    await tour.add_customer("Bea", "en")
    await expect(channel).to_contain_text("Not a member")
    await expect(channel.get_by_role("list")).to_have_count(0)
    await tour.command("/start")
    await tour.sees("Welcome")
    await tour.tap("Start my free trial")
    await tour.sees("What is your email address?")
    email = next(c.email for c in sandbox.customers.values() if c.user.first_name == "Bea")
    await page.get_by_role("button", name=f"Send the email address {email}").click()
    await tour.sees("Your free trial of Plus has started")
    await tour.sees("membership opens")

    # Each button asks to join; the bot approves a member's request, and the posts show.
    await tour.tap("Club channel")
    await expect(channel).to_contain_text("Member · ")
    await expect(channel.get_by_role("list", name="Posts in Club channel")).to_contain_text(
        "This week's live classes"
    )
    await tour.tap("Members' group")
    await expect(group).to_contain_text("Member · ")
    await expect(group.get_by_role("listitem")).to_have_count(2)
    await tour.snap("sandbox-club.png")

    # The 7-day trial ends unpaid: moving the clock past it removes her from both chats.
    await page.get_by_role("button", name="+7 days").click()
    await page.get_by_role("button", name="+1 day").click()
    await expect(channel).to_contain_text("Not a member")
    await expect(group).to_contain_text("Not a member")
    await expect(channel.get_by_role("list")).to_have_count(0)
    await tour.sees("Your membership has ended, so you have left Club channel")
    bea = next(c for c in sandbox.customers.values() if c.user.first_name == "Bea")
    for chat in sandbox.club_json():
        assert bea.id not in chat["members"]


async def test_the_page_speaks_the_browsers_russian(sandbox: Sandbox) -> None:
    """A Russian browser gets the page in Russian, and app.js writes Russian too."""
    if not HAVE_CHROMIUM:
        pytest.fail("chromium is missing: run `make browser` (Debian's chromium package)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        context = await browser.new_context(locale="ru-RU")
        context.set_default_timeout(TIMEOUT_MS)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(sandbox.url)
        await expect(page.locator("html")).to_have_attribute("lang", "ru")
        await page.get_by_label("Имя").fill("Оля")
        await page.get_by_role("button", name="Добавить клиента").click()
        await expect(page.get_by_role("heading", name="Оля")).to_be_visible()
        # Written by app.js from the page's texts: the chips, the meta line, the controls.
        await expect(page.get_by_role("button", name="Отправить /start")).to_be_visible()
        await expect(page.locator("#person-meta")).to_contain_text("Русский · id")
        await expect(page.locator("#person-meta")).to_contain_text("предлагаемый адрес")
        await expect(page.locator("#toggle-block")).to_have_text("Заблокировать бота")
        await browser.close()
        assert not errors, f"the page had script errors: {errors}"
