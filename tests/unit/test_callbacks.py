"""Every button's callback data fits Telegram's 64 bytes with its longest values, unpacks to
what was packed, and keeps the strings buttons already in people's chats carry."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

import pytest
from aiogram.filters.callback_data import CallbackData

from forever.config import LOCALES
from forever.domain.catalog import CancelReason
from forever.domain.payments import InvoiceKind
from forever.domain.segments import SegmentKind
from forever.domain.timezones import MAX_ZONE_LENGTH
from forever.telegram.callbacks import (
    ALL_CALLBACKS,
    NO_OFFER,
    SKIP_REASON,
    AccountAction,
    AccountCb,
    BroadcastAction,
    BroadcastCb,
    CancelCb,
    ConsentCb,
    EmailAction,
    EmailCb,
    GrantAction,
    GrantCb,
    LangCb,
    Language,
    MigrateAction,
    MigratePriceCb,
    Nav,
    NavView,
    OfferCb,
    PauseCb,
    PlanCb,
    PlanKind,
    PointsCb,
    PrivacyAction,
    PrivacyCb,
    ReasonCb,
    RefundAction,
    RefundCb,
    SegmentCb,
    SegmentPick,
    ShopRefundAction,
    ShopRefundCb,
    StopBroadcastCb,
    TrialAction,
    TrialCb,
    TzCb,
)

MAX_BYTES = 64
LONGEST_ID = "z" * 16  # plan and offer ids: at most 16 characters (domain.catalog)
LONGEST_INT = 2**31 - 1  # versions and row ids are 32-bit INTEGER columns
LONGEST_NONCE = "f" * 8  # secrets.token_hex(4)
MAX_PAUSE_MONTHS = 12  # the catalog allows 1 to 12


E = TypeVar("E", bound=StrEnum)


def longest(enum: type[E]) -> E:
    return max(enum, key=lambda member: len(member.value.encode()))


def longest_instances() -> list[CallbackData]:
    reason = max([*CancelReason, SKIP_REASON], key=len)
    return [
        Nav(view=longest(NavView)),
        TrialCb(action=longest(TrialAction)),
        ConsentCb(yes=False),
        PlanCb(plan=LONGEST_ID, kind=longest(PlanKind)),
        AccountCb(action=longest(AccountAction), v=LONGEST_INT),
        CancelCb(v=LONGEST_INT),
        ReasonCb(reason=reason, v=LONGEST_INT),
        OfferCb(offer=LONGEST_ID, v=LONGEST_INT),
        PauseCb(months=MAX_PAUSE_MONTHS, v=LONGEST_INT),
        LangCb(code=longest(Language)),
        TzCb(zone="x" * MAX_ZONE_LENGTH),
        PrivacyCb(action=longest(PrivacyAction)),
        EmailCb(action=longest(EmailAction)),
        BroadcastCb(action=longest(BroadcastAction), draft=LONGEST_INT),
        SegmentCb(kind=longest(SegmentPick), value=max([LONGEST_ID, *LOCALES], key=len)),
        StopBroadcastCb(broadcast_id=LONGEST_INT),
        GrantCb(action=longest(GrantAction), nonce=LONGEST_NONCE),
        RefundCb(action=longest(RefundAction), payment=LONGEST_INT, nonce=LONGEST_NONCE),
        MigratePriceCb(action=longest(MigrateAction), plan=LONGEST_ID, token=LONGEST_NONCE),
        ShopRefundCb(action=longest(ShopRefundAction), nonce=LONGEST_NONCE),
    ]


def test_every_class_is_checked() -> None:
    assert sorted(type(c).__name__ for c in longest_instances()) == sorted(
        c.__name__ for c in ALL_CALLBACKS
    )


@pytest.mark.parametrize("data", longest_instances(), ids=lambda d: type(d).__name__)
def test_longest_values_fit_in_64_bytes_and_round_trip(data: CallbackData) -> None:
    packed = data.pack()  # aiogram itself refuses more than 64 bytes
    assert len(packed.encode()) <= MAX_BYTES
    assert type(data).unpack(packed) == data


def test_prefixes_are_unique() -> None:
    prefixes = [c.__prefix__ for c in ALL_CALLBACKS]
    assert len(prefixes) == len(set(prefixes))


def test_packed_strings_are_the_ones_already_in_chats() -> None:
    assert Nav(view=NavView.PLANS).pack() == "nav:plans"
    assert PlanCb(plan="plus", kind=PlanKind.MONTHLY).pack() == "pl:plus:monthly"
    assert AccountCb(action=AccountAction.UNDO, v=3).pack() == "ac:undo:3"
    assert ReasonCb(reason=SKIP_REASON, v=3).pack() == "rs:skip:3"
    assert ReasonCb(reason=CancelReason.TOO_EXPENSIVE, v=3).pack() == "rs:too_expensive:3"
    assert OfferCb(offer=NO_OFFER, v=3).pack() == "of:-:3"
    assert ConsentCb(yes=True).pack() == "mk:1"
    assert BroadcastCb(action=BroadcastAction.CANCEL).pack() == "bc:cancel:0"
    assert SegmentCb(kind=SegmentPick.ALL).pack() == "bcseg:all:"
    assert LangCb(code=Language.IT).pack() == "lg:it"


@pytest.mark.parametrize("code", ["ru", "es"])
def test_russian_and_spanish_buttons_unpack(code: str) -> None:
    assert LangCb.unpack(f"lg:{code}").code == code


def test_enums_mirror_the_domain() -> None:
    assert {k.value for k in PlanKind} == {InvoiceKind.SUBSCRIPTION, InvoiceKind.YEARLY}
    assert {k.value for k in SegmentPick} == {k.value for k in SegmentKind}
    assert {k.value for k in Language} == set(LOCALES)


@pytest.mark.parametrize(
    ("cls", "forged"),
    [
        (ReasonCb, "rs:bogus:1"),
        (AccountCb, "ac:cancel:notanumber"),
        (PlanCb, "pl:plus:one_month"),
        (LangCb, "lg:de"),
        (LangCb, "lg:RU"),
        (LangCb, "lg:es-419"),
        (Nav, "nav:admin"),
        (MigratePriceCb, "mp:go:plus:0123abcd"),
        (MigratePriceCb, "mp:ok:Plus:0123abcd"),
        (MigratePriceCb, "mp:ok:plus:0123abc"),
        (MigratePriceCb, "mp:ok:plus:0123abcg"),
    ],
)
def test_a_forged_value_does_not_unpack(cls: type[CallbackData], forged: str) -> None:
    with pytest.raises(ValueError):
        cls.unpack(forged)


def test_points_button_fits_with_the_longest_reward_id() -> None:
    data = PointsCb(reward="r" * 32)  # catalog ids are at most 32 characters
    assert len(data.pack().encode()) <= MAX_BYTES
    assert PointsCb.unpack(data.pack()) == data
