"""The catalog is validated on start; mistakes name the file, line and field."""

from pathlib import Path

import pytest

from forever.domain.catalog import (
    CancelReason,
    CatalogError,
    OfferKind,
    load_catalog,
    parse_catalog,
)
from tests.conftest import ROOT

CATALOG = Path(__file__).resolve().parents[2] / "catalog.toml"
TEXT = CATALOG.read_text(encoding="utf-8")


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    count = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            count += 1
            if count == occurrence:
                return number
    raise AssertionError(needle)


def test_the_shipped_catalog_loads() -> None:
    catalog = load_catalog(CATALOG)
    assert [p.id for p in catalog.plans_by_tier()] == ["basic", "plus", "pro"]
    assert catalog.trial.days == 7
    plus = catalog.plan("plus")
    assert plus is not None and plus.yearly_saving_stars == 300 * 12 - 3000
    assert catalog.offer_for(CancelReason.TOO_EXPENSIVE).kind is OfferKind.DISCOUNT
    assert catalog.offer_for(CancelReason.MISSING_FEATURE) is None
    # Several offers per reason, in order of preference (item 9).
    assert [o.id for o in catalog.offers_for(CancelReason.TOO_EXPENSIVE)] == [
        "discount_30",
        "lower_tier",
    ]
    assert catalog.offers["longer_trial"].kind is OfferKind.LONGER_TRIAL
    assert catalog.offers["longer_trial"].days == 7
    assert catalog.offer_once_per_days == 180
    assert catalog.next_tier_down("plus").id == "basic"
    assert catalog.next_tier_up("pro") is None


def test_a_wrong_type_names_file_line_and_field() -> None:
    bad = TEXT.replace("monthly_stars = 300", 'monthly_stars = "300"')
    with pytest.raises(CatalogError) as info:
        parse_catalog(bad, source="catalog.toml")
    line = line_of(bad, 'monthly_stars = "300"')
    assert str(info.value).startswith(f"catalog.toml:{line}: plans[1].monthly_stars:")


def test_a_missing_translation_is_reported() -> None:
    bad = TEXT.replace('ro = "Plus", ', "", 1)
    with pytest.raises(CatalogError, match=r"plans\[1\]\.name\.ro: missing"):
        parse_catalog(bad)


def test_an_unknown_offer_for_a_reason_is_reported_at_its_line() -> None:
    bad = TEXT.replace('too_expensive = ["discount_30"', 'too_expensive = ["half_price"')
    with pytest.raises(CatalogError) as info:
        parse_catalog(bad)
    line = line_of(bad, 'too_expensive = ["half_price"')
    assert f":{line}: cancel_reasons.too_expensive: unknown offer 'half_price'" in str(info.value)


def test_a_single_offer_id_still_works_for_a_reason() -> None:
    text = TEXT.replace(
        'too_expensive = ["discount_30", "lower_tier"]', 'too_expensive = "discount_30"'
    )
    catalog = parse_catalog(text)
    assert [o.id for o in catalog.offers_for(CancelReason.TOO_EXPENSIVE)] == ["discount_30"]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'too_expensive = ["discount_30", "lower_tier"]',
            'too_expensive = ["discount_30", "discount_30"]',
            r"cancel_reasons\.too_expensive: each offer at most once",
        ),
        (
            'too_expensive = ["discount_30", "lower_tier"]',
            "too_expensive = [30]",
            r"cancel_reasons\.too_expensive: an offer id, \"none\", or a list",
        ),
        (
            'longer_trial = { kind = "longer_trial", days = 7 }',
            'longer_trial = { kind = "longer_trial" }',
            r"offers\.longer_trial\.days: is required",
        ),
        (
            "once_per_days = 180",
            "once_per_days = 0",
            r"offer_policy\.once_per_days: must be between 1 and 3650",
        ),
    ],
)
def test_offer_list_and_policy_mistakes_are_named(old: str, new: str, message: str) -> None:
    assert old in TEXT
    with pytest.raises(CatalogError, match=message) as info:
        parse_catalog(TEXT.replace(old, new))
    assert str(info.value).startswith("catalog.toml:")


def test_trial_must_name_an_existing_plan() -> None:
    bad = TEXT.replace('plan = "plus"', 'plan = "gold"')
    with pytest.raises(CatalogError, match=r"trial\.plan: unknown plan 'gold'"):
        parse_catalog(bad)


def test_broken_toml_gives_the_line() -> None:
    bad = TEXT.replace("[pause]", "[pause")
    with pytest.raises(CatalogError) as info:
        parse_catalog(bad, source="shop.toml")
    assert str(info.value).startswith(f"shop.toml:{line_of(bad, '[pause')}: not valid TOML")


def test_prices_out_of_range_are_refused() -> None:
    bad = TEXT.replace("monthly_stars = 600", "monthly_stars = 20000")
    with pytest.raises(CatalogError, match="between 1 and 10000"):
        parse_catalog(bad)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"nope\.toml: cannot read"):
        load_catalog(tmp_path / "nope.toml")


