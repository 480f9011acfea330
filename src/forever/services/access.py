"""Membership access (issue 17): the chats follow the membership.

`SyncAccess` compares what each membership opens (domain.access) with the chats the bot gave
(access grants) and queues the difference through the outbox: an invite message with a
button per newly opened chat, a removal (ban, then unban so they can come back) and a note
for each chat that closed once the grace period is over. It runs for one person right after
their own taps and payments, and for everyone in the scheduled sweep, which also removes
anyone seen in a chat without access (the reconcile). Join requests are answered from the
grants: approved for a person the bot gave the chat, declined (with a private note) for
anyone else. Every change is idempotent (outbox keys) and recorded as an event.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from forever.domain import access
from forever.domain.catalog import AccessChat, Catalog
from forever.domain.clock import Clock
from forever.domain.events import EventKind
from forever.domain.people import FORGET_WHEN_SENT
from forever.services.ports import DeliveryKick, EventLog, Outbox, UnitOfWork
from forever.services.records import PersonRecord
from forever.services.staff import AuditLog, StaffDirectory, parse_who

# Outbox templates (channel "telegram": Bot API effects run by jobs/access_effects.py).
INVITE = "access_invite"  # the message with one join button per chat
APPROVE = "access_approve"
DECLINE = "access_decline"
REMOVE = "access_remove"
RECONCILE_REPORT = "access_reconcile_staff"  # staff are told what the reconcile removed
# Chat messages (message_templates/chat/, one shared template each).
REMOVED_NOTE = "access_removed"
DECLINED_NOTE = "access_declined"
# The audit log's actor for what the bot did by itself (removals, join answers).
BOT_ACTOR = 0


class GrantRecord(Protocol):
    id: int
    person_id: int
    chat_id: int
    telegram_id: int | None
    status: str
    round: int
    granted_at: datetime
    lost_at: datetime | None
    removed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Holder:
    """A person with a subscription, as access sees it."""

    person_id: int
    telegram_id: int | None
    state: str | None
    plan_id: str | None
    language: str | None = None
    # Add-ons (ids) that open chats: live now, and bought before but ended or refunded.
    addons: frozenset[str] = frozenset()
    ended_addons: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class AddonHolding:
    """One purchase of an add-on that opens chats (services.shop writes them)."""

    person_id: int
    addon_id: str
    ends_at: datetime | None
    refunded_at: datetime | None


@dataclass(frozen=True, slots=True)
class Presence:
    chat_id: int
    user_id: int
    status: str


class AccessStore(Protocol):
    async def holders(self, person_ids: Collection[int] | None) -> Sequence[Holder]:
        """People with a subscription or an add-on not refunded (all of them when
        `person_ids` is None), and anyone holding a grant."""
        ...

    async def addon_holdings(
        self, person_ids: Collection[int] | None, addon_ids: Collection[str]
    ) -> Sequence[AddonHolding]:
        """Purchases of these add-ons by these people (by anyone when None), refunded and
        ended ones included."""
        ...

    async def grants(self, person_ids: Collection[int] | None) -> Sequence[GrantRecord]:
        """Every grant of these people (of everyone when None), removed ones included."""
        ...

    async def grant_of(self, chat_id: int, telegram_id: int) -> GrantRecord | None: ...

    def add_grant(
        self, *, person_id: int, chat_id: int, telegram_id: int | None, now: datetime
    ) -> GrantRecord: ...

    async def present(self, chat_ids: Collection[int]) -> Sequence[Presence]:
        """Users the bot saw in these chats and has not seen leave."""
        ...

    async def set_member(self, chat_id: int, user_id: int, status: str, now: datetime) -> None: ...

    async def mark_removing(self, pairs: Collection[tuple[int, int]], now: datetime) -> None:
        """(chat id, user id) seen in the chat whose removal was just queued: `removing`
        until Telegram says they left, so no later pass queues a second removal."""
        ...

    async def given_up_removals(self, chat_ids: Collection[int]) -> Sequence[dict[str, Any]]:
        """For each person still marked `removing` in these chats whose latest queued
        removal the outbox gave up on (status `failed`: a bot demoted for more than a day,
        say), that removal's context (user_id, chat_id, reason, person_id, tell, language)."""
        ...

    async def member_counts(self) -> dict[int, int]: ...

    async def changed_since(
        self, event_id: int | None, kinds: Collection[str]
    ) -> tuple[int | None, set[int]]:
        """(the newest event id, the people with an event of `kinds` after `event_id`);
        with `event_id` None only the newest id (where to start watching)."""
        ...

    async def presence_of(self, user_id: int) -> dict[int, str]:
        """chat id -> the status the bot last saw for this user."""
        ...


