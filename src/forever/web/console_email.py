"""The console's email broadcasts (owners only): GET /console/broadcasts/email (the composer,
the count of the chosen segment's consenting people and the history with results), POST
/console/broadcasts/email (`do=preview` renders the email as it will look; `do=send` queues
it now or at a time), GET /console/broadcasts/email/progress?ids=... (the counts per outcome
of the broadcasts still going out and of those named, as JSON, for the page's script)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from forever.domain import console
from forever.domain.lazy_text import Lazy, lazy, lazy_plural
from forever.domain.locales import LOCALES
from forever.domain.segments import SegmentError
from forever.services.console import Staff
from forever.services.console_email import TEMPLATE, ConsoleEmailBroadcasts
from forever.web.console import ConsoleWeb, done_notice, see_other
from forever.web.console_broadcasts import (
    parse_choice,
    read_audience,
    segment_choices,
    watched,
)

MAX_SUBJECT = 150
MAX_BODY = 100_000
# Mail clients drop or flag these; an owner's body is markup for reading, not a web page.
_REFUSED_HTML = re.compile(
    r"<\s*(script|iframe|object|embed|form|base|meta)\b|\son\w+\s*=|javascript:", re.IGNORECASE
)
_REF = re.compile(r"[0-9]{14}-[0-9a-f]{6}")


def _notice(outcome: str, total: int) -> Lazy:
    if outcome == "queued":
        return lazy_plural(
            "Queued: %(num)s email (people with confirmed consent) goes out now, within the "
            "marketing cap and outside their quiet hours.",
            "Queued: %(num)s emails (people with confirmed consent) go out now, within the "
            "marketing cap and outside their quiet hours.",
            total,
        )
    if outcome == "scheduled":
        return lazy_plural(
            "Scheduled: %(num)s email waits for its time.",
            "Scheduled: %(num)s emails wait for their time.",
            total,
        )
    return lazy("Nobody in this segment has confirmed email consent: nothing was sent.")


class EmailBroadcastPages:
    def __init__(
        self,
        web_: ConsoleWeb,
        emails: ConsoleEmailBroadcasts,
        plans: Callable[[], list[str]],
    ) -> None:
        self.web = web_
        self.emails = emails
        self.plans = plans

    def install(self, app: web.Application) -> None:
        w = self.web
        app.router.add_get("/console/broadcasts/email", w.page(self.page, console.BROADCAST))
        app.router.add_post("/console/broadcasts/email", w.action(self.post, console.BROADCAST))
        app.router.add_get(
            "/console/broadcasts/email/progress", w.page(self.progress, keep_alive=False)
        )
        app.router.add_post(
            "/console/broadcasts/email/cancel", w.action(self.cancel, console.BROADCAST)
        )

    async def _render(self, staff: Staff, status: int = 200, **context: Any) -> web.Response:
        form: dict[str, str] = dict(context.pop("form", {}) or {})
        form.setdefault("segment", "all")
        count: int | None = None
        with contextlib.suppress(SegmentError):  # a bad choice: the form says why
            count = await self.emails.count(parse_choice(form["segment"], self.plans()))
        context.setdefault("errors", {})
        context.setdefault("notice", "")
        context.setdefault("preview", None)
        return self.web.page_response(
            "email_broadcasts",
            status,
            staff,
            form=form,
            count=count,
            segments=segment_choices(self.plans()),
            locales=LOCALES,
            history=await self.emails.history(),
            now=self.emails.clock.now(),
            max_subject=MAX_SUBJECT,
            **context,
        )

    async def page(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        return await self._render(
            staff,
            form={"segment": request.query.get("segment", "all")},
            notice=done_notice(request, _notice, "queued", "scheduled"),
        )

    async def progress(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        named = set(watched(request.query.get("ids", "")))
        now = self.emails.clock.now()
        lines = await self.emails.history()
        found = [b.progress(now) for b in lines if b.in_progress(now) or b.ref in named]
        return self.web.progress_response({"broadcasts": found})

    async def cancel(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        posted = await request.post()
        ref = str(posted.get("ref", ""))
        if not _REF.fullmatch(ref):
            return await self._render(staff, 400, notice=lazy("Nothing to cancel."))
        cancelled = await self.emails.cancel(staff_id=staff.telegram_id, ref=ref)
        if not cancelled:
            return await self._render(staff, 409, notice=lazy("Nothing was waiting: it all went."))
        notice = lazy_plural(
            "Cancelled: %(num)s email will not be sent.",
            "Cancelled: %(num)s emails will not be sent.",
            cancelled,
        )
        return await self._render(staff, notice=notice)

    async def post(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        posted = await request.post()
        form = {k: str(v) for k, v in posted.items() if k != "csrf" and isinstance(v, str)}
        errors: dict[str, str] = {}
        now = self.emails.clock.now()
        subject = form.get("subject", "").strip()
        if not subject:
            errors["subject"] = lazy("Write a subject.")
        elif len(subject) > MAX_SUBJECT:
            errors["subject"] = _too_long(MAX_SUBJECT, len(subject))
        elif "\n" in subject or "\r" in subject:
            errors["subject"] = lazy("One line only.")
        body_html = form.get("body_html", "").strip()
        if not body_html:
            errors["body_html"] = lazy("Write the HTML body.")
        elif len(body_html) > MAX_BODY:
            errors["body_html"] = _too_long(MAX_BODY, len(body_html))
        elif (found := _REFUSED_HTML.search(body_html)) is not None:
            errors["body_html"] = lazy(
                "Not allowed in an email: %(found)s (no scripts, frames, forms or on… attributes).",
                found=repr(found.group(0).strip()),
            )
        body_text = form.get("body_text", "").strip()
        if not body_text:
            errors["body_text"] = lazy("Write the text body (for mail apps that show no HTML).")
        elif len(body_text) > MAX_BODY:
            errors["body_text"] = _too_long(MAX_BODY, len(body_text))
        segment, send_at = read_audience(form, self.plans(), now, errors)
        action = form.get("do", "preview")
        if action not in ("preview", "send"):
            errors["do"] = lazy("Choose Preview or Send.")
        if errors or segment is None:
            return await self._render(staff, 400, form=form, errors=errors)
        if action == "preview":
            subject_out, html_out, text_out = self.web.renderer.email(
                TEMPLATE,
                "en",
                business=self.web.business_name,
                name="",
                subject=subject,
                body_html=body_html,
                body_text=body_text,
                unsubscribe_url="#unsubscribe",
            )
            preview = {"subject": subject_out, "html": html_out, "text": text_out}
            return await self._render(staff, form=form, preview=preview)
        done = await self.emails.send(
            staff_id=staff.telegram_id,
            subject=subject,
            body_html=body_html,
            body_text=body_text,
            segment=segment,
            send_at=send_at,
        )
        if done.outcome != "empty":
            # Reloading the page that says so must not send the emails again.
            return see_other(
                "/console/broadcasts/email",
                segment=form.get("segment", "all"),
                done=done.outcome,
                total=done.total,
            )
        notice = _notice(done.outcome, done.total)
        return await self._render(
            staff, 409, form={"segment": form.get("segment", "all")}, notice=notice
        )


def _too_long(limit: int, now: int) -> Lazy:
    return lazy_plural(
        "At most %(num)s character (%(now)s now).",
        "At most %(num)s characters (%(now)s now).",
        limit,
        now=now,
    )
