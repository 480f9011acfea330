"""The sandbox page's HTTP API: JSON in, JSON out, and a server-sent-event stream.

Every request body is checked; a bad one gets 400 and a sentence saying what is wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from forever.config import Settings
from forever.domain.locales import LOCALES
from forever.sandbox import page
from forever.sandbox.clock import SandboxClock
from forever.sandbox.errors import SandboxError
from forever.sandbox.fake_bot_api import FakeBotAPI, FakeBotAPIError, UpdateNotHandled
from forever.sandbox.hub import EventHub
from forever.sandbox.mail_catcher import CaughtMail, MailCatcher
from forever.sandbox.views import invoice_view, mail_detail, mail_summary

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
MAX_NAME = 64
MAX_DAYS = 120
MAX_TEXT = 4096
# Languages a test customer's Telegram may report: ours, and one we don't speak (fallback).
LANGUAGES = (*LOCALES, "de")
# The email's HTML runs no scripts and loads nothing but images; links open a new tab.
MAIL_CSP = "default-src 'none'; img-src data: http: https:; style-src 'unsafe-inline'"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Shown(Protocol):
    def to_json(self) -> dict[str, Any]: ...


class World(Protocol):
    """What the page drives (sandbox.world.Sandbox)."""

    fake: FakeBotAPI
    clock: SandboxClock
    catcher: MailCatcher
    hub: EventHub

    @property
    def customers(self) -> Mapping[int, Shown]: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def business_name(self) -> str: ...

    def add_customer(self, name: str, language: str) -> Shown: ...

    def chat_json(self, user_id: int) -> dict[str, Any]: ...

    def club_json(self) -> list[dict[str, Any]]: ...

    async def send_text(self, user_id: int, text: str) -> None: ...

    async def start_bot(self, user_id: int, payload: str | None = None) -> None: ...

    async def press(
        self, user_id: int, message_id: int, row: int, column: int
    ) -> dict[str, Any]: ...

    async def pay(
        self, user_id: int, *, message_id: int | None, link: str | None
    ) -> dict[str, Any]: ...

    async def advance(self, delta: timedelta) -> dict[str, Any]: ...

    async def feed_usage(self, user_id: int, amount: int) -> dict[str, Any]: ...

    async def spend_credits(self, user_id: int, amount: int) -> dict[str, Any]: ...

    async def fail_renewal(self, user_id: int, *, now: bool) -> dict[str, Any]: ...

    def set_blocked(self, user_id: int, blocked: bool) -> dict[str, Any]: ...

    def set_star_balance(self, amount: int) -> dict[str, Any]: ...

    async def jump_to(self, instant: datetime) -> dict[str, Any]: ...


class BadInput(Exception):
    """The request is malformed; the message tells the page what to fix."""


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/sandbox/api/"):
        return await handler(request)
    try:
        return await handler(request)
    except BadInput as exc:
        return _json_error(400, str(exc))
    except LookupError as exc:
        return _json_error(404, str(exc).strip("'\""))
    except SandboxError as exc:
        return _json_error(409, str(exc))
    except UpdateNotHandled:
        return _json_error(504, "the bot did not answer in time; see the sandbox's log")
    except FakeBotAPIError as exc:
        return _json_error(409, str(exc))


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise BadInput("send a JSON body (Content-Type: application/json)")
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadInput("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadInput("the body must be a JSON object")
    return body


def _string(body: dict[str, Any], key: str, *, max_length: int, required: bool = True) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise BadInput(f"{key}: a string is required")
    value = value.strip()
    if required and not value:
        raise BadInput(f"{key}: must not be empty")
    if len(value) > max_length:
        raise BadInput(f"{key}: at most {max_length} characters")
    return value


def _int(body: dict[str, Any], key: str, *, low: int = 0, high: int = 2**31) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInput(f"{key}: a whole number is required")
    if not low <= value <= high:
        raise BadInput(f"{key}: must be between {low} and {high}")
    return value


def _path_int(request: web.Request, key: str) -> int:
    raw = request.match_info[key]
    if not raw.isdigit() or len(raw) > 12:
        raise BadInput(f"{key}: must be a number")
    return int(raw)


def parse_moment(text: str) -> datetime:
    """A date (2026-12-01, taken as 09:00 UTC) or an ISO instant; naive ones are UTC."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text)
            return day.replace(hour=9, tzinfo=UTC)
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise BadInput("until: use a date like 2026-12-01 or 2026-12-01T09:00:00Z") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def with_base_target(html: str) -> str:
    base = '<base target="_blank">'
    head = re.search(r"<head[^>]*>", html, flags=re.IGNORECASE)
    if head is None:
        return base + html
    return html[: head.end()] + base + html[head.end() :]


