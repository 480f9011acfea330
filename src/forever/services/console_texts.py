"""The console's text editor (issues 20 and 21): an owner's text for one catalog message in
one locale (or each plural form of a plural message), checked as the catalogs are (same
placeholders as the source, HTML Telegram accepts, a command description within Telegram's
limit), saved as a version (who, when), in force at once on this instance and followed by the
others; reverted to an earlier version or back to the catalog's own text. A plural
message's forms are saved as one version, a JSON list in the locale's Plural-Forms order."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from forever.domain.clock import Clock
from forever.domain.lazy_text import lazy
from forever.domain.texts import LOCALES, MAX_COMMAND, MAX_TEXT, plural_error, text_error
from forever.services.ports import UnitOfWork
from forever.services.staff import AuditLog

Key = tuple[str, str, str]  # (locale, msgctxt or "", msgid)
Text = str | tuple[str, ...]  # a singular message's text, or a plural one's forms
PluralMessage = tuple[str, str, str, tuple[str, ...]]  # ctx, msgid, msgid_plural, forms
MAX_FOUND = 50


@dataclass(frozen=True, slots=True)
class TextVersion:
    id: int
    locale: str
    context: str
    msgid: str
    text: str  # "" = back to the catalog's text; a plural message's forms: a JSON list
    saved_by: int
    saved_at: datetime
    forms: tuple[str, ...] = ()  # a plural message's forms, read from `text`


@dataclass(frozen=True, slots=True)
class Message:
    context: str
    msgid: str
    catalog_text: str
    text: str  # what the bot says now: the override, else the catalog's
    overridden: bool
    plural: str = ""  # a plural message: its msgid_plural (else "")
    catalog_forms: tuple[str, ...] = ()  # a plural message: the catalog's forms
    forms: tuple[str, ...] = ()  # a plural message: the forms in force
    examples: tuple[tuple[int, ...], ...] = ()  # the first numbers each form is for


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

    async def in_force(self) -> dict[Key, str]: ...  # the newest non-empty text per key

    async def history(self, locale: str, context: str, msgid: str) -> list[TextVersion]: ...


def encode_forms(forms: Sequence[str]) -> str:
    return json.dumps(list(forms), ensure_ascii=False)


def decode_forms(text: str) -> tuple[str, ...]:
    """A saved plural version's forms; () for an empty or unreadable one."""
    try:
        forms = json.loads(text) if text else []
    except ValueError:
        return ()
    if not isinstance(forms, list) or not all(isinstance(f, str) and f for f in forms):
        return ()
    return tuple(forms)


