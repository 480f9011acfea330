"""The owner console's sign-in, sessions, CSRF and roles, over real HTTP."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from forever.app import Container
from forever.db.models import AuditEntry, ConsoleLink, ConsoleSession
from forever.domain.clock import ManualClock
from forever.web.console import COOKIE
from forever.web.server import build_web_app
from forever.wiring import console
from tests.conftest import STAFF_ID

SUPPORT_ID = 900002


@pytest.fixture
async def app_container(container: Container) -> Container:
    settings = container.settings.model_copy(update={"support_ids": frozenset({SUPPORT_ID})})
    container.settings = settings
    return container


@pytest.fixture
async def client(app_container: Container) -> AsyncIterator[TestClient]:
    app = build_web_app(app_container, [console.install_routes])
    async with TestClient(TestServer(app)) as c:
        yield c


async def link_for(container: Container, telegram_id: int = STAFF_ID) -> str:
    token = await console.auth(container).issue_link(telegram_id)
    assert token is not None
    return token


async def sign_in(client: TestClient, token: str) -> str:
    """Press the link's button; the session cookie's value."""
    response = await client.post(f"/console/login/{token}", allow_redirects=False)
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == "/console"
    return response.cookies[COOKIE].value


def cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={value}"}


async def csrf_of(client: TestClient, session: str) -> str:
    page = await (await client.get("/console", headers=cookie(session))).text()
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found
    return found.group(1)


async def test_a_link_signs_in_once_and_sets_a_guarded_cookie(
    app_container: Container, client: TestClient
) -> None:
    token = await link_for(app_container)
    # Opening the link (a preview, a scanner) changes nothing: the button does.
    for _ in range(2):
        page = await client.get(f"/console/login/{token}")
        assert page.status == 200
        assert 'method="post"' in await page.text()
    response = await client.post(f"/console/login/{token}", allow_redirects=False)
    assert response.status == 303
    set_cookie = response.headers["Set-Cookie"]
    for flag in ("HttpOnly", "SameSite=Lax", "Secure", "Path=/console"):
        assert flag in set_cookie
    session = response.cookies[COOKIE].value
    dashboard = await client.get("/console", headers=cookie(session))
    assert dashboard.status == 200
    assert "Dashboard" in await dashboard.text()
    # The same link again: refused, and no second session.
    again = await client.post(f"/console/login/{token}", allow_redirects=False)
    assert again.status == 400
    assert "not valid" in await again.text()
    async with app_container.sessions() as db:
        assert len((await db.scalars(select(ConsoleSession))).all()) == 1
        stored = [*(await db.scalars(select(ConsoleLink))).all()]
        # Only hashes at rest: neither token is in the database.
        assert token not in {r.token_hash for r in stored}
        assert session not in {r.token_hash for r in (await db.scalars(select(ConsoleSession)))}
        actions = [a.action for a in (await db.scalars(select(AuditEntry))).all()]
    assert actions == ["console_link", "console_sign_in"]


async def test_a_link_expires_after_ten_minutes(
    app_container: Container, client: TestClient, clock: ManualClock
) -> None:
    token = await link_for(app_container)
    clock.advance(timedelta(minutes=10))
    response = await client.post(f"/console/login/{token}", allow_redirects=False)
    assert response.status == 400
    assert COOKIE not in response.cookies


async def test_unknown_and_overlong_links_are_refused(client: TestClient) -> None:
    assert (await client.post("/console/login/nope", allow_redirects=False)).status == 400
    assert (await client.get("/console/login/" + "x" * 500)).status == 400


async def test_only_staff_get_links(app_container: Container) -> None:
    assert await console.auth(app_container).issue_link(12345) is None
    assert await console.auth(app_container).issue_link(SUPPORT_ID) is not None


async def test_pages_need_a_session(client: TestClient) -> None:
    for path in ("/console", "/console/export/plans.csv"):
        response = await client.get(path)
        assert response.status == 401
        assert "send <code>/console</code>" in await response.text()
    bogus = await client.get("/console", headers=cookie("made-up"))
    assert bogus.status == 401


async def test_every_change_needs_a_session_and_its_csrf_token(
    app_container: Container, client: TestClient
) -> None:
    session = await sign_in(client, await link_for(app_container))
    token = await csrf_of(client, session)
    other = await sign_in(client, await link_for(app_container))
    refused = [
        ({}, {"csrf": token}, 401),  # no session
        (cookie(session), {}, 403),  # no token
        (cookie(session), {"csrf": "0" * 64}, 403),  # a wrong one
        (cookie(session), {"csrf": await csrf_of(client, other)}, 403),  # another session's
    ]
    for headers, form, status in refused:
        response = await client.post("/console/logout", headers=headers, data=form)
        assert response.status == status
    assert (await client.get("/console", headers=cookie(session))).status == 200
    out = await client.post("/console/logout", headers=cookie(session), data={"csrf": token})
    assert out.status == 200
    assert "signed out" in await out.text()
    assert (await client.get("/console", headers=cookie(session))).status == 401
    assert (await client.get("/console", headers=cookie(other))).status == 200


async def test_sessions_end_when_idle_and_after_twelve_hours(
    app_container: Container, client: TestClient, clock: ManualClock
) -> None:
    idle = await sign_in(client, await link_for(app_container))
    busy = await sign_in(client, await link_for(app_container))
    for _ in range(35):  # 35 × 20 minutes = 11 h 40 min of steady use
        clock.advance(timedelta(minutes=20))
        assert (await client.get("/console", headers=cookie(busy))).status == 200
    assert (await client.get("/console", headers=cookie(idle))).status == 401
    clock.advance(timedelta(minutes=20))  # 12 hours after signing in
    assert (await client.get("/console", headers=cookie(busy))).status == 401


async def test_taking_someone_out_of_the_settings_ends_their_session(
    app_container: Container, client: TestClient
) -> None:
    session = await sign_in(client, await link_for(app_container, SUPPORT_ID))
    page = await client.get("/console", headers=cookie(session))
    assert "Sign out (support)" in await page.text()
    app_container.settings = app_container.settings.model_copy(update={"support_ids": frozenset()})
    # The routes were built with the old settings: a fresh app reads the new ones.
    app = build_web_app(app_container, [console.install_routes])
    async with TestClient(TestServer(app)) as fresh:
        assert (await fresh.get("/console", headers=cookie(session))).status == 401
