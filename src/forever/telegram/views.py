"""What the customer sees: text from message_templates plus the buttons under it.

Each view returns (html, keyboard); routers send them, the upgrade sweep too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from forever.catalogs import overrides_generation
from forever.domain.account import AccountAction as Shown
from forever.domain.account import account_actions
from forever.domain.catalog import CancelReason, Catalog, Offer, OfferKind, Plan
from forever.domain.lifecycle import Billing, State
from forever.domain.locales import LOCALES, NAMES
from forever.domain.payments import InvoiceKind, UpgradeCredit, price
from forever.domain.timezones import zone_choices
from forever.rendering import Renderer
from forever.services.accounts import Snapshot
from forever.services.billing import IssuedInvoice
from forever.services.points import PointsView
from forever.services.shop import Wallet
from forever.telegram.callbacks import (
    NO_OFFER,
    SKIP_REASON,
    AccountAction,
    AccountCb,
    CancelCb,
    ConsentCb,
    EmailAction,
    EmailCb,
    LangCb,
    Language,
    Nav,
    NavView,
    OfferCb,
    PauseCb,
    PlanCb,
    PlanKind,
    PrivacyAction,
    PrivacyCb,
    ReasonCb,
    TrialAction,
    TrialCb,
    TzCb,
)
from forever.telegram.labels import Labels
from forever.telegram.lean_session import fixed

View = tuple[str, InlineKeyboardMarkup | None]
# Each language named in itself, as the /language picker and staff screens show it.
LANGUAGE_NAMES = NAMES


def keyboard(*rows: list[InlineKeyboardButton]) -> InlineKeyboardMarkup | None:
    rows_ = [row for row in rows if row]
    return InlineKeyboardMarkup(inline_keyboard=rows_) if rows_ else None


def _points(view: PointsView, last: int) -> dict[str, Any]:
    """A points view as template data (the last `last` entries)."""
    return {
        "balance": view.balance,
        "expiring": (
            {"points": view.expiring.points, "by": view.expiring.by} if view.expiring else None
        ),
        "entries": list(view.entries[:last]),
    }


def cb(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def url(text: str, link: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, url=link)


def _account_button_data(shown: Shown, v: int) -> CallbackData:
    """What each /account button carries (its label has the action's name)."""
    if shown is Shown.START_TRIAL:
        return TrialCb(action=TrialAction.START)
    if shown in (Shown.SEE_PLANS, Shown.UPGRADE):
        return Nav(view=NavView.PLANS)
    action = AccountAction.UNDO if shown is Shown.KEEP else AccountAction(shown.value)
    return AccountCb(action=action, v=v)


class Views:
    def __init__(self, renderer: Renderer, labels: Labels, catalog: Catalog) -> None:
        self.r = renderer
        self.label = labels
        self.catalog = catalog
        # Keyboards that depend on the locale alone, built once per version of the owner's
        # texts (a button label may be edited in the console; nothing changes a markup after
        # it is built); shared with the zone-bound copies.
        self._fixed: dict[tuple[str, str, int], InlineKeyboardMarkup | None] = {}

    def in_zone(self, zone: ZoneInfo) -> Views:
        """These views showing every time in `zone` (the reader's own, issue 13)."""
        if zone == self.r.zone:
            return self
        bound = Views(self.r.in_zone(zone), self.label, self.catalog)
        bound._fixed = self._fixed
        return bound

    def _fixed_keyboard(
        self, name: str, locale: str, build: Callable[[], InlineKeyboardMarkup | None]
    ) -> InlineKeyboardMarkup | None:
        key = (name, locale, overrides_generation())
        try:
            return self._fixed[key]
        except KeyError:
            if any(k[2] != key[2] for k in self._fixed):  # built with texts since changed
                self._fixed.clear()
            markup = self._fixed[key] = build()
            if markup is not None:
                fixed(markup)  # the same object for everyone: its JSON is made once
            return markup

    def stars(self, amount: int) -> str:
        return str(self.r.env.filters["stars"](amount))

    def plan_name(self, plan_id: str | None, locale: str) -> str:
        plan = self.catalog.plan(plan_id or "")
        return plan.name[locale] if plan else (plan_id or "")

    # -- sign-up ----------------------------------------------------------------------------

    def welcome(self, locale: str, name: str | None) -> View:
        trial_plan = self.catalog.plan(self.catalog.trial.plan_id)
        text = self.r.chat(
            "welcome",
            locale,
            name=name,
            business=self.catalog.business_name,
            trial_days=self.catalog.trial.days,
            trial_plan=trial_plan.name[locale] if trial_plan else "",
        )
        return text, self._fixed_keyboard(
            "welcome",
            locale,
            lambda: keyboard(
                [cb(self.label(locale, "start_trial"), TrialCb(action=TrialAction.START))],
                [cb(self.label(locale, "see_plans"), Nav(view=NavView.PLANS))],
            ),
        )

    def warm_welcome(self) -> None:
        """Make the welcome once in every language, for nobody: its templates are compiled
        and its keyboards built at start-up, not while the first newcomers after a restart
        wait for it."""
        for locale in LOCALES:
            self.welcome(locale, None)

    def email_ask(self, locale: str) -> View:
        return self.r.chat(
            "email_ask", locale, trial_days=self.catalog.trial.days
        ), self._fixed_keyboard(
            "email_ask",
            locale,
            lambda: keyboard([cb(self.label(locale, "skip"), TrialCb(action=TrialAction.SKIP))]),
        )

    def email_invalid(self, locale: str, during_signup: bool) -> View:
        """The text names the one button shown under it: Skip at sign-up (the trial starts
        without an address), Cancel on /email (the address stays as it is)."""
        if during_signup:
            label = self.label(locale, "skip")
            button = cb(label, TrialCb(action=TrialAction.SKIP))
        else:
            label = self.label(locale, "stop_editing")
            button = cb(label, EmailCb(action=EmailAction.STOP))
        text = self.r.chat("email_invalid", locale, button=label, signup=during_signup)
        return text, keyboard([button])

    def trial_started(self, snap: Snapshot) -> View:
        locale = snap.language
        m = snap.membership
        return self.r.chat(
            "trial_started",
            locale,
            plan=self.plan_name(m.plan_id, locale),
            until=m.period_end,
        ), keyboard([cb(self.label(locale, "see_plans"), Nav(view=NavView.PLANS))])

    def consent_ask(self, locale: str) -> View:
        return self.r.chat("consent_ask", locale, business=self.catalog.business_name), keyboard(
            [
                cb(self.label(locale, "yes_emails"), ConsentCb(yes=True)),
                cb(self.label(locale, "no_emails"), ConsentCb(yes=False)),
            ]
        )

    # -- plans ------------------------------------------------------------------------------

    def plans(self, locale: str, snap: Snapshot, prices: Mapping[str, Plan] | None = None) -> View:
        """`prices`: plan id -> the plan at this person's own monthly and yearly prices (a
        kept price, or a plan_price experiment's arm: services.experiments.PersonalPrices);
        the invoices charge the same, and the yearly saving is reckoned from them."""
        current = snap.membership.plan_id if snap.membership.has_access else None
        rows = []
        items = []
        for listed in self.catalog.plans_by_tier():
            own = (prices or {}).get(listed.id)
            plan = (
                listed
                if own is None
                else replace(listed, monthly_stars=own.monthly_stars, yearly_stars=own.yearly_stars)
            )
            items.append(self._plan_context(plan, locale) | {"current": plan.id == current})
            rows.append(
                [
                    cb(
                        self.label(
                            locale,
                            "monthly",
                            plan=plan.name[locale],
                            price=self.stars(plan.monthly_stars),
                        ),
                        PlanCb(plan=plan.id, kind=PlanKind.MONTHLY),
                    )
                ]
            )
            rows.append(
                [
                    cb(
                        self.label(
                            locale,
                            "yearly",
                            plan=plan.name[locale],
                            price=self.stars(plan.yearly_stars),
                        ),
                        PlanCb(plan=plan.id, kind=PlanKind.YEARLY),
                    )
                ]
            )
        text = self.r.chat("plans", locale, plans=items, business=self.catalog.business_name)
        return text, keyboard(*rows)

    def _plan_context(self, plan: Plan, locale: str) -> dict[str, Any]:
        return {
            "id": plan.id,
            "name": plan.name[locale],
            "description": plan.description[locale],
            "monthly": plan.monthly_stars,
            "yearly": plan.yearly_stars,
            "saving": plan.yearly_saving_stars,
            "saving_percent": plan.yearly_saving_percent,
            "features": list(plan.features[locale]),
            "usage_limit": plan.usage_limit,
        }

    def credit_context(
        self, locale: str, plan: Plan, credit: UpgradeCredit | None
    ) -> dict[str, Any] | None:
        """What an upgrade does with the days left on the lower tier, for the templates."""
        if credit is None:
            return None
        return {
            "days": credit.days_left,
            "stars": credit.stars,
            "bonus": credit.bonus_days,
            "from_plan": self.plan_name(credit.from_plan, locale),
            "to_plan": plan.name[locale],
        }

    def plan_link(
        self,
        locale: str,
        plan: Plan,
        link: str,
        amount: int,
        percent: int = 0,
        credit: UpgradeCredit | None = None,
    ) -> View:
        """A Stars subscription link: the price it charges now and every 30 days after (and,
        for an upgrade mid-period, what the days left on the lower tier become)."""
        return self.r.chat(
            "plan_link",
            locale,
            plan=plan.name[locale],
            price=amount,
            percent=percent,
            regular=plan.monthly_stars,
            credit=self.credit_context(locale, plan, credit),
        ), keyboard([url(self.label(locale, "subscribe", price=self.stars(amount)), link)])

    def upgrade_credit(self, locale: str, plan: Plan, credit: UpgradeCredit) -> View:
        """Said before a one-off upgrade invoice: what the days left on the lower tier become."""
        return self.r.chat(
            "upgrade_credit", locale, credit=self.credit_context(locale, plan, credit)
        ), None

    def invoice_texts(
        self,
        locale: str,
        plan: Plan,
        kind: InvoiceKind,
        offer: Offer | None = None,
        credit: UpgradeCredit | None = None,
        *,
        amount: int,
    ) -> tuple[str, str]:
        """The title and description of Telegram's payment screen. `amount` is the Stars the
        invoice charges (a kept, migrated or experiment price, after any offer): the only
        price these texts may name."""
        ctx = {
            "plan": plan.name[locale],
            "kind": kind.value,
            "business": self.catalog.business_name,
            "percent": offer.percent if offer and offer.kind is OfferKind.DISCOUNT else 0,
            "price": amount,
            "credit": self.credit_context(locale, plan, credit),
        }
        title = self.r.chat("invoice_title", locale, **ctx)[:32]
        description = self.r.chat("invoice_description", locale, **ctx)[:255]
        return title, description

    def texts_for(self, locale: str) -> Callable[[IssuedInvoice], tuple[str, str]]:
        """invoice_texts for an invoice as issued: its plan, offer and the amount it charges."""

        def texts(issued: IssuedInvoice) -> tuple[str, str]:
            return self.invoice_texts(
                locale, issued.plan, issued.kind, issued.offer, amount=issued.amount
            )

        return texts

    def payment_done(
        self, locale: str, plan_id: str, until: datetime | None, renewed: bool, renews: bool
    ) -> View:
        return self.r.chat(
            "payment_done",
            locale,
            plan=self.plan_name(plan_id, locale),
            until=until,
            renewed=renewed,
            renews=renews,
        ), keyboard([cb(self.label(locale, "account"), Nav(view=NavView.ACCOUNT))])

    # -- account ----------------------------------------------------------------------------

    def account(
        self,
        snap: Snapshot,
        *,
        note: str | None = None,
        wallet: Wallet | None = None,
        points: PointsView | None = None,
        own_price: int | None = None,
    ) -> View:
        """`own_price`: the monthly price this person would be charged for their plan (a
        kept price or an experiment's arm), for the renewal line when no Stars subscription
        of theirs is on record."""
        locale = snap.language
        m = snap.membership
        v = snap.version
        text = self.r.chat(
            "account",
            locale,
            note=note,
            name=snap.first_name,
            plan=self.plan_name(m.plan_id, locale) if m.plan_id else None,
            state=m.state.value,
            billing=m.billing.value if m.billing else None,
            until=m.period_end,
            paused_until=m.paused_until,
            renews=m.auto_renew,
            renewal_price=self._renewal_price(snap, own_price),
            email=snap.email,
            trial_available=not snap.trial_used and m.state is State.NONE,
        )
        if wallet is not None and not wallet.empty:
            # Credits and add-ons (issue 19), below the membership.
            text += "\n\n" + self.r.chat("account_wallet", locale, wallet=wallet)
        if points is not None and self.catalog.points.enabled:
            # Points (issue 19): the balance, what expires next and the last entries.
            text += "\n\n" + self.r.chat("account_points", locale, points=_points(points, 3))
        rows = [
            [cb(self.label(locale, action.value), _account_button_data(action, v))]
            for action in account_actions(snap, self.catalog)
        ]
        if self.catalog.addons or self.catalog.credit_packs:
            rows.append([cb(self.label(locale, "shop"), Nav(view=NavView.SHOP))])
        if self.catalog.points.enabled:
            rows.append([cb(self.label(locale, "points"), Nav(view=NavView.POINTS))])
        rows.append([cb(self.label(locale, "language"), Nav(view=NavView.LANGUAGE))])
        return text, keyboard(*rows)

    def _renewal_price(self, snap: Snapshot, own_price: int | None = None) -> int | None:
        """What the next renewal charges (a discounted subscription renews at its price;
        without one on record, the price this person keeps or was shown, else the catalog's)."""
        m = snap.membership
        if not m.auto_renew or m.billing is not Billing.MONTHLY:
            return None
        if snap.renewal_stars is not None:
            return snap.renewal_stars
        if own_price is not None:
            return own_price
        plan = self.catalog.plan(m.plan_id or "")
        return plan.monthly_stars if plan else None

    def cancel_confirm(self, snap: Snapshot) -> View:
        locale = snap.language
        m = snap.membership
        return self.r.chat(
            "cancel_confirm",
            locale,
            plan=self.plan_name(m.plan_id, locale),
            until=m.period_end,
            trial=m.state is State.TRIAL,
            past_due=m.state is State.PAST_DUE,
        ), keyboard(
            [cb(self.label(locale, "confirm_cancel"), CancelCb(v=snap.version))],
            [cb(self.label(locale, "keep"), Nav(view=NavView.ACCOUNT))],
        )

    def canceled(self, snap: Snapshot, *, from_telegram: bool = False) -> View:
        locale = snap.language
        m = snap.membership
        return self.r.chat(
            "canceled",
            locale,
            plan=self.plan_name(m.plan_id, locale),
            until=m.period_end,
            ended=m.state is State.EXPIRED,
            from_telegram=from_telegram,
            email=snap.email,
        ), (
            keyboard(
                [
                    cb(
                        self.label(locale, "keep"),
                        AccountCb(action=AccountAction.UNDO, v=snap.version),
                    )
                ]
            )
            if m.state is State.CANCEL_SCHEDULED
            else None
        )

    def reason_ask(self, snap: Snapshot) -> View:
        locale = snap.language
        v = snap.version
        rows = [[cb(self.label(locale, r.value), ReasonCb(reason=r, v=v))] for r in CancelReason]
        rows.append([cb(self.label(locale, "skip_reason"), ReasonCb(reason=SKIP_REASON, v=v))])
        return self.r.chat("reason_ask", locale), keyboard(*rows)

    def offer(self, snap: Snapshot, offer: Offer, prices: Mapping[str, int] | None = None) -> View:
        """`prices`: plan id -> the monthly price this person would be charged (kept or
        shown), when it is not the catalog's."""
        locale = snap.language
        m = snap.membership
        plan = self.catalog.plan(m.plan_id or "")
        lower = self.catalog.next_tier_down(m.plan_id or "")
        prices = prices or {}
        if plan is not None and plan.id in prices:
            plan = replace(plan, monthly_stars=prices[plan.id])
        if lower is not None and lower.id in prices:
            lower = replace(lower, monthly_stars=prices[lower.id])
        ctx = {
            "kind": offer.kind.value,
            "months": offer.months,
            "percent": offer.percent,
            "plan": plan.name[locale] if plan else "",
            "lower_plan": lower.name[locale] if lower else "",
            "lower_price": lower.monthly_stars if lower else 0,
            "discounted": price(plan, InvoiceKind.SUBSCRIPTION, offer) if plan else 0,
            "regular": plan.monthly_stars if plan else 0,
            "days": offer.days,
            "until": m.period_end,
            "trial": m.billing is Billing.TRIAL,
            "trial_until": (
                m.period_end + timedelta(days=offer.days)
                if m.period_end and offer.kind is OfferKind.LONGER_TRIAL
                else None
            ),
        }
        if offer.kind is OfferKind.PAUSE:
            accept = self.label(
                locale, "accept_pause", months=self.label.months(locale, offer.months)
            )
        elif offer.kind is OfferKind.DISCOUNT:
            accept = self.label(locale, "accept_discount", percent=offer.percent)
        elif offer.kind is OfferKind.LONGER_TRIAL:
            accept = self.label(locale, "accept_longer_trial", n=offer.days)
        else:
            accept = self.label(locale, "accept_lower_tier", plan=ctx["lower_plan"])
        return self.r.chat("offer", locale, **ctx), keyboard(
            [cb(accept, OfferCb(offer=offer.id, v=snap.version))],
            [cb(self.label(locale, "no_thanks"), OfferCb(offer=NO_OFFER, v=snap.version))],
        )

    def pause_ask(self, snap: Snapshot) -> View:
        locale = snap.language
        buttons = [
            cb(self.label.months(locale, n), PauseCb(months=n, v=snap.version))
            for n in self.catalog.pause_months
        ]
        rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
        return self.r.chat("pause_ask", locale, until=snap.membership.period_end), keyboard(*rows)

    def language_ask(self, locale: str) -> View:
        """The languages, and the time zone times are shown in (a button to change it)."""
        zone = self.r.zone.key
        row = [cb(name, LangCb(code=Language(code))) for code, name in LANGUAGE_NAMES.items()]
        return self.r.chat("language_ask", locale, zone=zone), keyboard(
            *(row[i : i + 3] for i in range(0, len(row), 3)),  # five names: three a row
            [cb(self.label(locale, "timezone", zone=zone), Nav(view=NavView.TIMEZONE))],
        )

    def timezone_ask(self, locale: str) -> View:
        """A short list of common zones for the person's language, their own and UTC."""
        zone = self.r.zone.key
        choices = zone_choices(locale, zone, self.r.default_zone.key)
        buttons = [cb(("✓ " if z == zone else "") + z, TzCb(zone=z)) for z in choices]
        rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
        return self.r.chat("timezone_ask", locale, zone=zone), keyboard(*rows)

    def timezone_set(self, locale: str, now: datetime) -> View:
        return self.r.chat("timezone_set", locale, zone=self.r.zone.key, now=now), None

    def privacy(self, snap: Snapshot, payments: int) -> View:
        locale = snap.language
        m = snap.membership
        return self.r.chat(
            "privacy",
            locale,
            name=snap.first_name,
            username=snap.username,
            email=snap.email,
            language=LANGUAGE_NAMES.get(snap.language, snap.language),
            plan=self.plan_name(m.plan_id, locale) if m.plan_id else None,
            state=m.state.value,
            marketing=snap.marketing,
            payments=payments,
        ), keyboard([cb(self.label(locale, "erase"), PrivacyCb(action=PrivacyAction.ERASE))])

    def privacy_confirm(self, locale: str) -> View:
        return self.r.chat("privacy_confirm", locale), keyboard(
            [cb(self.label(locale, "erase_confirm"), PrivacyCb(action=PrivacyAction.CONFIRM))],
            [cb(self.label(locale, "keep_data"), PrivacyCb(action=PrivacyAction.KEEP))],
        )

    def upgrade_prompt(
        self,
        locale: str,
        name: str | None,
        from_plan: str,
        to_plan: str,
        rule: str,
        usage: int,
        ppu_stars: int = 0,
        prices: Mapping[str, int] | None = None,
    ) -> View:
        """`prices`: plan id -> this person's own monthly price (kept, or an arm shown)."""
        current = self.catalog.plan(from_plan)
        higher = self.catalog.plan(to_plan)
        assert current is not None and higher is not None
        own = prices or {}
        if current.id in own:
            current = replace(current, monthly_stars=own[current.id])
        if higher.id in own:
            higher = replace(higher, monthly_stars=own[higher.id])
        return self.r.chat(
            "upgrade_prompt",
            locale,
            name=name,
            rule=rule,
            usage=usage,
            ppu_stars=ppu_stars,
            current=self._plan_context(current, locale),
            higher=self._plan_context(higher, locale),
        ), keyboard(
            [
                cb(
                    self.label(locale, "upgrade_to", plan=higher.name[locale]),
                    PlanCb(plan=higher.id, kind=PlanKind.MONTHLY),
                )
            ],
            [cb(self.label(locale, "see_plans"), Nav(view=NavView.PLANS))],
        )

    def yearly_renewal(
        self,
        locale: str,
        name: str | None,
        plan_id: str,
        until: datetime,
        *,
        ended: bool,
        stars: int | None = None,
    ) -> View:
        """A yearly member's year ends soon, or has ended: one tap renews it for a year (the
        yearly invoice of their plan, if the catalog still sells it), another shows the plans.
        `stars`: the yearly price this member keeps (what that invoice charges them)."""
        plan = self.catalog.plan(plan_id)
        if plan is not None and stars is not None:
            plan = replace(plan, yearly_stars=stars)
        text = self.r.chat(
            "yearly_renewal",
            locale,
            name=name,
            plan=plan.name[locale] if plan else plan_id,
            until=until,
            ended=ended,
            price=plan.yearly_stars if plan else 0,
        )
        rows = []
        if plan is not None:
            label = self.label(
                locale, "renew_yearly", plan=plan.name[locale], price=self.stars(plan.yearly_stars)
            )
            rows.append([cb(label, PlanCb(plan=plan.id, kind=PlanKind.YEARLY))])
        rows.append([cb(self.label(locale, "see_plans"), Nav(view=NavView.PLANS))])
        return text, keyboard(*rows)
