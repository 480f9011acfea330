"""Fakes of the customers area's ports (services/people, signup, billing, consent, usage,
privacy), on the shared FakeStore so the fake unit of work rolls them back too. `customers()`
builds the area's use cases on them, as wiring/customers.py does on SQL."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from forever.domain.catalog import Catalog
from forever.domain.clock import ManualClock
from forever.domain.signing import Signer, email_hash
from forever.services.accounts import Snapshot, make_snapshot
from forever.services.billing import ChoosePlan, Invoicing, PreCheckout, RecordPayment
from forever.services.consent import Consents
from forever.services.people import IdentifyPerson, ReadSnapshot, SetLanguage, SetTimezone
from forever.services.privacy import Privacy
from forever.services.signup import Signup
from forever.services.usage import RecordUsage, month_start
from tests.fakes.core import (
    CountingKick,
    FakeEventLog,
    FakeOutbox,
    FakePeople,
    FakeStore,
    FakeSubscriptions,
    FakeUnitOfWork,
)
from tests.fakes.lifecycle import FakeLifecycleRecords


@dataclass
class FakeConsent:
    id: int
    person_id: int
    email: str | None
    wording_version: str
    wording_hash: str
    source: str
    token: str
    asked_at: datetime
    channel: str = "email"
    purpose: str = "marketing"
    confirmed_at: datetime | None = None
    withdrawn_at: datetime | None = None


@dataclass
class FakeInvoice:
    id: int
    person_id: int
    plan_id: str
    billing: str
    amount: int
    currency: str
    offer_id: str | None
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None = None


@dataclass
class CustomerStores:
    """The area's tables, kept in FakeStore.extra["customers"]."""

    consents: list[FakeConsent] = field(default_factory=list)
    invoices: dict[int, FakeInvoice] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)  # by charge id
    usage: dict[tuple[int, str, datetime], int] = field(default_factory=dict)
    suppressed: dict[str, str] = field(default_factory=dict)  # email hash -> reason
    dropped_queues: list[int] = field(default_factory=list)
    scrubbed: list[tuple[int, int | None, tuple[str, ...]]] = field(default_factory=list)


def stores(store: FakeStore) -> CustomerStores:
    found = store.extra.get("customers")
    if found is None:
        found = store.extra["customers"] = CustomerStores()
    assert isinstance(found, CustomerStores)
    return found


class FakeNewPeople:
    """NewPeople and TrialHistory. `rival_first` makes the next add lose a race: another
    update creates the same person just before, as a concurrent transaction would."""

    def __init__(self, store: FakeStore, people: FakePeople, uow: FakeUnitOfWork) -> None:
        self.store = store
        self.people = people
        self.uow = uow
        self.rival_first = False

    async def add_if_missing(
        self,
        *,
        telegram_id: int,
        first_name: str | None,
        username: str | None,
        language: str,
        now: datetime,
    ) -> bool:
        if self.rival_first:
            self.rival_first = False
            rival = self.people.add(
                telegram_id=telegram_id,
                first_name=first_name,
                username=username,
                language=language,
                created_at=now,
                last_seen_at=now,
            )
            # Committed by the other transaction: it survives our rollback.
            saved = self.uow._saved
            assert saved is not None
            saved.people[rival.id] = copy.deepcopy(rival)
        if await self.people.by_telegram_id(telegram_id) is not None:
            return False
        self.people.add(
            telegram_id=telegram_id,
            first_name=first_name,
            username=username,
            language=language,
            created_at=now,
            last_seen_at=now,
        )
        return True

    async def email_had_trial(self, email: str, other_than: int) -> bool:
        for p in self.store.people.values():
            same = p.email is not None and p.email.lower() == email.lower()
            if same and p.id != other_than and p.trial_used_at is not None:
                return True
        return stores(self.store).suppressed.get(email_hash(email)) == "erased"


