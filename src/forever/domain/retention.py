"""Rules of keeping members that are not a single state transition: when a cancel reason may
still be given, and what a Telegram `subscription` update means for a membership."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from forever.domain.account import may_cancel, may_undo_cancel
from forever.domain.lifecycle import ALLOWED, Action, Membership, State


def may_give_reason(
    m: Membership, *, canceled_at: datetime | None, cancel_reason: str | None
) -> bool:
    """The "why?" question is answered once, after a cancel, while it still stands."""
    return (
        m.state in (State.CANCEL_SCHEDULED, State.EXPIRED)
        and canceled_at is not None
        and cancel_reason is None
    )


class TelegramChange(StrEnum):
    """What Telegram's own subscription update does to the membership."""

    CANCELED = "canceled"  # cancelled in Telegram's settings
    REACTIVATED = "reactivated"  # re-enabled there before the period ended
    FAILED = "failed"  # a renewal failed: past due
    ALREADY_FAILED = "already_failed"  # the same failure told again: nothing changes
    IGNORED = "ignored"


def telegram_change(m: Membership, update_state: str, now: datetime) -> TelegramChange:
    """The same change the bot's own buttons would make, from Telegram's `state`
    (canceled | active | failed)."""
    if update_state == "canceled":
        if may_cancel(m) and (m.auto_renew or m.state is State.PAST_DUE):
            return TelegramChange.CANCELED
    elif update_state == "active":
        if may_undo_cancel(m, now):
            return TelegramChange.REACTIVATED
    elif update_state == "failed" and m.state in ALLOWED[Action.PAYMENT_FAILED]:
        if m.state is State.PAST_DUE:
            return TelegramChange.ALREADY_FAILED
        return TelegramChange.FAILED
    return TelegramChange.IGNORED
