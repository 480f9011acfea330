"""The console's broadcasts (owners only): GET /console/broadcasts (the composer, the live
count of the chosen segment and the history with progress), POST /console/broadcasts (send
now or at a time), GET /console/broadcasts/count?segment=... (the count alone),
GET /console/broadcasts/progress?ids=... (the figures of the jobs in progress and of those
named, as JSON, for the page's script; any console role may read it)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from forever.domain import console
from forever.domain.lazy_text import Lazy, lazy, lazy_plural
from forever.domain.locales import LOCALES
from forever.domain.segments import Segment, SegmentError, SegmentKind, parse_segment
from forever.services.console import Staff
from forever.services.console_broadcasts import ConsoleBroadcasts, Photo, telegram_html
from forever.services.personalize import MAX_LENGTH, TemplateRefused
from forever.web.console import ConsoleWeb, done_notice, see_other
from forever.web.console_people import parse_id
from forever.web.server import MAX_REQUEST_BYTES

MAX_BUTTON = 64
MAX_CAPTION = 1024  # sendPhoto: a caption of 0-1024 characters after entities parsing
# The web server reads at most MAX_REQUEST_BYTES (1 MiB) per request; the rest is the form.
MAX_PHOTO = 900 * 1024
PHOTO_MAGIC = {b"\xff\xd8\xff": "photo.jpg", b"\x89PNG\r\n\x1a\n": "photo.png"}
MAX_URL = 512
NOTICES: dict[str, Lazy] = {  # filled with the broadcast's `id` when shown
    "empty": lazy("Nobody is in this segment now: nothing was sent."),
    "busy": lazy("Another broadcast is still sending (#%(id)s): try again when it ends."),
    "already": lazy("This broadcast was already sent."),
}


def sent_notice(outcome: str, total: int) -> Lazy:
    """What the page says after a broadcast was queued or scheduled for `total` people."""
    if outcome == "queued":
        return lazy_plural(
            "Queued: sending to %(num)s person now.",
            "Queued: sending to %(num)s people now.",
            total,
        )
    return lazy_plural(
        "Scheduled: it goes to about %(num)s person at its time.",
        "Scheduled: it goes to about %(num)s people at its time.",
        total,
    )


def segment_choices(plans: list[str]) -> list[tuple[str, str]]:
    choices = [(k.value, k.value) for k in SegmentKind if k.value not in ("plan", "language")]
    choices += [(f"plan:{p}", lazy("plan %(plan)s", plan=p)) for p in plans]
    choices += [(f"language:{loc}", lazy("language %(code)s", code=loc)) for loc in LOCALES]
    return choices


def parse_choice(raw: str, plans: list[str]) -> Segment:
    kind, _, value = raw.strip().partition(":")
    return parse_segment(kind, value or None, plans=frozenset(plans), locales=frozenset(LOCALES))


class BroadcastPages:
    def __init__(
        self, web_: ConsoleWeb, broadcasts: ConsoleBroadcasts, plans: Callable[[], list[str]]
    ) -> None:
        self.web = web_
        self.broadcasts = broadcasts
        self.plans = plans

    def install(self, app: web.Application) -> None:
        w = self.web
        app.router.add_get("/console/broadcasts", w.page(self.page, console.BROADCAST))
        app.router.add_get("/console/broadcasts/count", w.page(self.count_page, console.BROADCAST))
        app.router.add_get("/console/broadcasts/progress", w.page(self.progress, keep_alive=False))
        send = w.action(self.send, console.BROADCAST)

        async def send_unless_too_large(request: web.Request) -> web.StreamResponse:
            # A body over the server's limit cannot be read at all: say so next to the photo
            # (nothing changes, so no CSRF token is needed to show the form again).
            if (request.content_length or 0) > MAX_REQUEST_BYTES:
                staff = await w.staff_of(request)
                if staff is not None and staff.may(console.BROADCAST):
                    too_large = lazy(
                        "At most %(kb)s KB: choose a smaller photo.", kb=MAX_PHOTO // 1024
                    )
                    return await self._render(staff, 413, errors={"photo": too_large})
            response: web.StreamResponse = await send(request)
            return response

        app.router.add_post("/console/broadcasts", send_unless_too_large)
        app.router.add_post("/console/broadcasts/cancel", w.action(self.cancel, console.BROADCAST))

    async def _render(self, staff: Staff, status: int = 200, **context: Any) -> web.StreamResponse:
        form: dict[str, str] = dict(context.pop("form", {}) or {})
        form.setdefault("segment", "all")
        count: int | None = None
        with contextlib.suppress(SegmentError):  # a bad choice: the form says why
            count = await self.broadcasts.count(parse_choice(form["segment"], self.plans()))
        context.setdefault("errors", {})
        context.setdefault("notice", "")
        return self.web.page_response(
            "broadcasts",
            status,
            staff,
            form=form,
            count=count,
            segments=segment_choices(self.plans()),
            locales=LOCALES,
            history=await self.broadcasts.history(),
            max_text=MAX_LENGTH,
            max_caption=MAX_CAPTION,
            max_photo_kb=MAX_PHOTO // 1024,
            **context,
        )

    async def page(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        return await self._render(
            staff,
            form={"segment": request.query.get("segment", "all")},
            notice=done_notice(request, sent_notice, "queued", "scheduled"),
        )

    async def count_page(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        try:
            segment = parse_choice(request.query.get("segment", ""), self.plans())
        except SegmentError as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response({"count": await self.broadcasts.count(segment)})

    async def progress(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        named = set(watched(request.query.get("ids", "")))
        lines = await self.broadcasts.history()
        found = [b.progress() for b in lines if b.in_progress or str(b.id) in named]
        return self.web.progress_response({"broadcasts": found})

    async def cancel(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        posted = await request.post()
        broadcast_id = parse_id(posted.get("broadcast"))
        if broadcast_id is None:
            return await self._render(staff, 400, notice=CANCEL_NOTICES["nothing"])
        outcome = await self.broadcasts.cancel(
            staff_id=staff.telegram_id, broadcast_id=broadcast_id
        )
        status = 200 if outcome == "cancelled" else 409
        return await self._render(staff, status, notice=CANCEL_NOTICES[outcome])

    async def send(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        posted = await request.post()
        form = {k: str(v) for k, v in posted.items() if k != "csrf" and isinstance(v, str)}
        errors: dict[str, str] = {}
        now = self.broadcasts.clock.now()
        photo = read_photo(posted.get("photo"), errors)
        limit = MAX_CAPTION if photo is not None else MAX_LENGTH

        def text_of(field: str, required: bool) -> str | None:
            raw = form.get(field, "").strip()
            if not raw:
                if required and photo is None and "photo" not in errors:
                    errors[field] = lazy("Write the message first.")
                return None
            try:
                body = telegram_html(raw)
            except TemplateRefused as error:
                errors[field] = lazy("Not a valid text: %(why)s.", why=str(error))
                return None
            if len(body) > MAX_LENGTH:
                errors[field] = lazy(
                    "At most %(num)s characters (%(now)s now).", num=MAX_LENGTH, now=len(body)
                )
                return None
            if len(raw) > limit:
                errors[field] = lazy(
                    "A photo's caption has at most %(num)s characters (%(now)s now).",
                    num=limit,
                    now=len(raw),
                )
                return None
            return body

        text = text_of("text", required=True)
        per_locale = {}
        for locale in LOCALES:
            body = text_of(f"text_{locale}", required=False)
            if body is not None:
                per_locale[locale] = body
        button_text = form.get("button_text", "").strip() or None
        button_url = form.get("button_url", "").strip() or None
        if button_text and len(button_text) > MAX_BUTTON:
            errors["button_text"] = lazy("At most %(num)s characters.", num=MAX_BUTTON)
        if bool(button_text) != bool(button_url):
            field = "button_url" if button_text else "button_text"
            errors[field] = lazy("A button needs both a label and a link.")
        if button_url and (
            not button_url.startswith(("https://", "http://", "tg://"))
            or len(button_url) > MAX_URL
            or any(c.isspace() for c in button_url)
        ):
            errors["button_url"] = lazy("A link starting with https://, without spaces.")
        segment, send_at = read_audience(form, self.plans(), now, errors)
        if errors or (text is None and photo is None) or segment is None:
            return await self._render(staff, 400, form=form, errors=errors)
        done = await self.broadcasts.compose(
            staff_id=staff.telegram_id,
            text_html=text or "",
            photo=photo,
            per_locale=per_locale,
            button_text=button_text,
            button_url=button_url,
            segment=segment,
            send_at=send_at,
        )
        if done.outcome == "refused":
            errors["photo"] = lazy("The photo was not sent: %(why)s.", why=done.detail)
            return await self._render(staff, 400, form=form, errors=errors)
        if done.outcome in ("queued", "scheduled"):
            # Reloading the page that says so must not send the broadcast again.
            return see_other(
                "/console/broadcasts",
                segment=form.get("segment", "all"),
                done=done.outcome,
                total=done.total,
            )
        found = NOTICES.get(done.outcome)
        notice = lazy(found.msgid, id=done.broadcast_id) if found else done.outcome
        return await self._render(
            staff, 409, form={"segment": form.get("segment", "all")}, notice=notice
        )


CANCEL_NOTICES = {
    "cancelled": lazy("Cancelled: it will not be sent."),
    "already": lazy("Not cancelled: it was already sent or cancelled."),
    "not_yours": lazy("Not cancelled: only who scheduled it may cancel it."),
    "nothing": lazy("Nothing to cancel."),
}


def watched(raw: str, most: int = 50) -> list[str]:
    """The ids a page's script asks about (`ids=3,4`): at most `most`, each short."""
    return [part for part in raw.split(",")[:most] if 0 < len(part) <= 40]


