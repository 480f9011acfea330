"""Lifecycle rules as a member lives them, on in-memory fakes (no HTTP, no database):
cancel and undo, stale and racing taps, pause and resume, the reason and its one offer,
Telegram's own subscription updates, and the Stars edit leaving through the outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from forever.domain.account import AccountAction, Status, account_actions
from forever.domain.catalog import CancelReason, OfferKind
from forever.domain.events import EventKind
from forever.domain.lifecycle import State
from forever.domain.retention import TelegramChange
from tests.fakes.lifecycle import FakeConsent, LifecycleWorld

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
END = NOW + timedelta(days=20)
TG = 4242


def paying(world: LifecycleWorld, **over: object) -> int:
    fields: dict[str, object] = dict(
        state="active",
        plan_id="plus",
        billing="monthly",
        period_end=END,
        auto_renew=True,
        star_charge_id="charge-1",
        star_payload="payload-1",
    )
    fields.update(over)
    return world.member(TG, **fields)


@pytest.fixture
def world() -> LifecycleWorld:
    return LifecycleWorld(NOW)


# --- cancel ----------------------------------------------------------------------------------


async def test_cancel_keeps_access_until_the_period_ends_and_queues_the_stars_edit(
    world: LifecycleWorld,
) -> None:
    pid = paying(world)
    result = await world.retention.cancel(pid, expected_version=1)

    assert result.status is Status.DONE
    assert result.snap.membership.state is State.CANCEL_SCHEDULED
    assert result.snap.membership.period_end == END  # paid time is kept
    assert not result.snap.renewing_star_subscription
    assert result.snap.version == 2  # the next buttons carry the new version
    [edit] = world.outbox.rows("telegram")
    assert edit.key == f"stars-edit:{pid}:1"
    assert edit.template == "edit_star_subscription"
    assert edit.context == {"user_id": TG, "charge_id": "charge-1", "is_canceled": True}
    assert edit.person_id == pid and not edit.marketing and edit.not_before == NOW
    # Committed first, then the worker is woken to send it at once.
    assert world.uow.commits == 1 and world.kick.kicks == 1
    assert world.kick.queued_at_kick == [1]
    [event] = [e for e in world.store.events if e.kind == EventKind.CANCELED]
    assert event.data == {"plan": "plus", "source": "bot", "access_until": END.isoformat()}


async def test_cancel_is_confirmed_by_email_to_someone_with_an_address(
    world: LifecycleWorld,
) -> None:
    pid = paying(world)
    world.store.people[pid].email = "ana@example.com"
    await world.retention.cancel(pid, expected_version=1)
    [mail] = world.outbox.rows("email")
    assert mail.template == "cancel_confirmed"
    assert mail.context["plan_name"] == "Plus" and mail.context["access_until"] == END


async def test_a_trial_cancel_has_nothing_to_stop_at_telegram(world: LifecycleWorld) -> None:
    pid = world.member(TG, state="trial", plan_id="plus", billing="trial", period_end=END)
    result = await world.retention.cancel(pid, expected_version=1)
    assert result.status is Status.DONE
    assert result.snap.membership.state is State.CANCEL_SCHEDULED
    assert world.outbox.rows("telegram") == []
    assert world.kick.kicks == 0


async def test_nothing_to_cancel_is_not_allowed_and_changes_nothing(
    world: LifecycleWorld,
) -> None:
    pid = world.member(TG, state="expired", plan_id="plus", billing="monthly", period_end=NOW)
    result = await world.retention.cancel(pid, expected_version=1)
    assert result.status is Status.NOT_ALLOWED
    assert world.store.events == [] and world.store.outbox == {}


# --- stale and racing taps --------------------------------------------------------------------


async def test_an_old_button_does_nothing_and_shows_the_current_view(
    world: LifecycleWorld,
) -> None:
    pid = paying(world)
    first = await world.retention.cancel(pid, expected_version=1)
    again = await world.retention.cancel(pid, expected_version=1)  # the same button, again
    assert first.status is Status.DONE
    assert again.status is Status.STALE
    assert again.snap.membership.state is State.CANCEL_SCHEDULED
    assert len(world.outbox.rows("telegram")) == 1
    assert world.events.kinds(pid).count(EventKind.CANCELED) == 1
    assert world.kick.kicks == 1


async def test_the_loser_of_two_racing_taps_gets_the_current_view_and_writes_nothing(
    world: LifecycleWorld,
) -> None:
    pid = paying(world)
    # Another tap committed a change to this subscription between our read and our commit.
    world.uow.fail_next_commit_with_concurrent_change = True
    result = await world.retention.cancel(pid, expected_version=1)
    assert result.status is Status.STALE
    assert result.snap.membership.state is State.ACTIVE  # what the database says
    assert world.store.outbox == {} and world.store.events == []
    assert world.kick.kicks == 0  # no Stars edit leaves for a change that did not happen


async def test_a_stale_pause_tap_writes_nothing(world: LifecycleWorld) -> None:
    pid = paying(world)
    await world.retention.pause(pid, expected_version=1, months=2)
    before = (len(world.store.events), dict(world.store.outbox))
    result = await world.retention.pause(pid, expected_version=1, months=3)
    assert result.status is Status.STALE
    assert (len(world.store.events), dict(world.store.outbox)) == before


# --- undo ------------------------------------------------------------------------------------


async def test_undo_restarts_the_renewal_in_one_tap(world: LifecycleWorld) -> None:
    pid = paying(world)
    await world.retention.cancel(pid, expected_version=1)
    result = await world.retention.undo_cancel(pid, expected_version=None)
    assert result.status is Status.DONE
    assert result.snap.membership.state is State.ACTIVE
    assert result.snap.renewing_star_subscription
    edits = {r.key: r.context["is_canceled"] for r in world.outbox.rows("telegram")}
    assert edits == {f"stars-edit:{pid}:1": True, f"stars-edit:{pid}:2": False}
    assert world.kick.kicks == 2
    assert world.sub(pid).canceled_at is None


async def test_undo_after_the_period_ended_is_not_allowed(world: LifecycleWorld) -> None:
    pid = paying(world)
    await world.retention.cancel(pid, expected_version=1)
    world.clock.advance(timedelta(days=21))
    result = await world.retention.undo_cancel(pid, expected_version=None)
    assert result.status is Status.NOT_ALLOWED
    assert len(world.outbox.rows("telegram")) == 1


async def test_undo_of_a_trial_cancel_goes_back_to_the_trial(world: LifecycleWorld) -> None:
    pid = world.member(TG, state="trial", plan_id="plus", billing="trial", period_end=END)
    await world.retention.cancel(pid, expected_version=1)
    result = await world.retention.undo_cancel(pid, expected_version=None)
    assert result.snap.membership.state is State.TRIAL
    assert world.outbox.rows("telegram") == []


# --- why, and one offer ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "offer"),
    [
        (CancelReason.TOO_EXPENSIVE, "discount_30"),
        (CancelReason.NOT_USING, "pause_month"),
        (CancelReason.OTHER, "lower_tier"),
        (CancelReason.MISSING_FEATURE, None),
    ],
)
async def test_the_reason_given_gets_at_most_one_matched_offer(
    world: LifecycleWorld, reason: CancelReason, offer: str | None
) -> None:
    pid = paying(world)
    canceled = await world.retention.cancel(pid, expected_version=1)
    result = await world.retention.give_reason(
        pid, expected_version=canceled.snap.version, reason=reason
    )
    assert result.status is Status.DONE
    assert (result.offer.id if result.offer else None) == offer
    assert world.sub(pid).cancel_reason == reason.value
    shown = world.events.kinds(pid).count(EventKind.OFFER_SHOWN)
    assert shown == (1 if offer else 0)


async def test_the_reason_is_asked_once(world: LifecycleWorld) -> None:
    pid = paying(world)
    canceled = await world.retention.cancel(pid, expected_version=1)
    await world.retention.give_reason(pid, expected_version=None, reason=CancelReason.TOO_EXPENSIVE)
    again = await world.retention.give_reason(
        pid, expected_version=canceled.snap.version, reason=CancelReason.OTHER
    )
    assert again.status is Status.STALE
    assert world.sub(pid).cancel_reason == "too_expensive"


async def test_a_trial_canceller_gets_the_catalogs_trial_offer(world: LifecycleWorld) -> None:
    pid = world.member(TG, state="trial", plan_id="plus", billing="trial", period_end=END)
    await world.retention.cancel(pid, expected_version=1)
    result = await world.retention.give_reason(
        pid, expected_version=None, reason=CancelReason.NOT_USING
    )
    # No pause for a trial: the next offer in the list, a longer trial.
    assert result.status is Status.DONE and result.offer is not None
    assert result.offer.id == "longer_trial"
    accepted = await world.retention.accept_offer(
        pid, expected_version=result.snap.version, offer_id="longer_trial"
    )
    m = accepted.result.snap.membership
    assert accepted.result.status is Status.DONE
    assert m.state is State.TRIAL and m.period_end == END + timedelta(days=7)
    assert world.sub(pid).canceled_at is None
    assert world.events.kinds(pid).count(EventKind.OFFER_ACCEPTED) == 1


async def test_a_trial_canceller_who_finds_it_too_expensive_gets_the_cheaper_tier(
    world: LifecycleWorld,
) -> None:
    pid = world.member(TG, state="trial", plan_id="plus", billing="trial", period_end=END)
    await world.retention.cancel(pid, expected_version=1)
    result = await world.retention.give_reason(
        pid, expected_version=None, reason=CancelReason.TOO_EXPENSIVE
    )
    assert result.offer is not None and result.offer.id == "lower_tier"
    accepted = await world.retention.accept_offer(pid, expected_version=None, offer_id="lower_tier")
    assert accepted.result.status is Status.DONE and accepted.lower_plan_id == "basic"


async def test_a_discount_goes_once_per_period_then_the_next_offer(
    world: LifecycleWorld,
) -> None:
    pid = paying(world)
    await world.retention.cancel(pid, expected_version=1)
    first = await world.retention.give_reason(
        pid, expected_version=None, reason=CancelReason.TOO_EXPENSIVE
    )
    assert first.offer is not None and first.offer.id == "discount_30"
    # Still open for the cancel it was shown for.
    taken = await world.retention.accept_offer(pid, expected_version=None, offer_id="discount_30")
    assert taken.result.status is Status.DONE
    await world.retention.undo_cancel(pid, expected_version=None)
    world.clock.advance(timedelta(days=10))
    await world.retention.cancel(pid, expected_version=None)
    second = await world.retention.give_reason(
        pid, expected_version=None, reason=CancelReason.TOO_EXPENSIVE
    )
    assert second.offer is not None and second.offer.id == "lower_tier"
    forged = await world.retention.accept_offer(pid, expected_version=None, offer_id="discount_30")
    assert forged.result.status is Status.STALE


async def test_the_pause_offer_applies_at_once_and_only_once(world: LifecycleWorld) -> None:
    pid = paying(world)
    await world.retention.cancel(pid, expected_version=1)
    reasoned = await world.retention.give_reason(
        pid, expected_version=None, reason=CancelReason.NOT_USING
    )
    v = reasoned.snap.version
    accepted = await world.retention.accept_offer(pid, expected_version=v, offer_id="pause_month")
    result = accepted.result
    assert result.status is Status.DONE and result.offer is not None
    assert result.offer.kind is OfferKind.PAUSE
    assert result.snap.membership.state is State.PAUSED
    assert result.snap.membership.paused_credit == timedelta(days=20)
    assert len(world.outbox.rows("telegram")) == 1  # the cancel already stopped renewal
    twice = await world.retention.accept_offer(pid, expected_version=None, offer_id="pause_month")
    assert twice.result.status is Status.STALE
    assert world.events.kinds(pid).count(EventKind.OFFER_ACCEPTED) == 1


async def test_the_lower_tier_offer_names_the_plan_below(world: LifecycleWorld) -> None:
    pid = paying(world)
    await world.retention.cancel(pid, expected_version=1)
    await world.retention.give_reason(pid, expected_version=None, reason=CancelReason.OTHER)
    accepted = await world.retention.accept_offer(pid, expected_version=None, offer_id="lower_tier")
    assert accepted.result.status is Status.DONE
    assert accepted.lower_plan_id == "basic"
    # Takes effect when paid: still a scheduled cancel until then.
    assert accepted.result.snap.membership.state is State.CANCEL_SCHEDULED


async def test_an_offer_that_was_not_shown_is_refused(world: LifecycleWorld) -> None:
    pid = paying(world)
    await world.retention.cancel(pid, expected_version=1)
    await world.retention.give_reason(pid, expected_version=None, reason=CancelReason.TOO_EXPENSIVE)
    forged = await world.retention.accept_offer(pid, expected_version=None, offer_id="lower_tier")
    assert forged.result.status is Status.STALE
    assert EventKind.OFFER_ACCEPTED not in world.events.kinds(pid)


# --- pause and resume ------------------------------------------------------------------------


async def test_pause_stops_the_renewal_and_resume_gives_the_time_back(
    world: LifecycleWorld,
) -> None:
    pid = paying(world)
    paused = await world.retention.pause(pid, expected_version=1, months=2)
    assert paused.status is Status.DONE
    assert paused.snap.membership.state is State.PAUSED
    assert paused.snap.membership.paused_until == NOW + timedelta(days=60)
    [edit] = world.outbox.rows("telegram")
    assert edit.context == {"user_id": TG, "charge_id": "charge-1", "is_canceled": True}
    assert world.kick.kicks == 1
    assert world.sub(pid).star_charge_id is None

    world.clock.advance(timedelta(days=5))
    resumed = await world.retention.resume(pid, expected_version=paused.snap.version)
    assert resumed.status is Status.DONE
    assert resumed.snap.membership.state is State.ACTIVE
    assert resumed.snap.membership.period_end == NOW + timedelta(days=25)
    assert resumed.needs_new_link  # a Stars membership needs a new subscription link


async def test_a_pause_length_outside_the_catalog_is_not_allowed(world: LifecycleWorld) -> None:
    pid = paying(world)
    result = await world.retention.pause(pid, expected_version=1, months=7)
    assert result.status is Status.NOT_ALLOWED
    assert world.store.outbox == {}


async def test_a_pause_that_reached_its_end_resumes_by_itself(world: LifecycleWorld) -> None:
    pid = paying(world)
    await world.retention.pause(pid, expected_version=1, months=1)
    world.clock.advance(timedelta(days=29))
    assert await world.resume_due(world.clock.now()) == 0
    world.clock.advance(timedelta(days=1))
    assert await world.resume_due(world.clock.now()) == 1
    assert world.sub(pid).state == "active"
    assert world.sub(pid).period_end == world.clock.now() + timedelta(days=20)


async def test_memberships_whose_time_is_up_end(world: LifecycleWorld) -> None:
    canceled = world.member(1, state="cancel_scheduled", plan_id="plus", period_end=NOW)
    renewing = world.member(2, state="active", plan_id="plus", period_end=NOW, auto_renew=True)
    assert await world.expire(NOW) == 1
    assert world.sub(canceled).state == "expired"
    assert world.sub(renewing).state == "active"  # Telegram gets a grace to renew it
    assert world.events.kinds(canceled) == [EventKind.ACCESS_ENDED]


# --- Telegram's own subscription updates -------------------------------------------------------


async def test_canceled_in_telegram_then_reenabled_changes_state_without_calling_back(
    world: LifecycleWorld,
) -> None:
    pid = paying(world)
    change = await world.retention.telegram_update(TG, "payload-1", "canceled")
    assert change.kind is TelegramChange.CANCELED
    assert change.snap is not None
    assert change.snap.membership.state is State.CANCEL_SCHEDULED
    [event] = [e for e in world.store.events if e.kind == EventKind.CANCELED]
    assert event.data["source"] == "telegram"
    assert world.outbox.rows("telegram") == []  # Telegram already knows

    back = await world.retention.telegram_update(TG, "payload-1", "active")
    assert back.kind is TelegramChange.REACTIVATED
    assert back.snap is not None and back.snap.renewing_star_subscription
    again = await world.retention.telegram_update(TG, "payload-1", "active")
    assert again.kind is TelegramChange.IGNORED
    assert world.events.kinds(pid).count(EventKind.CANCEL_UNDONE) == 1
    assert world.kick.kicks == 0


async def test_a_failed_renewal_is_past_due_once_and_a_cancel_then_ends_access(
    world: LifecycleWorld,
) -> None:
    pid = paying(world)
    failed = await world.retention.telegram_update(TG, "payload-1", "failed")
    assert failed.kind is TelegramChange.FAILED
    assert failed.snap is not None and failed.snap.membership.state is State.PAST_DUE
    told_again = await world.retention.telegram_update(TG, "payload-1", "failed")
    assert told_again.kind is TelegramChange.FAILED
    assert world.events.kinds(pid).count(EventKind.PAYMENT_FAILED) == 1
    ended = await world.retention.telegram_update(TG, "payload-1", "canceled")
    assert ended.snap is not None and ended.snap.membership.state is State.EXPIRED


async def test_updates_for_unknown_payloads_or_people_are_ignored(world: LifecycleWorld) -> None:
    pid = paying(world)
    assert (await world.retention.telegram_update(TG, "other", "canceled")).kind is (
        TelegramChange.IGNORED
    )
    assert (await world.retention.telegram_update(999, "payload-1", "canceled")).kind is (
        TelegramChange.IGNORED
    )
    assert world.sub(pid).state == "active" and world.store.events == []


# --- the account view ------------------------------------------------------------------------


async def test_the_account_shows_what_the_person_may_do(world: LifecycleWorld) -> None:
    new = world.member(1)
    trial = world.member(2, state="trial", plan_id="plus", billing="trial", period_end=END)
    member = paying(world)
    c = world.catalog
    assert account_actions(await world.accounts.current(new), c) == (
        AccountAction.START_TRIAL,
        AccountAction.SEE_PLANS,
    )
    assert account_actions(await world.accounts.current(trial), c) == (
        AccountAction.UPGRADE,
        AccountAction.CANCEL,
    )
    assert account_actions(await world.accounts.current(member), c) == (
        AccountAction.UPGRADE,
        AccountAction.PAUSE,
        AccountAction.CANCEL,
    )
    await world.retention.cancel(member, expected_version=1)
    assert account_actions(await world.accounts.current(member), c) == (
        AccountAction.SEE_PLANS,
        AccountAction.KEEP,
    )


async def test_a_confirming_step_checks_the_button_version_and_the_rule(
    world: LifecycleWorld,
) -> None:
    pid = world.member(TG, state="trial", plan_id="plus", billing="trial", period_end=END)
    status, _ = await world.accounts.for_action(pid, AccountAction.CANCEL, 1)
    assert status is Status.DONE
    status, _ = await world.accounts.for_action(pid, AccountAction.CANCEL, 7)
    assert status is Status.STALE
    status, _ = await world.accounts.for_action(pid, AccountAction.PAUSE, 1)
    assert status is Status.NOT_ALLOWED


async def test_the_snapshot_says_where_marketing_consent_stands(world: LifecycleWorld) -> None:
    pid = paying(world)
    world.store.people[pid].email = "Ana@Example.com"
    assert (await world.accounts.current(pid)).marketing == "none"
    world.reads.add_consent(FakeConsent(pid))
    assert (await world.accounts.current(pid)).marketing == "pending"
    world.reads.add_consent(FakeConsent(pid, confirmed_at=NOW))
    found = await world.accounts.by_email(" ana@example.COM ")
    assert found is not None and found.marketing == "confirmed"
    by_tg = await world.accounts.by_telegram_id(TG)
    assert by_tg is not None and by_tg.person_id == pid


async def test_someone_who_blocked_the_bot_is_marked_once(world: LifecycleWorld) -> None:
    pid = paying(world)
    await world.mark_blocked(TG)
    first = world.store.people[pid].blocked_at
    world.clock.advance(timedelta(hours=1))
    await world.mark_blocked(TG)
    assert first == NOW and world.store.people[pid].blocked_at == NOW
    await world.mark_blocked(31337)  # unknown: nothing to mark
