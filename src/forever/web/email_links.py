"""The links in our emails: one-click unsubscribe (RFC 8058) and double opt-in confirmation.

GET /u/TOKEN shows a page with one button and changes nothing (mail scanners open links);
POST /u/TOKEN unsubscribes at once: no login, no cookie, a 200 answer, never a redirect.
GET (and HEAD) /c/TOKEN shows a page with one button and changes nothing; only its POST
confirms a marketing consent, so a mail scanner prefetching the link does not opt anyone in.
A confirm link older than 30 days gets a page saying so (410). A bad or altered token gets a
plain 400 page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from forever.domain.signing import BadToken, Signer
from forever.rendering import Renderer
from forever.services.consent import Confirmed, Consents

log = logging.getLogger(__name__)

UNSUBSCRIBE_PURPOSE = "unsubscribe"
MAX_TOKEN = 200
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class EmailLinks:
    """The link endpoints; each runs one `Consents` use case and renders a page."""

    def __init__(
        self,
        consents: Consents,
        renderer: Renderer,
        signer: Signer,
        *,
        business_name: str,
        default_locale: str,
        bot_username: str | Callable[[], str | None] | None = None,
    ) -> None:
        self.consents = consents
        self.renderer = renderer
        self.signer = signer
        self.business_name = business_name
        self.default_locale = default_locale
        # Learned from Telegram at start, so asked for on each page.
        self._bot_username = bot_username

    @property
    def bot_url(self) -> str:
        """The way back to the chat from a page ("" while the username is not known)."""
        name = self._bot_username
        username = name() if callable(name) else name
        return f"https://t.me/{username}" if username else ""

    def install(self, app: web.Application) -> None:
        app.router.add_get("/u/{token}", self.unsubscribe_page)
        app.router.add_post("/u/{token}", self.unsubscribe)
        app.router.add_get("/c/{token}", self.confirm_page)  # HEAD too, equally harmless
        app.router.add_post("/c/{token}", self.confirm)

    def _page(self, name: str, locale: str, status: int = 200, **context: object) -> web.Response:
        html = self.renderer.render(
            f"web/{locale}/{name}.html.j2",
            business=self.business_name,
            bot_url=self.bot_url,
            **context,
        )
        return web.Response(
            text=html, status=status, content_type="text/html", charset="utf-8", headers=HEADERS
        )

    def _bad(self) -> web.Response:
        return self._page("bad_link", self.default_locale, status=400)

    def _person_id(self, token: str) -> int | None:
        if len(token) > MAX_TOKEN:
            return None
        try:
            body = self.signer.verify(UNSUBSCRIBE_PURPOSE, token)
        except BadToken:
            return None
        return int(body) if body.isdigit() else None

    async def _locale_of(self, person_id: int) -> str | None:
        language = await self.consents.language_of(person_id)
        return None if language is None else self.renderer.locale_for(language)

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
        await self.consents.withdraw(person_id, source="email_link")
        return self._page("unsubscribed", locale)

    def _confirm_outcome(self, confirmed: Confirmed) -> web.Response | None:
        locale = self.renderer.locale_for(confirmed.language)
        if confirmed.withdrawn:
            return self._page("unsubscribed", locale)
        if confirmed.expired:
            return self._page("link_expired", locale, status=410)
        if confirmed.confirmed:
            return self._page("consent_confirmed", locale)
        return None

    async def confirm_page(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        looked = await self.consents.look(token)
        if looked is None:
            return self._bad()
        outcome = self._confirm_outcome(looked)
        if outcome is not None:
            return outcome
        locale = self.renderer.locale_for(looked.language)
        return self._page("consent_confirm", locale, action=f"/c/{token}", token=token)

    async def confirm(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        try:
            await request.post()  # the form's fields; the token in the URL decides
        except Exception:
            log.info("confirm POST with an unreadable body", exc_info=True)
        confirmed = await self.consents.confirm(token)
        if confirmed is None:
            return self._bad()
        return self._confirm_outcome(confirmed) or self._bad()


def unsubscribe_token(signer: Signer, person_id: int) -> str:
    return signer.sign(UNSUBSCRIBE_PURPOSE, str(person_id))
