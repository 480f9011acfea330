"""The staff inbox: a customer's answer to a broadcast reaches staff, and staff answer back.

A customer's text that no other handler expects, sent as a Telegram reply to a broadcast
message (or plainly, within REPLY_WINDOW after a broadcast reached them), is copied to every
staff member (ADMIN_IDS and SUPPORT_IDS) with the person's id and a Reply button. The staff
member who taps Reply writes their answer as their next message; it goes back to that customer.

Both directions are audit entries written in the transaction that queues the messages, and
every message leaves through the outbox (chat rows, kicked after the commit).

The Reply button carries the customer's id signed with the secret key: the bot made it for a
message that reached staff, so a forged callback cannot make staff write to an arbitrary id
(and only staff reach the handler at all).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from forever.domain.clock import Clock
from forever.domain.signing import BadToken, Signer
from forever.services.ports import DeliveryKick, Outbox, PeopleRepository, UnitOfWork
from forever.services.records import PersonRecord
from forever.services.staff import AuditLog, can_be_told

# A plain message (not a Telegram reply) this soon after a broadcast reached the person is
# taken as an answer to it; later, only an explicit reply to the broadcast message is.
REPLY_WINDOW = timedelta(hours=24)
# Kept in the audit log and shown to staff; Telegram's own limit is 4096.
MAX_TEXT = 3500
# message_templates/chat/: what staff receive, and what the customer receives back.
INBOX_MESSAGE = "inbox_message"
STAFF_REPLY = "staff_reply"
SIGNING_PURPOSE = "inbox-reply"


class BroadcastReplies(Protocol):
    """Which broadcast a customer's message answers."""

    async def broadcast_message(self, chat_id: int, message_id: int) -> int | None:
        """The broadcast whose copy in chat `chat_id` is message `message_id`."""
        ...

    async def latest_broadcast(self, chat_id: int, since: datetime) -> int | None:
        """The broadcast delivered last to chat `chat_id`, if delivered at `since` or later."""
        ...


@dataclass(frozen=True, slots=True)
class Forwarded:
    """A customer's message taken in: to how many staff members it goes."""

    broadcast_id: int
    staff: int


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """Whom a Reply button answers."""

    person_id: int
    name: str | None
    telegram_id: int


@dataclass(frozen=True, slots=True)
class Answered:
    outcome: str  # sent | unreachable | bad_target | not_staff
    target: ReplyTarget | None = None


class StaffReplies:
    def __init__(
        self,
        uow: UnitOfWork,
        replies: BroadcastReplies,
        people: PeopleRepository,
        audit: AuditLog,
        outbox: Outbox,
        kick: DeliveryKick,
        clock: Clock,
        signer: Signer,
        staff_ids: Set[int],
        default_locale: str,
    ) -> None:
        self.uow = uow
        self.replies = replies
        self.people = people
        self.audit = audit
        self.outbox = outbox
        self.kick = kick
        self.clock = clock
        self.signer = signer
        self.staff_ids = frozenset(staff_ids)
        self.default_locale = default_locale

    def is_staff(self, telegram_id: int | None) -> bool:
        return telegram_id is not None and telegram_id in self.staff_ids

    # -- the customer's side -------------------------------------------------------------

    async def answered_broadcast(self, chat_id: int, reply_to: int | None) -> int | None:
        """The broadcast this message answers: the one replied to, or (for a plain message)
        the latest one within REPLY_WINDOW. A reply to some other message answers none, and
        with no staff configured nobody could read it: none either (the usual help follows)."""
        if not self.staff_ids:
            return None
        now = self.clock.now()
        async with self.uow.begin():
            if reply_to is not None:
                return await self.replies.broadcast_message(chat_id, reply_to)
            return await self.replies.latest_broadcast(chat_id, now - REPLY_WINDOW)

    async def take_in(
        self, person: PersonRecord, *, broadcast_id: int, message_id: int, text: str
    ) -> Forwarded:
        """Keep the customer's message in the audit log and queue a copy to every staff
        member, with the Reply button, in one transaction."""
        now = self.clock.now()
        telegram_id = person.telegram_id or 0
        text = text[:MAX_TEXT]
        token = self.signer.sign_compact(SIGNING_PURPOSE, str(person.id))
        async with self.uow.begin():
            self.audit.record(
                telegram_id,
                "customer_message",
                now,
                person=person.id,
                broadcast=broadcast_id,
                message=message_id,
                text=text,
            )
            languages = await self._staff_languages()
            for staff_id in sorted(self.staff_ids):
                await self.outbox.enqueue(
                    key=f"inbox:{telegram_id}:{message_id}:{staff_id}",
                    channel="chat",
                    person_id=None,
                    template=INBOX_MESSAGE,
                    context={
                        "chat_id": staff_id,
                        "locale": languages.get(staff_id, self.default_locale),
                        "customer_name": person.first_name or "",
                        "customer_username": person.username or "",
                        "customer_id": telegram_id,
                        "customer_language": person.language,
                        "broadcast_id": broadcast_id,
                        "text": text,
                        "reply_token": token,
                    },
                    marketing=False,
                    not_before=now,
                    now=now,
                )
            await self.uow.commit()
        self.kick.kick()
        return Forwarded(broadcast_id, len(self.staff_ids))

    async def _staff_languages(self) -> Mapping[int, str]:
        languages: dict[int, str] = {}
        for staff_id in self.staff_ids:
            staff = await self.people.by_telegram_id(staff_id)
            if staff is not None:
                languages[staff_id] = staff.language
        return languages

    # -- the staff side ------------------------------------------------------------------

    async def reply_target(self, staff_id: int, token: str) -> ReplyTarget | None:
        """Whom the Reply button answers; None if the button was not made by us, or the
        customer can no longer be written to."""
        if not self.is_staff(staff_id):
            return None
        person_id = self._person_of(token)
        if person_id is None:
            return None
        async with self.uow.begin():
            person = await self.people.get(person_id)
        if person is None or not can_be_told(person) or person.telegram_id is None:
            return None
        return ReplyTarget(person.id, person.first_name, person.telegram_id)

    async def answer(self, *, staff_id: int, token: str, message_id: int, text: str) -> Answered:
        """Send the staff member's answer to the customer their Reply button names (checked
        again now: the token, staff rights, and that the customer can be written to)."""
        if not self.is_staff(staff_id):
            return Answered("not_staff")
        person_id = self._person_of(token)
        if person_id is None:
            return Answered("bad_target")
        now = self.clock.now()
        text = text[:MAX_TEXT]
        async with self.uow.begin():
            person = await self.people.get(person_id)
            if person is None or person.telegram_id is None:
                return Answered("bad_target")
            target = ReplyTarget(person.id, person.first_name, person.telegram_id)
            if not can_be_told(person):
                return Answered("unreachable", target)
            queued = await self.outbox.enqueue(
                # The staff member's message: a redelivered update (or a form sent again) is
                # neither sent nor audited twice.
                key=f"staff-reply:{staff_id}:{message_id}",
                channel="chat",
                person_id=person.id,
                template=STAFF_REPLY,
                context={"text": text},
                marketing=False,
                not_before=now,
                now=now,
            )
            if queued:
                self.audit.record(
                    staff_id, "staff_reply", now, person=person.id, message=message_id, text=text
                )
            await self.uow.commit()
        self.kick.kick()
        return Answered("sent", target)

    def _person_of(self, token: str) -> int | None:
        try:
            body = self.signer.verify_compact(SIGNING_PURPOSE, token)
        except BadToken:
            return None
        return int(body) if body.isdigit() else None
