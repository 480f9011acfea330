"""Callback data for every button the customer side sends (aiogram CallbackData, <64 bytes).

Buttons that change a membership carry `v`, the subscription version they were made for: a
button from an older state does nothing but show the current view.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class Nav(CallbackData, prefix="nav"):
    view: str  # plans | account | language | privacy


class TrialCb(CallbackData, prefix="tr"):
    action: str  # start | skip


class ConsentCb(CallbackData, prefix="mk"):
    yes: bool


class PlanCb(CallbackData, prefix="pl"):
    plan: str
    kind: str  # monthly | yearly


class AccountCb(CallbackData, prefix="ac"):
    action: str  # cancel | pause | resume | undo
    v: int


class CancelCb(CallbackData, prefix="cx"):
    v: int


class ReasonCb(CallbackData, prefix="rs"):
    reason: str  # a CancelReason value, or "skip"
    v: int


class OfferCb(CallbackData, prefix="of"):
    offer: str  # an offer id, or "-" for "no thanks"
    v: int


class PauseCb(CallbackData, prefix="pa"):
    months: int
    v: int


class LangCb(CallbackData, prefix="lg"):
    code: str


class PrivacyCb(CallbackData, prefix="pv"):
    action: str  # erase | confirm | keep


class EmailCb(CallbackData, prefix="em"):
    action: str  # stop
