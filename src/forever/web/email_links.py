"""The links in our emails: one-click unsubscribe (RFC 8058) and double opt-in confirmation.

GET /u/TOKEN shows a page with one button and changes nothing (mail scanners open links);
POST /u/TOKEN unsubscribes at once: no login, no cookie, a 200 answer, never a redirect.
GET /c/TOKEN confirms a marketing consent. A bad or altered token gets a plain 400 page.
"""

from __future__ import annotations

import logging

from aiohttp import web

from forever.app import Container
from forever.db.models import Person
from forever.domain.signing import BadToken
from forever.services import consent

log = logging.getLogger(__name__)

UNSUBSCRIBE_PURPOSE = "unsubscribe"
MAX_TOKEN = 200
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def install_email_routes(app: web.Application, container: Container) -> None:
    links = EmailLinks(container)
    app.router.add_get("/u/{token}", links.unsubscribe_page)
    app.router.add_post("/u/{token}", links.unsubscribe)
    app.router.add_get("/c/{token}", links.confirm)


class EmailLinks:
    def __init__(self, container: Container) -> None:
        self.c = container

    def _page(self, name: str, locale: str, status: int = 200, **context: object) -> web.Response:
        html = self.c.renderer.render(
            f"web/{locale}/{name}.html.j2", business=self.c.catalog.business_name, **context
        )
        return web.Response(
            text=html, status=status, content_type="text/html", charset="utf-8", headers=HEADERS
        )

    def _bad(self) -> web.Response:
        return self._page("bad_link", self.c.settings.default_locale, status=400)

    def _person_id(self, token: str) -> int | None:
        if len(token) > MAX_TOKEN:
            return None
        try:
            body = self.c.signer.verify(UNSUBSCRIBE_PURPOSE, token)
        except BadToken:
            return None
        return int(body) if body.isdigit() else None

    async def _locale_of(self, person_id: int) -> str | None:
        async with self.c.sessions() as session:
            person = await session.get(Person, person_id)
        if person is None:
            return None
        return self.c.renderer.locale_for(person.language)

    async def unsubscribe_page(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        person_id = self._person_id(token)
        locale = await self._locale_of(person_id) if person_id is not None else None
        if person_id is None or locale is None:
            return self._bad()
        return self._page("unsubscribe_confirm", locale, action=f"/u/{token}")

    async def unsubscribe(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        person_id = self._person_id(token)
        if person_id is None:
            return self._bad()
        # Read the body (List-Unsubscribe=One-Click, urlencoded or multipart) and ignore it:
        # the signed token alone decides, as RFC 8058 asks.
        try:
            await request.post()
        except Exception:  # a malformed body must not stop an unsubscribe
            log.info("unsubscribe POST with an unreadable body", exc_info=True)
        locale = await self._locale_of(person_id)
        if locale is None:
            return self._bad()
        now = self.c.clock.now()
        async with self.c.sessions.begin() as session:
            await consent.withdraw_marketing(session, person_id, source="email_link", now=now)
        return self._page("unsubscribed", locale)

    async def confirm(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        now = self.c.clock.now()
        async with self.c.sessions.begin() as session:
            record = await consent.confirm_consent(session, token, now)
            if record is None:
                return self._bad()
            person = await session.get(Person, record.person_id)
            locale = self.c.renderer.locale_for(person.language if person else None)
            withdrawn = record.withdrawn_at is not None
        if withdrawn:
            return self._page("unsubscribed", locale)
        return self._page("consent_confirmed", locale)


def unsubscribe_token(container: Container, person_id: int) -> str:
    return container.signer.sign(UNSUBSCRIBE_PURPOSE, str(person_id))
