"""Callback data of every inline button the bot sends (aiogram CallbackData, < 64 bytes).

The one module that names what a button carries: each field is typed, choices are Enums,
so a forged or outdated value fails to unpack and the handler's filter simply does not
match (the fallback answers it). The packed strings are unchanged from the untyped version
(`ac:cancel:3`, `rs:skip:3`...), so buttons already sitting in people's chats keep working.
tests/unit/test_callbacks.py packs every class with its longest values.

Buttons that change a membership carry `v`, the subscription version they were made for: a
button from an older state does nothing but show the current view.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from aiogram.filters.callback_data import CallbackData
from pydantic import StringConstraints

from forever.domain.catalog import CancelReason

# -- the customer side ---------------------------------------------------------------------


class NavView(StrEnum):
    PLANS = "plans"
    ACCOUNT = "account"
    LANGUAGE = "language"
    PRIVACY = "privacy"
    TIMEZONE = "tz"
    SHOP = "shop"
    POINTS = "points"


class Nav(CallbackData, prefix="nav"):
    view: NavView


class TrialAction(StrEnum):
    START = "start"
    SKIP = "skip"


class TrialCb(CallbackData, prefix="tr"):
    action: TrialAction


class ConsentCb(CallbackData, prefix="mk"):
    yes: bool


class ShopCb(CallbackData, prefix="sh"):
    """A shop item (issue 19): kind `c` (credit pack) or `a` (add-on), and its catalog id;
    both are data, checked by the handler."""

    kind: str
    item: str


class PointsCb(CallbackData, prefix="pt"):
    """Redeem points for a reward of the catalog's `[[points.rewards]]` (issue 19): its id,
    checked by the handler."""

    reward: str


class PlanKind(StrEnum):
    """What a plan button sells; the values are InvoiceKind's (domain.payments)."""

    MONTHLY = "monthly"  # InvoiceKind.SUBSCRIPTION
    YEARLY = "yearly"  # InvoiceKind.YEARLY


class PlanCb(CallbackData, prefix="pl"):
    plan: str  # a plan id of the catalog (data, not code: checked by the handler)
    kind: PlanKind


class AccountAction(StrEnum):
    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    UNDO = "undo"


class AccountCb(CallbackData, prefix="ac"):
    action: AccountAction
    v: int


class CancelCb(CallbackData, prefix="cx"):
    v: int


SKIP_REASON = "skip"


class ReasonCb(CallbackData, prefix="rs"):
    reason: CancelReason | Literal["skip"]  # "skip": no reason given
    v: int


NO_OFFER = "-"


class OfferCb(CallbackData, prefix="of"):
    offer: str  # an offer id of the catalog, or NO_OFFER for "no thanks"
    v: int


class PauseCb(CallbackData, prefix="pa"):
    months: int
    v: int


class Language(StrEnum):
    """The locales the bot speaks (config.LOCALES)."""

    EN = "en"
    RO = "ro"
    IT = "it"
    RU = "ru"
    ES = "es"


class LangCb(CallbackData, prefix="lg"):
    code: Language


class TzCb(CallbackData, prefix="tz"):
    zone: str  # an IANA zone name (data: checked with zoneinfo by the use case)


class PrivacyAction(StrEnum):
    ERASE = "erase"
    CONFIRM = "confirm"
    KEEP = "keep"


class PrivacyCb(CallbackData, prefix="pv"):
    action: PrivacyAction


class EmailAction(StrEnum):
    STOP = "stop"


class EmailCb(CallbackData, prefix="em"):
    action: EmailAction


# -- the staff side ------------------------------------------------------------------------


class BroadcastAction(StrEnum):
    CANCEL = "cancel"
    NO_BUTTON = "nobutton"
    CONFIRM = "confirm"


class BroadcastCb(CallbackData, prefix="bc"):
    """A step of composing a broadcast (staff_broadcast's `Act`)."""

    action: BroadcastAction
    draft: int = 0


class SegmentPick(StrEnum):
    """Who a broadcast goes to: the values are domain.segments.SegmentKind's."""

    ALL = "all"
    TRIAL = "trial"
    PAYING = "paying"
    PLAN = "plan"
    CANCELLED = "cancelled"
    LAPSED = "lapsed"
    PAUSED = "paused"
    LANGUAGE = "language"


class SegmentCb(CallbackData, prefix="bcseg"):
    """The segment of a broadcast (staff_broadcast's `Pick`); `value` is a plan id or a
    locale for the kinds that need one."""

    kind: SegmentPick
    value: str = ""


class StopBroadcastCb(CallbackData, prefix="bcstop"):
    """Stop a running broadcast (telegram.broadcasts' `StopBroadcast`)."""

    broadcast_id: int


class GrantAction(StrEnum):
    OK = "ok"
    NO = "no"


class GrantCb(CallbackData, prefix="grant"):
    """Confirm or refuse a staff grant (staff_tools' `GrantAct`); `nonce` ties the answer to
    the pending grant (8 hex digits)."""

    action: GrantAction
    nonce: str


class RefundAction(StrEnum):
    PICK = "pick"
    OK = "ok"
    NO = "no"


class RefundCb(CallbackData, prefix="rf"):
    """A staff refund (staff_tools): pick a payment from a list, confirm or refuse it.
    `nonce` ties the tap to the pending /refund (8 hex digits); `payment` is the payment id."""

    action: RefundAction
    payment: int
    nonce: str


class MigrateAction(StrEnum):
    OK = "ok"
    NO = "no"


class ShopRefundAction(StrEnum):
    OK = "ok"
    NO = "no"


class MigratePriceCb(CallbackData, prefix="mp"):
    """Confirm or cancel a /migrateprice preview (staff_experiments). `plan` has a plan id's
    shape (the handler checks it is in the catalog); `token` is the preview's (8 hex
    digits): a Confirm moves members only while the preview still says who moves."""

    action: MigrateAction
    plan: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,15}$")]
    token: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{8}$")]


class ShopRefundCb(CallbackData, prefix="srf"):
    """Staff confirm or cancel the refund of a shop purchase (issue 19). The charge id stays
    in the staff member's FSM data; `nonce` ties the tap to that pending /refund."""

    action: ShopRefundAction
    nonce: str


ALL_CALLBACKS: tuple[type[CallbackData], ...] = (
    Nav,
    TrialCb,
    ConsentCb,
    PlanCb,
    AccountCb,
    CancelCb,
    ReasonCb,
    OfferCb,
    PauseCb,
    LangCb,
    TzCb,
    PrivacyCb,
    EmailCb,
    BroadcastCb,
    SegmentCb,
    StopBroadcastCb,
    GrantCb,
    RefundCb,
    MigratePriceCb,
    ShopRefundCb,
)
