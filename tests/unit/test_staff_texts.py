"""Every staff message renders in every language (one shared template, the gettext catalogs),
as HTML Telegram accepts."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from forever.domain.economy import EconomyKpis
from forever.domain.kpi import compute
from forever.domain.locales import CATALOG_LOCALES
from forever.domain.promo import PromoFigures, PromoKind, PromoSpec
from forever.rendering import Renderer
from forever.sandbox.fake_bot_api.html_entities import parse_html
from forever.services.personalize import TemplateRefused
from forever.services.promo import Listing
from forever.services.referrals import PartnerLine
from forever.services.shop import RefundDone, ShopRefunded, ShopRefundProposal
from forever.telegram.staff_texts import StaffTexts
from tests.unit.test_kpi import END, HISTORY, START

texts = StaffTexts(Renderer())
WHEN = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
KPIS = compute(HISTORY, START, END)  # the hand-computed history of test_kpi.py

SAMPLE = {
    "shop_refund": ShopRefunded(RefundDone.OK, "ch_1", "credits_100", 50, 100, 70, 30),
    "proposal": ShopRefundProposal(
        RefundDone.OK, "ch_1", "credits_100", 50, 100, 70, "asked <b>", "Ana <i>", 4001
    ),
    "e": EconomyKpis(2, 300, 150, 3, 150, 50, 300, 120, 2),
    "all_revenue": 1250,
    "arpu": 62.5,
    "members": 20,
    "id": 7,
    "done": 40,
    "total": 100,
    "refusal": TemplateRefused("unknown placeholder 'x'", "unknown_name", "x<b>"),
    "kind": "plan",
    "value": "Plus <b>",
    "segment": "Everyone",
    "status": "done",
    "bar": "███░░░",
    "percent": 40,
    "rate": 28.04,
    "left": 125,
    "final": False,
    "delivered": 90,
    "blocked": 5,
    "failed": 1,
    "unsent": 4,
    "duration": 200.4,
    "cost": 1000,
    "balance": "12.5",
    "enough": False,
    "spent": "9.1",
    "out_of_stars": True,
    "k": KPIS,
    "lines": [PartnerLine("lumen", "Studio <Lumen>", "lumen", 20, 5, 2, 900)],
    "plan_names": {"plus": "Plus"},
    "reason_names": {"too_expensive": "Too expensive"},
    "offer_names": {"discount_30": "30% off"},
    "months": 1,
    "console_url": "https://forever.test/console/login/abc",
    "minutes": 10,
    "p": SimpleNamespace(
        first_name="Ana <i>",
        username="ana",
        telegram_id=4001,
        language="ro",
        email="ana@example.com",
        email_status="confirmed",
        blocked_at=WHEN,
    ),
    "s": SimpleNamespace(state="active", plan_id="plus", billing="grant", period_end=WHEN),
    "events": [SimpleNamespace(at=WHEN, kind="granted", data={"plan": "plus", "by": 1})],
    "entries": [
        SimpleNamespace(at=WHEN, actor_telegram_id=900001, action="grant", arguments={"days": 3})
    ],
    "plans": ["basic", "plus"],
    "plan": "gold",
    "plan_name": "Plus",
    "name": "Ana",
    "telegram_id": 4001,
    "until": WHEN,
    "text": "thirty",
    "who": "@nobody",
    "max_days": 3650,
    "days": 30,
    "told": True,
    "language": "Română",
    "languages": ["English", "Română"],
    "missing": ["Italiano"],
    "fallback": "English",
    "customer_name": "Ana <i>",
    "customer_username": "ana",
    "customer_id": 4001,
    "customer_language": "Română",
    "broadcast_id": 3,
    "payments": [
        SimpleNamespace(
            created_at=WHEN,
            plan_id="plus",
            billing="monthly",
            amount=300,
            telegram_charge_id="stx<1>",
            refunded_at=WHEN,
        ),
        SimpleNamespace(
            created_at=WHEN,
            plan_id="gold",
            billing="yearly",
            amount=3000,
            telegram_charge_id="stx2",
            refunded_at=None,
        ),
    ],
    "note": "charged <twice>",
    "amount": 300,
    "paid_at": WHEN,
    "charge_id": "stx<1>",
    "refunded_at": WHEN,
    "ended": False,
    "owner": "Ana <b>",
    "problem": "bad_percent",
    "known": ["1", "90"],
    "code": "spring<20>",
    "spec": PromoSpec(
        "SPRING20",
        PromoKind.PERCENT,
        percent=20,
        plans=("plus", "gold"),
        limit=100,
        expires_at=WHEN,
    ),
    "percent_kind": True,
    "disabled_now": True,
    "code_plans": ["Plus", "Gold <b>"],
    "link": "https://t.me/forever_bot?start=p_SPRING20",
    "codes": [
        Listing(PromoSpec("SPRING20", PromoKind.PERCENT, 20, plans=("plus",)), 3, False, True),
        Listing(PromoSpec("WEEK", PromoKind.DAYS, days=7), 0, True, False),
    ],
    "figures": PromoFigures(redeemed=4, paid=2, discount_stars=120),
    "points_figures": SimpleNamespace(
        outstanding=1510, outstanding_stars=755, earned=300, redeemed=100, expired=40
    ),
}


def test_every_locale_has_the_same_staff_messages() -> None:
    for locale in CATALOG_LOCALES:
        assert texts.names(locale) == texts.names("en"), locale


@pytest.mark.parametrize("locale", CATALOG_LOCALES)
def test_every_staff_message_renders(locale: str) -> None:
    module = texts.module(locale)
    for name in texts.names(locale):
        macro = getattr(module, name)
        wanted = {a: SAMPLE[a] for a in macro.arguments}
        html = texts(name, locale, **wanted)
        assert html, name
        text, _ = parse_html(html)
        assert 0 < len(text) <= 4096, name
        if "value" in wanted and name == "segment_name":
            assert "Plus <b>" in text  # markup in data is shown, not obeyed


def test_stats_show_rates_with_their_counts_and_names_not_keys() -> None:
    html = texts(
        "stats_report",
        "en",
        days=30,
        k=KPIS,
        plan_names={"basic": "Basic", "plus": "Plus", "pro": "Pro"},
        reason_names={"too_expensive": "Too expensive", "not_using": "Not using it enough"},
        offer_names={"discount_30": "30% off", "pause_month": "Pause 1 month"},
    )
    text, _ = parse_html(html)
    assert "converted to paid: 33.3% (2 of 6); still in their trial: 1" in text
    assert "MRR: 1\u202f975 ⭐ (-175 ⭐, -8.1% since the start: 2\u202f150 ⭐)" in text
    assert "Net revenue retention: 67.9% (1\u202f460 ⭐ of 2\u202f150 ⭐)" in text
    assert "Paid churn (paid memberships at the start that ended): 50.0% (4 of 8)" in text
    assert (
        "Cancellations: 6 (1 in a trial); reasons: Too expensive 3, Not using it enough 2" in text
    )
    assert "cancels that saw one): 40.0% (2 of 5)" in text
    assert "30% off: 1 of 3 (too few for a percentage)" in text
    assert "Offers accepted: Pause 1 month 1, 30% off 1, comeback_40 1" in text
    assert (
        "paid access ending): 1 of 4 (too few for a percentage); through a win-back offer: 1"
        in text
    )
    assert "Emails sent: 3, unsubscribed: 1" in text
    # Money as it moved: refunds are taken off revenue, and a refunded renewal is not one.
    assert "Revenue: 3\u202f150 ⭐ (3\u202f810 ⭐ received, 660 ⭐ refunded in 3 refunds)" in text
    assert "Renewals: 1" in text
    assert "too_expensive" not in text and "discount_30" not in text


@pytest.mark.parametrize(
    ("kind", "percent", "months", "name"),
    [
        ("pause", 0, 1, "Pause 1 month"),
        ("discount", 30, 0, "30% off"),
        ("lower_tier", 0, 0, "A lower tier"),
    ],
)
def test_offers_are_named_from_their_terms(kind: str, percent: int, months: int, name: str) -> None:
    assert texts("offer_name", "en", kind=kind, percent=percent, months=months) == name


@pytest.mark.parametrize(
    ("locale", "n", "people", "days"),
    [
        ("ru", 1, "Её получит <b>1</b> человек («Все»)", "на <b>1</b> день"),
        ("ru", 2, "Её получат <b>2</b> человека («Все»)", "на <b>2</b> дня"),
        ("ru", 5, "Её получат <b>5</b> человек («Все»)", "на <b>5</b> дней"),
        ("ru", 21, "Её получит <b>21</b> человек («Все»)", "на <b>21</b> день"),
        ("es", 1, "Llega a <b>1</b> persona (“Todos”)", "por <b>1</b> día"),
        ("es", 2, "Llega a <b>2</b> personas (“Todos”)", "por <b>2</b> días"),
        ("es", 21, "Llega a <b>21</b> personas (“Todos”)", "por <b>21</b> días"),
    ],
)
def test_staff_counts_take_the_languages_plural_forms(
    locale: str, n: int, people: str, days: str
) -> None:
    segment = texts("segment_name", locale, kind="all", value="")
    confirm = texts(
        "broadcast_confirm", locale, total=n, segment=segment, languages=["English"], fallback=""
    )
    assert people in confirm
    grant = texts("grant_confirm", locale, name="Ana", telegram_id=4001, plan_name="Plus", days=n)
    assert days in grant
    for html in (confirm, grant):
        parse_html(html)  # raises on markup Telegram would refuse


def test_staff_reply_is_one_template_in_every_language() -> None:
    renderer = Renderer()
    ru = renderer.chat("staff_reply", "ru", text="<b>")
    assert ru == "Вам отвечает наша команда:\n\n&lt;b&gt;"
    assert renderer.chat("staff_reply", "es", text="x").startswith("Nuestro equipo te responde:")
    assert renderer.chat("staff_reply", "ro", text="x").startswith("Echipa noastră îți răspunde:")
