"""Add-ons and credit packs in the catalog, and the credit ledger's rules (issue 19)."""

import pytest

from forever.domain.catalog import CatalogError, parse_catalog
from forever.domain.economy import AmountError, debit, parse_amount
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
