"""Promo codes (issue 19): staff create, list and disable them in chat; a customer uses one
with `/promo CODE` or a `start=p_CODE` link; a percent code lowers the next invoice for its
plans, a days code moves the end of the trial or membership the person has now.

One use per person is the unique (code, person) pair; the limit of uses is one conditional
UPDATE of the code's counter. Both are in the transaction that records the use, which starts by
locking the person's row, so two taps at once redeem once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from forever.domain.catalog import Catalog
from forever.domain.clock import Clock
from forever.domain.lifecycle import State
from forever.domain.promo import (
    PAID_EVENT,
    REDEEMED_EVENT,
    CodeState,
    PromoError,
    PromoFigures,
    PromoKind,
    PromoSpec,
    Refusal,
    check_redeem,
    discounted,
    figures,
    normalize_code,
    parse_spec,
)
from forever.services.memberships import apply_membership, to_membership
from forever.services.ports import EventLog, SubscriptionRepository, UnitOfWork
from forever.services.staff import AuditLog

CatalogSource = Callable[[], Catalog]

EXTENDABLE = frozenset({State.TRIAL, State.ACTIVE, State.CANCEL_SCHEDULED})


class PromoStore(Protocol):
    async def lock_person(self, person_id: int) -> None:
        """The transaction's first statement: one use case per person at a time."""
        ...

    async def by_code(self, code: str) -> Any: ...

    async def add_code(self, spec: PromoSpec, *, created_by: int, at: datetime) -> Any: ...

    async def codes(self) -> Sequence[Any]: ...

    async def used_by(self, code_id: int, person_id: int) -> bool: ...

    async def take_use(self, code_id: int) -> bool:
        """uses + 1 unless the limit is reached: True when this call took one."""
        ...

    async def add_redemption(self, code_id: int, person_id: int, at: datetime) -> Any: ...

    async def open_percent(self, person_id: int, plan_id: str) -> tuple[int, str, int] | None:
        """(redemption id, code, percent) of a percent code this person used for this plan
        whose discount no paid invoice has taken yet; None when there is none."""
        ...

    async def open_codes(self, person_id: int) -> list[tuple[str, int, tuple[str, ...]]]:
        """(code, percent, plans) of every percent code the person used and has not paid
        with yet."""
        ...

    async def link_invoice(self, invoice_id: int, redemption_id: int, full_stars: int) -> None: ...

    async def of_invoice(self, invoice_id: int) -> tuple[str, int] | None:
        """(code, full price) of an invoice issued at a code's price."""
        ...


class EventRows(Protocol):
    async def until(self, end: datetime) -> list[Any]: ...


def spec_of(row: Any) -> PromoSpec:
    return PromoSpec(
        code=row.code,
        kind=PromoKind(row.kind),
        percent=row.percent,
        days=row.days,
        plans=tuple(p for p in row.plans.split(",") if p),
        limit=row.max_uses,
        expires_at=_aware(row.expires_at),
    )


@dataclass(frozen=True, slots=True)
class Listing:
    spec: PromoSpec
    uses: int
    disabled: bool
    expired: bool


@dataclass(frozen=True, slots=True)
class Redeemed:
    refusal: Refusal | None
    code: str  # as typed (cut short), for the message
    spec: PromoSpec | None = None
    plan_id: str | None = None  # a days code: the plan extended
    until: datetime | None = None  # a days code: the new end


@dataclass(frozen=True, slots=True)
class Discount:
    redemption_id: int
    code: str
    percent: int


