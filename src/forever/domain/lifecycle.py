"""The subscription lifecycle as a pure state machine.

Each action maps an allowed set of states to the next state; anything else is a
`TransitionNotAllowed`. Services persist the resulting `Membership` and write an event.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class State(StrEnum):
    NONE = "none"
    TRIAL = "trial"
    ACTIVE = "active"
    PAUSED = "paused"
    CANCEL_SCHEDULED = "cancel_scheduled"
    PAST_DUE = "past_due"
    EXPIRED = "expired"


class Billing(StrEnum):
    TRIAL = "trial"
    MONTHLY = "monthly"  # Telegram Stars subscription, renews every 30 days
    YEARLY = "yearly"  # one-off payment for a year
    GRANT = "grant"  # given by staff


class Action(StrEnum):
    START_TRIAL = "start_trial"
    PAY = "pay"
    RENEW = "renew"
    CANCEL = "cancel"
    UNDO_CANCEL = "undo_cancel"
    PAUSE = "pause"
    RESUME = "resume"
    PAYMENT_FAILED = "payment_failed"
    EXPIRE = "expire"
    GRANT = "grant"


# Which states each action may start from. Kept as data so tests can walk all of it.
ALLOWED: dict[Action, frozenset[State]] = {
    Action.START_TRIAL: frozenset({State.NONE}),
    Action.PAY: frozenset(
        {
            State.NONE,
            State.TRIAL,
            State.ACTIVE,
            State.CANCEL_SCHEDULED,
            State.PAST_DUE,
            State.EXPIRED,
            State.PAUSED,
        }
    ),
    Action.RENEW: frozenset({State.ACTIVE, State.PAST_DUE, State.CANCEL_SCHEDULED}),
    Action.CANCEL: frozenset({State.TRIAL, State.ACTIVE, State.PAST_DUE}),
    Action.UNDO_CANCEL: frozenset({State.CANCEL_SCHEDULED}),
    Action.PAUSE: frozenset({State.ACTIVE}),
    Action.RESUME: frozenset({State.PAUSED}),
    Action.PAYMENT_FAILED: frozenset({State.ACTIVE, State.CANCEL_SCHEDULED, State.PAST_DUE}),
    Action.EXPIRE: frozenset({State.TRIAL, State.ACTIVE, State.CANCEL_SCHEDULED, State.PAST_DUE}),
    Action.GRANT: frozenset(set(State)),
}

HAS_ACCESS = frozenset({State.TRIAL, State.ACTIVE, State.CANCEL_SCHEDULED, State.PAST_DUE})


class TransitionNotAllowed(Exception):
    def __init__(self, action: Action, state: State) -> None:
        super().__init__(f"cannot {action.value.replace('_', ' ')} from state {state.value}")
        self.action = action
        self.state = state


@dataclass(frozen=True, slots=True)
class Membership:
    """What a person has right now. `period_end` is when access ends unless renewed."""

    state: State = State.NONE
    plan_id: str | None = None
    billing: Billing | None = None
    period_end: datetime | None = None
    auto_renew: bool = False
    paused_until: datetime | None = None
    # Paid time left when a pause began; given back on resume.
    paused_credit: timedelta | None = None

    @property
    def has_access(self) -> bool:
        return self.state in HAS_ACCESS

    def check(self, action: Action) -> None:
        if self.state not in ALLOWED[action]:
            raise TransitionNotAllowed(action, self.state)


def start_trial(m: Membership, *, plan_id: str, now: datetime, days: int) -> Membership:
    m.check(Action.START_TRIAL)
    return Membership(
        state=State.TRIAL,
        plan_id=plan_id,
        billing=Billing.TRIAL,
        period_end=now + timedelta(days=days),
    )


def pay(
    m: Membership,
    *,
    plan_id: str,
    billing: Billing,
    now: datetime,
    period: timedelta,
    auto_renew: bool,
) -> Membership:
    """A new purchase. Paid time already held on the same plan is kept, never lost."""
    m.check(Action.PAY)
    start = now
    if (
        m.state in (State.ACTIVE, State.CANCEL_SCHEDULED)
        and m.billing
        in (
            Billing.MONTHLY,
            Billing.YEARLY,
        )
        and m.period_end is not None
        and m.period_end > now
        and m.plan_id == plan_id
    ):
        start = m.period_end
    return Membership(
        state=State.ACTIVE,
        plan_id=plan_id,
        billing=billing,
        period_end=start + period,
        auto_renew=auto_renew,
    )


def renew(m: Membership, *, now: datetime, period: timedelta) -> Membership:
    m.check(Action.RENEW)
    base = m.period_end if m.period_end is not None and m.period_end > now else now
    return replace(m, state=State.ACTIVE, period_end=base + period, auto_renew=True)


def extend_canceled(m: Membership, *, now: datetime, period: timedelta) -> Membership:
    """A renewal charged after the member cancelled, and kept: the paid period is added
    (from the end of access, or from now once it ended) and the membership stays cancelled:
    nothing renews after it."""
    if m.state not in (State.CANCEL_SCHEDULED, State.EXPIRED):
        raise TransitionNotAllowed(Action.RENEW, m.state)
    base = m.period_end if m.period_end is not None and m.period_end > now else now
    return replace(m, state=State.CANCEL_SCHEDULED, period_end=base + period, auto_renew=False)


def cancel(m: Membership, *, now: datetime) -> Membership:
    """Access stays until the period ends; a past-due membership ends now."""
    m.check(Action.CANCEL)
    if m.state is State.PAST_DUE:
        return replace(m, state=State.EXPIRED, period_end=now, auto_renew=False)
    return replace(m, state=State.CANCEL_SCHEDULED, auto_renew=False)


def undo_cancel(m: Membership, *, now: datetime, auto_renew: bool) -> Membership:
    m.check(Action.UNDO_CANCEL)
    if m.period_end is not None and m.period_end <= now:
        raise TransitionNotAllowed(Action.UNDO_CANCEL, State.EXPIRED)
    back = State.TRIAL if m.billing is Billing.TRIAL else State.ACTIVE
    return replace(m, state=back, auto_renew=auto_renew and back is State.ACTIVE)


def pause(m: Membership, *, now: datetime, months: int, max_months: int = 3) -> Membership:
    m.check(Action.PAUSE)
    if not 1 <= months <= max_months:
        raise ValueError(f"a pause lasts 1 to {max_months} months")
    credit = max(m.period_end - now, timedelta(0)) if m.period_end else timedelta(0)
    return replace(
        m,
        state=State.PAUSED,
        paused_until=now + timedelta(days=30 * months),
        paused_credit=credit,
        auto_renew=False,
    )


def resume(m: Membership, *, now: datetime) -> Membership:
    """Back from a pause with the paid time that was left; none left means expired."""
    m.check(Action.RESUME)
    credit = m.paused_credit or timedelta(0)
    state = State.ACTIVE if credit > timedelta(0) else State.EXPIRED
    return replace(
        m,
        state=state,
        period_end=now + credit,
        paused_until=None,
        paused_credit=None,
        auto_renew=False,
    )


def payment_failed(m: Membership) -> Membership:
    m.check(Action.PAYMENT_FAILED)
    return replace(m, state=State.PAST_DUE, auto_renew=False)


def expire(m: Membership, *, now: datetime) -> Membership:
    m.check(Action.EXPIRE)
    return replace(
        m, state=State.EXPIRED, period_end=min(m.period_end or now, now), auto_renew=False
    )


def grant(m: Membership, *, plan_id: str, now: datetime, days: int) -> Membership:
    m.check(Action.GRANT)
    if days < 1:
        raise ValueError("a grant lasts at least one day")
    base = m.period_end if m.has_access and m.period_end and m.period_end > now else now
    return Membership(
        state=State.ACTIVE,
        plan_id=plan_id,
        billing=Billing.GRANT,
        period_end=base + timedelta(days=days),
        auto_renew=False,
    )


def due_to_expire(m: Membership, now: datetime, grace: timedelta = timedelta(days=3)) -> bool:
    """True when the period is over and nothing will renew it.

    A renewing or past-due membership gets `grace` for Telegram's renewal (or its failure
    notice) to arrive before access ends.
    """
    if m.period_end is None or m.state not in ALLOWED[Action.EXPIRE]:
        return False
    if (m.state is State.ACTIVE and m.auto_renew) or m.state is State.PAST_DUE:
        return m.period_end + grace <= now
    return m.period_end <= now
