"""Pay-per-use credits (issue 19): packs bought add credits, usage spends them, a refunded
pack takes back what is left. The balance never goes negative; every entry carries an
idempotency key (the Telegram charge id, or the caller's request id) so a repeat counts once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from forever.domain.catalog import Catalog
from forever.domain.clock import Clock
from forever.domain.economy import crossed_low, debit, parse_amount
from forever.services.ports import Outbox, PeopleRepository, UnitOfWork

LOW_BALANCE_TEMPLATE = "low_balance"  # a chat view with a "Buy credits" button


class EntryKind(StrEnum):
    PURCHASE = "purchase"
    USAGE = "usage"
    REFUND = "refund"


class CreditStore(Protocol):
    async def lock_person(self, telegram_id: int) -> None:
        """Serialize ledger writes for one person (first statement of the transaction)."""
        ...

    async def entry(self, idempotency_key: str) -> Any: ...

    async def balance(self, person_id: int) -> int: ...

    async def add(
        self,
        *,
        person_id: int,
        kind: str,
        amount: int,
        balance_after: int,
        shortfall: int,
        idempotency_key: str,
        note: str | None,
        at: datetime,
        stars: int | None = None,
    ) -> Any: ...


class UsageHook(Protocol):
    async def __call__(self, person_id: int, used: int) -> Any:
        """Credits were just used (inside the ledger's transaction)."""
        ...


class Outcome(StrEnum):
    DONE = "done"
    REPEATED = "repeated"  # the same key was seen before: nothing new was written
    INSUFFICIENT = "insufficient"
    UNKNOWN_PERSON = "unknown_person"


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    balance: int = 0
    shortfall: int = 0


_MAX_KEY = 128


def check_request_id(raw: object) -> str:
    """A caller's request id: 1..128 printable characters, no spaces."""
    if not isinstance(raw, str) or not raw or len(raw) > _MAX_KEY:
        raise ValueError(f"request id must be 1 to {_MAX_KEY} characters")
    if not raw.isprintable() or any(ch.isspace() for ch in raw):
        raise ValueError("request id must be printable and without spaces")
    return raw


class CreditLedger:
    def __init__(
        self,
        uow: UnitOfWork,
        people: PeopleRepository,
        store: CreditStore,
        clock: Clock,
        on_usage: UsageHook | None = None,
        notices: Outbox | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.on_usage = on_usage  # points for usage milestones, in the same transaction
        self.uow = uow
        self.people = people
        self.store = store
        self.clock = clock
        # The low-balance notice (a chat outbox row in the usage's transaction) and the
        # catalog that holds its threshold (`[credits] low_balance`).
        self.notices = notices
        self.catalog = catalog

    async def _apply(
        self,
        telegram_id: int,
        kind: EntryKind,
        amount: int,
        key: str,
        note: str | None,
        stars: int | None = None,
    ) -> Result:
        async with self.uow.begin():
            await self.store.lock_person(telegram_id)
            person = await self.people.by_telegram_id(telegram_id)
            if person is None:
                return Result(Outcome.UNKNOWN_PERSON)
            seen = await self.store.entry(key)
            if seen is not None:
                return Result(Outcome.REPEATED, seen.balance_after, seen.shortfall)
            balance = await self.store.balance(person.id)
            if kind is EntryKind.PURCHASE:
                after, taken, shortfall = balance + amount, amount, 0
            else:
                step = debit(balance, amount, partial=kind is EntryKind.REFUND)
                if step is None:
                    return Result(Outcome.INSUFFICIENT, balance)
                after, taken, shortfall = step.balance_after, -step.taken, step.shortfall
            await self.store.add(
                person_id=person.id,
                kind=kind.value,
                amount=taken,
                balance_after=after,
                shortfall=shortfall,
                idempotency_key=key,
                note=note,
                at=self.clock.now(),
                stars=stars,
            )
            if kind is EntryKind.USAGE and self.on_usage is not None:
                await self.on_usage(person.id, -taken)
            if kind is EntryKind.USAGE:
                await self._notice_low(person.id, balance, after, key)
            await self.uow.commit()
        return Result(Outcome.DONE, after, shortfall)

    async def _notice_low(self, person_id: int, before: int, after: int, key: str) -> None:
        """Once per crossing: only the usage that takes the balance from above the threshold
        to it or below queues the notice (keyed by that usage, so a repeat queues nothing)."""
        threshold = self.catalog.credit_low_balance if self.catalog is not None else 0
        if self.notices is None or not crossed_low(before, after, threshold):
            return
        now = self.clock.now()
        await self.notices.enqueue(
            key=f"low_balance:{key}"[:200],
            channel="chat",
            person_id=person_id,
            template=LOW_BALANCE_TEMPLATE,
            context={"balance": after, "threshold": threshold},
            marketing=False,
            not_before=now,
            now=now,
        )

    async def buy(
        self, telegram_id: int, credits: int, charge_id: str, pack_id: str, stars: int | None = None
    ) -> Result:
        return await self._apply(
            telegram_id, EntryKind.PURCHASE, credits, f"buy:{charge_id}", pack_id, stars
        )

    async def use(self, telegram_id: int, amount: object, request_id: object) -> Result:
        """Spend credits, all or nothing. Raises ValueError (AmountError) for a bad amount or
        request id, with a message meant for the caller."""
        value = parse_amount(amount)
        key = check_request_id(request_id)
        return await self._apply(telegram_id, EntryKind.USAGE, value, f"use:{key}", None)

    async def refund(self, telegram_id: int, credits: int, charge_id: str) -> Result:
        """Take back a refunded pack's credits; what was already spent is the shortfall."""
        return await self._apply(
            telegram_id, EntryKind.REFUND, credits, f"refund:{charge_id}", None
        )
