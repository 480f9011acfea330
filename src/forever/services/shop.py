"""Buying a credit pack or an add-on with Stars in chat (issue 19).

An invoice's payload names the item (`shop:c:<pack id>` or `shop:a:<add-on id>`); the price,
who may buy it and what it grants come from the catalog when the person pays, never from the
payload. The pre-checkout check refuses an item that is gone, not allowed for the person's plan,
or whose price changed; a successful payment grants once per Telegram charge id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from forever.domain.catalog import Catalog
from forever.domain.clock import Clock
from forever.domain.economy import AddOn, CreditPack
from forever.services.credits import CreditLedger, Outcome
from forever.services.ports import DeliveryKick, Outbox, PeopleRepository, UnitOfWork
from forever.services.staff import AuditLog
from forever.services.stars import queue_refund

PAYLOAD_PREFIX = "shop:"
RECEIPT_TEMPLATE = "shop_receipt"  # message_templates/email/shop_receipt.*
# The charge id of an add-on redeemed with points (services.points), not a Telegram charge.
POINTS_CHARGE_PREFIX = "points:"


class ItemKind(StrEnum):
    CREDITS = "c"
    ADDON = "a"


def payload_of(kind: ItemKind, item_id: str) -> str:
    return f"{PAYLOAD_PREFIX}{kind.value}:{item_id}"


def read_payload(payload: str) -> tuple[ItemKind, str] | None:
    """(kind, item id) of a shop payload, or None for anything else."""
    if not payload.startswith(PAYLOAD_PREFIX) or len(payload) > 128:
        return None
    kind, _, item_id = payload[len(PAYLOAD_PREFIX) :].partition(":")
    if kind not in {k.value for k in ItemKind} or not item_id:
        return None
    return ItemKind(kind), item_id


class AddonStore(Protocol):
    async def by_charge(self, charge_id: str) -> Any: ...

    async def add(
        self,
        *,
        person_id: int,
        addon_id: str,
        stars: int,
        quantity: int | None,
        charge_id: str,
        at: datetime,
        ends_at: datetime | None,
    ) -> Any: ...


class WalletReads(Protocol):
    async def balance(self, person_id: int) -> int: ...

    async def history(self, person_id: int, limit: int = 10) -> Sequence[Any]: ...

    async def of_person(self, person_id: int) -> Sequence[Any]: ...

    async def entry(self, idempotency_key: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class Wallet:
    """What /account shows of the economy: the credit balance, the last ledger entries
    (newest first: kind, signed amount, shortfall, when) and the add-ons in force."""

    balance: int
    entries: tuple[dict[str, Any], ...]
    addons: tuple[dict[str, Any], ...]

    @property
    def empty(self) -> bool:
        return not self.balance and not self.entries and not self.addons


@dataclass(frozen=True, slots=True)
class ShopRefundParts:
    """What a staff refund needs: the audit log, the outbox (refundStarPayment) and its kick,
    and a way to mark an add-on purchase refunded (True when this call did)."""

    audit: AuditLog
    outbox: Outbox
    kick: DeliveryKick
    end_addon: Any  # async (charge_id, now) -> bool


class RefundDone(StrEnum):
    OK = "ok"
    ALREADY = "already"


@dataclass(frozen=True, slots=True)
class ShopRefunded:
    outcome: RefundDone
    charge_id: str
    item: str  # the pack's or add-on's id
    stars: int = 0
    credits: int = 0  # a pack: the credits it gave
    taken: int = 0  # of those, taken back (unspent)
    shortfall: int = 0  # already spent: staff see it


@dataclass(frozen=True, slots=True)
class ShopRefundProposal:
    """What staff confirm before a shop refund: the item, its price, a pack's credits and
    the person's balance now (what cannot be taken back is the shortfall)."""

    outcome: RefundDone  # OK: can be refunded; ALREADY: it was
    charge_id: str
    item: str
    stars: int
    credits: int
    balance: int
    note: str
    name: str | None
    telegram_id: int

    @property
    def shortfall(self) -> int:
        return max(self.credits - self.balance, 0)