class SandboxApi:
    def __init__(self, sandbox: World) -> None:
        self.sandbox = sandbox

    def install(self, app: web.Application) -> None:
        app.middlewares.append(_errors)
        r = app.router
        r.add_get("/", self.index)
        r.add_get("/sandbox/language/{code}", self.switch_language)
        r.add_static("/sandbox/static/", STATIC, append_version=False)
        r.add_get("/sandbox/files/{file_id}", self.file)
        r.add_get("/sandbox/api/state", self.state)
        r.add_get("/sandbox/api/events", self.events)
        r.add_post("/sandbox/api/customers", self.add_customer)
        r.add_get("/sandbox/api/chats/{user_id}", self.chat)
        r.add_post("/sandbox/api/chats/{user_id}/messages", self.send_text)
        r.add_post("/sandbox/api/chats/{user_id}/start", self.start)
        r.add_post("/sandbox/api/chats/{user_id}/press", self.press)
        r.add_post("/sandbox/api/chats/{user_id}/pay", self.pay)
        r.add_post("/sandbox/api/chats/{user_id}/usage", self.usage)
        r.add_post("/sandbox/api/chats/{user_id}/credits", self.credits)
        r.add_post("/sandbox/api/chats/{user_id}/failed-renewal", self.failed_renewal)
        r.add_post("/sandbox/api/chats/{user_id}/block", self.block)
        r.add_get("/sandbox/api/invoices/{slug}", self.invoice)
        r.add_get("/sandbox/api/mail", self.mail_list)
        r.add_get("/sandbox/api/mail/{mail_id}", self.mail)
        r.add_get("/sandbox/api/mail/{mail_id}/html", self.mail_html)
        r.add_post("/sandbox/api/mail/{mail_id}/unsubscribe", self.unsubscribe)
        r.add_post("/sandbox/api/clock", self.move_clock)
        r.add_post("/sandbox/api/stars", self.stars)

    # -- page ------------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.StreamResponse:
        """The page in the reader's language: the switch's cookie, else Accept-Language."""
        locale = page.page_language(
            request.cookies.get(page.LANGUAGE_COOKIE),
            request.headers.get("Accept-Language", ""),
            self.sandbox.settings.default_locale,
        )
        return web.Response(
            text=page.render(locale),
            content_type="text/html",
            headers={
                "Cache-Control": "no-cache",
                "Content-Language": locale,
                "Vary": "Cookie, Accept-Language",
            },
        )

    async def switch_language(self, request: web.Request) -> web.StreamResponse:
        """GET /sandbox/language/ru: the page in Russian from now on (a cookie), back to it."""
        response = web.Response(status=303, headers={"Location": "/"})
        code = request.match_info["code"]
        if code in page.LANGUAGES:
            response.set_cookie(
                page.LANGUAGE_COOKIE, code, path="/", samesite="Lax", max_age=365 * 24 * 3600
            )
        return response

    async def file(self, request: web.Request) -> web.StreamResponse:
        record = self.sandbox.fake.state.files.get(request.match_info["file_id"])
        if record is None or record.data is None:
            raise web.HTTPNotFound(text="no such file")
        return web.Response(
            body=record.data, content_type=record.mime_type or "application/octet-stream"
        )

    # -- state -----------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        s = self.sandbox
        return {
            "now": s.clock.now().isoformat(),
            "offset_seconds": int(s.clock.offset.total_seconds()),
            "bot": s.fake.bot_user,
            "business": s.business_name,
            "languages": list(LANGUAGES),
            "customers": [c.to_json() for c in s.customers.values()],
            "mail": [mail_summary(m) for m in s.catcher.mails],
            "club": s.club_json(),
        }

    async def state(self, request: web.Request) -> web.Response:
        return web.json_response(self._state())

    async def events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        # Listen before answering: the page loads the state once the stream is open, so
        # nothing that happens in between is missed.
        subscription = self.sandbox.hub.subscribe()
        try:
            await response.prepare(request)
            await response.write(b"retry: 1000\n\n")
        except BaseException:
            subscription.close()
            raise
        with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
            async for event in subscription.events():
                if event is None:
                    await response.write(b": keep-alive\n\n")
                else:
                    data = json.dumps(event, separators=(",", ":"))
                    await response.write(f"data: {data}\n\n".encode())
        return response

    # -- customers and chats ---------------------------------------------------------------

    async def add_customer(self, request: web.Request) -> web.Response:
        body = await _body(request)
        name = _string(body, "name", max_length=MAX_NAME)
        language = _string(body, "language", max_length=8, required=False) or "en"
        if language not in LANGUAGES:
            raise BadInput(f"language: one of {', '.join(LANGUAGES)}")
        customer = self.sandbox.add_customer(name, language)
        return web.json_response(customer.to_json(), status=201)

    async def chat(self, request: web.Request) -> web.Response:
        return web.json_response(self.sandbox.chat_json(_path_int(request, "user_id")))

    async def send_text(self, request: web.Request) -> web.Response:
        user_id = _path_int(request, "user_id")
        body = await _body(request)
        text = _string(body, "text", max_length=MAX_TEXT)
        await self.sandbox.send_text(user_id, text)
        return web.json_response({"ok": True})

    async def start(self, request: web.Request) -> web.Response:
        user_id = _path_int(request, "user_id")
        body = await _body(request)
        payload = _string(body, "payload", max_length=64, required=False)
        if payload and not all(c.isascii() and (c.isalnum() or c in "_-") for c in payload):
            raise BadInput("payload: only A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        await self.sandbox.start_bot(user_id, payload or None)
        return web.json_response({"ok": True})

    async def press(self, request: web.Request) -> web.Response:
        user_id = _path_int(request, "user_id")
        body = await _body(request)
        result = await self.sandbox.press(
            user_id,
            _int(body, "message_id", low=1),
            _int(body, "row", high=100),
            _int(body, "column", high=100),
        )
        return web.json_response(result)

    async def pay(self, request: web.Request) -> web.Response:
        user_id = _path_int(request, "user_id")
        body = await _body(request)
        if "link" in body:
            link = _string(body, "link", max_length=256)
            if not link.startswith("https://t.me/$"):
                raise BadInput("link: not a Telegram invoice link (https://t.me/$...)")
            result = await self.sandbox.pay(user_id, message_id=None, link=link)
        else:
            message_id = _int(body, "message_id", low=1)
            result = await self.sandbox.pay(user_id, message_id=message_id, link=None)
        return web.json_response(result)

    # -- what happens outside the chat ------------------------------------------------------

    async def usage(self, request: web.Request) -> web.Response:
        """Feed the customer's usage counter (as `bot.py usage` does)."""
        user_id = _path_int(request, "user_id")
        body = await _body(request)
        amount = _int(body, "amount", low=1, high=10_000) if "amount" in body else 1
        return web.json_response(await self.sandbox.feed_usage(user_id, amount))

    async def credits(self, request: web.Request) -> web.Response:
        """Spend the customer's pay-per-use credits (the ledger call behind POST /api/usage);
        409 when the balance is too small."""
        user_id = _path_int(request, "user_id")
        body = await _body(request)
        amount = _int(body, "amount", low=1, high=1_000_000) if "amount" in body else 1
        return web.json_response(await self.sandbox.spend_credits(user_id, amount))

    async def failed_renewal(self, request: web.Request) -> web.Response:
        """The customer's Stars renewal fails: `when` "now" (default) or "next"."""
        user_id = _path_int(request, "user_id")
        body = await _body(request)
        when = _string(body, "when", max_length=8, required=False) or "now"
        if when not in ("now", "next"):
            raise BadInput('when: "now" or "next"')
        return web.json_response(await self.sandbox.fail_renewal(user_id, now=when == "now"))

    async def block(self, request: web.Request) -> web.Response:
        """The customer blocks the bot (`blocked`: true) or unblocks it (false)."""
        user_id = _path_int(request, "user_id")
        body = await _body(request)
        blocked = body.get("blocked", True)
        if not isinstance(blocked, bool):
            raise BadInput("blocked: true or false")
        return web.json_response(self.sandbox.set_blocked(user_id, blocked))

    async def stars(self, request: web.Request) -> web.Response:
        """Set the bot's Star balance (`amount`, whole Stars): paid broadcasts spend it."""
        body = await _body(request)
        return web.json_response(self.sandbox.set_star_balance(_int(body, "amount", high=10**9)))

    async def invoice(self, request: web.Request) -> web.Response:
        """What an invoice link (https://t.me/$slug) asks for, to show before paying."""
        info = self.sandbox.fake.state.invoice_links.get(request.match_info["slug"])
        if info is None:
            raise LookupError("no such invoice link")
        return web.json_response(invoice_view(info))

    # -- mail ------------------------------------------------------------------------------

    def _mail(self, request: web.Request) -> CaughtMail:
        mail = self.sandbox.catcher.get(_path_int(request, "mail_id"))
        if mail is None:
            raise LookupError("no such email")
        return mail

    async def mail_list(self, request: web.Request) -> web.Response:
        raw = request.query.get("customer")
        mails = self.sandbox.catcher.mails
        if raw is not None:
            if not raw.isdigit():
                raise BadInput("customer: must be a number")
            mails = [m for m in mails if m.customer_id == int(raw)]
        return web.json_response([mail_summary(m) for m in reversed(mails)])

    async def mail(self, request: web.Request) -> web.Response:
        return web.json_response(mail_detail(self._mail(request)))

    async def mail_html(self, request: web.Request) -> web.Response:
        mail = self._mail(request)
        html = mail.html
        if html is None:
            raise LookupError("this email has no HTML part")
        # Links open in a new tab (the frame itself is sandboxed and can't navigate).
        page = with_base_target(html)
        return web.Response(
            text=page,
            content_type="text/html",
            headers={"Content-Security-Policy": MAIL_CSP, "X-Content-Type-Options": "nosniff"},
        )

    async def unsubscribe(self, request: web.Request) -> web.Response:
        """Do what a mail client's Unsubscribe button does: the RFC 8058 one-click POST."""
        mail = self._mail(request)
        targets = [u for u in mail.unsubscribe_urls if u.startswith(("http://", "https://"))]
        if not targets or not mail.one_click:
            raise BadInput("this email offers no one-click unsubscribe")
        url = targets[0]
        public = urlsplit(str(self.sandbox.settings.public_url))
        target = urlsplit(url)
        if (target.scheme, target.netloc) != (public.scheme, public.netloc):
            raise BadInput("the unsubscribe link does not point at this sandbox")
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data={"List-Unsubscribe": "One-Click"}) as response,
        ):
            status = response.status
        return web.json_response({"status": status, "ok": 200 <= status < 300, "url": url})

    # -- clock -----------------------------------------------------------------------------

    async def move_clock(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if "days" in body:
            days = _int(body, "days", low=1, high=MAX_DAYS)
            result = await self.sandbox.advance(timedelta(days=days))
        elif "hours" in body:
            hours = _int(body, "hours", low=1, high=24 * MAX_DAYS)
            result = await self.sandbox.advance(timedelta(hours=hours))
        elif "until" in body:
            until = parse_moment(_string(body, "until", max_length=40))
            if until <= self.sandbox.clock.now():
                raise BadInput("until: that moment has passed; the clock only moves forward")
            result = await self.sandbox.jump_to(until)
        else:
            raise BadInput("give days, hours or until")
        return web.json_response(result)
