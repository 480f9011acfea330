"""Every experiment message staff see renders in every locale, as HTML Telegram accepts, and
the table says what the numbers are."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

import pytest

from forever.catalogs import long_date
from forever.domain.catalog import parse_catalog
from forever.domain.experiment_stats import ArmData, decide
from forever.domain.experiments import HOLDOUT, ExperimentStatus
from forever.domain.locales import CATALOG_LOCALES as LOCALES
from forever.domain.whatif import PricePoint, what_if
from forever.rendering import Renderer
from forever.sandbox.fake_bot_api.html_entities import parse_html
from forever.services.experiment_results import Result, as_table
from forever.telegram.experiment_texts import ExperimentTexts
from tests.unit.test_experiments import BASE

texts = ExperimentTexts(Renderer())
CATALOG = parse_catalog(
    BASE + '[[experiments]]\nid = "price_basic"\nsurface = "plan_price"\nholdout = 0.5\n'
    'audience = { plans = ["basic"] }\nvariants = [{ id = "cheaper", monthly_stars = 120 }]\n'
)
EXPERIMENT = CATALOG.experiments[0]
VERDICT = decide(
    [
        ArmData(HOLDOUT, True, 300, 250, 50, stars=(150,) * 50),
        ArmData("cheaper", False, 310, 260, 90, stars=(120,) * 90),
    ],
    with_stars=True,
)
TABLE = as_table(Result(EXPERIMENT, ExperimentStatus.RUNNING, None, VERDICT, 90))
SAMPLE = {
    "items": [
        {
            "id": "price_basic",
            "surface": "plan_price",
            "status": "running",
            "winner": None,
            "exposed": 610,
        },
        {
            "id": "old <one>",
            "surface": "cancel_offer",
            "status": "concluded",
            "winner": "discount",
            "exposed": 12,
        },
    ],
    "r": TABLE,
    "id": "price_basic",
    "arm": "cheaper",
    "reason": "already_concluded",
    "surface": "trial_length",
    "status": "stopped",
    "days": 60,
    "decision": "no_difference",
    "winner": None,
    "note": "within_margin",
    "min_sample": 100,
    "margin": 0.02,
    "w": asdict(
        what_if("plus", 250, 300, [PricePoint(300, 200, 40, 8), PricePoint(250, 20, 6, 1)], 90.0)
    ),
    "plan": "plus <b>",
    "price": 250,
    "members": 3,
    "p": {
        "plan": "plus",
        "members": 3,
        "effective_at": datetime(2026, 12, 31, tzinfo=UTC),
        "rows": [
            {"billing": "monthly", "old": 250, "new": 300, "members": 2},
            {"billing": "yearly", "old": 2500, "new": 3000, "members": 1},
        ],
    },
}


def test_every_locale_has_the_same_experiment_messages() -> None:
    assert texts.names("ro") == texts.names("en")
    assert texts.names("it") == texts.names("en")


@pytest.mark.parametrize("locale", LOCALES)
def test_every_experiment_message_renders(locale: str) -> None:
    module = texts.module(locale)
    for name in texts.names(locale):
        macro = getattr(module, name)
        html = texts(name, locale, **{a: SAMPLE[a] for a in macro.arguments})
        assert html, name
        text, _ = parse_html(html)
        assert 0 < len(text) <= 4096, name


def test_the_table_gives_rates_intervals_differences_and_stars() -> None:
    text, _ = parse_html(texts("experiment_table", "en", r=TABLE))
    assert "Success: paid within 90 days; counted once that time has passed." in text
    assert "holdout (holdout): 300 exposed, 250 measured, 50 succeeded" in text
    assert "rate 20% (95%: 15.5%–25.4%)" in text
    assert "cheaper: 310 exposed, 260 measured, 90 succeeded" in text
    assert "vs holdout: +14.6 points" in text
    assert "⭐ per person: 41.5" in text
    assert "Winner: cheaper" in text


def test_whatif_says_what_it_cannot_estimate() -> None:
    text, _ = parse_html(texts("whatif_report", "en", w=SAMPLE["w"]))
    assert "What if plus cost 250 ⭐ a month?" in text
    assert "250 ⭐: not enough data yet: 80 more people with a known outcome" in text
    assert "Today, 300 ⭐:\n  conversion 20% (15%–26.1%)" in text


@pytest.mark.parametrize("locale", LOCALES)
def test_the_price_migration_preview_names_members_prices_and_date(locale: str) -> None:
    text, _ = parse_html(texts("migrate_preview", locale, p=SAMPLE["p"]))
    day = long_date(SAMPLE["p"]["effective_at"], locale)  # the reader's CLDR date
    assert day in text and "/migrateprice plus confirm" in text
    assert "250 ⭐ → 300 ⭐" in text and "2\u202f500 ⭐ → 3\u202f000 ⭐" in text
