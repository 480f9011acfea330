"""Every allowed lifecycle transition, and a clear error for each disallowed one."""

from datetime import UTC, datetime, timedelta

import pytest

from forever.domain import lifecycle as lc
from forever.domain.lifecycle import Action, Billing, Membership, State, TransitionNotAllowed

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
MONTH = timedelta(days=30)


def member(state: State, **kw) -> Membership:
    defaults = dict(
        plan_id="plus",
        billing=Billing.MONTHLY,
        period_end=NOW + timedelta(days=10),
        auto_renew=state is State.ACTIVE,
    )
    if state is State.NONE:
        return Membership()
    if state is State.TRIAL:
        defaults["billing"] = Billing.TRIAL
    if state is State.PAUSED:
        defaults.update(paused_until=NOW + MONTH, paused_credit=timedelta(days=10))
    if state is State.EXPIRED:
        defaults["period_end"] = NOW - timedelta(days=1)
    defaults.update(kw)
    return Membership(state=state, **defaults)


def run(action: Action, m: Membership) -> Membership:
    match action:
        case Action.START_TRIAL:
            return lc.start_trial(m, plan_id="plus", now=NOW, days=7)
        case Action.PAY:
            return lc.pay(
                m, plan_id="plus", billing=Billing.MONTHLY, now=NOW, period=MONTH, auto_renew=True
            )
        case Action.RENEW:
            return lc.renew(m, now=NOW, period=MONTH)
        case Action.CANCEL:
            return lc.cancel(m, now=NOW)
        case Action.UNDO_CANCEL:
            return lc.undo_cancel(m, now=NOW, auto_renew=True)
        case Action.PAUSE:
            return lc.pause(m, now=NOW, months=1)
        case Action.RESUME:
            return lc.resume(m, now=NOW)
        case Action.PAYMENT_FAILED:
            return lc.payment_failed(m)
        case Action.EXPIRE:
            return lc.expire(m, now=NOW)
        case Action.GRANT:
            return lc.grant(m, plan_id="pro", now=NOW, days=14)
    raise AssertionError(action)


EXPECTED = {
    (Action.START_TRIAL, State.NONE): State.TRIAL,
    **{(Action.PAY, s): State.ACTIVE for s in lc.ALLOWED[Action.PAY]},
    **{(Action.RENEW, s): State.ACTIVE for s in lc.ALLOWED[Action.RENEW]},
    (Action.CANCEL, State.TRIAL): State.CANCEL_SCHEDULED,
    (Action.CANCEL, State.ACTIVE): State.CANCEL_SCHEDULED,
    (Action.CANCEL, State.PAST_DUE): State.EXPIRED,
    (Action.UNDO_CANCEL, State.CANCEL_SCHEDULED): State.ACTIVE,
    (Action.PAUSE, State.ACTIVE): State.PAUSED,
    (Action.RESUME, State.PAUSED): State.ACTIVE,
    **{(Action.PAYMENT_FAILED, s): State.PAST_DUE for s in lc.ALLOWED[Action.PAYMENT_FAILED]},
    **{(Action.EXPIRE, s): State.EXPIRED for s in lc.ALLOWED[Action.EXPIRE]},
    **{(Action.GRANT, s): State.ACTIVE for s in State},
}


def test_the_table_covers_exactly_the_allowed_transitions() -> None:
    allowed = {(a, s) for a, states in lc.ALLOWED.items() for s in states}
    assert allowed == set(EXPECTED)


@pytest.mark.parametrize(("action", "state"), sorted(EXPECTED, key=str))
def test_allowed_transition(action: Action, state: State) -> None:
    result = run(action, member(state))
    assert result.state is EXPECTED[(action, state)]


DISALLOWED = [(a, s) for a in Action for s in State if s not in lc.ALLOWED[a]]


@pytest.mark.parametrize(("action", "state"), DISALLOWED)
def test_disallowed_transition_raises_a_domain_error(action: Action, state: State) -> None:
    with pytest.raises(TransitionNotAllowed) as info:
        run(action, member(state))
    assert state.value in str(info.value)


def test_cancel_keeps_access_until_the_period_ends() -> None:
    m = lc.cancel(member(State.ACTIVE), now=NOW)
    assert m.has_access and not m.auto_renew
    assert m.period_end == NOW + timedelta(days=10)


def test_undo_cancel_of_a_trial_returns_to_the_trial() -> None:
    m = lc.cancel(member(State.TRIAL), now=NOW)
    assert lc.undo_cancel(m, now=NOW, auto_renew=True).state is State.TRIAL


def test_undo_after_the_period_ended_is_refused() -> None:
    m = lc.cancel(member(State.ACTIVE), now=NOW)
    with pytest.raises(TransitionNotAllowed):
        lc.undo_cancel(m, now=NOW + timedelta(days=11), auto_renew=True)


def test_pause_keeps_the_unused_paid_time_for_the_resume() -> None:
    paused = lc.pause(member(State.ACTIVE), now=NOW, months=2)
    assert paused.paused_until == NOW + timedelta(days=60)
    later = NOW + timedelta(days=20)
    resumed = lc.resume(paused, now=later)
    assert resumed.state is State.ACTIVE
    assert resumed.period_end == later + timedelta(days=10)


def test_pause_length_is_limited() -> None:
    with pytest.raises(ValueError, match="1 to 3 months"):
        lc.pause(member(State.ACTIVE), now=NOW, months=4)


def test_paying_again_on_the_same_plan_adds_to_the_time_left() -> None:
    m = lc.pay(
        member(State.ACTIVE),
        plan_id="plus",
        billing=Billing.YEARLY,
        now=NOW,
        period=timedelta(days=365),
        auto_renew=False,
    )
    assert m.period_end == NOW + timedelta(days=10 + 365)


def test_renewal_extends_from_the_current_period_end() -> None:
    m = lc.renew(member(State.ACTIVE), now=NOW, period=MONTH)
    assert m.period_end == NOW + timedelta(days=40)


def test_due_to_expire_waits_for_renewals_during_the_grace() -> None:
    renewing = member(State.ACTIVE, period_end=NOW - timedelta(days=1), auto_renew=True)
    assert not lc.due_to_expire(renewing, NOW)
    assert lc.due_to_expire(renewing, NOW + timedelta(days=3))
    ended = member(State.CANCEL_SCHEDULED, period_end=NOW)
    assert lc.due_to_expire(ended, NOW)
    assert not lc.due_to_expire(member(State.PAUSED), NOW + timedelta(days=400))
