"""/stats, /user, /grant, /refund and /audit for staff. Everyone else never reaches these
handlers."""

from __future__ import annotations

import secrets
from datetime import timedelta

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from forever.domain.catalog import CancelReason, Catalog
from forever.rendering import Renderer
from forever.services import stats
from forever.services.access import AccessReport
from forever.services.economy_stats import EconomyStats
from forever.services.points import PointsLedger
from forever.services.promo import Promos
from forever.services.records import PersonRecord
from forever.services.refunds import RefundOutcome, RefundProposal, StaffRefunds
from forever.services.shop import RefundDone, Shop, ShopRefundProposal
from forever.services.staff import MAX_GRANT_DAYS, StaffTools
from forever.services.stats import StaffStats
from forever.telegram.callbacks import RefundAction, RefundCb, ShopRefundAction, ShopRefundCb
from forever.telegram.labels import Labels
from forever.telegram.staff_filter import IsStaff
from forever.telegram.staff_texts import StaffTexts
from forever.telegram.views import LANGUAGE_NAMES

DEFAULT_DAYS = 30


class GrantAct(CallbackData, prefix="grant"):
    action: str  # ok | no
    nonce: str


def _plan_name(catalog: Catalog, plan_id: str | None, locale: str) -> str:
    plan = catalog.plan(plan_id) if plan_id else None
    return plan.name[locale] if plan else (plan_id or "–")


def _stats_names(
    catalog: Catalog, labels: Labels, texts: StaffTexts, locale: str
) -> dict[str, dict[str, str]]:
    """Plans, cancel reasons and offers by their names in the staff member's language: the
    plan names in the catalog, the reasons as the customer's buttons say them, and each offer
    described from its terms in the catalog. A key no longer known shows as itself."""
    return {
        "plan_names": {p.id: p.name[locale] for p in catalog.plans},
        "reason_names": {r.value: labels(locale, r.value) for r in CancelReason},
        "offer_names": {
            o.id: texts("offer_name", locale, kind=o.kind.value, percent=o.percent, months=o.months)
            for o in catalog.offers.values()
        },
    }


async def show_stats(
    message: Message,
    command: CommandObject,
    staff_stats: StaffStats,
    staff_texts: StaffTexts,
    catalog: Catalog,
    labels: Labels,
    locale: str,
    person: PersonRecord,
    access_report: AccessReport,
    renderer: Renderer,
    promos: Promos | None = None,
    points: PointsLedger | None = None,
    economy_stats: EconomyStats | None = None,
) -> None:
    texts = staff_texts
    argument = (command.args or "").strip()
    if argument and not (argument.isdigit() and 1 <= int(argument) <= stats.MAX_DAYS):
        await message.answer(texts("stats_bad_days", locale, max_days=stats.MAX_DAYS))
        return
    days = int(argument) if argument else DEFAULT_DAYS
    kpis = await staff_stats(staff_id=person.telegram_id or 0, days=days)
    report = texts(
        "stats_report",
        locale,
        days=days,
        k=kpis,
        **_stats_names(catalog, labels, texts, locale),
    )
    if promos is not None:  # promo codes (issue 19): appended lines
        promo_figures = await promos.figures(days)
        report = f"{report}\n\n{texts('stats_promo', locale, figures=promo_figures)}"
    if points is not None and catalog.points.enabled:
        # Points (issue 19): the outstanding liability and the period's movements.
        now = points.clock.now()
        figures = await points.figures(now - timedelta(days=days), now)
        report += "\n\n" + texts("points_report", locale, days=days, points_figures=figures)
    if economy_stats is not None:
        # Add-ons and credits (issue 19), with ARPU over every kind of revenue.
        economy = await economy_stats(days=days)
        report += texts(
            "stats_economy",
            locale,
            e=economy,
            all_revenue=economy.total_revenue(kpis.revenue_stars),
            arpu=economy.arpu(kpis.revenue_stars, kpis.active_total),
            members=kpis.active_total,
        )
    await message.answer(report)
    png = await stats.chart_png(
        kpis,
        title=texts("chart_title", locale, days=days),
        active_label=texts("chart_active", locale),
        churn_label=texts("chart_churn", locale),
        locale=locale,
    )
    await message.answer_photo(BufferedInputFile(png, filename=f"stats-{days}d.png"))
    if catalog.chats:  # membership access: who is in each chat now
        rows = await access_report.member_counts()
        await message.answer(renderer.chat("access_counts", locale, rows=rows))