class FakeSnapshots:
    def __init__(self, store: FakeStore, subscriptions: FakeSubscriptions) -> None:
        self.store = store
        self.subscriptions = subscriptions

    async def snapshot(self, person_id: int, now: datetime) -> Snapshot | None:
        person = self.store.people.get(person_id)
        if person is None:
            return None
        sub = await self.subscriptions.get_or_create(person_id, now)
        mine = [c for c in stores(self.store).consents if c.person_id == person_id]
        latest = max(mine, key=lambda c: (c.asked_at, c.id)) if mine else None
        paid = stores(self.store).payments.get(sub.star_charge_id or "")
        renewal = int(paid["amount"]) if paid else None
        return make_snapshot(person, sub, latest, renewal)  # type: ignore[arg-type]


class FakeConsents:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def add(
        self,
        *,
        person_id: int,
        email: str,
        wording_version: str,
        wording_hash: str,
        source: str,
        token: str,
        asked_at: datetime,
    ) -> FakeConsent:
        rows = stores(self.store).consents
        consent = FakeConsent(
            len(rows) + 1, person_id, email, wording_version, wording_hash, source, token, asked_at
        )
        rows.append(consent)
        return consent

    async def by_token(self, token: str) -> FakeConsent | None:
        return next((c for c in stores(self.store).consents if c.token == token), None)

    async def of_person(self, person_id: int) -> Sequence[FakeConsent]:
        return [c for c in stores(self.store).consents if c.person_id == person_id]

    async def withdraw_marketing(self, person_id: int, now: datetime) -> int:
        live = [c for c in await self.of_person(person_id) if c.withdrawn_at is None]
        for c in live:
            c.withdrawn_at = now
        return len(live)

    async def has_marketing(self, person_id: int) -> bool:
        return any(
            c.confirmed_at is not None and c.withdrawn_at is None
            for c in await self.of_person(person_id)
        )


class FakeMarketingOutbox:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def cancel_marketing(self, person_id: int) -> int:
        rows = [
            r
            for r in self.store.outbox.values()
            if r.person_id == person_id and r.marketing and r.status == "pending"
        ]
        for r in rows:
            r.status = "canceled"
        return len(rows)


class FakeInvoices:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def add(self, **fields: Any) -> FakeInvoice:
        invoices = stores(self.store).invoices
        invoice = FakeInvoice(id=len(invoices) + 1, **fields)
        invoices[invoice.id] = invoice
        return invoice

    async def get(self, invoice_id: int) -> FakeInvoice | None:
        return stores(self.store).invoices.get(invoice_id)


class FakePayments:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def add_once(
        self, *, charge_id: str, refunded: bool = False, now: datetime, **fields: Any
    ) -> bool:
        payments = stores(self.store).payments
        if charge_id in payments:
            return False
        payments[charge_id] = fields | {"now": now, "refunded_at": now if refunded else None}
        return True

    async def count_of(self, person_id: int) -> int:
        return sum(1 for p in stores(self.store).payments.values() if p["person_id"] == person_id)


class FakeUsage:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def add(self, person_id: int, metric: str, amount: int, now: datetime) -> int:
        usage = stores(self.store).usage
        key = (person_id, metric, month_start(now))
        usage[key] = usage.get(key, 0) + amount
        return usage[key]


class FakeErasure:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def suppress(self, address: str, reason: str, now: datetime) -> bool:
        suppressed = stores(self.store).suppressed
        if email_hash(address) in suppressed:
            return False
        suppressed[email_hash(address)] = reason
        return True

    async def drop_queued(self, person_id: int) -> None:
        self.store.outbox = {
            k: r
            for k, r in self.store.outbox.items()
            if not (r.person_id == person_id and r.status in ("pending", "failed"))
        }
        stores(self.store).dropped_queues.append(person_id)

    async def scrub(
        self,
        person_id: int,
        *,
        telegram_id: int | None,
        addresses: Sequence[str],
        names: Sequence[str],
    ) -> None:
        stores(self.store).scrubbed.append((person_id, telegram_id, tuple(addresses)))


