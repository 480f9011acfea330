"""Where a person stands, and what they may do from there: the account view model.

`Snapshot` is assembled by the use cases from stored records; everything here is a rule on
it (which buttons the account shows, which taps can still act), so chat, the sandbox and
staff tools agree without reading each other's code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from forever.domain.catalog import Catalog
from forever.domain.lifecycle import ALLOWED, Action, Billing, Membership, State


class Status(StrEnum):
    """What a tap did."""

    DONE = "done"
    STALE = "stale"  # the button was made for an older state: nothing done
    NOT_ALLOWED = "not_allowed"  # not possible from the current state


class Marketing(StrEnum):
    NONE = "none"
    PENDING = "pending"
    CONFIRMED = "confirmed"
    WITHDRAWN = "withdrawn"


def marketing_state(
    *, asked: bool, confirmed_at: datetime | None, withdrawn_at: datetime | None
) -> Marketing:
    """The person's latest answer about marketing email."""
    if not asked:
        return Marketing.NONE
    if withdrawn_at is not None:
        return Marketing.WITHDRAWN
    return Marketing.CONFIRMED if confirmed_at is not None else Marketing.PENDING


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Where a person stands right now. `version` is the subscription version the next
    buttons carry: a tap made for another version acts on nothing."""

    person_id: int
    telegram_id: int | None
    first_name: str | None
    username: str | None
    language: str
    email: str | None
    email_status: str
    trial_used: bool
    membership: Membership
    version: int
    cancel_reason: str | None
    canceled_at: datetime | None
    renewing_star_subscription: bool
    marketing: str  # a Marketing value
    erased: bool
    # What the Stars subscription the membership runs on charges per 30 days (its first
    # charge; a discount offer's subscription renews at its discounted price). None: unknown.
    renewal_stars: int | None = None


class AccountAction(StrEnum):
    """The buttons /account may show, in the order it shows them."""

    START_TRIAL = "start_trial"
    SEE_PLANS = "see_plans"
    UPGRADE = "upgrade"
    PAUSE = "pause"
    RESUME = "resume"
    KEEP = "keep"  # undo a scheduled cancel
    CANCEL = "cancel"


_SHOW_PLANS = frozenset({State.NONE, State.EXPIRED, State.PAST_DUE, State.CANCEL_SCHEDULED})
PAID = frozenset({Billing.MONTHLY, Billing.YEARLY})


def account_actions(snap: Snapshot, catalog: Catalog) -> tuple[AccountAction, ...]:
    """What this person may do from /account right now (never hide the cancel button)."""
    m = snap.membership
    out: list[AccountAction] = []
    if m.state is State.NONE and not snap.trial_used:
        out.append(AccountAction.START_TRIAL)
    if m.state in _SHOW_PLANS:
        out.append(AccountAction.SEE_PLANS)
    higher = catalog.next_tier_up(m.plan_id or "") if m.has_access else None
    if m.state in (State.TRIAL, State.ACTIVE) and (higher is not None or m.state is State.TRIAL):
        out.append(AccountAction.UPGRADE)
    if may_pause(m) and m.billing in PAID:
        out.append(AccountAction.PAUSE)
    if m.state in ALLOWED[Action.RESUME]:
        out.append(AccountAction.RESUME)
    if m.state is State.CANCEL_SCHEDULED:
        out.append(AccountAction.KEEP)
    if may_cancel(m):
        out.append(AccountAction.CANCEL)
    return tuple(out)


def may_cancel(m: Membership) -> bool:
    return m.state in ALLOWED[Action.CANCEL]


def may_pause(m: Membership) -> bool:
    """A running membership may pause (the button is offered to paid ones only)."""
    return m.state in ALLOWED[Action.PAUSE]


def may_undo_cancel(m: Membership, now: datetime) -> bool:
    """ "Keep my subscription" works while the paid period lasts."""
    return m.state is State.CANCEL_SCHEDULED and (m.period_end is None or m.period_end > now)


def may_resume(m: Membership) -> bool:
    return m.state in ALLOWED[Action.RESUME]