async def show_user(
    message: Message,
    command: CommandObject,
    staff_tools: StaffTools,
    staff_refunds: StaffRefunds,
    staff_texts: StaffTexts,
    catalog: Catalog,
    locale: str,
    person: PersonRecord,
) -> None:
    texts = staff_texts
    who = (command.args or "").strip()
    try:
        card = await staff_tools.look_up(staff_id=person.telegram_id or 0, who=who)
    except ValueError:
        await message.answer(texts("user_usage", locale))
        return
    if card is None:
        await message.answer(texts("user_not_found", locale, who=who))
        return
    sub = card.subscription
    await message.answer(
        texts(
            "user_card",
            locale,
            p=card.person,
            s=sub,
            events=card.events,
            plan_name=_plan_name(catalog, sub.plan_id if sub else None, locale),
            payments=await staff_refunds.payments_of(card.person.id),
            plan_names={p.id: p.name[locale] for p in catalog.plans},
        )
    )


async def ask_grant(
    message: Message,
    command: CommandObject,
    staff_tools: StaffTools,
    staff_texts: StaffTexts,
    catalog: Catalog,
    locale: str,
    state: FSMContext,
) -> None:
    texts = staff_texts
    parts = (command.args or "").split()
    if len(parts) != 3:
        await message.answer(texts("grant_usage", locale))
        return
    who, plan_id, days_text = parts
    proposal = await staff_tools.propose_grant(who, plan_id, days_text)
    if proposal.outcome == "bad_days":
        await message.answer(
            texts("grant_bad_days", locale, text=days_text, max_days=MAX_GRANT_DAYS)
        )
        return
    if proposal.outcome == "unknown_plan":
        await message.answer(
            texts(
                "grant_unknown_plan",
                locale,
                plan=plan_id,
                plans=[p.id for p in catalog.plans_by_tier()],
            )
        )
        return
    if proposal.outcome == "bad_who":
        await message.answer(texts("grant_usage", locale))
        return
    target, plan = proposal.person, proposal.plan
    if target is None or plan is None:
        await message.answer(texts("user_not_found", locale, who=who))
        return
    nonce = secrets.token_hex(4)
    await state.update_data(
        grant={"person": target.id, "plan": plan.id, "days": proposal.days, "nonce": nonce}
    )
    await message.answer(
        texts(
            "grant_confirm",
            locale,
            name=target.first_name,
            telegram_id=target.telegram_id,
            plan_name=plan.name[locale],
            days=proposal.days,
        ),
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=texts("grant_button", locale),
                        callback_data=GrantAct(action="ok", nonce=nonce).pack(),
                    ),
                    InlineKeyboardButton(
                        text=texts("cancel_button", locale),
                        callback_data=GrantAct(action="no", nonce=nonce).pack(),
                    ),
                ]
            ]
        ),
    )


async def answer_grant(
    query: CallbackQuery,
    callback_data: GrantAct,
    staff_tools: StaffTools,
    staff_texts: StaffTexts,
    catalog: Catalog,
    locale: str,
    state: FSMContext,
    person: PersonRecord,
) -> None:
    texts = staff_texts
    data = await state.get_data()
    pending = data.get("grant")
    if not pending or pending.get("nonce") != callback_data.nonce:
        await query.answer(texts("grant_stale", locale), show_alert=True)
        return
    # Taken out before applying, so a second tap finds nothing to do.
    await state.update_data(grant=None)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
    staff_id = person.telegram_id or 0
    if callback_data.action != "ok":
        await staff_tools.cancel_grant(staff_id=staff_id, proposal=pending)
        if isinstance(query.message, Message):
            await query.message.answer(texts("grant_cancelled", locale))
        return
    granted = await staff_tools.grant(
        staff_id=staff_id,
        person_id=int(pending["person"]),
        plan_id=str(pending["plan"]),
        days=int(pending["days"]),
    )
    if isinstance(query.message, Message):
        await query.message.answer(
            texts(
                "grant_done",
                locale,
                name=granted.person.first_name if granted.person else None,
                plan_name=_plan_name(catalog, granted.membership.plan_id, locale),
                until=granted.membership.period_end,
                told=granted.told,
                language=LANGUAGE_NAMES.get(
                    granted.person.language if granted.person else "", locale
                ),
            )
        )


