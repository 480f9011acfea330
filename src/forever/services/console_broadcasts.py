"""Broadcasts composed in the owner console, on the same machinery as /broadcast in chat.

The console writes a text (one per language if wanted), a button and a segment; the draft,
its confirmation, the recipients and the sending are BroadcastDesk's and the sender's, as
for a broadcast composed in chat. The text is sent as a new message (no message to copy):
plain text, escaped for Telegram's HTML, with the {{ name }} placeholder allowed.

A photo: the console uploads it once with sendPhoto into the author's own chat with the
bot (their preview, with the default caption); the sender then copies that message to each
recipient with their caption, exactly as a photo composed in chat goes out.

Scheduled: the draft waits with its time (`send_at`, kept in the draft's segment record)
and the sweep `send_due` confirms it once the clock reaches that time, as its author.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from forever.domain.clock import Clock
from forever.domain.segments import Segment
from forever.services import personalize
from forever.services.broadcasts import BroadcastDesk, Content, Variant
from forever.services.ports import UnitOfWork
from forever.services.staff import AuditLog

SEND_AT = "send_at"
IN_PROGRESS = frozenset({"queued", "running"})


@dataclass(frozen=True, slots=True)
class HistoryLine:
    id: int
    created_by: int
    status: str
    segment: dict[str, Any]
    total: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    send_at: str
    counts: Counter[str]

    @property
    def settled(self) -> int:
        return sum(self.counts.get(s, 0) for s in ("delivered", "blocked", "failed"))

    @property
    def in_progress(self) -> bool:
        """Queued or sending: its figures still change (a scheduled draft waits instead)."""
        return self.status in IN_PROGRESS

    def progress(self) -> dict[str, Any]:
        """Its figures for the page's live progress (numbers and the status only)."""
        return {
            "id": self.id,
            "status": self.status,
            "in_progress": self.in_progress,
            "settled": self.settled,
            "recipients": self.total,
            "delivered": self.counts.get("delivered", 0),
            "blocked": self.counts.get("blocked", 0),
            "failed": self.counts.get("failed", 0),
        }


class ConsoleBroadcastStore(Protocol):
    async def count_recipients(self, segment: Segment) -> int: ...

    async def due_drafts(self, now: datetime) -> list[tuple[int, int]]:
        """(id, created_by) of the drafts with a `send_at` at or before `now`, oldest first."""
        ...

    async def set_send_at(self, broadcast_id: int, when: datetime) -> None: ...

    async def history(self, limit: int) -> list[HistoryLine]: ...


class PhotoUpload(Protocol):
    """Sends a photo to a chat with the bot (sendPhoto with an HTML caption)."""

    async def send_photo(
        self, chat_id: int, data: bytes, filename: str, caption_html: str | None
    ) -> int:
        """The new message's id; PhotoRefused when Telegram refuses it."""
        ...


class PhotoRefused(Exception):
    """Telegram did not take the photo (its reason as the message)."""


@dataclass(frozen=True, slots=True)
class Photo:
    data: bytes
    filename: str


@dataclass(frozen=True, slots=True)
class Composed:
    outcome: str  # queued | scheduled | empty | busy | refused
    broadcast_id: int = 0
    total: int = 0
    detail: str = ""


def telegram_html(text: str) -> str:
    """The owner's plain text as Telegram HTML (placeholders kept); TemplateRefused if a
    placeholder is not allowed."""
    escaped = html.escape(text.strip(), quote=False)
    personalize.check_template(escaped)
    return escaped


class ConsoleBroadcasts:
    def __init__(
        self,
        uow: UnitOfWork,
        store: ConsoleBroadcastStore,
        desk: BroadcastDesk,
        audit: AuditLog,
        clock: Clock,
        photos: PhotoUpload | None = None,
    ) -> None:
        self.photos = photos
        self.uow = uow
        self.store = store
        self.desk = desk
        self.audit = audit
        self.clock = clock

    async def count(self, segment: Segment) -> int:
        async with self.uow.begin():
            return await self.store.count_recipients(segment)

    async def history(self, limit: int = 50) -> list[HistoryLine]:
        async with self.uow.begin():
            return await self.store.history(limit)

    async def compose(
        self,
        *,
        staff_id: int,
        text_html: str,
        per_locale: dict[str, str],
        button_text: str | None,
        button_url: str | None,
        segment: Segment,
        send_at: datetime | None,
        photo: Photo | None = None,
    ) -> Composed:
        """Store the draft and either confirm it now or leave it for its time."""
        busy = await self.desk.start() if send_at is None else None
        if busy is not None:
            return Composed("busy", busy.broadcast_id)
        chat_id, message_id, kind = 0, 0, "text"
        if photo is not None:
            # Uploaded only when it can go: not for a segment with nobody in it.
            if await self.count(segment) == 0:
                return Composed("empty")
            if self.photos is None:
                return Composed("refused", detail="photos need the running bot")
            try:
                message_id = await self.photos.send_photo(
                    staff_id, photo.data, photo.filename, text_html or None
                )
            except PhotoRefused as error:
                return Composed("refused", detail=str(error))
            chat_id, kind = staff_id, "photo"
        content = Content(
            source_chat_id=chat_id,
            source_message_id=message_id,
            kind=kind,
            template_html=text_html or None,
            button_text=button_text,
            button_url=button_url,
            variants={
                locale: Variant(chat_id, message_id, kind, body)
                for locale, body in per_locale.items()
            },
        )
        drafted = await self.desk.draft(staff_id=staff_id, content=content, segment=segment)
        if drafted.draft is None:
            return Composed("empty")
        draft_id = drafted.draft.id
        if send_at is not None:
            now = self.clock.now()
            async with self.uow.begin():
                await self.store.set_send_at(draft_id, send_at)
                self.audit.record(
                    staff_id,
                    "broadcast_scheduled",
                    now,
                    broadcast=draft_id,
                    send_at=send_at.isoformat(),
                    recipients=drafted.total,
                    via="console",
                )
                await self.uow.commit()
            return Composed("scheduled", draft_id, drafted.total)
        done = await self.desk.confirm(draft_id, staff_id=staff_id, progress_chat_id=None)
        return Composed(done.outcome, draft_id, done.total)

    async def cancel(self, *, staff_id: int, broadcast_id: int) -> str:
        """Drop a scheduled broadcast before its time (its author only, as in chat):
        cancelled | already (sent or dropped meanwhile) | not_yours | nothing."""
        done = await self.desk.cancel(staff_id=staff_id, draft_id=broadcast_id)
        return done.outcome

    async def send_due(self, now: datetime) -> int:
        """The sweep: confirm every scheduled draft whose time has come; how many queued.
        One still waiting for a running job stays a draft and goes at a later sweep."""
        async with self.uow.begin():
            due = await self.store.due_drafts(now)
        queued = 0
        for draft_id, author in due:
            done = await self.desk.confirm(draft_id, staff_id=author, progress_chat_id=None)
            if done.outcome == "busy":
                break
            queued += done.outcome == "queued"
        return queued