@dataclass
class SyncReport:
    invited: int = 0  # invite messages queued
    removals: int = 0  # removals queued (access ended)
    strays: int = 0  # removals queued by the reconcile
    people: set[int] = field(default_factory=set)
    # (chat id, Telegram id) of the removals queued in this pass (marked `removing`)
    removing: set[tuple[int, int]] = field(default_factory=set)

    @property
    def total(self) -> int:
        return self.invited + self.removals + self.strays


# Events after which someone's chats may have to change (followed right after each update).
MEMBERSHIP_EVENTS = frozenset(
    {
        EventKind.TRIAL_STARTED,
        EventKind.ACTIVATED,
        EventKind.RENEWED,
        EventKind.PLAN_CHANGED,
        EventKind.CANCELED,
        EventKind.PAUSED,
        EventKind.RESUMED,
        EventKind.ACCESS_ENDED,
        EventKind.GRANTED,
        EventKind.REFUNDED,
        EventKind.ERASED,
    }
)


class SyncAccess:
    def __init__(
        self,
        *,
        uow: UnitOfWork,
        store: AccessStore,
        events: EventLog,
        outbox: Outbox,
        catalog: Catalog,
        staff_ids: Collection[int],
        kick: DeliveryKick | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.uow = uow
        self.store = store
        self.events = events
        self.outbox = outbox
        self.catalog = catalog
        self.staff_ids = frozenset(staff_ids)
        self.kick = kick
        self.audit = audit
        self._watermark: int | None = None  # the newest event this process has followed

    @property
    def enabled(self) -> bool:
        return bool(self.catalog.chats)

    async def sweep(self, now: datetime) -> int:
        """The scheduled pass: everyone, then the reconcile; returns what it queued."""
        if not self.enabled:
            return 0
        report = await self.run(now, None, reconcile=True)
        return report.total

    async def after_update(self, person_id: int | None, now: datetime) -> SyncReport:
        """After an update: the person who sent it, and anyone whose membership an event
        since the last update changed (a staff refund or grant, say). An event committed out
        of order may be missed here; the sweep catches it."""
        if not self.enabled:
            return SyncReport()
        async with self.uow.begin():
            newest, people = await self.store.changed_since(
                self._watermark, [k.value for k in MEMBERSHIP_EVENTS]
            )
        if newest is not None and (self._watermark is None or newest > self._watermark):
            self._watermark = newest
        if person_id is not None:
            people.add(person_id)
        return await self.for_people(people, now)

    async def for_people(self, person_ids: Collection[int], now: datetime) -> SyncReport:
        if not self.enabled or not person_ids:
            return SyncReport()
        return await self.run(now, person_ids, reconcile=False)

    async def run(
        self, now: datetime, person_ids: Collection[int] | None, *, reconcile: bool
    ) -> SyncReport:
        report = SyncReport()
        async with self.uow.begin():
            holders = {h.person_id: h for h in await self.store.holders(person_ids)}
            await self._add_addons(holders, person_ids, now)
            grants: dict[tuple[int, int], GrantRecord] = {
                (g.person_id, g.chat_id): g for g in await self.store.grants(person_ids)
            }
            # Outbox rows are queued after the decisions: each insert would otherwise flush
            # the unit of work, scanning every loaded grant again (quadratic in members).
            out: list[dict[str, Any]] = []
            for holder in holders.values():
                await self._open(holder, grants, now, report, out)
            for grant in grants.values():
                await self._close(grant, holders.get(grant.person_id), now, report, out)
            if report.removing:
                # Before the reconcile: someone whose removal waits (a demoted bot, a 429) is
                # no stray for this pass or any later one.
                await self.store.mark_removing(report.removing, now)
            if reconcile:
                await self._reconcile(grants, now, report, out)
                await self._retry_given_up(grants, now, report, out)
            await self._enqueue_all(out, now)
            await self.uow.commit()
        if report.total and self.kick is not None:
            self.kick.kick()
        return report

    async def _add_addons(
        self, holders: dict[int, Holder], person_ids: Collection[int] | None, now: datetime
    ) -> None:
        """The add-ons that open chats each holder bought: live ones open their chats."""
        addon_ids = [a.id for a in self.catalog.addons if a.chats]
        if not addon_ids:
            return
        live: dict[int, set[str]] = {}
        ended: dict[int, set[str]] = {}
        for held in await self.store.addon_holdings(person_ids, addon_ids):
            live_now = access.addon_live(held.ends_at, held.refunded_at, now)
            (live if live_now else ended).setdefault(held.person_id, set()).add(held.addon_id)
        for person_id in live.keys() | ended.keys():
            holder = holders.get(person_id)
            if holder is not None:
                holders[person_id] = replace(
                    holder,
                    addons=frozenset(live.get(person_id, ())),
                    ended_addons=frozenset(
                        ended.get(person_id, set()) - live.get(person_id, set())
                    ),
                )

    async def _enqueue_all(self, rows: list[dict[str, Any]], now: datetime) -> None:
        """One statement for the lot when the outbox can (the SQL one can): a first sweep
        over thousands of members queues thousands of rows."""
        many = getattr(self.outbox, "enqueue_many", None)
        if many is not None and len(rows) > 1:
            await many([{k: v for k, v in r.items() if k != "now"} for r in rows], now)
            return
        for row in rows:
            await self.outbox.enqueue(**row)

    async def _open(
        self,
        holder: Holder,
        grants: dict[tuple[int, int], GrantRecord],
        now: datetime,
        report: SyncReport,
        out: list[dict[str, Any]],
    ) -> None:
        opened: list[tuple[AccessChat, GrantRecord]] = []
        for chat in access.chats_given(self.catalog, holder.state, holder.plan_id, holder.addons):
            grant = grants.get((holder.person_id, chat.chat_id))
            if grant is None:
                grant = self.store.add_grant(
                    person_id=holder.person_id,
                    chat_id=chat.chat_id,
                    telegram_id=holder.telegram_id,
                    now=now,
                )
                grants[(holder.person_id, chat.chat_id)] = grant
                opened.append((chat, grant))
            elif grant.status == "removed":
                grant.status, grant.round, grant.granted_at = "granted", grant.round + 1, now
                grant.lost_at = grant.removed_at = None
                opened.append((chat, grant))
            elif grant.lost_at is not None:
                grant.lost_at = None  # back within the grace period: nothing to do
        if not opened or holder.telegram_id is None:
            return
        for chat, _grant in opened:
            self.events.record(
                EventKind.CHAT_ACCESS_GIVEN, now, holder.person_id, chat=chat.chat_id
            )
        rounds = "-".join(f"{g.chat_id}.{g.round}" for _, g in opened)
        addon_id = self._opening_addon(holder, [chat for chat, _ in opened])
        out.append(
            dict(
                key=f"access-invite:{holder.person_id}:{rounds}"[:200],
                channel="telegram",
                person_id=holder.person_id,
                template=INVITE,
                context={
                    "user_id": holder.telegram_id,
                    "chats": [chat.chat_id for chat, _ in opened],
                    "plan_id": holder.plan_id or "",
                    "addon_id": addon_id,
                },
                marketing=False,
                not_before=now,
                now=now,
            )
        )
        report.invited += 1
        report.people.add(holder.person_id)

    def _opening_addon(self, holder: Holder, chats: list[AccessChat]) -> str:
        """The add-on that opened chats the plan does not (the invite names it), or ""."""
        by_plan = {c.key for c in access.chats_given(self.catalog, holder.state, holder.plan_id)}
        only_addon = {c.key for c in chats} - by_plan
        for addon_id in sorted(holder.addons):
            if only_addon & access.addon_chat_keys(self.catalog, [addon_id]):
                return addon_id
        return ""

    async def _close(
        self,
        grant: GrantRecord,
        holder: Holder | None,
        now: datetime,
        report: SyncReport,
        out: list[dict[str, Any]],
    ) -> None:
        if grant.status != "granted":
            return
        state = holder.state if holder else None
        plan_id = holder.plan_id if holder else None
        addons = holder.addons if holder else frozenset()
        chat = self.catalog.chat_by_id(grant.chat_id)
        if chat is None:
            return  # a chat taken out of the catalog: the business manages it by hand now
        given = {c.chat_id for c in access.chats_given(self.catalog, state, plan_id, addons)}
        if grant.chat_id in given:
            return
        reason = access.removal_reason(
            state, plan_id, self.catalog, chat, holder.ended_addons if holder else ()
        )
        if grant.lost_at is None:
            grant.lost_at = now
            if reason == access.RemovalReason.PLAN:
                # A downgrade: the old plan's chats stay until its paid period would have
                # ended (lost_at is then when access to this chat ends).
                paid_until = await self._old_plan_paid_until(grant.person_id)
                if paid_until is not None and paid_until > now:
                    grant.lost_at = paid_until
        elif reason != access.RemovalReason.PLAN and grant.lost_at > now:
            grant.lost_at = now  # the whole membership ended before the old period did
        if not access.removal_due(grant.lost_at, now, self.catalog):
            return
        grant.status, grant.removed_at = "removed", now
        telegram_id = grant.telegram_id
        if holder is None or holder.telegram_id is None:
            # An erased person: the queued removal carries the id it needs; the grant keeps none.
            grant.telegram_id = None
        if telegram_id is None or telegram_id in self.staff_ids:
            return
        self._queue_removal(
            out,
            grant.chat_id,
            telegram_id,
            person_id=grant.person_id,
            key=f"access-remove:{grant.id}:{grant.round}",
            reason=reason,
            now=now,
            tell=holder is not None and holder.telegram_id is not None,
            language=holder.language if holder else None,
        )
        report.removals += 1
        report.people.add(grant.person_id)
        report.removing.add((grant.chat_id, telegram_id))

    async def _old_plan_paid_until(self, person_id: int) -> datetime | None:
        find = getattr(self.store, "old_plan_paid_until", None)
        if find is None:
            return None
        found: datetime | None = await find(person_id)
        return found

    async def _reconcile(
        self,
        grants: dict[tuple[int, int], GrantRecord],
        now: datetime,
        report: SyncReport,
        out: list[dict[str, Any]],
    ) -> None:
        entitled = {
            (g.chat_id, g.telegram_id)
            for g in grants.values()
            if g.status == "granted" and g.telegram_id is not None
        }
        chat_ids = [c.chat_id for c in self.catalog.chats]
        skip = entitled | report.removing  # (the latter are `removing` by now anyway)
        found: dict[int, int] = {}  # chat id -> strays queued for removal
        for seen in await self.store.present(chat_ids):
            if seen.status not in access.PRESENT or seen.user_id in self.staff_ids:
                continue
            if (seen.chat_id, seen.user_id) in skip:
                continue  # given access, or just queued for removal as their access ended
            await self.store.set_member(seen.chat_id, seen.user_id, "removing", now)
            self._queue_removal(
                out,
                seen.chat_id,
                seen.user_id,
                person_id=None,
                key=f"access-stray:{seen.chat_id}:{seen.user_id}:{now.isoformat()}",
                reason=access.RemovalReason.STRAY,
                now=now,
                tell=False,
                language=None,
            )
            report.strays += 1
            found[seen.chat_id] = found.get(seen.chat_id, 0) + 1
        if not found or not self.staff_ids:
            return
        counts = {str(chat_id): n for chat_id, n in sorted(found.items())}
        out.append(
            dict(
                key=f"access-reconcile:{now.isoformat()}"[:200],
                channel="telegram",
                person_id=None,
                template=RECONCILE_REPORT,
                context={"user_id": 0, "counts": counts},
                marketing=False,
                not_before=now,
                now=now,
            )
        )
        if self.audit is not None:
            self.audit.record(BOT_ACTOR, "chat_reconcile", now, removed=counts)

    async def _retry_given_up(
        self,
        grants: dict[tuple[int, int], GrantRecord],
        now: datetime,
        report: SyncReport,
        out: list[dict[str, Any]],
    ) -> None:
        """Queue again the removals the outbox gave up on (the person is still `removing`
        and the latest removal queued for them is `failed`: the bot lacked its rights for
        more than a day), as they were, so the person is removed once the bot is fixed. One
        at a time: a new removal is queued only once the previous one was given up."""
        entitled = {
            (g.chat_id, g.telegram_id)
            for g in grants.values()
            if g.status == "granted" and g.telegram_id is not None
        }
        chat_ids = [c.chat_id for c in self.catalog.chats]
        for context in await self.store.given_up_removals(chat_ids):
            chat_id, user_id = int(context["chat_id"]), int(context["user_id"])
            pair = (chat_id, user_id)
            if user_id in self.staff_ids or pair in entitled or pair in report.removing:
                continue
            person_id = context.get("person_id")
            self._queue_removal(
                out,
                chat_id,
                user_id,
                person_id=int(person_id) if person_id is not None else None,
                key=f"access-remove-again:{chat_id}:{user_id}:{now.isoformat()}",
                reason=str(context.get("reason") or access.RemovalReason.ENDED),
                now=now,
                tell=bool(context.get("tell")),
                language=context.get("language"),
            )
            report.removals += 1
            report.removing.add(pair)

    def _queue_removal(
        self,
        out: list[dict[str, Any]],
        chat_id: int,
        user_id: int,
        *,
        person_id: int | None,
        key: str,
        reason: str,
        now: datetime,
        tell: bool,
        language: str | None,
    ) -> None:
        # No person on the effect: an erased person still leaves the chat.
        # Keys are new by construction: a grant's round removes once; a stray key has `now`.
        out.append(
            dict(
                key=key[:200],
                channel="telegram",
                person_id=None,
                template=REMOVE,
                context={
                    "user_id": user_id,
                    "chat_id": chat_id,
                    "reason": reason,
                    "person_id": person_id,
                    "tell": tell,
                    "language": language,
                    # Not told means erased (or a stray): keep no id once they are out.
                    **({} if tell else {FORGET_WHEN_SENT: ["user_id"]}),
                },
                marketing=False,
                not_before=now,
                now=now,
            )
        )
        self.events.record(
            EventKind.CHAT_REMOVAL_QUEUED, now, person_id, chat=chat_id, reason=reason
        )
        if self.audit is not None:
            self.audit.record(
                BOT_ACTOR,
                "chat_removal",
                now,
                chat=chat_id,
                # A person not told is an erased one: the entry keeps their number, not
                # their Telegram id (a stray, with no person, is known by the id alone).
                user_id=user_id if tell or person_id is None else None,
                person_id=person_id,
                reason=reason,
            )


class PeopleByTelegram(Protocol):
    async def by_telegram_id(self, telegram_id: int) -> object | None: ...


class AnswerJoinRequest:
    """A `chat_join_request`: approved when the bot gave this person the chat (a grant),
    declined with a private note otherwise (a shared link is useless to non-members)."""

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        store: AccessStore,
        events: EventLog,
        outbox: Outbox,
        catalog: Catalog,
        kick: DeliveryKick | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.uow = uow
        self.store = store
        self.events = events
        self.outbox = outbox
        self.catalog = catalog
        self.kick = kick
        self.audit = audit

    async def __call__(
        self, chat_id: int, user_id: int, requested_at: int, now: datetime, language: str | None
    ) -> bool | None:
        """True: approved; False: declined; None: not one of the catalog's chats."""
        chat = self.catalog.chat_by_id(chat_id)
        if chat is None:
            return None
        # Two requests at once (or a redelivered update) share the key: one answer.
        key = f"access-join:{chat_id}:{user_id}:{requested_at}"
        async with self.uow.begin():
            grant = await self.store.grant_of(chat_id, user_id)
            approve = grant is not None and grant.status == "granted" and grant.lost_at is None
            person_id = grant.person_id if grant is not None else None
            queued = await self.outbox.enqueue(
                key=key,
                channel="telegram",
                person_id=None,
                template=APPROVE if approve else DECLINE,
                context={"user_id": user_id, "chat_id": chat_id},
                marketing=False,
                not_before=now,
                now=now,
            )
            if queued and not approve:
                await self.outbox.enqueue(
                    key=f"{key}:note",
                    channel="chat",
                    person_id=None,
                    template=DECLINED_NOTE,
                    context={
                        "chat_id": user_id,
                        "chat_name": chat.name,
                        "locale": language or "",
                    },
                    marketing=False,
                    not_before=now,
                    now=now,
                )
            if queued:
                self.events.record(
                    EventKind.CHAT_JOIN_APPROVED if approve else EventKind.CHAT_JOIN_DECLINED,
                    now,
                    person_id,
                    chat=chat_id,
                    user_id=None if person_id else user_id,
                )
                if self.audit is not None:
                    self.audit.record(
                        BOT_ACTOR,
                        "chat_join_approved" if approve else "chat_join_declined",
                        now,
                        chat=chat_id,
                        user_id=user_id,
                        person_id=person_id,
                    )
            await self.uow.commit()
        if self.kick is not None:
            self.kick.kick()
        return approve


class TrackMember:
    """A `chat_member` update: who is in each catalog chat now."""

    def __init__(self, *, uow: UnitOfWork, store: AccessStore, catalog: Catalog) -> None:
        self.uow = uow
        self.store = store
        self.catalog = catalog

    async def __call__(self, chat_id: int, user_id: int, status: str, now: datetime) -> bool:
        if self.catalog.chat_by_id(chat_id) is None:
            return False
        async with self.uow.begin():
            await self.store.set_member(chat_id, user_id, status, now)
            await self.uow.commit()
        return True


class AccessReport:
    """Staff: members per chat (for /stats) and one person's chats (for /access)."""

    def __init__(self, *, uow: UnitOfWork, store: AccessStore, catalog: Catalog) -> None:
        self.uow = uow
        self.store = store
        self.catalog = catalog

    async def member_counts(self) -> list[tuple[AccessChat, int]]:
        async with self.uow.begin():
            counts = await self.store.member_counts()
        return [(chat, counts.get(chat.chat_id, 0)) for chat in self.catalog.chats]

    async def grants_of(self, person_id: int) -> list[tuple[AccessChat, GrantRecord]]:
        async with self.uow.begin():
            grants = await self.store.grants([person_id])
        out = []
        for grant in grants:
            chat = self.catalog.chat_by_id(grant.chat_id)
            if chat is not None:
                out.append((chat, grant))
        return out


@dataclass(frozen=True, slots=True)
class ChatLine:
    chat: AccessChat
    grant: str | None  # granted | removed | None (never given)
    since: datetime | None
    seen: str | None  # the status the bot last saw in the chat


@dataclass(frozen=True, slots=True)
class AccessCard:
    person: PersonRecord
    lines: tuple[ChatLine, ...]

    @property
    def can_resend(self) -> bool:
        return any(line.grant == "granted" for line in self.lines)


class StaffAccess:
    """`/access <person>`: their chats, and re-sending the invite (both audited)."""

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        store: AccessStore,
        directory: StaffDirectory,
        audit: AuditLog,
        outbox: Outbox,
        catalog: Catalog,
        clock: Clock,
        kick: DeliveryKick | None = None,
    ) -> None:
        self.uow = uow
        self.store = store
        self.directory = directory
        self.audit = audit
        self.outbox = outbox
        self.catalog = catalog
        self.clock = clock
        self.kick = kick

    async def card(self, *, staff_id: int, who: str) -> AccessCard | None:
        """None if nobody matches; ValueError if `who` is no id, @name or email."""
        field_name, value = parse_who(who)
        now = self.clock.now()
        async with self.uow.begin():
            person = await self.directory.find_person(field_name, value)
            card = None
            if person is not None:
                grants = {g.chat_id: g for g in await self.store.grants([person.id])}
                seen = (
                    await self.store.presence_of(person.telegram_id)
                    if person.telegram_id is not None
                    else {}
                )
                lines = []
                for chat in self.catalog.chats:
                    grant = grants.get(chat.chat_id)
                    lines.append(
                        ChatLine(
                            chat,
                            grant.status if grant else None,
                            (grant.removed_at or grant.granted_at) if grant else None,
                            seen.get(chat.chat_id),
                        )
                    )
                card = AccessCard(person, tuple(lines))
            self.audit.record(staff_id, "access_lookup", now, query=who)
            await self.uow.commit()
        return card

    async def resend(self, *, staff_id: int, person_id: int) -> int:
        """Queue the invite again for every chat the person holds; how many chats."""
        now = self.clock.now()
        async with self.uow.begin():
            grants = [g for g in await self.store.grants([person_id]) if g.status == "granted"]
            chats = [g.chat_id for g in grants if self.catalog.chat_by_id(g.chat_id)]
            telegram_id = next((g.telegram_id for g in grants if g.telegram_id), None)
            if chats and telegram_id is not None:
                await self.outbox.enqueue(
                    key=f"access-resend:{person_id}:{now.isoformat()}",
                    channel="telegram",
                    person_id=person_id,
                    template=INVITE,
                    context={"user_id": telegram_id, "chats": chats, "plan_id": ""},
                    marketing=False,
                    not_before=now,
                    now=now,
                )
            self.audit.record(staff_id, "access_resend", now, person_id=person_id, chats=chats)
            await self.uow.commit()
        if chats and self.kick is not None:
            self.kick.kick()
        return len(chats) if telegram_id is not None else 0