def _refund_buttons(
    texts: StaffTexts, locale: str, proposal: RefundProposal, nonce: str
) -> InlineKeyboardMarkup:
    if proposal.outcome is RefundOutcome.CHOOSE:
        rows = [
            [
                InlineKeyboardButton(
                    text=texts(
                        "refund_pick_button",
                        locale,
                        amount=p.amount,
                        paid_at=p.created_at,
                        plan=p.plan_id,
                    ),
                    callback_data=RefundCb(
                        action=RefundAction.PICK, payment=p.id, nonce=nonce
                    ).pack(),
                )
            ]
            for p in proposal.payments
        ]
        return InlineKeyboardMarkup(inline_keyboard=rows)
    payment = proposal.payments[0]
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=texts("refund_button", locale, amount=payment.amount),
                    callback_data=RefundCb(
                        action=RefundAction.OK, payment=payment.id, nonce=nonce
                    ).pack(),
                ),
                InlineKeyboardButton(
                    text=texts("cancel_button", locale),
                    callback_data=RefundCb(
                        action=RefundAction.NO, payment=payment.id, nonce=nonce
                    ).pack(),
                ),
            ]
        ]
    )


def _refund_text(texts: StaffTexts, catalog: Catalog, locale: str, proposal: RefundProposal) -> str:
    who = proposal.person
    return texts(
        "refund_confirm" if proposal.outcome is RefundOutcome.OK else "refund_choose",
        locale,
        name=who.first_name if who else None,
        telegram_id=who.telegram_id if who else None,
        payments=proposal.payments,
        plan_names={p.id: p.name[locale] for p in catalog.plans},
        note=proposal.note,
    )


async def ask_refund(
    message: Message,
    command: CommandObject,
    staff_refunds: StaffRefunds,
    staff_texts: StaffTexts,
    catalog: Catalog,
    locale: str,
    state: FSMContext,
    person: PersonRecord,
    shop: Shop | None = None,
) -> None:
    texts = staff_texts
    text = (command.args or "").strip()
    # A credit pack or an add-on bought in /shop (issue 19): confirmed with a tap.
    shop_proposal = await shop.propose_refund(text) if shop else None
    if shop_proposal is not None:
        await _ask_shop_refund(message, shop_proposal, texts, locale, state)
        return
    proposal = await staff_refunds.propose(text)
    if proposal.outcome is RefundOutcome.USAGE:
        await message.answer(texts("refund_usage", locale))
        return
    if proposal.outcome is RefundOutcome.NOT_FOUND:
        await message.answer(texts("refund_not_found", locale, who=text.split()[0]))
        return
    if proposal.outcome is RefundOutcome.ALREADY:
        payment = proposal.payments[0]
        await message.answer(
            texts(
                "refund_already",
                locale,
                charge_id=payment.telegram_charge_id,
                refunded_at=payment.refunded_at,
            )
        )
        return
    if proposal.outcome is RefundOutcome.NONE:
        who = proposal.person
        await message.answer(
            texts(
                "refund_nothing",
                locale,
                name=who.first_name if who else None,
                telegram_id=who.telegram_id if who else None,
            )
        )
        return
    nonce = secrets.token_hex(4)
    await state.update_data(
        refund={
            "payments": [p.id for p in proposal.payments],
            "note": proposal.note,
            "nonce": nonce,
        }
    )
    await message.answer(
        _refund_text(texts, catalog, locale, proposal),
        reply_markup=_refund_buttons(texts, locale, proposal, nonce),
    )


async def _ask_shop_refund(
    message: Message,
    proposal: ShopRefundProposal,
    texts: StaffTexts,
    locale: str,
    state: FSMContext,
) -> None:
    if proposal.outcome is RefundDone.ALREADY:
        await message.answer(texts("refund_shop_already", locale, shop_refund=proposal))
        return
    nonce = secrets.token_hex(4)
    await state.update_data(
        shop_refund={"charge_id": proposal.charge_id, "note": proposal.note, "nonce": nonce}
    )

    def button(label: str, action: ShopRefundAction) -> InlineKeyboardButton:
        data = ShopRefundCb(action=action, nonce=nonce).pack()
        return InlineKeyboardButton(text=label, callback_data=data)

    await message.answer(
        texts("refund_shop_confirm", locale, proposal=proposal),
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    button(
                        texts("refund_button", locale, amount=proposal.stars),
                        ShopRefundAction.OK,
                    ),
                    button(texts("cancel_button", locale), ShopRefundAction.NO),
                ]
            ]
        ),
    )