@dataclass
class Sent:
    ok: bool = True
    blocked: bool = False
    message_id: int | None = 1


class FakeTelegram:
    """The Telegram side the use cases call: invoices (Stars edits leave through the outbox)."""

    def __init__(self) -> None:
        self.links: list[str] = []
        self.invoices: list[tuple[int, str, int]] = []

    async def create_invoice_link(
        self, *, title: str, description: str, payload: str, amount: int, subscription: bool
    ) -> str:
        self.links.append(payload)
        return f"https://t.me/$invoice-{len(self.links)}"

    async def send_invoice(
        self, chat_id: int, *, title: str, description: str, payload: str, amount: int
    ) -> Sent:
        self.invoices.append((chat_id, payload, amount))
        return Sent()


@dataclass
class Customers:
    """The area's use cases on fakes, with the fakes at hand for arranging and asserting."""

    store: FakeStore
    uow: FakeUnitOfWork
    clock: ManualClock
    signer: Signer
    catalog: Catalog
    people: FakePeople
    subscriptions: FakeSubscriptions
    events: FakeEventLog
    outbox: FakeOutbox
    new_people: FakeNewPeople
    telegram: FakeTelegram
    kick: CountingKick
    identify_person: IdentifyPerson
    read_snapshot: ReadSnapshot
    set_language: SetLanguage
    set_timezone: SetTimezone
    signup: Signup
    invoicing: Invoicing
    choose_plan: ChoosePlan
    pre_checkout: PreCheckout
    record_payment: RecordPayment
    privacy: Privacy
    consents: Consents
    record_usage: RecordUsage

    @property
    def tables(self) -> CustomerStores:
        return stores(self.store)


def customers(catalog: Catalog, start: datetime) -> Customers:
    store = FakeStore()
    uow = FakeUnitOfWork(store)
    clock = ManualClock(start)
    signer = Signer("k" * 64)
    people = FakePeople(store)
    subs = FakeSubscriptions(store)
    events = FakeEventLog(store)
    outbox = FakeOutbox(store)
    kick = CountingKick(store=store)
    new_people = FakeNewPeople(store, people, uow)
    snapshots = FakeSnapshots(store, subs)
    consents = FakeConsents(store)
    invoices = FakeInvoices(store)
    payments = FakePayments(store)

    def current() -> Catalog:
        return catalog

    invoicing = Invoicing(uow, invoices, clock, signer)
    return Customers(
        store=store,
        uow=uow,
        clock=clock,
        signer=signer,
        catalog=catalog,
        people=people,
        subscriptions=subs,
        events=events,
        outbox=outbox,
        new_people=new_people,
        telegram=FakeTelegram(),
        kick=kick,
        identify_person=IdentifyPerson(
            uow, people, new_people, events, clock, lambda code: code or "en"
        ),
        read_snapshot=ReadSnapshot(uow, snapshots, clock),
        set_language=SetLanguage(uow, people, snapshots, clock),
        set_timezone=SetTimezone(uow, people, clock),
        signup=Signup(
            uow,
            people,
            subs,
            new_people,
            consents,
            snapshots,
            invoicing,
            outbox,
            events,
            current,
            clock,
            signer,
            offer_history=FakeLifecycleRecords(store),
        ),
        invoicing=invoicing,
        choose_plan=ChoosePlan(uow, snapshots, invoicing, current, clock),
        pre_checkout=PreCheckout(uow, invoices, people, current, clock, signer),
        record_payment=RecordPayment(
            uow, invoices, payments, people, subs, events, current, clock, signer, outbox, kick
        ),
        privacy=Privacy(
            uow,
            people,
            subs,
            consents,
            payments,
            snapshots,
            FakeErasure(store),
            events,
            clock,
            outbox,
            kick,
        ),
        consents=Consents(uow, consents, people, FakeMarketingOutbox(store), events, clock),
        record_usage=RecordUsage(uow, people, FakeUsage(store), events, clock, current),
    )


DAY = timedelta(days=1)
