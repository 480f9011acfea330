"""The console's people pages: the list (GET /console/people), a person
(GET /console/people/ID), and grant, refund and erase (POST, each asks to confirm first)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from forever.domain import console
from forever.domain.lazy_text import lazy
from forever.domain.locales import LOCALES
from forever.services.console import Staff
from forever.services.console_people import (
    SEGMENTS,
    STATES,
    ConsolePeople,
    FilterError,
    PeopleFilter,
    check_filter,
)
from forever.services.refunds import RefundOutcome
from forever.services.staff import MAX_GRANT_DAYS
from forever.web.console import ConsoleWeb, see_other

MAX_ID = 2**62


def parse_id(raw: object) -> int | None:
    """A positive whole number from a form or a URL; None when it is not one."""
    if not isinstance(raw, str):
        return None
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 18:
        return None
    value = int(raw)
    return value if 0 < value < MAX_ID else None


class PeoplePages:
    def __init__(
        self, web_: ConsoleWeb, people: ConsolePeople, plans: Callable[[], Sequence[str]]
    ) -> None:
        self.web = web_
        self.people = people
        self.plans = plans  # the plan ids in force now

    def install(self, app: web.Application) -> None:
        w = self.web
        app.router.add_get("/console/people", w.page(self.list))
        app.router.add_get("/console/people/{id}", w.page(self.person))
        app.router.add_post("/console/people/{id}/grant", w.action(self.grant, console.GRANT))
        app.router.add_post("/console/people/{id}/refund", w.action(self.refund, console.REFUND))
        app.router.add_post("/console/people/{id}/erase", w.action(self.erase, console.ERASE))

    def _choices(self) -> dict[str, Any]:
        return {
            "states": STATES,
            "plans": list(self.plans()),
            "languages": LOCALES,
            "segments": SEGMENTS,
        }

    async def list(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        q = request.query
        wanted = PeopleFilter(
            query=q.get("query", "").strip(),
            state=q.get("state", ""),
            plan=q.get("plan", ""),
            language=q.get("language", ""),
            segment=q.get("segment", ""),
        )
        errors: dict[str, str] = {}
        before = None
        if q.get("before"):
            before = parse_id(q.get("before"))
            if before is None:
                errors["before"] = lazy("Not a page of this list: start again from the first page.")
        try:
            check_filter(wanted, self.plans(), LOCALES)
        except FilterError as error:
            errors[error.field] = error.message
        if errors:
            return self.web.page_response(
                "people",
                400,
                staff,
                wanted=wanted,
                rows=[],
                next_url="",
                errors=errors,
                **self._choices(),
            )
        rows, next_before = await self.people.list(wanted, before)
        next_url = ""
        if next_before is not None:
            next_url = "/console/people?" + urlencode({**wanted.as_query(), "before": next_before})
        return self.web.page_response(
            "people",
            200,
            staff,
            wanted=wanted,
            rows=rows,
            next_url=next_url,
            errors={},
            first_page=before is None,
            **self._choices(),
        )

    async def _person_page(
        self, staff: Staff, person_id: int | None, status: int = 200, **context: Any
    ) -> web.StreamResponse:
        found = None
        if person_id is not None:
            found = await self.people.page(staff_id=staff.telegram_id, person_id=person_id)
        if found is None:
            return self.web.page_response("not_found", 404, staff)
        context.setdefault("errors", {})
        context.setdefault("notice", "")
        context.setdefault("form", {})
        return self.web.page_response(
            "person",
            status,
            staff,
            p=found,
            max_days=MAX_GRANT_DAYS,
            plans=list(self.plans()),
            **context,
        )

    async def person(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        notice = ""
        query = request.query
        plan, days = query.get("granted", ""), parse_id(query.get("days"))
        if plan in self.plans() and days is not None and days <= MAX_GRANT_DAYS:
            notice = grant_notice(plan, days, told=query.get("told") == "1")
        return await self._person_page(staff, parse_id(request.match_info["id"]), notice=notice)

    def _confirm(self, staff: Staff, person_id: int, what: str, **fields: Any) -> web.Response:
        return self.web.page_response(
            "confirm", 200, staff, person_id=person_id, what=what, fields=fields
        )

    async def grant(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        person_id = parse_id(request.match_info["id"])
        form = await request.post()
        plan = str(form.get("plan", ""))
        days = parse_id(form.get("days"))
        errors: dict[str, str] = {}
        if plan not in self.plans():
            errors["plan"] = lazy("Pick a plan from the list.")
        if days is None or days > MAX_GRANT_DAYS:
            errors["days"] = lazy("A whole number of days from 1 to %(most)s.", most=MAX_GRANT_DAYS)
        if errors or person_id is None:
            return await self._person_page(
                staff, person_id, 400, errors=errors, form={"plan": plan, "days": form.get("days")}
            )
        assert days is not None
        if form.get("confirm") != "yes":
            return self._confirm(staff, person_id, "grant", plan=plan, days=days)
        done = await self.people.grant(
            staff_id=staff.telegram_id, person_id=person_id, plan_id=plan, days=days
        )
        # Reloading the page that says so must not grant again.
        return see_other(
            f"/console/people/{person_id}", granted=plan, days=days, told=int(done.told)
        )

    async def refund(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        person_id = parse_id(request.match_info["id"])
        form = await request.post()
        payment_id = parse_id(form.get("payment"))
        if person_id is None:
            return self.web.page_response("not_found", 404, staff)
        page = await self.people.page(staff_id=staff.telegram_id, person_id=person_id)
        theirs = {p.id for p in page.payments if p.refunded_at is None} if page else set()
        if payment_id not in theirs:
            return await self._person_page(
                staff, person_id, 400, errors={"payment": lazy("Pick a payment not refunded yet.")}
            )
        if form.get("confirm") != "yes":
            return self._confirm(staff, person_id, "refund", payment=payment_id)
        assert payment_id is not None
        done = await self.people.refund(staff_id=staff.telegram_id, payment_id=payment_id)
        notice = {
            RefundOutcome.OK: lazy("Refunded; Telegram is being asked to give the Stars back."),
            RefundOutcome.ALREADY: lazy("That payment was refunded already."),
        }.get(done.outcome, lazy("That payment cannot be refunded."))
        return await self._person_page(staff, person_id, notice=notice)

    async def erase(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        person_id = parse_id(request.match_info["id"])
        form = await request.post()
        if person_id is None:
            return self.web.page_response("not_found", 404, staff)
        if form.get("confirm") != "yes":
            return self._confirm(staff, person_id, "erase")
        done = await self.people.erase(staff_id=staff.telegram_id, person_id=person_id)
        notice = (
            lazy("Erased: their personal data is gone.")
            if done
            else lazy("They were erased already.")
        )
        return await self._person_page(staff, person_id, notice=notice)


def grant_notice(plan: str, days: int, *, told: bool) -> str:
    if told:
        return lazy(
            "Granted %(plan)s for %(days)s days. They were told in the chat.", plan=plan, days=days
        )
    return lazy(
        "Granted %(plan)s for %(days)s days. They could not be told in chat.", plan=plan, days=days
    )