class PlanOf(Protocol):
    async def __call__(self, person_id: int) -> str | None:
        """The plan the person has access through now, or None."""
        ...


class ShopRefusal(StrEnum):
    UNKNOWN = "unknown"  # not a shop payload, or the item is gone from the catalog
    NOT_ALLOWED = "not_allowed"  # the person's plan may not buy it
    WRONG_AMOUNT = "wrong_amount"  # the price changed since the invoice, or another currency


@dataclass(frozen=True, slots=True)
class Offer:
    packs: tuple[CreditPack, ...]
    addons: tuple[AddOn, ...]


@dataclass(frozen=True, slots=True)
class Item:
    kind: ItemKind
    id: str
    stars: int
    pack: CreditPack | None = None
    addon: AddOn | None = None

    def name(self, locale: str) -> str:
        names = self.pack.name if self.pack is not None else self.addon.name  # type: ignore[union-attr]
        return names.get(locale) or names["en"]


class GrantOutcome(StrEnum):
    CREDITS = "credits"
    ADDON = "addon"
    DUPLICATE = "duplicate"
    UNKNOWN = "unknown"  # the payment names nothing we sell (staff should refund it)


@dataclass(frozen=True, slots=True)
class Granted:
    outcome: GrantOutcome
    item: Item | None = None
    balance: int = 0
    ends_at: datetime | None = None


