"""Membership access: which chats a membership opens, and when they close (issue 17)."""

from __future__ import annotations

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


def chats_given(catalog: Catalog, state: str | None, plan_id: str | None) -> tuple[AccessChat, ...]:
    """The chats a membership in `state` on `plan_id` opens right now."""
    if state is None:
        return ()
    current = State(state)
    if current in HAS_ACCESS or (current is State.PAUSED and not catalog.access.pause_removes):
        return catalog.chats_of(plan_id)
    return ()


def removal_reason(state: str | None, plan_id: str | None, catalog: Catalog) -> str:
    if state == State.PAUSED.value:
        return RemovalReason.PAUSED
    if state is not None and State(state) in HAS_ACCESS and catalog.plan(plan_id or ""):
        return RemovalReason.PLAN
    return RemovalReason.ENDED


def removal_due(lost_at: datetime, now: datetime, catalog: Catalog) -> bool:
    """The grace period after access ended is over."""
    return now >= lost_at + timedelta(hours=catalog.access.grace_hours)
