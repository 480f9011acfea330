"""The Bot API side of membership access, run by the delivery worker for outbox rows of
channel `telegram` (services.access templates): the invite message with a join button per
chat, approving or declining a join request, and removing someone (ban, then unban so a new
link lets them back) with a note on why and how to return. Chat administrators and creators
are never removed. Each effect may run twice (at-least-once delivery): all are idempotent.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Protocol

from forever.domain import access
from forever.domain.catalog import AccessChat, Catalog, JoinMode
from forever.rendering import Renderer
from forever.services import access as uc
from forever.services.ports import Button, ChatPort

log = logging.getLogger(__name__)

# Telegram's answers that mean "already done" for a join request.
_ALREADY = ("HIDE_REQUESTER_MISSING", "USER_ALREADY_PARTICIPANT")
# Answers that mean the bot lost its rights in a chat (demoted, removed): staff must fix it.
_NO_RIGHTS = ("not enough rights", "CHAT_ADMIN_REQUIRED", "bot is not a member", "chat not found")
RIGHTS_LOST_STAFF = "access_rights_lost_staff"  # message_templates/chat/ (shared)
ALERT_EVERY = timedelta(hours=1)  # one alert per chat per hour while the effects keep failing


class AccessPort(Protocol):
    async def create_link(
        self, chat_id: int, *, name: str, join_request: bool, expire_at: datetime | None = None
    ) -> str: ...

    async def approve(self, chat_id: int, user_id: int) -> None: ...

    async def decline(self, chat_id: int, user_id: int) -> None: ...

    async def member_status(self, chat_id: int, user_id: int) -> str: ...

    async def remove(self, chat_id: int, user_id: int) -> None: ...

    async def unban(self, chat_id: int, user_id: int) -> None: ...


class LinkCache(Protocol):
    async def get(self, chat_id: int) -> str | None: ...

    async def put(self, chat_id: int, link: str, now: datetime) -> str: ...


class AccessEffects:
    """Callable by template name: `await effects(template, context, language, now)`."""

    templates = frozenset({uc.INVITE, uc.APPROVE, uc.DECLINE, uc.REMOVE, uc.RECONCILE_REPORT})

    def __init__(
        self,
        *,
        port: AccessPort,
        chat: ChatPort,
        links: LinkCache,
        renderer: Renderer,
        catalog: Catalog,
        staff_chat_ids: tuple[int, ...] = (),
        alerted: dict[int, datetime] | None = None,
    ) -> None:
        self.staff_chat_ids = staff_chat_ids
        # chat id -> when staff were last alerted; shared by every worker of the process (the
        # sweeps drain with workers of their own), so staff get one alert an hour per chat
        self._alerted: dict[int, datetime] = {} if alerted is None else alerted
        self.port = port
        self.chat = chat
        self.links = links
        self.renderer = renderer
        self.catalog = catalog
        self._links: dict[int, str] = {}

    async def __call__(
        self, template: str, context: dict[str, Any], language: str | None, now: datetime
    ) -> None:
        """Raises on failure (the delivery worker retries); a bot without its rights in a chat
        alerts staff first. Nothing is lost: the row waits until the rights are back."""
        try:
            await self._run(template, context, language, now)
        except Exception as exc:
            if any(marker in str(exc) for marker in _NO_RIGHTS):
                chat_ids = [int(c) for c in context.get("chats") or [context.get("chat_id")] if c]
                for chat_id in chat_ids:
                    await self._alert(chat_id, str(exc), now)
            raise

    async def _alert(self, chat_id: int, error: str, now: datetime) -> None:
        last = self._alerted.get(chat_id)
        if last is not None and now - last < ALERT_EVERY:
            return
        self._alerted[chat_id] = now
        chat = self.catalog.chat_by_id(chat_id)
        locale = self.renderer.locale_for(None)
        html = self.renderer.chat(
            RIGHTS_LOST_STAFF,
            locale,
            chat_name=chat.name[locale] if chat else str(chat_id),
            chat_id=chat_id,
            error=error[:200],
        )
        for staff_chat in self.staff_chat_ids:
            try:
                await self.chat.send_text(staff_chat, html)
            except Exception:  # an alert must not hide the failure it reports
                log.exception("access: alerting staff %s failed", staff_chat)

    async def _report_reconcile(self, context: dict[str, Any]) -> None:
        """Staff read what the reconcile removed: people seen in a chat without access."""
        locale = self.renderer.locale_for(None)
        rows = []
        for chat_id, n in (context.get("counts") or {}).items():
            chat = self.catalog.chat_by_id(int(chat_id))
            rows.append((chat.name[locale] if chat else str(chat_id), int(chat_id), int(n)))
        html = self.renderer.chat(
            uc.RECONCILE_REPORT, locale, chats=rows, total=sum(r[2] for r in rows)
        )
        for staff_chat in self.staff_chat_ids:
            await self.chat.send_text(staff_chat, html)

    async def _run(
        self, template: str, context: dict[str, Any], language: str | None, now: datetime
    ) -> None:
        if template == uc.RECONCILE_REPORT:
            await self._report_reconcile(context)
            return
        user_id = int(context["user_id"])
        if template == uc.INVITE:
            await self._invite(user_id, context, language, now)
        elif template == uc.APPROVE:
            await self._answer(self.port.approve, int(context["chat_id"]), user_id)
        elif template == uc.DECLINE:
            await self._answer(self.port.decline, int(context["chat_id"]), user_id)
        elif template == uc.REMOVE:
            await self._remove(user_id, context)
        else:
            raise ValueError(f"unknown access effect {template}")

    async def _answer(self, call: Any, chat_id: int, user_id: int) -> None:
        try:
            await call(chat_id, user_id)
        except Exception as exc:
            if any(marker in str(exc) for marker in _ALREADY):
                return  # answered before (a second delivery, or the person withdrew)
            raise

    async def _link(self, chat: AccessChat, now: datetime) -> str:
        if chat.join is JoinMode.ONE_TIME:
            return await self.port.create_link(
                chat.chat_id,
                name="Forever one-time",
                join_request=False,
                expire_at=now + timedelta(hours=chat.link_hours),
            )
        cached = self._links.get(chat.chat_id) or await self.links.get(chat.chat_id)
        if cached is None:
            made = await self.port.create_link(
                chat.chat_id, name="Forever members", join_request=True
            )
            cached = await self.links.put(chat.chat_id, made, now)
        self._links[chat.chat_id] = cached
        return cached

    async def _invite(
        self, user_id: int, context: dict[str, Any], language: str | None, now: datetime
    ) -> None:
        chats = [c for c in (self.catalog.chat_by_id(int(i)) for i in context["chats"]) if c]
        if not chats:
            return
        locale = self.renderer.locale_for(language)
        keyboard = [[Button(text=c.name[locale], url=await self._link(c, now))] for c in chats]
        plan = self.catalog.plan(str(context.get("plan_id") or ""))
        addon = self.catalog.addon(str(context.get("addon_id") or ""))
        html = self.renderer.chat(
            uc.INVITE,
            locale,
            chats=[c.name[locale] for c in chats],
            plan_name=plan.name[locale] if plan else "",
            addon_name=(addon.name.get(locale) or addon.name["en"]) if addon else "",
        )
        result = await self.chat.send_text(user_id, html, keyboard)
        if not result.ok and not result.blocked:
            raise RuntimeError("invite message not sent")

    async def _remove(self, user_id: int, context: dict[str, Any]) -> None:
        chat_id = int(context["chat_id"])
        status = await self.port.member_status(chat_id, user_id)
        if status in access.CHAT_STAFF:
            log.info("access: %s is an administrator of %s; not removed", user_id, chat_id)
            return
        if status in access.PRESENT:
            await self.port.remove(chat_id, user_id)
        elif status == "kicked":
            # Banned by an earlier try whose unban failed (a 429, say): unban only, so a new
            # link lets them back; banning again would be a second removal.
            await self.port.unban(chat_id, user_id)
        chat = self.catalog.chat_by_id(chat_id)
        if not context.get("tell") or chat is None:
            return
        locale = self.renderer.locale_for(context.get("language"))
        html = self.renderer.chat(
            uc.REMOVED_NOTE,
            locale,
            chat_name=chat.name[locale],
            reason=str(context.get("reason") or access.RemovalReason.ENDED),
        )
        await self.chat.send_text(user_id, html)
