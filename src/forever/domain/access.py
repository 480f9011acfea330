"""Membership access: which chats a membership opens, and when they close (issue 17)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from forever.domain.catalog import AccessChat, Catalog
from forever.domain.lifecycle import HAS_ACCESS, State

# Statuses of a chat member that are "in the chat" (chat_member updates, getChatMember).
PRESENT = frozenset({"member", "restricted"})
# Never removed by the bot: the chat's own administrators.
CHAT_STAFF = frozenset({"administrator", "creator"})


class RemovalReason:
    ENDED = "ended"  # the membership ended (expired, cancelled period over, refunded, erased)
    PAUSED = "paused"
    PLAN = "plan"  # the plan now held does not open this chat (a downgrade)
    STRAY = "stray"  # seen in the chat without a membership that opens it (the reconcile)
    ADDON = "addon"  # an add-on that opened this chat ended (its days are over, or refunded)


def chats_given(
    catalog: Catalog, state: str | None, plan_id: str | None, addons: Collection[str] = ()
) -> tuple[AccessChat, ...]:
    """The chats a membership in `state` on `plan_id`, with the live add-ons `addons` (ids),
    opens right now. An add-on opens its chats whatever the membership does."""
    keys = addon_chat_keys(catalog, addons)
    if state is not None:
        current = State(state)
        if current in HAS_ACCESS or (current is State.PAUSED and not catalog.access.pause_removes):
            keys |= {c.key for c in catalog.chats_of(plan_id)}
    return tuple(c for c in catalog.chats if c.key in keys)


def addon_chat_keys(catalog: Catalog, addons: Collection[str]) -> set[str]:
    keys: set[str] = set()
    for addon_id in addons:
        addon = catalog.addon(addon_id)
        if addon is not None:
            keys.update(addon.chats)
    return keys


def addon_live(ends_at: datetime | None, refunded_at: datetime | None, now: datetime) -> bool:
    """An add-on purchase opens its chats until its days are over (`ends_at`; one bought by
    quantity has none) or it is refunded."""
    return refunded_at is None and (ends_at is None or ends_at > now)


def removal_reason(
    state: str | None,
    plan_id: str | None,
    catalog: Catalog,
    chat: AccessChat | None = None,
    ended_addons: Collection[str] = (),
) -> str:
    if (
        chat is not None
        and chat.key in addon_chat_keys(catalog, ended_addons)
        and chat not in catalog.chats_of(plan_id)
    ):
        return RemovalReason.ADDON  # the plan never opened it: an add-on did
    if state == State.PAUSED.value:
        return RemovalReason.PAUSED
    if state is not None and State(state) in HAS_ACCESS and catalog.plan(plan_id or ""):
        return RemovalReason.PLAN
    return RemovalReason.ENDED


def removal_due(lost_at: datetime, now: datetime, catalog: Catalog) -> bool:
    """The grace period after access ended is over."""
    return now >= lost_at + timedelta(hours=catalog.access.grace_hours)
