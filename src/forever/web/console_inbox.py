"""The console's audit log (GET /console/audit) and support inbox (GET /console/inbox,
GET and POST /console/inbox/PERSON)."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from forever.domain import console
from forever.domain.lazy_text import lazy
from forever.services.console import Staff
from forever.services.console_inbox import ConsoleAudit, ConsoleInbox, new_nonce
from forever.services.staff_replies import MAX_TEXT
from forever.web.console import ConsoleWeb
from forever.web.console_people import parse_id

ANSWER_NOTICES = {
    "sent": lazy("Sent to the customer in Telegram."),
    "unreachable": lazy("Not sent: the customer blocked the bot or was erased."),
    "bad_target": lazy("Not sent: nobody to send it to."),
    "not_staff": lazy("Not sent: you are not staff any more."),
}


class InboxPages:
    def __init__(self, web_: ConsoleWeb, audit: ConsoleAudit, inbox: ConsoleInbox) -> None:
        self.web = web_
        self.audit = audit
        self.inbox = inbox

    def install(self, app: web.Application) -> None:
        w = self.web
        app.router.add_get("/console/audit", w.page(self.audit_page))
        app.router.add_get("/console/inbox", w.page(self.inbox_page, console.INBOX))
        app.router.add_get("/console/inbox/{id}", w.page(self.thread_page, console.INBOX))
        app.router.add_post("/console/inbox/{id}", w.action(self.answer, console.INBOX))

    async def audit_page(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        q = request.query
        errors: dict[str, str] = {}
        actor = None
        if q.get("actor", "").strip():
            actor = parse_id(q["actor"])
            if actor is None:
                errors["actor"] = lazy("A Telegram id: digits only.")
        action = q.get("action", "").strip()
        if len(action) > 48:
            errors["action"] = lazy("At most %(num)s characters.", num=48)
        before = None
        if q.get("before"):
            before = parse_id(q["before"])
            if before is None:
                errors["before"] = lazy("Not a page of this log: start again from the first page.")
        form = {"actor": q.get("actor", ""), "action": action}
        if errors:
            return self.web.page_response(
                "audit", 400, staff, lines=[], next_url="", actions=[], form=form, errors=errors
            )
        lines, next_before, actions = await self.audit.page(actor, action, before)
        next_url = ""
        if next_before is not None:
            wanted = {k: v for k, v in form.items() if v}
            next_url = "/console/audit?" + urlencode({**wanted, "before": next_before})
        return self.web.page_response(
            "audit",
            200,
            staff,
            lines=lines,
            next_url=next_url,
            actions=actions,
            form=form,
            errors={},
        )

    async def inbox_page(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        return self.web.page_response("inbox", 200, staff, threads=await self.inbox.threads())

    async def _thread(
        self, staff: Staff, person_id: int | None, status: int = 200, **context: object
    ) -> web.StreamResponse:
        thread = await self.inbox.thread(person_id) if person_id is not None else None
        if thread is None:
            return self.web.page_response("not_found", 404, staff)
        context.setdefault("error", "")
        context.setdefault("notice", "")
        context.setdefault("text", "")
        return self.web.page_response(
            "thread",
            status,
            staff,
            thread=thread,
            nonce=new_nonce(),
            max_text=MAX_TEXT,
            **context,
        )

    async def thread_page(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        return await self._thread(staff, parse_id(request.match_info["id"]))

    async def answer(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        person_id = parse_id(request.match_info["id"])
        form = await request.post()
        text = str(form.get("text", "")).strip()
        nonce = parse_id(form.get("nonce"))
        if person_id is None or await self.inbox.thread(person_id) is None:
            return self.web.page_response("not_found", 404, staff)
        error = ""
        if not text:
            error = lazy("Write an answer first.")
        elif len(text) > MAX_TEXT:
            error = lazy("At most %(num)s characters (%(now)s now).", num=MAX_TEXT, now=len(text))
        elif nonce is None:
            error = lazy("This form is broken: reload the page.")
        if error:
            return await self._thread(staff, person_id, 400, error=error, text=text)
        assert nonce is not None
        done = await self.inbox.answer(
            staff_id=staff.telegram_id, person_id=person_id, nonce=nonce, text=text
        )
        return await self._thread(staff, person_id, notice=ANSWER_NOTICES[done.outcome])