def read_photo(field: object, errors: dict[str, str]) -> Photo | None:
    """The uploaded photo, checked: a JPEG or PNG by its first bytes, at most MAX_PHOTO;
    None (and a message in `errors` when something was chosen but is wrong) otherwise."""
    if not isinstance(field, web.FileField):
        return None
    data = field.file.read(MAX_PHOTO + 1)
    if not data and not field.filename:
        return None  # no file chosen
    if not data:
        errors["photo"] = lazy("This file is empty.")
        return None
    if len(data) > MAX_PHOTO:
        errors["photo"] = lazy("At most %(kb)s KB: choose a smaller photo.", kb=MAX_PHOTO // 1024)
        return None
    name = next((n for magic, n in PHOTO_MAGIC.items() if data.startswith(magic)), None)
    if name is None:
        errors["photo"] = lazy("Only JPEG or PNG photos.")
        return None
    return Photo(data, name)


def read_audience(
    form: Mapping[str, str], plans: list[str], now: datetime, errors: dict[str, str]
) -> tuple[Segment | None, datetime | None]:
    """The segment and the send time of a broadcast form (chat or email); a problem goes into
    `errors` under its field. `send_at` None: send now."""
    segment = None
    try:
        segment = parse_choice(form.get("segment", ""), plans)
    except SegmentError as error:
        errors["segment"] = lazy("Choose a segment from the list (%(why)s).", why=str(error))
    send_at = None
    if form.get("when") == "later":
        send_at = parse_time(form.get("send_at", ""))
        if send_at is None:
            errors["send_at"] = lazy("A date and time in UTC, such as 2026-12-24T09:00.")
        elif send_at <= now:
            errors["send_at"] = lazy("This time has passed: choose a later one.")
    elif form.get("when", "now") != "now":
        errors["when"] = lazy("Choose now or later.")
    return segment, send_at


def parse_time(raw: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