async def answer_shop_refund(
    query: CallbackQuery,
    callback_data: ShopRefundCb,
    staff_texts: StaffTexts,
    locale: str,
    state: FSMContext,
    person: PersonRecord,
    shop: Shop | None = None,
) -> None:
    """Confirm or Cancel under a shop refund. The pending refund is taken out of the FSM data
    before anything is done, so a second tap finds nothing; the refund itself is idempotent
    too (two taps at once refund once)."""
    texts = staff_texts
    pending = (await state.get_data()).get("shop_refund")
    if not pending or pending.get("nonce") != callback_data.nonce or shop is None:
        await query.answer(texts("refund_stale", locale), show_alert=True)
        return
    await state.update_data(shop_refund=None)
    await query.answer()
    message = query.message if isinstance(query.message, Message) else None
    if message is not None:
        await message.edit_reply_markup(reply_markup=None)
    if callback_data.action is not ShopRefundAction.OK:
        if message is not None:
            await message.answer(texts("refund_cancelled", locale))
        return
    done = await shop.staff_refund(
        staff_id=person.telegram_id or 0,
        charge_id=str(pending.get("charge_id") or ""),
        note=str(pending.get("note") or ""),
    )
    if message is None:
        return
    if done is None:
        await message.answer(texts("refund_stale", locale))
        return
    await message.answer(texts(f"refund_shop_{done.outcome.value}", locale, shop_refund=done))


async def answer_refund(
    query: CallbackQuery,
    callback_data: RefundCb,
    staff_refunds: StaffRefunds,
    staff_texts: StaffTexts,
    catalog: Catalog,
    locale: str,
    state: FSMContext,
    person: PersonRecord,
) -> None:
    texts = staff_texts
    pending = (await state.get_data()).get("refund")
    if (
        not pending
        or pending.get("nonce") != callback_data.nonce
        or callback_data.payment not in pending.get("payments", [])
    ):
        await query.answer(texts("refund_stale", locale), show_alert=True)
        return
    message = query.message if isinstance(query.message, Message) else None
    note = str(pending.get("note") or "")
    staff_id = person.telegram_id or 0
    if callback_data.action is RefundAction.PICK:
        proposal = await staff_refunds.payment(callback_data.payment)
        await query.answer()
        if message is None:
            return
        await message.edit_reply_markup(reply_markup=None)
        if proposal.outcome is not RefundOutcome.OK:
            payment = proposal.payments[0] if proposal.payments else None
            await message.answer(
                texts(
                    "refund_already",
                    locale,
                    charge_id=payment.telegram_charge_id if payment else "",
                    refunded_at=payment.refunded_at if payment else None,
                )
            )
            return
        proposal = RefundProposal(RefundOutcome.OK, proposal.person, proposal.payments, note)
        nonce = secrets.token_hex(4)
        await state.update_data(
            refund={"payments": [callback_data.payment], "note": note, "nonce": nonce}
        )
        await message.answer(
            _refund_text(texts, catalog, locale, proposal),
            reply_markup=_refund_buttons(texts, locale, proposal, nonce),
        )
        return
    # Taken out before applying, so a second tap finds nothing to do.
    await state.update_data(refund=None)
    await query.answer()
    if message is not None:
        await message.edit_reply_markup(reply_markup=None)
    if callback_data.action is not RefundAction.OK:
        if message is not None:
            await message.answer(texts("refund_cancelled", locale))
        return
    done = await staff_refunds.refund(
        staff_id=staff_id, payment_id=callback_data.payment, note=note
    )
    if message is None:
        return
    payment = done.payment
    if done.outcome is RefundOutcome.NOT_FOUND:
        await message.answer(texts("refund_stale", locale))
        return
    if done.outcome is not RefundOutcome.OK or payment is None:
        await message.answer(
            texts(
                "refund_already",
                locale,
                charge_id=payment.telegram_charge_id if payment else "",
                refunded_at=payment.refunded_at if payment else None,
            )
        )
        return
    await message.answer(
        texts(
            "refund_done",
            locale,
            name=done.person.first_name if done.person else None,
            amount=payment.amount,
            charge_id=payment.telegram_charge_id,
            ended=done.ended,
            until=done.until,
            told=done.told,
        )
    )


async def show_audit(
    message: Message,
    staff_tools: StaffTools,
    staff_texts: StaffTexts,
    locale: str,
    person: PersonRecord,
) -> None:
    entries = await staff_tools.audit_log(staff_id=person.telegram_id or 0)
    await message.answer(staff_texts("audit_list", locale, entries=entries))


def build_router() -> Router:
    router = Router(name="staff_tools")
    router.message.filter(IsStaff())
    router.callback_query.filter(IsStaff())
    router.message.register(show_stats, Command("stats"))
    router.message.register(show_user, Command("user"))
    router.message.register(ask_grant, Command("grant"))
    router.message.register(ask_refund, Command("refund"))
    router.message.register(show_audit, Command("audit"))
    router.callback_query.register(answer_grant, GrantAct.filter(F.action.in_({"ok", "no"})))
    router.callback_query.register(answer_refund, RefundCb.filter())
    router.callback_query.register(answer_shop_refund, ShopRefundCb.filter())
    return router
