"""The customers area's rules, on in-memory fakes of the ports: who is talking, sign-up and
the trial, payments and renewals, pre-checkout refusals, consent and erasure."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from forever.domain.catalog import Catalog, load_catalog
from forever.domain.events import EventKind
from forever.domain.lifecycle import Billing, Membership, State
from forever.domain.payments import (
    SUBSCRIPTION_PERIOD,
    InvoiceKind,
    Paid,
    Refusal,
    StarChange,
    decide_payment,
)
from forever.domain.people import SEEN_RESOLUTION
from forever.services.accounts import Snapshot, Status
from forever.services.billing import (
    IncomingPayment,
    IssuedInvoice,
    PaymentOutcome,
    PlanChoice,
    TelegramSubscriptionUpdate,
)
from forever.services.people import TelegramUser
from forever.services.ports import ConcurrentChange
from forever.services.signup import AWAITING_SIGNUP_EMAIL, EmailOutcome
from forever.services.winback import winback_start_parameter
from tests.fakes.core import FakePerson
from tests.fakes.customers import Customers, customers

START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CATALOG = Path(__file__).resolve().parents[2] / "catalog.toml"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CATALOG)


@pytest.fixture
def c(catalog: Catalog) -> Customers:
    return customers(catalog, START)


def user(telegram_id: int = 500, username: str | None = "ana") -> TelegramUser:
    return TelegramUser(telegram_id, "Ana", username, "ro")


async def person(c: Customers, telegram_id: int = 500, **fields: object) -> FakePerson:
    await c.identify_person(user(telegram_id))
    found = await c.people.by_telegram_id(telegram_id)
    assert found is not None
    for name, value in fields.items():
        setattr(found, name, value)
    return found


def stored(c: Customers, person_id: int) -> FakePerson:
    """The person as stored now (a rolled-back unit of work restores copies)."""
    return c.store.people[person_id]


def incoming(
    c: Customers, issued: IssuedInvoice, charge: str, payer: int = 500, recurring: bool = False
) -> IncomingPayment:
    return IncomingPayment(
        payer_telegram_id=payer,
        currency="XTR",
        amount=issued.amount,
        payload=issued.payload,
        charge_id=charge,
        provider_charge_id=None,
        is_recurring=recurring,
        is_first_recurring=False,
        subscription_expires_at=None,
    )


# -- who is talking --------------------------------------------------------------------------


async def test_a_first_update_signs_the_person_up_once(c: Customers) -> None:
    first = await c.identify_person(user())
    again = await c.identify_person(user())
    assert first.id == again.id and first.language == "ro"
    assert len(c.store.people) == 1
    assert c.events.kinds() == [EventKind.SIGNED_UP]


async def test_a_first_update_that_loses_the_race_records_no_second_sign_up(
    c: Customers,
) -> None:
    c.new_people.rival_first = True  # another update created the person a moment earlier
    seen = await c.identify_person(user())
    assert seen.telegram_id == 500
    assert len(c.store.people) == 1
    assert c.events.kinds() == []  # the winner recorded signed_up, not this one


async def test_later_updates_write_only_when_something_changed(c: Customers) -> None:
    await c.identify_person(user())
    commits = c.uow.commits
    c.clock.advance(SEEN_RESOLUTION / 2)
    await c.identify_person(user())
    assert c.uow.commits == commits  # read only: seen a moment ago
    c.clock.advance(SEEN_RESOLUTION)
    await c.identify_person(user())
    assert c.uow.commits == commits + 1
    seen = await c.people.by_telegram_id(500)
    assert seen is not None and seen.last_seen_at == c.clock.now()
    await c.identify_person(user(username="ana_new"))
    assert stored(c, seen.id).username == "ana_new"


async def test_writing_again_after_blocking_the_bot_unblocks(c: Customers) -> None:
    p = await person(c, blocked_at=START)
    seen = await c.identify_person(user())
    assert seen.blocked_at is None and stored(c, p.id).blocked_at is None


async def test_an_unknown_language_is_not_set(c: Customers) -> None:
    p = await person(c)
    assert await c.set_language(p.id, "xx") is None
    snap = await c.set_language(p.id, "it")
    assert snap is not None and snap.language == "it" and stored(c, p.id).language == "it"


# -- sign-up and the trial ---------------------------------------------------------------------


async def test_the_trial_starts_once_per_person(c: Customers, catalog: Catalog) -> None:
    p = await person(c)
    status, _ = await c.signup.trial(p.id, "start")
    assert status is Status.DONE and stored(c, p.id).awaiting == AWAITING_SIGNUP_EMAIL
    status, snap = await c.signup.trial(p.id, "skip")
    assert status is Status.DONE and snap.membership.state is State.TRIAL
    assert snap.membership.period_end == START + timedelta(days=catalog.trial.days)
    assert c.events.kinds(p.id).count(EventKind.TRIAL_STARTED) == 1
    # The same buttons again: no second trial.
    assert (await c.signup.trial(p.id, "start"))[0] is Status.NOT_ALLOWED
    assert (await c.signup.trial(p.id, "skip"))[0] is Status.STALE
    assert c.events.kinds(p.id).count(EventKind.TRIAL_STARTED) == 1


async def test_an_address_that_had_a_trial_gets_none(c: Customers) -> None:
    first = await person(c, 500)
    await c.signup.trial(first.id, "start")
    result = await c.signup.submit_email(first.id, "Ana@Example.com")
    assert result.outcome is EmailOutcome.TRIAL_STARTED and result.during_signup
    second = await person(c, 501)
    await c.signup.trial(second.id, "start")
    result = await c.signup.submit_email(second.id, "ana@example.com")
    assert result.outcome is EmailOutcome.TRIAL_USED
    assert result.snap.membership.state is State.NONE
    assert stored(c, second.id).email == "ana@example.com"
    assert stored(c, second.id).trial_used_at is None


async def test_a_bad_address_keeps_waiting(c: Customers) -> None:
    p = await person(c)
    await c.signup.trial(p.id, "start")
    result = await c.signup.submit_email(p.id, "not an address")
    assert result.outcome is EmailOutcome.INVALID
    assert stored(c, p.id).awaiting == AWAITING_SIGNUP_EMAIL and stored(c, p.id).email is None
    assert (await c.signup.submit_email(p.id, "x@example.com")).outcome is (
        EmailOutcome.TRIAL_STARTED
    )
    assert (await c.signup.submit_email(p.id, "y@example.com")).outcome is (
        EmailOutcome.NOT_EXPECTED
    )


# -- consent ---------------------------------------------------------------------------------


async def yes_to_marketing(c: Customers, person_id: int) -> str:
    status, snap = await c.signup.answer_marketing(
        person_id, yes=True, wording="News?", wording_version="v1"
    )
    assert status is Status.DONE and snap.marketing == "pending"
    return c.tables.consents[-1].token


async def test_consent_needs_the_link_and_a_withdrawal_sticks(c: Customers) -> None:
    p = await person(c, email="ana@example.com", email_status="unconfirmed")
    token = await yes_to_marketing(c, p.id)
    confirm_mail = c.outbox.rows("email")
    assert [r.template for r in confirm_mail] == ["consent_confirm"]
    assert confirm_mail[0].marketing is False
    assert not await c.consents.has_marketing(p.id)
    # Asking twice while pending changes nothing.
    status, _ = await c.signup.answer_marketing(p.id, yes=True, wording="", wording_version="")
    assert status is Status.STALE and len(c.tables.consents) == 1

    c.clock.advance(timedelta(minutes=5))
    confirmed = await c.consents.confirm(token)
    assert confirmed is not None and not confirmed.withdrawn
    assert await c.consents.has_marketing(p.id)
    assert stored(c, p.id).email_status == "confirmed"
    assert await c.consents.confirm(token) is not None  # a second click: no change
    assert c.events.kinds(p.id).count(EventKind.CONSENT_CONFIRMED) == 1
    assert await c.consents.confirm("nope") is None

    await c.outbox.enqueue(
        key="winback:1",
        channel="email",
        person_id=p.id,
        template="winback",
        context={},
        marketing=True,
        not_before=START + timedelta(days=7),
        now=START,
    )
    assert await c.consents.withdraw(p.id, source="email_link")
    assert not await c.consents.withdraw(p.id, source="email_link")
    assert c.store.outbox["winback:1"].status == "canceled"
    assert c.events.kinds(p.id).count(EventKind.UNSUBSCRIBED) == 1
    again = await c.consents.confirm(token)
    assert again is not None and again.withdrawn
    assert not await c.consents.has_marketing(p.id)


async def test_consent_can_be_given_again_after_an_email_change(c: Customers) -> None:
    """The old address's consent ends with the change; "Yes, email me" on the new question
    asks the new address for its own double opt-in (it used to answer "out of date")."""
    p = await person(c, email="ana@example.com", email_status="unconfirmed")
    old_token = await yes_to_marketing(c, p.id)
    assert await c.consents.confirm(old_token) is not None
    assert await c.consents.has_marketing(p.id)
    await c.signup.ask_for_email(p.id)
    changed = await c.signup.submit_email(p.id, "ana.new@example.org")
    assert changed.outcome is EmailOutcome.SAVED and changed.ask_consent
    # Marketing waits for the new address to be confirmed: none goes to an unproven one.
    assert not await c.consents.has_marketing(p.id)
    assert c.events.kinds(p.id).count(EventKind.CONSENT_ENDED) == 1
    assert EventKind.UNSUBSCRIBED not in c.events.kinds(p.id)  # they did not say no

    new_token = await yes_to_marketing(c, p.id)  # DONE and pending, not STALE
    mails = c.outbox.rows("email")
    assert [r.context["to"] for r in mails] == ["ana@example.com", "ana.new@example.org"]
    assert await c.consents.confirm(new_token) is not None
    assert await c.consents.has_marketing(p.id)
    # The question for this address is answered now: a second tap is out of date.
    status, _ = await c.signup.answer_marketing(p.id, yes=True, wording="", wording_version="")
    assert status is Status.STALE


async def test_after_unsubscribing_the_same_address_on_email_asks_again(c: Customers) -> None:
    p = await person(c, email="ana@example.com", email_status="unconfirmed")
    token = await yes_to_marketing(c, p.id)
    await c.consents.confirm(token)
    await c.consents.withdraw(p.id, source="email_link")
    await c.signup.ask_for_email(p.id)
    again = await c.signup.submit_email(p.id, "ana@example.com")
    assert again.outcome is EmailOutcome.UNCHANGED and again.ask_consent
    await yes_to_marketing(c, p.id)


async def test_no_consent_question_without_an_address(c: Customers) -> None:
    p = await person(c)
    status, _ = await c.signup.answer_marketing(p.id, yes=True, wording="", wording_version="")
    assert status is Status.STALE and c.tables.consents == []


# -- plans and payments ----------------------------------------------------------------------


async def test_a_payment_delivered_twice_is_recorded_once(c: Customers) -> None:
    p = await person(c)
    chosen = await c.choose_plan(p.id, "basic", InvoiceKind.SUBSCRIPTION.value)
    assert chosen.choice is PlanChoice.ISSUED and chosen.issued is not None
    paid = incoming(c, chosen.issued, "ch-1")
    first = await c.record_payment(paid)
    assert first.outcome is PaymentOutcome.ACTIVATED and first.renews
    assert first.period_end == START + SUBSCRIPTION_PERIOD
    second = await c.record_payment(paid)
    assert second.outcome is PaymentOutcome.DUPLICATE
    assert len(c.tables.payments) == 1
    assert c.events.kinds(p.id).count(EventKind.PAYMENT) == 1
    sub = await c.subscriptions.of(p.id)
    assert sub is not None and sub.star_charge_id == "ch-1"


def receipts(c: Customers) -> list[dict[str, object]]:
    return [r.context for r in c.outbox.rows("email") if r.template == "receipt"]


async def test_every_payment_and_renewal_queues_one_receipt(c: Customers) -> None:
    """Transactional (no consent asked), queued with the payment, keyed by the charge id: a
    payment delivered twice gives one receipt; the renewal gives its own."""
    p = await person(c, email="ana@example.com")
    issued = await c.invoicing.issue(p.id, c.catalog.plans[0], InvoiceKind.SUBSCRIPTION)
    paid = incoming(c, issued, "ch-1")
    await c.record_payment(paid)
    await c.record_payment(paid)  # delivered twice
    assert len(receipts(c)) == 1
    row = c.store.outbox["receipt:ch-1"]
    assert (row.person_id, row.marketing) == (p.id, False)
    assert receipts(c)[0] == {
        "plan_id": "basic",
        "kind": "monthly",
        "amount": 150,
        "paid_at": START,
        "period_start": START,
        "period_end": START + SUBSCRIPTION_PERIOD,
        "renews": True,
        "renewal": False,
        "charge_id": "ch-1",
    }
    c.clock.advance(SUBSCRIPTION_PERIOD)
    await c.record_payment(incoming(c, issued, "ch-2", recurring=True))
    renewal = c.store.outbox["receipt:ch-2"].context
    assert renewal["renewal"] is True
    assert renewal["period_start"] == START + SUBSCRIPTION_PERIOD
    assert renewal["period_end"] == START + 2 * SUBSCRIPTION_PERIOD
    yearly = await c.invoicing.issue(p.id, c.catalog.plans[1], InvoiceKind.YEARLY)
    await c.record_payment(incoming(c, yearly, "ch-3"))
    assert c.store.outbox["receipt:ch-3"].context["kind"] == "yearly"
    assert c.store.outbox["receipt:ch-3"].context["renews"] is False
    assert len(receipts(c)) == 3


async def test_no_receipt_without_an_address_or_for_unknown_money(c: Customers) -> None:
    p = await person(c)
    issued = await c.invoicing.issue(p.id, c.catalog.plans[0], InvoiceKind.SUBSCRIPTION)
    await c.record_payment(incoming(c, issued, "ch-1"))
    fake = IssuedInvoice(99, "forged", 150, InvoiceKind.SUBSCRIPTION, c.catalog.plans[0])
    stored(c, p.id).email = "ana@example.com"
    await c.record_payment(incoming(c, fake, "ch-x"))
    assert receipts(c) == []


async def test_a_renewal_extends_the_period(c: Customers) -> None:
    p = await person(c)
    issued = await c.invoicing.issue(p.id, c.catalog.plans[0], InvoiceKind.SUBSCRIPTION)
    await c.record_payment(incoming(c, issued, "ch-1"))
    c.clock.advance(SUBSCRIPTION_PERIOD)
    renewed = await c.record_payment(incoming(c, issued, "ch-2", recurring=True))
    assert renewed.outcome is PaymentOutcome.RENEWED
    assert renewed.period_end == START + 2 * SUBSCRIPTION_PERIOD
    assert c.events.kinds(p.id).count(EventKind.RENEWED) == 1
    assert c.events.kinds(p.id).count(EventKind.ACTIVATED) == 1


async def test_a_plan_change_stops_the_old_stars_subscription_after_commit(
    c: Customers,
) -> None:
    p = await person(c)
    basic = await c.invoicing.issue(p.id, c.catalog.plans[0], InvoiceKind.SUBSCRIPTION)
    await c.record_payment(incoming(c, basic, "ch-1"))
    plus = await c.invoicing.issue(p.id, c.catalog.plans[1], InvoiceKind.SUBSCRIPTION)
    kicks = c.kick.kicks
    result = await c.record_payment(incoming(c, plus, "ch-2"))
    assert result.stop_charge_id == "ch-1"
    assert stars_edits(c) == [{"user_id": 500, "charge_id": "ch-1", "is_canceled": True}]
    assert c.kick.kicks == kicks + 1 and c.kick.queued_at_kick[-1] == len(c.store.outbox)
    assert EventKind.PLAN_CHANGED in c.events.kinds(p.id)
    # A late renewal of the replaced subscription is given back (issue 16) and switches
    # nothing.
    late = await c.record_payment(incoming(c, basic, "ch-3", recurring=True))
    assert late.outcome is PaymentOutcome.REFUNDED_REPLACED
    assert c.store.outbox["refund:ch-3"].context["reason"] == "replaced_subscription"
    snap = await c.read_snapshot(p.id)
    assert snap.membership.plan_id == c.catalog.plans[1].id


async def test_money_for_no_invoice_of_ours_is_kept_and_changes_nothing(c: Customers) -> None:
    p = await person(c)
    fake = IssuedInvoice(99, "forged", 150, InvoiceKind.SUBSCRIPTION, c.catalog.plans[0])
    result = await c.record_payment(incoming(c, fake, "ch-x"))
    assert result.outcome is PaymentOutcome.UNKNOWN and result.person_id == p.id
    assert len(c.tables.payments) == 1
    assert (await c.read_snapshot(p.id)).membership.state is State.NONE


async def test_a_renewing_plan_is_not_sold_twice_and_gone_plans_are_refused(
    c: Customers,
) -> None:
    p = await person(c)
    issued = await c.invoicing.issue(p.id, c.catalog.plans[0], InvoiceKind.SUBSCRIPTION)
    await c.record_payment(incoming(c, issued, "ch-1"))
    again = await c.choose_plan(p.id, "basic", InvoiceKind.SUBSCRIPTION.value)
    assert again.choice is PlanChoice.ALREADY_SUBSCRIBED
    assert (await c.choose_plan(p.id, "gone", "monthly")).choice is PlanChoice.NOT_POSSIBLE
    assert (await c.choose_plan(p.id, "basic", "one_month")).choice is PlanChoice.NOT_POSSIBLE


async def check(c: Customers, issued: IssuedInvoice, payer: int = 500, **kw: object) -> object:
    answer = await c.pre_checkout(
        payer_telegram_id=payer,
        currency=str(kw.get("currency", "XTR")),
        amount=int(kw.get("amount", issued.amount)),  # type: ignore[call-overload]
        payload=str(kw.get("payload", issued.payload)),
    )
    return answer.refusal


async def test_pre_checkout_refuses_tampered_foreign_stale_and_paid(
    c: Customers, catalog: Catalog
) -> None:
    p = await person(c)
    await person(c, 501)
    issued = await c.invoicing.issue(p.id, catalog.plans[0], InvoiceKind.YEARLY)
    assert await check(c, issued) is None
    assert await check(c, issued, payload=issued.payload[:-1] + "x") is Refusal.UNKNOWN
    assert await check(c, issued, payer=501) is Refusal.WRONG_PAYER
    assert await check(c, issued, amount=1) is Refusal.WRONG_AMOUNT
    assert await check(c, issued, currency="EUR") is Refusal.WRONG_AMOUNT
    c.clock.advance(timedelta(hours=25))
    assert await check(c, issued) is Refusal.STALE
    fresh = await c.invoicing.issue(p.id, catalog.plans[0], InvoiceKind.YEARLY)
    await c.record_payment(incoming(c, fresh, "ch-1"))
    assert await check(c, fresh) is Refusal.PAID
    other = await c.invoicing.issue(p.id, catalog.plans[1], InvoiceKind.YEARLY)
    c.catalog = replace(catalog, plans=tuple(x for x in catalog.plans if x.id != "plus"))
    c.pre_checkout.catalog = lambda: c.catalog
    assert await check(c, other) is Refusal.PLAN_GONE


def test_the_payment_decision_is_pure() -> None:
    m = Membership(
        state=State.ACTIVE,
        plan_id="basic",
        billing=Billing.MONTHLY,
        period_end=START,
        auto_renew=True,
    )
    paid = Paid(
        kind=InvoiceKind.ONE_MONTH,
        plan_id="basic",
        payload="p2",
        charge_id="ch-2",
        amount=105,
        currency="XTR",
        offer_id="discount_30",
        invoice_paid_before=False,
        membership=m,
        star_charge_id="ch-1",
        star_payload="p1",
    )
    top_up = decide_payment(paid, START)
    # A one-off month on top of a renewing subscription keeps that subscription running.
    assert top_up.stop_charge_id is None and top_up.star is StarChange.KEEP
    assert top_up.membership.auto_renew
    yearly = decide_payment(replace(paid, kind=InvoiceKind.YEARLY, offer_id=None), START)
    assert yearly.stop_charge_id == "ch-1" and yearly.star is StarChange.CLEAR
    assert [kind for kind, _ in yearly.events] == [EventKind.PAYMENT]


# -- win-back links ----------------------------------------------------------------------------


async def test_a_winback_link_issues_its_offer_once_valid(c: Customers) -> None:
    p = await person(c)
    sub = await c.subscriptions.get_or_create(p.id, START)
    sub.state, sub.plan_id, sub.billing = "expired", "plus", "monthly"
    sub.period_end = START - timedelta(days=7)
    link = winback_start_parameter(c.signer, p.id, "discount_30", START + timedelta(days=14))
    started = await c.signup.start(p.id, link)
    assert started.winback is not None and started.invoice is not None
    # A Stars subscription at the offer's price, renewing at it (not a one-off month).
    assert started.invoice.kind is InvoiceKind.SUBSCRIPTION
    assert started.invoice.amount == 210
    assert started.invoice.amount == 300 * 70 // 100
    other = await person(c, 501)
    assert (await c.signup.start(other.id, link)).winback_invalid
    c.clock.advance(timedelta(days=16))
    assert (await c.signup.start(p.id, link)).winback_invalid


async def test_a_paid_winback_renews_at_the_stated_price_and_goes_once_per_period(
    c: Customers,
) -> None:
    p = await person(c)
    sub = await c.subscriptions.get_or_create(p.id, START)
    sub.state, sub.plan_id, sub.billing = "expired", "plus", "monthly"
    sub.period_end = START - timedelta(days=7)
    link = winback_start_parameter(c.signer, p.id, "comeback_40", START + timedelta(days=14))
    started = await c.signup.start(p.id, link)
    assert started.invoice is not None and started.invoice.amount == 180
    paid = await c.record_payment(incoming(c, started.invoice, "ch-wb"))
    # Back on a Stars subscription that renews by itself, at the price the offer stated.
    assert paid.outcome is PaymentOutcome.ACTIVATED and paid.renews
    snap = await c.signup.start(p.id, None)
    assert snap.snap.membership.auto_renew and snap.snap.renewal_stars == 180
    renewal = await c.record_payment(incoming(c, started.invoice, "ch-wb-2", recurring=True))
    assert renewal.outcome is PaymentOutcome.RENEWED
    # It lapses again; the next win-back email's discount is not made within 180 days.
    sub = await c.subscriptions.get_or_create(p.id, START)
    sub.state, sub.auto_renew = "expired", False
    c.clock.advance(timedelta(days=90))
    again = winback_start_parameter(
        c.signer, p.id, "comeback_40", c.clock.now() + timedelta(days=14)
    )
    assert (await c.signup.start(p.id, again)).winback_invalid
    # A lower tier is no gift: still made.
    lower = winback_start_parameter(
        c.signer, p.id, "lower_tier", c.clock.now() + timedelta(days=14)
    )
    assert (await c.signup.start(p.id, lower)).winback is not None
    c.clock.advance(timedelta(days=91))  # past the catalog's 180 days
    later = winback_start_parameter(
        c.signer, p.id, "comeback_40", c.clock.now() + timedelta(days=14)
    )
    assert (await c.signup.start(p.id, later)).winback is not None


# -- usage and privacy -----------------------------------------------------------------------


async def test_usage_adds_up_per_month(c: Customers) -> None:
    await person(c)
    assert await c.record_usage(500, 3) == 3
    assert await c.record_usage(500) == 4
    assert await c.record_usage(999) is None
    with pytest.raises(ValueError):
        await c.record_usage(500, 0)
    c.clock.set(datetime(2026, 12, 1, tzinfo=UTC))
    assert await c.record_usage(500) == 1


async def test_erasure_forgets_the_person_and_stops_their_renewal(c: Customers) -> None:
    p = await person(c, email="ana@example.com", email_status="unconfirmed")
    await yes_to_marketing(c, p.id)
    issued = await c.invoicing.issue(p.id, c.catalog.plans[0], InvoiceKind.SUBSCRIPTION)
    await c.record_payment(incoming(c, issued, "ch-1"))
    kept = await c.privacy.what_we_keep(p.id)
    assert (kept.payments, kept.consents) == (1, 1)

    assert await c.privacy.erase(p.id)
    # The renewal is stopped through the outbox, after the commit, and survives the drop of
    # the person's other queued messages.
    assert stars_edits(c) == [{"user_id": 500, "charge_id": "ch-1", "is_canceled": True}]
    assert c.kick.kicks == 1
    gone = stored(c, p.id)
    assert (gone.telegram_id, gone.email, gone.first_name, gone.username) == (None,) * 4
    assert gone.erased_at == START
    assert all(x.email is None and x.withdrawn_at for x in c.tables.consents)
    assert [r.channel for r in c.outbox.rows()] == ["telegram"]  # the confirmation mail is gone
    sub = await c.subscriptions.of(p.id)
    assert sub is not None and sub.state == State.EXPIRED.value and not sub.auto_renew
    assert await c.privacy.erase(p.id) is False  # a second tap
    assert len(stars_edits(c)) == 1
    assert c.events.kinds(p.id).count(EventKind.ERASED) == 1
    # The address stays known (hashed) as having had a trial... and is never mailed again.
    assert list(c.tables.suppressed.values()) == ["erased"]


async def test_an_erasure_that_fails_to_commit_leaves_everything_and_stops_nothing(
    c: Customers,
) -> None:
    p = await person(c)
    issued = await c.invoicing.issue(p.id, c.catalog.plans[0], InvoiceKind.SUBSCRIPTION)
    await c.record_payment(incoming(c, issued, "ch-1"))
    c.uow.fail_next_commit_with_concurrent_change = True
    with pytest.raises(ConcurrentChange):
        await c.privacy.erase(p.id)
    stored = c.store.people[p.id]
    assert stored.erased_at is None and stored.telegram_id == 500
    assert c.events.kinds(p.id).count(EventKind.ERASED) == 0
    assert stars_edits(c) == [] and c.kick.kicks == 0


def stars_edits(c: Customers) -> list[dict[str, object]]:
    return [r.context for r in c.outbox.rows("telegram") if r.template == "edit_star_subscription"]


# -- Telegram's subscription updates -----------------------------------------------------------


@dataclass(frozen=True)
class Change:
    kind: str
    snap: Snapshot | None


async def test_a_failed_renewal_comes_with_a_fresh_link_to_pay(c: Customers) -> None:
    p = await person(c)
    issued = await c.invoicing.issue(p.id, c.catalog.plans[0], InvoiceKind.SUBSCRIPTION)
    await c.record_payment(incoming(c, issued, "ch-1"))
    snap = await c.read_snapshot(p.id)
    told: list[tuple[int, str, str]] = []
    blocked: list[int] = []

    class Changes:
        kind = "failed"

        async def telegram_update(self, telegram_id: int, payload: str, state: str) -> Change:
            told.append((telegram_id, payload, state))
            return Change(self.kind, snap)

    async def mark_blocked(telegram_id: int) -> None:
        blocked.append(telegram_id)

    changes = Changes()
    update = TelegramSubscriptionUpdate(changes, mark_blocked, c.invoicing, lambda: c.catalog)
    failed = await update(500, issued.payload, "failed")
    assert told == [(500, issued.payload, "failed")]
    assert failed.pay_again is not None and failed.pay_again.kind is InvoiceKind.SUBSCRIPTION
    assert failed.pay_again.plan.id == "basic" and failed.pay_again.amount == 150
    changes.kind = "canceled"
    assert (await update(500, issued.payload, "canceled")).pay_again is None
    await update.blocked(500)
    assert blocked == [500]


# --- the time zone (issue 13, item 5) ------------------------------------------------------


async def test_a_person_sets_a_time_zone_and_forged_ones_are_refused(c: Customers) -> None:
    ana = await person(c)
    assert await c.set_timezone(ana.id, "Not/AZone") is None
    assert await c.set_timezone(ana.id, "../../etc/passwd") is None
    assert ana.timezone is None
    done = await c.set_timezone(ana.id, "Europe/Chisinau")
    assert done is not None and done.zone == "Europe/Chisinau" and done.at == START
    assert ana.timezone == "Europe/Chisinau"
