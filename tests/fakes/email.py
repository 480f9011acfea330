"""Fakes of the email area's ports: who is due for a journey step (the policy's window and
eligibility evaluated in Python, as the repository's SQL does), bulk outbox writes, and the
upgrade candidates with keyset paging. Area data lives in `FakeStore.extra`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from forever.domain.catalog import Trigger
from forever.domain.marketing import Window
from forever.services.renewals import YearlyMember
from forever.services.upgrades import UpgradeCandidate
from tests.fakes.core import FakeOutbox, FakePerson, FakeStore, FakeSubscription


@dataclass
class EmailData:
    consents: set[int]  # people with confirmed marketing consent
    usage: dict[int, int]  # person id -> usage this month / last 30 days
    payment_failed_at: dict[int, datetime]


def email_data(store: FakeStore) -> EmailData:
    found = store.extra.get("email")
    if found is None:
        found = store.extra["email"] = EmailData(set(), {}, {})
    assert isinstance(found, EmailData)
    return found


class FakeJourneyCandidates:
    """services.journeys.JourneyCandidates over the fake store."""

    def __init__(self, store: FakeStore, partition: int = 2) -> None:
        self.store = store
        self.partition = partition
        self.queries = 0

    def _subscription(self, person_id: int) -> FakeSubscription | None:
        return next(
            (s for s in self.store.subscriptions.values() if s.person_id == person_id), None
        )

    def _anchor(
        self, trigger: Trigger, person: FakePerson, sub: FakeSubscription | None, trial_days: int
    ) -> datetime | None:
        if trigger is Trigger.SIGNUP:
            return person.created_at
        if trigger is Trigger.INACTIVE:
            return person.last_seen_at
        if trigger is Trigger.PAYMENT_FAILED:
            return email_data(self.store).payment_failed_at.get(person.id)
        if sub is None or sub.period_end is None:
            return None
        if trigger is Trigger.TRIAL_START:
            return sub.period_end - timedelta(days=trial_days)
        return sub.period_end

    async def due(
        self, window: Window, *, now: datetime, usage_metric: str, trial_days: int
    ) -> AsyncIterator[Sequence[Sequence[Any]]]:
        self.queries += 1
        data = email_data(self.store)
        rows: list[tuple[Any, ...]] = []
        for person in sorted(self.store.people.values(), key=lambda p: p.id):
            sub = self._subscription(person.id)
            anchor = self._anchor(window.journey.trigger, person, sub, trial_days)
            if anchor is None or not window.low < anchor <= window.high:
                continue
            state = sub.state if sub is not None else None
            billing = sub.billing if sub is not None else None
            if window.journey.trigger is not Trigger.SIGNUP and sub is None:
                continue
            if not window.eligibility.applies(state, billing):
                continue
            if person.erased_at is not None or person.email is None:
                continue
            if person.email_status == "undeliverable":
                continue
            if window.journey.marketing and person.id not in data.consents:
                continue
            key = f"{window.key_prefix}{person.id}:{anchor:%Y%m%d}"
            if key in self.store.outbox:
                continue
            rows.append(
                (
                    person.id,
                    person.language,
                    person.timezone,
                    sub.plan_id if sub else None,
                    sub.period_end if sub else None,
                    sub.cancel_reason if sub else None,
                    data.usage.get(person.id, 0),
                    anchor,
                    key,
                )
            )
        for start in range(0, len(rows), self.partition):
            yield rows[start : start + self.partition]


class FakeGiftHistory:
    """services.journeys.GiftHistory over the fake store's events."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def gifted(
        self, person_ids: Sequence[int], offer_ids: Sequence[str], since: datetime
    ) -> set[int]:
        return {
            e.person_id
            for e in self.store.events
            if e.person_id in person_ids
            and e.kind in ("offer_accepted", "winback_recovered")
            and e.at >= since
            and e.data.get("offer") in offer_ids
        }


class FakeBulkOutbox(FakeOutbox):
    """The outbox with `enqueue_many` (services.journeys.BulkOutbox)."""

    async def enqueue_many(self, rows: list[dict[str, Any]], now: datetime) -> int:
        new = 0
        for row in rows:
            new += await self.enqueue(now=now, **row)
        return new

    async def enqueue_from(self, statement: Any, now: datetime) -> int:
        raise AssertionError(
            "the fakes have no database to queue in (SweepJourneys without rounds)"
        )


class FakeUpgradeCandidates:
    """services.upgrades.UpgradeCandidates: keyset pages in person id order."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.pages = 0

    async def page(
        self,
        *,
        states: tuple[str, ...],
        after_person_id: int,
        limit: int,
        usage_metric: str,
        now: datetime,
        prompted_kind: str,
        canceled_kind: str,
    ) -> list[UpgradeCandidate]:
        self.pages += 1
        data = email_data(self.store)

        def last(person_id: int, kind: str) -> datetime | None:
            times = [e.at for e in self.store.events if e.person_id == person_id and e.kind == kind]
            return max(times) if times else None

        out = []
        for sub in sorted(self.store.subscriptions.values(), key=lambda s: s.person_id):
            person = self.store.people[sub.person_id]
            if sub.state not in states or person.id <= after_person_id:
                continue
            if person.telegram_id is None or person.blocked_at or person.erased_at:
                continue
            out.append(
                UpgradeCandidate(
                    person.id,
                    person.language,
                    person.first_name,
                    person.trial_used_at,
                    sub.state,
                    sub.plan_id,
                    sub.billing,
                    sub.period_end,
                    data.usage.get(person.id, 0),
                    last(person.id, prompted_kind),
                    last(person.id, canceled_kind),
                )
            )
            if len(out) == limit:
                break
        return out


class FakeYearlyMembers:
    """services.renewals.YearlyMembers: keyset pages in person id order."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def ending(
        self,
        *,
        states: tuple[str, ...],
        low: datetime,
        high: datetime,
        after_person_id: int,
        limit: int,
    ) -> list[YearlyMember]:
        out = []
        for sub in sorted(self.store.subscriptions.values(), key=lambda s: s.person_id):
            person = self.store.people[sub.person_id]
            if sub.billing != "yearly" or sub.state not in states or person.id <= after_person_id:
                continue
            if sub.period_end is None or not low < sub.period_end <= high:
                continue
            if person.telegram_id is None or person.blocked_at or person.erased_at:
                continue
            out.append(YearlyMember(person.id, sub.plan_id, sub.period_end))
            if len(out) == limit:
                break
        return out