class ConsoleTexts:
    def __init__(
        self,
        uow: UnitOfWork,
        versions: TextVersions,
        audit: AuditLog,
        clock: Clock,
        messages: Callable[[str], list[tuple[str, str, str]]],
        in_force: Callable[[], Mapping[Key, Text]],
        put_in_force: Callable[[Mapping[Key, Text]], None],
        plurals: Callable[[str], list[PluralMessage]] = lambda locale: [],
        examples: Callable[[str], tuple[tuple[int, ...], ...]] = lambda locale: ((1,), (2,)),
        changed: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.uow = uow
        self.versions = versions
        self.audit = audit
        self.clock = clock
        self.messages = messages
        self.in_force = in_force
        self.put_in_force = put_in_force
        self.plurals = plurals
        self.examples = examples
        self.changed = changed  # after the texts in force changed (the command menu follows)

    def _plural(self, locale: str, context: str, msgid: str) -> Message | None:
        for ctx, mid, many, forms in self.plurals(locale):
            if ctx == context and mid == msgid:
                now = self.in_force().get((locale, ctx, mid))
                shown = now if isinstance(now, tuple) and len(now) == len(forms) else None
                return Message(
                    ctx,
                    mid,
                    " / ".join(forms),
                    " / ".join(shown or forms),
                    shown is not None,
                    plural=many,
                    catalog_forms=forms,
                    forms=shown or forms,
                    examples=self.examples(locale),
                )
        return None

    def _message(self, locale: str, context: str, msgid: str) -> Message | None:
        for ctx, mid, text in self.messages(locale):
            if ctx == context and mid == msgid:
                now = self.in_force().get((locale, ctx, mid))
                if isinstance(now, tuple):
                    now = None
                return Message(ctx, mid, text, now or text, now is not None)
        return self._plural(locale, context, msgid)

    def search(self, locale: str, query: str) -> list[Message]:
        """Messages whose id, context or text in `locale` (the catalog's or the override)
        contains `query` (case-insensitive), plural ones by any of their forms; the first
        MAX_FOUND."""
        if locale not in LOCALES:
            return []
        wanted = query.strip().casefold()
        overrides = self.in_force()
        found = []
        for ctx, mid, text in self.messages(locale):
            now = overrides.get((locale, ctx, mid))
            now = now if isinstance(now, str) else None
            shown = now or text
            if not wanted or any(wanted in s.casefold() for s in (ctx, mid, text, shown)):
                found.append(Message(ctx, mid, text, shown, now is not None))
                if len(found) >= MAX_FOUND:
                    return found
        for ctx, mid, many, _forms in self.plurals(locale):
            message = self._plural(locale, ctx, mid)
            assert message is not None
            texts = (ctx, mid, many, *message.catalog_forms, *message.forms)
            if not wanted or any(wanted in s.casefold() for s in texts):
                found.append(message)
                if len(found) >= MAX_FOUND:
                    break
        return found

    def message(self, locale: str, context: str, msgid: str) -> Message | None:
        return self._message(locale, context, msgid) if locale in LOCALES else None

    async def history(self, locale: str, context: str, msgid: str) -> list[TextVersion]:
        async with self.uow.begin():
            found = await self.versions.history(locale, context, msgid)
        if self._plural(locale, context, msgid) is None:
            return found
        return [replace(v, forms=decode_forms(v.text)) for v in found]

    async def save(
        self,
        *,
        staff_id: int,
        locale: str,
        context: str,
        msgid: str,
        text: str = "",
        forms: Sequence[str] = (),
    ) -> TextSaved:
        """Check `text` (a plural message: each of `forms`) against the source message; save
        it as a version and put it in force, or change nothing and say what is wrong (the
        field 'text', or 'form0', 'form1', … of a plural message)."""
        if locale not in LOCALES:
            return TextSaved(
                False,
                errors={"locale": lazy("Choose one of %(locales)s", locales=", ".join(LOCALES))},
            )
        message = self._message(locale, context, msgid)
        if message is None:
            return TextSaved(False, errors={"msgid": lazy("No such message in the catalogs.")})
        if message.plural:
            return await self._save_forms(staff_id, locale, message, list(forms))
        percent = not context.startswith(("button:", "command:"))
        limit = MAX_COMMAND if context.startswith("command:") else MAX_TEXT
        error = text_error(msgid, text, percent=percent, limit=limit)
        if error and limit == MAX_COMMAND and len(text) > limit:
            error = lazy(
                "%(error)s Telegram allows at most %(num)s in a command's description.",
                error=error,
                num=MAX_COMMAND,
            )
        if error:
            return TextSaved(False, errors={"text": error})
        if text == message.text:
            return TextSaved(False, errors={"text": lazy("Nothing changed.")})
        return await self._store(staff_id, locale, context, msgid, text, "text_saved")

    async def _save_forms(
        self, staff_id: int, locale: str, message: Message, forms: list[str]
    ) -> TextSaved:
        count = len(message.catalog_forms)
        forms = (forms + [""] * count)[:count]
        errors: dict[str, str] = {
            f"form{i}": error
            for i, form in enumerate(forms)
            if (error := plural_error(message.msgid, message.plural, form, last=i == count - 1))
        }
        if errors:
            return TextSaved(False, errors=errors)
        if tuple(forms) == message.forms:
            return TextSaved(False, errors={"form0": lazy("Nothing changed.")})
        text = "" if tuple(forms) == message.catalog_forms else encode_forms(forms)
        return await self._store(
            staff_id, locale, message.context, message.msgid, text, "text_saved"
        )

    async def revert(self, *, staff_id: int, version_id: int | None, key: Key) -> TextSaved:
        """Back to an earlier version's text (`version_id`), or to the catalog's own text
        (None); saved as a new version."""
        locale, context, msgid = key
        text = ""
        if version_id is not None:
            async with self.uow.begin():
                version = await self.versions.get(version_id)
            if version is None or (version.locale, version.context, version.msgid) != key:
                return TextSaved(False, errors={"version": lazy("No such version of this text.")})
            text = version.text
        if self._message(locale, context, msgid) is None:
            return TextSaved(False, errors={"msgid": lazy("No such message in the catalogs.")})
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
        self.put_in_force(self._decoded(in_force))
        if self.changed is not None:
            await self.changed()
        return TextSaved(True, version_id)

    def _decoded(self, saved: Mapping[Key, str]) -> dict[Key, Text]:
        """The saved texts as the catalogs take them: a plural message's JSON list as its
        forms (left out if it no longer has the locale's number of forms)."""
        plural: dict[str, dict[tuple[str, str], int]] = {}
        out: dict[Key, Text] = {}
        for key, text in saved.items():
            locale, context, msgid = key
            if locale not in plural:
                plural[locale] = {(c, m): len(f) for c, m, _p, f in self.plurals(locale)}
            count = plural[locale].get((context, msgid))
            if count is None:
                out[key] = text
            elif len(forms := decode_forms(text)) == count:
                out[key] = forms
        return out

    async def refresh(self) -> bool:
        """Put the saved overrides in force if they differ from those in use (at start and
        on the catalog's follow loop, so every instance follows the console's edits)."""
        async with self.uow.begin():
            saved = self._decoded(await self.versions.in_force())
        if saved == dict(self.in_force()):
            return False
        self.put_in_force(saved)
        if self.changed is not None:
            await self.changed()
        return True
