"""The console's text editor (issues 20 and 21): an owner's text for one catalog message in
one locale, checked as the catalogs are (same placeholders as the source, HTML Telegram
accepts), saved as a version (who, when), in force at once on this instance and followed by
the others; reverted to an earlier version or back to the catalog's own text."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from forever.domain.clock import Clock
from forever.domain.texts import LOCALES, text_error
from forever.services.ports import UnitOfWork
from forever.services.staff import AuditLog

Key = tuple[str, str, str]  # (locale, msgctxt or "", msgid)
MAX_FOUND = 50


@dataclass(frozen=True, slots=True)
class TextVersion:
    id: int
    locale: str
    context: str
    msgid: str
    text: str  # "" = back to the catalog's text
    saved_by: int
    saved_at: datetime


@dataclass(frozen=True, slots=True)
class Message:
    context: str
    msgid: str
    catalog_text: str
    text: str  # what the bot says now: the override, else the catalog's
    overridden: bool


@dataclass(frozen=True, slots=True)
class TextSaved:
    ok: bool
    version_id: int = 0
    errors: dict[str, str] = field(default_factory=dict)


class TextVersions(Protocol):
    async def add(
        self, *, locale: str, context: str, msgid: str, text: str, staff_id: int, now: datetime
    ) -> int: ...

    async def get(self, version_id: int) -> TextVersion | None: ...

    async def in_force(self) -> dict[Key, str]: ...

    async def history(self, locale: str, context: str, msgid: str) -> list[TextVersion]: ...


class ConsoleTexts:
    def __init__(
        self,
        uow: UnitOfWork,
        versions: TextVersions,
        audit: AuditLog,
        clock: Clock,
        messages: Callable[[str], list[tuple[str, str, str]]],
        in_force: Callable[[], Mapping[Key, str]],
        put_in_force: Callable[[Mapping[Key, str]], None],
    ) -> None:
        self.uow = uow
        self.versions = versions
        self.audit = audit
        self.clock = clock
        self.messages = messages
        self.in_force = in_force
        self.put_in_force = put_in_force

    def _message(self, locale: str, context: str, msgid: str) -> Message | None:
        for ctx, mid, text in self.messages(locale):
            if ctx == context and mid == msgid:
                now = self.in_force().get((locale, ctx, mid))
                return Message(ctx, mid, text, now or text, now is not None)
        return None

    def search(self, locale: str, query: str) -> list[Message]:
        """Messages whose id, context or text in `locale` (the catalog's or the override)
        contains `query` (case-insensitive); the first MAX_FOUND."""
        if locale not in LOCALES:
            return []
        wanted = query.strip().casefold()
        overrides = self.in_force()
        found = []
        for ctx, mid, text in self.messages(locale):
            now = overrides.get((locale, ctx, mid))
            shown = now or text
            if not wanted or any(wanted in s.casefold() for s in (ctx, mid, text, shown)):
                found.append(Message(ctx, mid, text, shown, now is not None))
                if len(found) >= MAX_FOUND:
                    break
        return found

    def message(self, locale: str, context: str, msgid: str) -> Message | None:
        return self._message(locale, context, msgid) if locale in LOCALES else None

    async def history(self, locale: str, context: str, msgid: str) -> list[TextVersion]:
        async with self.uow.begin():
            return await self.versions.history(locale, context, msgid)

    async def save(
        self, *, staff_id: int, locale: str, context: str, msgid: str, text: str
    ) -> TextSaved:
        """Check `text` against the source message; save it as a version and put it in force,
        or change nothing and say what is wrong (the field 'text')."""
        if locale not in LOCALES:
            return TextSaved(False, errors={"locale": "Choose one of " + ", ".join(LOCALES)})
        message = self._message(locale, context, msgid)
        if message is None:
            return TextSaved(False, errors={"msgid": "No such message in the catalogs."})
        percent = not context.startswith(("button:", "command:"))
        error = text_error(msgid, text, percent=percent)
        if error:
            return TextSaved(False, errors={"text": error})
        if text == message.text:
            return TextSaved(False, errors={"text": "Nothing changed."})
        return await self._store(staff_id, locale, context, msgid, text, "text_saved")

    async def revert(self, *, staff_id: int, version_id: int | None, key: Key) -> TextSaved:
        """Back to an earlier version's text (`version_id`), or to the catalog's own text
        (None); saved as a new version."""
        locale, context, msgid = key
        text = ""
        if version_id is not None:
            async with self.uow.begin():
                version = await self.versions.get(version_id)
            if version is None or (version.locale, version.context, version.msgid) != key:
                return TextSaved(False, errors={"version": "No such version of this text."})
            text = version.text
        if self._message(locale, context, msgid) is None:
            return TextSaved(False, errors={"msgid": "No such message in the catalogs."})
        return await self._store(staff_id, locale, context, msgid, text, "text_reverted")

    async def _store(
        self, staff_id: int, locale: str, context: str, msgid: str, text: str, action: str
    ) -> TextSaved:
        now = self.clock.now()
        async with self.uow.begin():
            version_id = await self.versions.add(
                locale=locale, context=context, msgid=msgid, text=text, staff_id=staff_id, now=now
            )
            self.audit.record(
                staff_id,
                action,
                now,
                version=version_id,
                locale=locale,
                context=context,
                msgid=msgid[:200],
                text=text[:500] or "(the catalog's text)",
            )
            await self.uow.commit()
        async with self.uow.begin():
            in_force = await self.versions.in_force()
        self.put_in_force(in_force)
        return TextSaved(True, version_id)

    async def refresh(self) -> bool:
        """Put the saved overrides in force if they differ from those in use (at start and
        on the catalog's follow loop, so every instance follows the console's edits)."""
        async with self.uow.begin():
            saved = await self.versions.in_force()
        if saved == dict(self.in_force()):
            return False
        self.put_in_force(saved)
        return True
