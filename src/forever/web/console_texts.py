"""The console's text editor: GET /console/texts (search the messages of a locale, edit one,
its previews and history; read by every staff role), POST /console/texts (preview an edited
text, or save it) and POST /console/texts/revert (an earlier version, or the catalog's own
text): owners only. A plural message has one field per plural form of the locale; a message
an email uses is previewed in that email too (web.console_text_preview)."""

from __future__ import annotations

import html
import re
from typing import Any

from aiohttp import web
from markupsafe import Markup

from forever.domain import console
from forever.domain.lazy_text import lazy
from forever.domain.texts import LOCALES
from forever.services.console import Staff
from forever.services.console_texts import ConsoleTexts
from forever.web.console import ConsoleWeb
from forever.web.console_people import parse_id
from forever.web.console_text_preview import email_preview, emails_using

_SIMPLE = re.compile(
    r"&lt;(/?)(b|strong|i|em|u|ins|s|strike|del|code|pre|blockquote|tg-spoiler)&gt;"
)
_LINK = re.compile(r"&lt;a href=&quot;[^&]*&quot;&gt;|&lt;a href=&#x27;[^&]*&#x27;&gt;")
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w+)\}")


def preview(text: str) -> Markup:
    """The text as Telegram shows it: its formatting tags applied (links as underlined text,
    nothing from the text ever active), placeholders shown as [name]."""
    out = html.escape(text).replace("%%", "%")
    out = _SIMPLE.sub(lambda m: f"<{m.group(1)}{_tag(m.group(2))}>", out)
    out = _LINK.sub('<u class="link">', out).replace("&lt;/a&gt;", "</u>")
    out = _PLACEHOLDER.sub(lambda m: f"<mark>[{m.group(1) or m.group(2)}]</mark>", out)
    return Markup(out.replace("\n", "<br>"))  # noqa: S704 - escaped above, tags rebuilt


def _tag(name: str) -> str:
    return {"tg-spoiler": "span", "strong": "b", "em": "i", "ins": "u", "strike": "s"}.get(
        name, "del" if name == "del" else name
    )


class TextPages:
    def __init__(self, web_: ConsoleWeb, texts: ConsoleTexts) -> None:
        self.web = web_
        self.texts = texts

    def install(self, app: web.Application) -> None:
        w = self.web
        app.router.add_get("/console/texts", w.page(self.page, console.READ))
        app.router.add_post("/console/texts", w.action(self.save, console.TEXTS))
        app.router.add_post("/console/texts/revert", w.action(self.revert, console.TEXTS))

    async def _render(
        self,
        staff: Staff,
        *,
        locale: str,
        query: str = "",
        context: str | None = None,
        msgid: str | None = None,
        status: int = 200,
        errors: dict[str, str] | None = None,
        notice: str = "",
        draft: str | None = None,
        draft_forms: list[str] | None = None,
        email: str = "",
    ) -> web.StreamResponse:
        locale = locale if locale in LOCALES else LOCALES[0]
        chosen = None
        history: list[Any] = []
        emails: list[str] = []
        shown = None
        if msgid is not None:
            chosen = self.texts.message(locale, context or "", msgid)
            if chosen is not None:
                history = await self.texts.history(locale, chosen.context, chosen.msgid)
        if chosen is not None:
            if draft is None:
                draft = chosen.text
            if draft_forms is None:
                draft_forms = list(chosen.forms)
            in_force = chosen.forms if chosen.plural else chosen.text
            emails = emails_using(self.web.renderer, locale, chosen.context, chosen.msgid, in_force)
            if emails:
                email = email if email in emails else emails[0]
                key = (locale, chosen.context, chosen.msgid)
                edited = tuple(draft_forms) if chosen.plural else draft
                try:
                    shown = email_preview(
                        self.web.renderer, email, locale, key, edited, self.web.business_name
                    )
                except (KeyError, ValueError, TypeError, IndexError):
                    shown = None  # a draft whose placeholders do not fit: no email to show
        return self.web.page_response(
            "texts",
            status,
            staff,
            locales=LOCALES,
            locale=locale,
            query=query,
            found=self.texts.search(locale, query) if query or chosen is None else [],
            chosen=chosen,
            draft=draft or "",
            draft_forms=draft_forms or [],
            emails=emails,
            email=email,
            email_shown=shown,
            history=history,
            errors=errors or {},
            notice=notice,
            may_edit=staff.may(console.TEXTS),
            preview=preview,
        )

    async def page(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        q = request.query
        return await self._render(
            staff,
            locale=q.get("locale", LOCALES[0]),
            query=q.get("q", ""),
            context=q.get("context"),
            msgid=q.get("msgid"),
            email=q.get("email", ""),
        )

    async def save(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        """Save the edited text (or plural forms); with do=preview, show it in the previews
        (Telegram's, the email's) without saving anything."""
        posted = await request.post()
        locale, context, msgid = (str(posted.get(k, "")) for k in ("locale", "context", "msgid"))
        text = str(posted.get("text", "")).replace("\r\n", "\n")
        forms: list[str] = []
        while f"form{len(forms)}" in posted and len(forms) < 10:
            forms.append(str(posted[f"form{len(forms)}"]).replace("\r\n", "\n"))
        email = str(posted.get("email", ""))
        if posted.get("do") == "preview":
            return await self._render(
                staff,
                locale=locale,
                context=context,
                msgid=msgid,
                draft=text,
                draft_forms=forms,
                email=email,
                notice=lazy("Not saved yet: the previews show the edited text."),
            )
        saved = await self.texts.save(
            staff_id=staff.telegram_id,
            locale=locale,
            context=context,
            msgid=msgid,
            text=text,
            forms=forms,
        )
        if not saved.ok:
            return await self._render(
                staff,
                locale=locale,
                context=context,
                msgid=msgid,
                status=400,
                errors=saved.errors,
                draft=text,
                draft_forms=forms,
                email=email,
            )
        return await self._render(
            staff,
            locale=locale,
            context=context,
            msgid=msgid,
            email=email,
            notice=lazy("Saved as version %(num)s: the bot uses it now.", num=saved.version_id),
        )

    async def revert(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        posted = await request.post()
        locale, context, msgid = (str(posted.get(k, "")) for k in ("locale", "context", "msgid"))
        raw = posted.get("version")
        version = None if raw in (None, "", "catalog") else parse_id(raw)
        if raw not in (None, "", "catalog") and version is None:
            errors: dict[str, str] = {"version": lazy("Choose a version.")}
            return await self._render(
                staff, locale=locale, context=context, msgid=msgid, status=400, errors=errors
            )
        saved = await self.texts.revert(
            staff_id=staff.telegram_id, version_id=version, key=(locale, context, msgid)
        )
        if not saved.ok:
            return await self._render(
                staff, locale=locale, context=context, msgid=msgid, status=400, errors=saved.errors
            )
        if version is not None:
            notice = lazy(
                "Back to version %(old)s, saved as version %(num)s.",
                old=version,
                num=saved.version_id,
            )
        else:
            notice = lazy(
                "Back to the catalog's text, saved as version %(num)s.", num=saved.version_id
            )
        return await self._render(staff, locale=locale, context=context, msgid=msgid, notice=notice)