class Promos:
    def __init__(
        self,
        uow: UnitOfWork,
        store: PromoStore,
        subscriptions: SubscriptionRepository,
        events: EventLog,
        audit: AuditLog,
        catalog: CatalogSource,
        clock: Clock,
        history: EventRows | None = None,
    ) -> None:
        self.uow = uow
        self.store = store
        self.subscriptions = subscriptions
        self.events = events
        self.audit = audit
        self.catalog = catalog
        self.clock = clock
        self.history = history

    # Staff ---------------------------------------------------------------------------------

    async def create(self, *, staff_id: int, text: str) -> PromoSpec:
        """`/promo new CODE ...`: raises PromoError (its `problem` says which rule)."""
        now = self.clock.now()
        spec = parse_spec(text, [p.id for p in self.catalog().plans], now)
        async with self.uow.begin():
            if await self.store.by_code(spec.code) is not None:
                raise PromoError("exists", spec.code)
            await self.store.add_code(spec, created_by=staff_id, at=now)
            self.audit.record(
                staff_id,
                "promo_new",
                now,
                code=spec.code,
                kind=spec.kind.value,
                percent=spec.percent,
                days=spec.days,
                plans=list(spec.plans),
                limit=spec.limit,
                expires_at=spec.expires_at.isoformat() if spec.expires_at else None,
            )
            await self.uow.commit()
        return spec

    async def listing(self) -> list[Listing]:
        now = self.clock.now()
        async with self.uow.begin():
            rows = await self.store.codes()
        out = []
        for row in rows:
            spec = spec_of(row)
            expired = spec.expires_at is not None and now >= spec.expires_at
            out.append(Listing(spec, row.uses, row.disabled_at is not None, expired))
        return out

    async def disable(self, *, staff_id: int, raw_code: str) -> bool | None:
        """True when this call disabled it, False when it was already, None: no such code."""
        code = normalize_code(raw_code)
        if code is None:
            return None
        now = self.clock.now()
        async with self.uow.begin():
            row = await self.store.by_code(code)
            if row is None:
                return None
            if row.disabled_at is not None:
                return False
            row.disabled_at = now
            self.audit.record(staff_id, "promo_off", now, code=code)
            await self.uow.commit()
        return True

    async def figures(self, days: int) -> PromoFigures:
        """The /stats lines: codes used and the discount given in the last `days` days."""
        now = self.clock.now()
        if self.history is None:
            return PromoFigures(0, 0, 0)
        async with self.uow.begin():
            rows = await self.history.until(now)
        return figures(rows, now - timedelta(days=days), now)

    # Customers -----------------------------------------------------------------------------

    async def redeem(self, person_id: int, raw_code: str) -> Redeemed:
        typed = raw_code.strip()[:32]
        code = normalize_code(raw_code)
        if code is None:
            return Redeemed(Refusal.UNKNOWN, typed)
        now = self.clock.now()
        async with self.uow.begin():
            await self.store.lock_person(person_id)
            row = await self.store.by_code(code)
            state = None
            if row is not None:
                state = CodeState(spec_of(row), row.uses, row.disabled_at is not None)
            sub = await self.subscriptions.get_or_create(person_id, now)
            membership = to_membership(sub)
            extendable = (
                membership.state in EXTENDABLE
                and membership.period_end is not None
                and _aware(membership.period_end) > now  # type: ignore[operator]
            )
            refusal = check_redeem(
                state,
                now=now,
                used_before=row is not None and await self.store.used_by(row.id, person_id),
                plan_id=membership.plan_id,
                extendable=extendable,
            )
            if refusal is not None or row is None or state is None:
                return Redeemed(refusal, code, state.spec if state else None)
            spec = state.spec
            if not await self.store.take_use(row.id):
                return Redeemed(Refusal.USED_UP, code, spec)
            await self.store.add_redemption(row.id, person_id, now)
            until = None
            if spec.kind is PromoKind.DAYS and spec.days:
                end = _aware(membership.period_end)
                assert end is not None
                until = end + timedelta(days=spec.days)
                apply_membership(sub, replace(membership, period_end=until), now)
            self.events.record(
                REDEEMED_EVENT,
                now,
                person_id,
                code=code,
                promo_kind=spec.kind.value,
                percent=spec.percent,
                days=spec.days,
                plan=membership.plan_id,
                until=until.isoformat() if until else None,
            )
            await self.uow.commit()
        return Redeemed(None, code, spec, membership.plan_id, until)

    async def waiting(self, person_id: int) -> list[tuple[str, int, tuple[str, ...]]]:
        """The percent codes waiting for this person's next payment (for /plans to say so)."""
        async with self.uow.begin():
            return await self.store.open_codes(person_id)

    # Invoices (services.billing calls these inside its own transaction) ----------------------

    async def discount(self, person_id: int, plan_id: str) -> Discount | None:
        found = await self.store.open_percent(person_id, plan_id)
        return None if found is None else Discount(*found)

    async def issued(self, invoice_id: int, discount: Discount, full_stars: int) -> None:
        await self.store.link_invoice(invoice_id, discount.redemption_id, full_stars)

    async def paid(
        self, *, invoice_id: int, person_id: int | None, plan_id: str, amount: int, at: datetime
    ) -> None:
        """A fresh purchase of an invoice: if it was at a code's price, the discount is given
        (an event: the /stats figure) and the code's discount is used up."""
        found = await self.store.of_invoice(invoice_id)
        if found is None:
            return
        code, full = found
        self.events.record(
            PAID_EVENT,
            at,
            person_id,
            code=code,
            plan=plan_id,
            amount=amount,
            full=full,
            discount=max(0, full - amount),
        )


def price_with(discount: Discount | None, stars: int) -> int:
    return stars if discount is None else discounted(stars, discount.percent)


def _aware(at: datetime | None) -> datetime | None:
    if at is None or at.tzinfo is not None:
        return at
    return at.replace(tzinfo=UTC)
