"""Add-ons and credit packs in the catalog, and the credit ledger's rules (issue 19)."""

from datetime import UTC, datetime

import pytest

from forever.domain.catalog import CatalogError, parse_catalog
from forever.domain.economy import (
    AddonSale,
    AmountError,
    LedgerRow,
    crossed_low,
    debit,
    economy_kpis,
    parse_amount,
)
from forever.domain.upgrades import spends_more_than_plan, suggest_addon
from tests.unit.test_catalog import TEXT, line_of


def test_the_shipped_catalog_has_an_addon_and_a_credit_pack() -> None:
    catalog = parse_catalog(TEXT)
    coaching = catalog.addon("coaching")
    assert coaching is not None and coaching.stars == 150 and coaching.quantity == 1
    assert coaching.available_to("plus") and not coaching.available_to("basic")
    pack = catalog.credit_pack("credits_100")
    assert pack is not None and (pack.credits, pack.stars) == (100, 50)
    assert pack.name["ro"] == "100 de credite"


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        ("\nstars = 150\n", "\nstars = 0\n", "addons[0].stars", "between 1 and 10000"),
        ('plans = ["plus", "pro"]', 'plans = ["gold"]', "addons[0].plans", "unknown plan 'gold'"),
        ("\nquantity = 1\n", "\nquantity = 1\ndays = 30\n", "addons[0]", "not both"),
        ("\ncredits = 100\n", '\ncredits = "many"\n', "credit_packs[0].credits", "whole number"),
        ('id = "credits_100"', 'id = "Credits 100"', "credit_packs[0].id", "lowercase"),
    ],
)
def test_a_bad_economy_entry_names_file_line_and_field(
    old: str, new: str, field: str, message: str
) -> None:
    bad = TEXT.replace(old, new)
    with pytest.raises(CatalogError) as info:
        parse_catalog(bad, source="catalog.toml")
    text = str(info.value)
    assert f": {field}: " in text and message in text
    first_line = new.strip().splitlines()[0]
    if field.endswith(("stars", "plans", "credits", "id")):
        assert text.startswith(f"catalog.toml:{line_of(bad, first_line)}:")


def test_a_duplicate_addon_id_is_refused() -> None:
    extra = TEXT[TEXT.index("[[addons]]") :].split("\n\n")[0]
    with pytest.raises(CatalogError, match=r"addons\[1\]\.id: duplicate id 'coaching'"):
        parse_catalog(TEXT + "\n\n" + extra)


@pytest.mark.parametrize("raw", ["5", 5, " 7 ", 5.0])
def test_good_amounts(raw: object) -> None:
    assert parse_amount(raw) in (5, 7)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("-3", "at least 1"),
        (0, "at least 1"),
        ("10000001", "at most 1000000"),
        ("ten", "whole number"),
        (2.5, "whole number"),
        (True, "true/false"),
        (None, "whole number"),
    ],
)
def test_bad_amounts_are_refused_with_a_clear_message(raw: object, message: str) -> None:
    with pytest.raises(AmountError, match=message):
        parse_amount(raw)


def test_usage_is_all_or_nothing() -> None:
    assert debit(10, 4, partial=False).balance_after == 6
    assert debit(3, 4, partial=False) is None


def test_a_refund_after_spending_leaves_zero_and_a_shortfall() -> None:
    result = debit(30, 100, partial=True)
    assert (result.taken, result.shortfall, result.balance_after) == (30, 70, 0)


# --- the economy's figures in /stats, from a hand-computed history ----------------------------

_S = datetime(2026, 11, 1, tzinfo=UTC)
_E = datetime(2026, 12, 1, tzinfo=UTC)


def _day(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


SALES = [
    AddonSale(150, _day(11, 5), None),  # in the period, kept
    AddonSale(150, _day(11, 10), _day(11, 12)),  # in the period, refunded in it
    AddonSale(70, _day(10, 20), _day(11, 2)),  # bought before, refunded in the period
]
LEDGER = [
    LedgerRow("purchase", 100, _day(10, 25), "buy:x", 1, 50),  # before the period
    LedgerRow("usage", -10, _day(10, 26), "use:0", 1),  # before the period
    LedgerRow("purchase", 100, _day(11, 3), "buy:y", 1, 50),
    LedgerRow("usage", -30, _day(11, 4), "use:1", 1),
    LedgerRow("refund", -60, _day(11, 6), "refund:x", 1),  # October's pack: 50 ⭐ back
    LedgerRow("purchase", 1000, _day(11, 20), "buy:z", 2, 400),
    LedgerRow("usage", -200, _day(11, 21), "use:2", 2),
    LedgerRow("usage", -5, _day(12, 2), "use:3", 2),  # after the period
]


def test_economy_figures_of_a_known_history() -> None:
    k = economy_kpis(SALES, LEDGER, _S, _E)
    assert (k.addons_sold, k.addon_stars, k.addon_refunded_stars) == (2, 300, 220)
    assert k.addon_revenue == 80
    assert (k.packs_sold, k.pack_stars, k.pack_refunded_stars, k.credits_sold) == (2, 450, 50, 1100)
    assert k.credit_revenue == 400
    assert (k.credits_used, k.credit_users) == (230, 2)
    # ARPU: plans 600 ⭐ + add-ons 80 + credits 400, over 8 active members.
    assert k.total_revenue(600) == 1080
    assert k.arpu(600, 8) == 135.0
    assert k.arpu(600, 0) is None


def test_low_balance_is_crossed_once() -> None:
    assert crossed_low(25, 15, 20)
    assert crossed_low(21, 20, 20)  # reaching the threshold counts
    assert not crossed_low(20, 10, 20)  # already at or below it: no second notice
    assert not crossed_low(100, 50, 20)
    assert not crossed_low(100, 0, 0)  # 0: off


def test_suggested_add_on_fits_usage_plan_and_what_is_owned() -> None:
    catalog = parse_catalog(TEXT)  # the shipped one: coaching from 20 uses, low at 20 credits
    assert catalog.credit_low_balance == 20
    addons = catalog.addons
    assert suggest_addon(addons, "pro", 20, frozenset()) == catalog.addon("coaching")
    assert suggest_addon(addons, "pro", 19, frozenset()) is None  # below the threshold
    assert suggest_addon(addons, "basic", 50, frozenset()) is None  # not for Basic
    assert suggest_addon(addons, "pro", 50, frozenset({"coaching"})) is None  # has it
    bare = parse_catalog(TEXT.replace("[credits]\nlow_balance = 20\n", ""))
    assert bare.credit_low_balance == 0  # no [credits]: no notice


def test_pay_per_use_spending_passes_a_plan_price_only_above_it() -> None:
    assert spends_more_than_plan(301, 300)
    assert not spends_more_than_plan(300, 300)
    assert not spends_more_than_plan(1000, None)
