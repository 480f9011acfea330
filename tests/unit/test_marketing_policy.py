"""The one email policy (domain.marketing): consent, the 48 h cap, quiet hours and journey
eligibility, as pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from forever.domain.catalog import EmailRules, Journey, Trigger
from forever.domain.journeys import MAX_ATTEMPTS
from forever.domain.marketing import (
    JOURNEY_ELIGIBILITY,
    Action,
    MarketingPolicy,
    Message,
    Recipient,
    Standing,
    eligibility,
    standing,
    windows,
)

NOON = datetime(2026, 12, 1, 12, tzinfo=UTC)
POLICY = MarketingPolicy.from_rules(EmailRules(), ZoneInfo("UTC"))


def marketing(**fields: object) -> Message:
    values: dict[str, object] = {
        "channel": "email",
        "marketing": True,
        "attempts": 1,
        "has_person": True,
        "address": "ana@example.com",
    }
    values.update(fields)
    return Message(**values)  # type: ignore[arg-type]


def person(**fields: object) -> Recipient:
    values: dict[str, object] = {"consent": True, "telegram_id": 1, "state": "expired"}
    values.update(fields)
    return Recipient(**values)  # type: ignore[arg-type]


def test_every_trigger_has_one_eligibility_rule() -> None:
    assert set(JOURNEY_ELIGIBILITY) == set(Trigger)


@pytest.mark.parametrize(
    ("trigger", "state", "billing", "applies"),
    [
        (Trigger.SIGNUP, None, None, True),
        (Trigger.TRIAL_START, "trial", "trial", True),
        (Trigger.TRIAL_START, "active", "monthly", False),
        (Trigger.TRIAL_END, "cancel_scheduled", "trial", True),
        (Trigger.TRIAL_END, "cancel_scheduled", "monthly", False),
        (Trigger.TRIAL_EXPIRED, "expired", "trial", True),
        (Trigger.TRIAL_EXPIRED, "active", "monthly", False),
        (Trigger.RENEWAL, "active", "yearly", True),
        (Trigger.RENEWAL, "active", "monthly", False),
        (Trigger.PAYMENT_FAILED, "past_due", "monthly", True),
        (Trigger.PAYMENT_FAILED, "active", "monthly", False),
        (Trigger.INACTIVE, "active", "monthly", True),
        (Trigger.INACTIVE, "expired", "monthly", False),
        (Trigger.ACCESS_ENDED, "expired", "monthly", True),
        (Trigger.ACCESS_ENDED, "expired", "trial", False),
        (Trigger.ACCESS_ENDED, "expired", None, False),  # as SQL: NULL != 'trial' is not true
        (Trigger.ACCESS_ENDED, "active", "monthly", False),  # resubscribed: win-back over
    ],
)
def test_journey_eligibility(
    trigger: Trigger, state: str | None, billing: str | None, applies: bool
) -> None:
    assert eligibility(trigger).applies(state, billing) is applies


def test_marketing_needs_confirmed_consent() -> None:
    verdict = POLICY.verdict(marketing(), person(consent=False), NOON)
    assert verdict.action is Action.CANCEL and verdict.reason == "no marketing consent"
    assert POLICY.verdict(marketing(), person(), NOON).send


def test_transactional_mail_needs_no_consent() -> None:
    assert POLICY.verdict(marketing(marketing=False), person(consent=False), NOON).send


def test_one_marketing_email_per_48_hours() -> None:
    recent = person(last_marketing_at=NOON - timedelta(hours=47))
    verdict = POLICY.verdict(marketing(), recent, NOON)
    assert verdict.action is Action.DEFER
    assert verdict.not_before == NOON + timedelta(hours=1)
    assert POLICY.verdict(
        marketing(), person(last_marketing_at=NOON - timedelta(hours=48)), NOON
    ).send


def test_no_marketing_at_night_in_the_persons_time_zone() -> None:
    # 12:00 UTC is 21:00 in Tokyo: quiet until 08:00 there (23:00 UTC).
    verdict = POLICY.verdict(marketing(), person(timezone="Asia/Tokyo"), NOON)
    assert verdict.action is Action.DEFER
    assert verdict.not_before == datetime(2026, 12, 1, 23, tzinfo=UTC)
    # The language's usual zone when the person set none (it: Europe/Rome, 13:00 there).
    assert POLICY.verdict(marketing(), person(language="it"), NOON).send


def test_cap_and_quiet_hours_together_pick_the_later_morning() -> None:
    late = NOON + timedelta(hours=8)  # 20:00 UTC
    recent = person(last_marketing_at=late - timedelta(hours=47))  # free at 21:00: quiet
    verdict = POLICY.verdict(marketing(), recent, late)
    assert verdict.not_before == datetime(2026, 12, 2, 8, tzinfo=UTC)


def test_a_journey_that_no_longer_applies_is_called_off() -> None:
    winback = marketing(trigger=Trigger.ACCESS_ENDED)
    assert POLICY.verdict(winback, person(state="expired", billing="monthly"), NOON).send
    ended = POLICY.verdict(winback, person(state="active", billing="monthly"), NOON)
    assert ended.action is Action.CANCEL and ended.reason == "journey ended"


def test_rows_queued_before_the_trigger_was_stored_keep_their_states() -> None:
    old = marketing(legacy_states=("expired", "none"))
    assert POLICY.verdict(old, person(state=None), NOON).send
    assert POLICY.verdict(old, person(state="active"), NOON).action is Action.CANCEL


def test_erased_suppressed_blocked_and_exhausted() -> None:
    assert POLICY.verdict(marketing(), person(erased=True), NOON).action is Action.CANCEL
    assert POLICY.verdict(marketing(), None, NOON).action is Action.CANCEL
    suppressed = POLICY.verdict(marketing(suppressed=True), person(), NOON)
    assert suppressed.action is Action.SUPPRESSED
    assert POLICY.verdict(marketing(address=None), person(), NOON).action is Action.CANCEL
    chat = marketing(channel="chat", marketing=False, address=None)
    assert POLICY.verdict(chat, person(blocked=True), NOON).action is Action.FAIL
    assert POLICY.verdict(chat, person(telegram_id=None), NOON).action is Action.CANCEL
    tired = marketing(attempts=MAX_ATTEMPTS + 1)
    assert POLICY.verdict(tired, person(), NOON).action is Action.FAIL


def test_a_chat_row_for_a_staff_chat_needs_no_person() -> None:
    alert = Message(channel="chat", marketing=False, attempts=1, has_person=False, chat_id=42)
    assert POLICY.verdict(alert, None, NOON).send


def test_a_stars_edit_goes_even_for_an_erased_person() -> None:
    edit = Message(channel="telegram", marketing=False, attempts=1, has_person=True)
    assert POLICY.verdict(edit, person(erased=True, blocked=True), NOON).send


def test_windows_never_overlap_the_next_step() -> None:
    journey = Journey("wb", Trigger.ACCESS_ENDED, (7, 8, 30), "winback", marketing=True)
    first, second, third = windows((journey,), 3, NOON)
    assert first.high == NOON - timedelta(days=7)
    assert first.low == first.high - timedelta(days=1)  # the next step is a day later
    assert second.low == second.high - timedelta(days=3)  # late_days
    assert third.key_prefix == "j:wb:2:"


@pytest.mark.parametrize(
    ("state", "billing", "trial_used", "expected"),
    [
        (None, None, False, Standing.NEW),
        ("none", None, False, Standing.NEW),
        ("none", None, True, Standing.FORMER),  # the trial was had (or taken with the address)
        ("trial", "trial", True, Standing.TRIAL),
        ("cancel_scheduled", "trial", True, Standing.TRIAL),
        ("active", "monthly", True, Standing.MEMBER),
        ("active", "yearly", False, Standing.MEMBER),
        ("paused", "monthly", True, Standing.MEMBER),
        ("past_due", "monthly", True, Standing.MEMBER),
        ("cancel_scheduled", "monthly", True, Standing.MEMBER),
        ("expired", "trial", True, Standing.FORMER),
        ("expired", "monthly", True, Standing.FORMER),
    ],
)
def test_what_a_mail_may_say_follows_where_the_person_stands_now(
    state: str | None, billing: str | None, trial_used: bool, expected: Standing
) -> None:
    """A welcome queued at sign-up that leaves after they paid must not offer the trial."""
    assert standing(person(state=state, billing=billing, trial_used=trial_used)) is expected
