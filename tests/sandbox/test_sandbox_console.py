"""The sandbox page links to the owner console, signed in as Sam."""

from __future__ import annotations

import aiohttp

from forever.sandbox.world import Sandbox


async def test_the_console_link_signs_in_as_sam(sandbox: Sandbox) -> None:
    # unsafe: keep cookies of an IP address (127.0.0.1), as browsers do.
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base_url=sandbox.url, cookie_jar=jar) as http:
        async with http.get("/") as index:
            assert 'href="/sandbox/console"' in await index.text()
        async with http.get("/sandbox/console") as page:  # follows the redirect, with the cookie
            assert page.status == 200
            assert str(page.url).endswith("/console")
            text = await page.text()
    assert "Dashboard" in text and "Sign out (owner)" in text
