"""The sandbox's promo code (issue 19): WELCOME20 exists from the start, the page offers it
as a chip, and using it makes the next subscription link charge 20% less."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from forever.sandbox.world import SANDBOX_PROMO_CODE, Sandbox
from tests.sandbox.test_sandbox_api import post, press
from tests.sandbox.test_sandbox_controls import customer, last_text

STATIC = Path(__file__).parents[2] / "src" / "forever" / "sandbox" / "static" / "app.js"


async def test_the_seeded_code_lowers_the_next_payment(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    assert f'"/promo {SANDBOX_PROMO_CODE}"' in STATIC.read_text()  # the page's chip
    uid = (await customer(http, "Pia"))["id"]
    sent = f"/sandbox/api/chats/{uid}/messages"
    assert (await post(http, sent, {"text": f"/promo {SANDBOX_PROMO_CODE}"}))[0] == 200
    assert "20% off your next payment" in await last_text(http, uid)
    assert (await post(http, sent, {"text": "/plans"}))[0] == 200
    await press(http, uid, "Basic · 150 ⭐ / month")
    assert "120 ⭐ every 30 days (20% off the regular 150 ⭐" in await last_text(http, uid)
    paid = await press(http, uid, "Subscribe · 120 ⭐ / month")
    assert paid["paid"], paid
