"""The owner console on the web server, under /console: server-rendered pages; one small
script (/console/progress.js, from this server only) makes the broadcasts' progress live.

Sign-in: GET /console/login/TOKEN shows one button and changes nothing (link previews and
scanners open links); its POST uses the one-time link and sets the session cookie. Every
other page needs a live session; every POST also needs the session's CSRF token in the form
field `csrf`, and actions beyond reading need the role that allows them.

Language (issue 21): the one chosen with the switch in the page header (a cookie), else the
staff member's own bot language, else the browser's Accept-Language, each along the fallback
chain, else the default locale.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from forever import catalogs
from forever.domain import console
from forever.domain.lazy_text import Lazy
from forever.domain.locales import CATALOG_LOCALES, NAMES, fallback_chain
from forever.rendering import Renderer
from forever.services.console import ConsoleAuth, Staff

log = logging.getLogger(__name__)

COOKIE = "forever_console"
LANGUAGE_COOKIE = "forever_console_language"
LANGUAGES = NAMES  # the switch in the header: each language in its own name

# The language of the request being answered (set before a handler runs; each request is
# its own task, so its own context).
_language: ContextVar[tuple[str, str] | None] = ContextVar("console_language", default=None)
MAX_TOKEN = 100
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # the sign-in link's token never leaves in a Referer
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "script-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}

# The one script (no inline script: the CSP allows scripts from this server only).
SCRIPT = (Path(__file__).parent / "static" / "console_progress.js").read_text(encoding="utf-8")

Handler = Callable[[web.Request, Staff], Awaitable[web.StreamResponse]]


class ConsoleWeb:
    """The console's routes. Feature pages add themselves with `page()` / `action()`."""

    def __init__(
        self,
        auth: ConsoleAuth,
        renderer: Renderer,
        *,
        business_name: str,
        secure_cookie: bool,
        bot_url: Callable[[], str] = lambda: "",
    ) -> None:
        self.auth = auth
        self.renderer = renderer
        self.business_name = business_name
        self.secure_cookie = secure_cookie
        self.bot_url = bot_url
        self._app: web.Application | None = None

    def install(self, app: web.Application) -> None:
        self._app = app
        app.router.add_get("/console/login/{token}", self.login_page)
        app.router.add_post("/console/login/{token}", self.login)
        app.router.add_post("/console/logout", self.action(self.logout))
        app.router.add_get("/console/language/{code}", self.switch_language)
        app.router.add_get("/console/progress.js", self.script)

    # --- pages -------------------------------------------------------------------------

    def page_response(
        self, name: str, status: int = 200, staff: Staff | None = None, **context: Any
    ) -> web.Response:
        locale, here = _language.get() or (self.renderer.default_locale, "/console")
        html = self.renderer.console(
            name,
            locale,
            business=self.business_name,
            staff=staff,
            bot_url=self.bot_url(),
            console_languages=LANGUAGES,
            here=here,
            **context,
        )
        return web.Response(
            text=html, status=status, content_type="text/html", charset="utf-8", headers=HEADERS
        )

    async def script(self, request: web.Request) -> web.Response:
        """The live progress script (the same for everyone, no session needed)."""
        return web.Response(
            text=SCRIPT,
            content_type="text/javascript",
            charset="utf-8",
            headers={**HEADERS, "Cache-Control": "no-cache"},
        )

    def progress_response(self, payload: dict[str, Any]) -> web.Response:
        """A JSON answer of a page's live progress, with the pages' headers."""
        return web.json_response(payload, headers=HEADERS)

    def translate(self, text: Lazy) -> str:
        """A lazy() text in the language of the request being answered (for text built
        outside a template, such as the dashboard chart's title)."""
        locale, _ = _language.get() or (self.renderer.default_locale, "")
        return text.translated(catalogs.translations(locale).pgettext)

    def _signed_out(self, status: int = 401) -> web.Response:
        return self.page_response("signed_out", status=status)

    async def staff_of(self, request: web.Request, *, keep_alive: bool = True) -> Staff | None:
        token = request.cookies.get(COOKIE, "")
        if not token or len(token) > MAX_TOKEN:
            return None
        return await self.auth.who(token, keep_alive=keep_alive)

    async def use_language(self, request: web.Request, staff: Staff | None) -> str:
        """The language this request's page speaks: the switch's cookie, else the staff
        member's bot language, else the browser's, else the default."""
        wanted = [request.cookies.get(LANGUAGE_COOKIE, "")[:16]]
        if not wanted[0] and staff is not None:
            wanted.append(await self.auth.language(staff) or "")
        wanted.extend(accepted_languages(request.headers.get("Accept-Language", "")))
        found = self.renderer.default_locale
        for code in wanted:
            chain = fallback_chain(code, CATALOG_LOCALES, "")
            if chain[0]:
                found = chain[0]
                break
        # Where the switch comes back to: this page; after a form, the dashboard.
        here = request.path_qs if request.method == "GET" else "/console"
        _language.set((found, here))
        return found

    async def switch_language(self, request: web.Request) -> web.StreamResponse:
        """GET /console/language/ru?next=/console/people: remember the language (a cookie,
        nothing else changes) and go back to the page."""
        code = request.match_info["code"]
        back = request.query.get("next", "")
        parts = urlsplit(back)
        if parts.scheme or parts.netloc or not back.startswith("/console") or "\\" in back:
            back = "/console"
        response = web.Response(status=303, headers={**HEADERS, "Location": back})
        if code in LANGUAGES:
            response.set_cookie(
                LANGUAGE_COOKIE,
                code,
                path="/console",
                httponly=True,
                samesite="Lax",
                secure=self.secure_cookie,
                max_age=365 * 24 * 3600,
            )
        return response

    def page(
        self, handler: Handler, action: str = console.READ, *, keep_alive: bool = True
    ) -> Callable[..., Any]:
        """A GET page: a live session with the right to `action`. `keep_alive` False: asking
        does not count as using the console (a page's script polling), so the session still
        idles out."""

        async def run(request: web.Request) -> web.StreamResponse:
            staff = await self.staff_of(request, keep_alive=keep_alive)
            await self.use_language(request, staff)
            if staff is None:
                return self._signed_out()
            if not staff.may(action):
                return self.page_response("forbidden", status=403, staff=staff)
            return await handler(request, staff)

        return run

    def action(self, handler: Handler, action: str = console.READ) -> Callable[..., Any]:
        """A POST: a live session, its CSRF token in the form, and the right to `action`."""

        async def run(request: web.Request) -> web.StreamResponse:
            staff = await self.staff_of(request)
            await self.use_language(request, staff)
            if staff is None:
                return self._signed_out()
            try:
                form = await request.post()
            except Exception:
                log.info("console POST with an unreadable body", exc_info=True)
                return self.page_response("forbidden", status=400, staff=staff)
            sent = form.get("csrf")
            if not isinstance(sent, str) or not console.csrf_ok(staff.session_token, sent):
                return self.page_response("bad_csrf", status=403, staff=staff)
            if not staff.may(action):
                return self.page_response("forbidden", status=403, staff=staff)
            return await handler(request, staff)

        return run

    # --- sign-in -----------------------------------------------------------------------

    async def login_page(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        await self.use_language(request, None)
        if len(token) > MAX_TOKEN:
            return self.page_response("bad_link", status=400)
        return self.page_response("login", action=f"/console/login/{token}")

    async def login(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        staff = None if len(token) > MAX_TOKEN else await self.auth.sign_in(token)
        await self.use_language(request, None)
        if staff is None:
            return self.page_response("bad_link", status=400)
        return session_response(staff, secure=self.secure_cookie)

    async def logout(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        await self.auth.sign_out(staff)
        response = self.page_response("signed_out", status=200, logged_out=True)
        response.del_cookie(COOKIE, path="/console")
        return response


def accepted_languages(header: str, most: int = 8) -> list[str]:
    """An Accept-Language header's language tags, most wanted first ('*' and q=0 left out)."""
    found: list[tuple[float, int, str]] = []
    for index, item in enumerate(header.split(",")[:most]):
        tag, _, params = item.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        tag = tag.strip()
        if tag and tag != "*" and weight > 0:
            found.append((-weight, index, tag[:16]))
    return [tag for _, _, tag in sorted(found)]


def see_other(path: str, **query: str | int) -> web.Response:
    """After a change, a redirect to the page that shows it (Post/Redirect/Get): reloading
    that page, or going back to it, does not send the form again."""
    location = f"{path}?{urlencode(query)}" if query else path
    return web.Response(status=303, headers={**HEADERS, "Location": location})


def done_notice(request: web.Request, notice: Callable[[str, int], str], *allowed: str) -> str:
    """The notice of a redirect made by `see_other(path, done=..., total=...)`, worded by
    `notice(outcome, total)`: only for the outcomes in `allowed` and a whole number for the
    total (else no notice)."""
    done = request.query.get("done", "")
    total = request.query.get("total", "")
    if done not in allowed or not total.isdigit() or len(total) > 9:
        return ""
    return notice(done, int(total))


def session_response(staff: Staff, *, secure: bool) -> web.Response:
    """A redirect to the dashboard that sets the session cookie."""
    response = web.Response(status=303, headers={**HEADERS, "Location": "/console"})
    response.set_cookie(
        COOKIE,
        staff.session_token,
        path="/console",
        httponly=True,
        samesite="Lax",
        secure=secure,
        max_age=int(console.ABSOLUTE_TIMEOUT.total_seconds()),
    )
    return response