class Shop:
    def __init__(
        self,
        uow: UnitOfWork,
        people: PeopleRepository,
        addons: AddonStore,
        ledger: CreditLedger,
        catalog: Catalog,
        plan_of: PlanOf,
        clock: Clock,
        lock: Any,
        wallet_reads: WalletReads | None = None,
        refunds: ShopRefundParts | None = None,
        receipts: Outbox | None = None,
    ) -> None:
        self.uow = uow
        self.people = people
        self.addons = addons
        self.ledger = ledger
        self.catalog = catalog
        self.plan_of = plan_of
        self.clock = clock
        self.lock = lock  # CreditStore.lock_person: one purchase per person at a time
        self.wallet_reads = wallet_reads
        self.refunds = refunds
        self.receipts = receipts  # where the receipt emails are queued

    async def offer(self, person_id: int) -> Offer:
        plan = await self.plan_of(person_id)
        return Offer(
            packs=self.catalog.credit_packs,
            addons=tuple(a for a in self.catalog.addons if a.available_to(plan)),
        )

    def item(self, kind: ItemKind, item_id: str) -> Item | None:
        if kind is ItemKind.CREDITS:
            pack = self.catalog.credit_pack(item_id)
            return None if pack is None else Item(kind, pack.id, pack.stars, pack=pack)
        addon = self.catalog.addon(item_id)
        return None if addon is None else Item(kind, addon.id, addon.stars, addon=addon)

    async def choose(self, person_id: int, kind: ItemKind, item_id: str) -> Item | None:
        """The item a button asks for, if it exists and the person may buy it now."""
        item = self.item(kind, item_id)
        if item is None or not await self._allowed(person_id, item):
            return None
        return item

    async def _allowed(self, person_id: int, item: Item) -> bool:
        if item.addon is None:
            return True
        return item.addon.available_to(await self.plan_of(person_id))

    async def check(
        self, telegram_id: int, payload: str, currency: str, amount: int
    ) -> ShopRefusal | None:
        parsed = read_payload(payload)
        item = self.item(*parsed) if parsed else None
        if item is None:
            return ShopRefusal.UNKNOWN
        if currency != "XTR" or amount != item.stars:
            return ShopRefusal.WRONG_AMOUNT
        async with self.uow.begin():
            person = await self.people.by_telegram_id(telegram_id)
            person_id = person.id if person is not None else None
        if person_id is None:
            return ShopRefusal.UNKNOWN
        if not await self._allowed(person_id, item):
            return ShopRefusal.NOT_ALLOWED
        return None

    async def paid(self, telegram_id: int, payload: str, charge_id: str, amount: int) -> Granted:
        """Grant what a successful payment bought, once per charge id. The payment already
        passed the pre-checkout check; it is granted as paid even if the catalog changed."""
        parsed = read_payload(payload)
        item = self.item(*parsed) if parsed else None
        if item is None:
            return Granted(GrantOutcome.UNKNOWN)
        if item.pack is not None:
            result = await self.ledger.buy(
                telegram_id, item.pack.credits, charge_id, item.id, stars=amount
            )
            if result.outcome not in (Outcome.DONE, Outcome.REPEATED):
                return Granted(GrantOutcome.UNKNOWN, item)
            # The receipt after the credits, in its own step: a redelivered payment finds the
            # credits granted and queues the receipt if a crash lost it (once per charge id).
            async with self.uow.begin():
                person = await self.people.by_telegram_id(telegram_id)
                if person is not None:
                    await self._queue_receipt(
                        person, item, amount, charge_id, self.clock.now(), balance=result.balance
                    )
                await self.uow.commit()
            if result.outcome is Outcome.REPEATED:
                return Granted(GrantOutcome.DUPLICATE, item)
            return Granted(GrantOutcome.CREDITS, item, balance=result.balance)
        addon = item.addon
        assert addon is not None
        now = self.clock.now()
        ends_at = now + timedelta(days=addon.days) if addon.days else None
        async with self.uow.begin():
            await self.lock(telegram_id)
            person = await self.people.by_telegram_id(telegram_id)
            if person is None:
                return Granted(GrantOutcome.UNKNOWN, item)
            if await self.addons.by_charge(charge_id) is not None:
                return Granted(GrantOutcome.DUPLICATE, item)
            await self.addons.add(
                person_id=person.id,
                addon_id=addon.id,
                stars=amount,
                quantity=addon.quantity,
                charge_id=charge_id,
                at=now,
                ends_at=ends_at,
            )
            await self._queue_receipt(person, item, amount, charge_id, now, ends_at=ends_at)
            await self.uow.commit()
        return Granted(GrantOutcome.ADDON, item, ends_at=ends_at)

    async def _queue_receipt(
        self,
        person: Any,
        item: Item,
        amount: int,
        charge_id: str,
        now: datetime,
        *,
        balance: int | None = None,
        ends_at: datetime | None = None,
    ) -> bool:
        """The receipt email of one purchase (no commit), to a confirmed address only; keyed
        by the charge id, so a payment delivered twice is receipted once. Like the plans'
        receipt it is transactional: no marketing consent needed."""
        if (
            self.receipts is None
            or not person.email
            or person.email_status != "confirmed"
            or person.erased_at is not None
        ):
            return False
        names = item.pack.name if item.pack is not None else item.addon.name  # type: ignore[union-attr]
        return await self.receipts.enqueue(
            key=f"shop_receipt:{charge_id}"[:200],
            channel="email",
            person_id=person.id,
            template=RECEIPT_TEMPLATE,
            context={
                "kind": item.kind.value,
                "item_names": dict(names),
                "amount": amount,
                "credits": item.pack.credits if item.pack is not None else None,
                "balance": balance,
                "quantity": item.addon.quantity if item.addon is not None else None,
                "until": ends_at,
                "paid_at": now,
                "charge_id": charge_id,
            },
            marketing=False,
            not_before=now,
            now=now,
        )

    async def wallet(self, person_id: int, locale: str, last: int = 5) -> Wallet:
        reads = self.wallet_reads
        if reads is None:
            return Wallet(0, (), ())
        now = self.clock.now()
        async with self.uow.begin():
            balance = await reads.balance(person_id)
            history = await reads.history(person_id, last)
            bought = await reads.of_person(person_id)
        entries = tuple(
            {"kind": e.kind, "amount": e.amount, "shortfall": e.shortfall, "at": e.created_at}
            for e in history
        )
        addons = []
        for row in bought:
            ends = _aware(row.ends_at)
            if row.refunded_at is not None or (ends is not None and ends <= now):
                continue
            addon = self.catalog.addon(row.addon_id)
            name = (addon.name.get(locale) or addon.name["en"]) if addon else row.addon_id
            addons.append({"name": name, "until": ends, "quantity": row.quantity})
        return Wallet(balance, entries, tuple(addons))

    async def propose_refund(self, text: str) -> ShopRefundProposal | None:
        """`/refund <charge id> [reason]` for a shop purchase: what a refund would do, for
        staff to confirm (nothing changes yet). None when the charge id is not a shop
        purchase (the plans' refund path handles it)."""
        parts = text.strip().split(maxsplit=1)
        if not parts or self.refunds is None or self.wallet_reads is None:
            return None
        charge_id, note = parts[0], (parts[1].strip() if len(parts) > 1 else "")[:200]
        if charge_id.startswith(POINTS_CHARGE_PREFIX):
            return None  # an add-on redeemed with points (services.points): no Stars to give back
        async with self.uow.begin():
            row = await self.addons.by_charge(charge_id)
            bought: Any = (
                None if row is not None else await self.wallet_reads.entry(f"buy:{charge_id}")
            )
            if row is None and bought is None:
                return None
            person = await self.people.get(row.person_id if row is not None else bought.person_id)
            if person is None or person.telegram_id is None:
                return None
            if row is not None:
                done = row.refunded_at is not None
                item, stars, credits, balance = row.addon_id, row.stars, 0, 0
            else:
                done = await self.wallet_reads.entry(f"refund:{charge_id}") is not None
                item, stars, credits = bought.note or "", bought.stars or 0, bought.amount
                balance = await self.wallet_reads.balance(person.id)
        return ShopRefundProposal(
            outcome=RefundDone.ALREADY if done else RefundDone.OK,
            charge_id=charge_id,
            item=item,
            stars=stars,
            credits=credits,
            balance=balance,
            note=note,
            name=person.first_name,
            telegram_id=person.telegram_id,
        )

    async def staff_refund(
        self, *, staff_id: int, charge_id: str, note: str = ""
    ) -> ShopRefunded | None:
        """Refund a shop purchase staff confirmed: Telegram is asked for the Stars back
        (refundStarPayment, once per charge), an add-on ends now, a pack's unspent credits are
        taken back (what was spent is the shortfall), and the audit log keeps the reason.
        A second call (a double tap, even at the same time) does nothing more and answers
        ALREADY: only the call that queued the Stars refund writes the audit entry."""
        if self.refunds is None or self.wallet_reads is None:
            return None
        if charge_id.startswith(POINTS_CHARGE_PREFIX):
            return None  # an add-on redeemed with points (services.points): no Stars to give back
        parts_ = self.refunds
        now = self.clock.now()
        async with self.uow.begin():
            row = await self.addons.by_charge(charge_id)
            bought: Any = (
                None if row is not None else await self.wallet_reads.entry(f"buy:{charge_id}")
            )
            if row is None and bought is None:
                return None
            person = await self.people.get(row.person_id if row is not None else bought.person_id)
            if person is None or person.telegram_id is None:
                return None
            telegram_id = person.telegram_id
            if row is not None and not await parts_.end_addon(charge_id, now):
                return ShopRefunded(RefundDone.ALREADY, charge_id, row.addon_id, row.stars)
            queued = await queue_refund(
                parts_.outbox,
                person_id=person.id,
                telegram_id=telegram_id,
                charge_id=charge_id,
                reason="staff",
                now=now,
            )
            item = row.addon_id if row is not None else (bought.note or "")
            if queued:
                parts_.audit.record(
                    staff_id,
                    "refund",
                    now,
                    person=person.id,
                    charge_id=charge_id,
                    item=item,
                    note=note,
                )
            await self.uow.commit()
        parts_.kick.kick()
        if row is not None:
            return ShopRefunded(RefundDone.OK, charge_id, item, row.stars)
        # After the Stars refund is queued: a retry finds no refund entry and completes this.
        result = await self.ledger.refund(telegram_id, bought.amount, charge_id)
        if result.outcome is Outcome.REPEATED:
            return ShopRefunded(RefundDone.ALREADY, charge_id, item)
        return ShopRefunded(
            RefundDone.OK,
            charge_id,
            item,
            credits=bought.amount,
            taken=bought.amount - result.shortfall,
            shortfall=result.shortfall,
        )


def _aware(at: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; they were stored in UTC."""
    if at is None or at.tzinfo is not None:
        return at
    return at.replace(tzinfo=UTC)