def test_a_late_charge_after_cancel_is_refunded_or_kept_and_nothing_else() -> None:
    from forever.domain.catalog import LateCharge

    assert load_catalog(CATALOG).late_charge_after_cancel is LateCharge.REFUND
    kept = TEXT.replace('late_charge_after_cancel = "refund"', 'late_charge_after_cancel = "keep"')
    assert parse_catalog(kept).late_charge_after_cancel is LateCharge.KEEP
    bad = TEXT.replace('late_charge_after_cancel = "refund"', 'late_charge_after_cancel = "yes"')
    with pytest.raises(CatalogError) as info:
        parse_catalog(bad, source="catalog.toml")
    line = line_of(bad, 'late_charge_after_cancel = "yes"')
    assert str(info.value) == (
        f"catalog.toml:{line}: payments.late_charge_after_cancel: "
        """must be "refund" or "keep", got 'yes'"""
    )
    # Left out: refunded.
    gone = TEXT.replace('late_charge_after_cancel = "refund"', "")
    assert parse_catalog(gone).late_charge_after_cancel is LateCharge.REFUND


def test_access_chats_are_checked_with_file_line_and_field() -> None:
    from forever.domain.catalog import CatalogError, JoinMode, parse_catalog

    base = (ROOT / "catalog.toml").read_text(encoding="utf-8")
    chats = (
        '\n[[chats]]\nkey = "club"\nchat_id = -1001\nkind = "channel"\n'
        'name = { en = "Club", ro = "Club", it = "Club" }\njoin = "one_time"\n'
    )
    good = base.replace('id = "pro"\n', 'id = "pro"\nchats = ["club"]\n', 1) + chats
    catalog = parse_catalog(good)
    assert [c.key for c in catalog.chats_of("pro")] == ["club"]
    assert catalog.chats[0].join is JoinMode.ONE_TIME and catalog.access.grace_hours == 0
    unknown = base.replace('id = "pro"\n', 'id = "pro"\nchats = ["vip"]\n', 1) + chats
    with pytest.raises(CatalogError, match=r"plans\[2\]\.chats: unknown chat 'vip'"):
        parse_catalog(unknown)
    with pytest.raises(CatalogError, match=r"chats\[0\]\.kind: must be \"channel\" or \"group\""):
        parse_catalog(base + chats.replace('"channel"', '"forum"'))
    with pytest.raises(CatalogError, match=r"chats\[0\]\.chat_id: a channel or supergroup id"):
        parse_catalog(base + chats.replace("-1001", "1001"))


# --- ru and es (issue 21): optional in the file, always there once parsed --------------------


def _without_ru_es(text: str) -> str:
    """The shipped catalog as it was before ru and es were offered."""
    import re

    text = re.sub(r', (ru|es) = "[^"]*"', "", text)
    return "\n".join(line for line in text.splitlines() if not line.startswith("features.ru"))


def test_the_shipped_catalog_names_everything_in_russian_and_spanish() -> None:
    catalog = load_catalog(CATALOG)
    basic = catalog.plan("basic")
    assert basic is not None
    assert (basic.name["ru"], basic.name["es"]) == ("Базовый", "Básico")
    assert basic.features["es"] == ("3 clases en vivo por semana", "Videoteca")
    addon = catalog.addon("coaching")
    assert addon is not None and addon.name["ru"] == "Сессия с коучем"
    assert catalog.credit_packs[0].name["es"] == "100 créditos"


def test_a_catalog_without_russian_or_spanish_stays_valid_and_falls_back_to_the_default() -> None:
    old = _without_ru_es(TEXT).replace(
        'features.es = ["3 clases en vivo por semana", "Videoteca"]\n', ""
    )
    assert "Базовый" not in old and "Básico" not in old
    basic = parse_catalog(old).plan("basic")
    assert basic is not None
    assert basic.name["ru"] == basic.name["es"] == "Basic"  # the default locale, English
    assert basic.features["ru"] == ("3 live classes a week", "Video library")
    in_romanian = parse_catalog(old, default_locale="ro")
    basic = in_romanian.plan("basic")
    assert basic is not None and basic.name["ru"] == "De bază"
    assert basic.description["es"].startswith("Trei cursuri")
    assert in_romanian.addons[0].name["es"] == "Sesiune de coaching"
    # A default the catalog does not name either (ru): English, the one always given.
    basic = parse_catalog(old, default_locale="ru").plan("basic")
    assert basic is not None and basic.name["ru"] == basic.name["es"] == "Basic"


def test_a_russian_name_may_be_given_alone_but_not_empty() -> None:
    only_ru = TEXT.replace(', es = "Básico"', "")
    basic = parse_catalog(only_ru, default_locale="it").plan("basic")
    assert basic is not None and (basic.name["ru"], basic.name["es"]) == ("Базовый", "Base")
    with pytest.raises(CatalogError, match=r"plans\[0\]\.name\.ru: missing or empty translation"):
        parse_catalog(TEXT.replace('ru = "Базовый"', 'ru = " "'))
    with pytest.raises(CatalogError, match=r"name\.ro: missing or empty translation"):
        parse_catalog(TEXT.replace('ro = "De bază", ', ""))  # en, ro and it stay required
