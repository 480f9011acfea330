"""Signing in to the console in tests: a link, its button, the session cookie."""

from __future__ import annotations

import re

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from forever.app import Container
from forever.web.console import COOKIE
from forever.wiring import console
from tests.conftest import STAFF_ID


class Signed:
    """A client signed in as one staff member: `get` and `post` carry the cookie, and
    `post` the CSRF token unless told otherwise."""

    def __init__(self, client: TestClient, session: str) -> None:
        self.client = client
        self.session = session
        self.csrf = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Cookie": f"{COOKIE}={self.session}"}

    async def get(self, path: str) -> tuple[int, str]:
        response = await self.client.get(path, headers=self.headers)
        text = await response.text()
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', text)
        if found:
            self.csrf = found.group(1)
        return response.status, text

    async def post(self, path: str, data: dict[str, str], *, csrf: bool = True) -> tuple[int, str]:
        if csrf and not self.csrf:
            await self.get("/console")
        form = {**data, **({"csrf": self.csrf} if csrf else {})}
        response: ClientResponse = await self.client.post(path, headers=self.headers, data=form)
        return response.status, await response.text()


async def sign_in(client: TestClient, container: Container, telegram_id: int = STAFF_ID) -> Signed:
    token = await console.auth(container).issue_link(telegram_id)
    assert token is not None
    response = await client.post(f"/console/login/{token}", allow_redirects=False)
    assert response.status == 303
    return Signed(client, response.cookies[COOKIE].value)
