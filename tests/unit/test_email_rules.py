"""Pure email rules: quiet hours, backoff, time zones, MIME safety, journey config."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from forever.domain.catalog import CatalogError, Trigger, load_catalog, parse_catalog
from forever.domain.journeys import RETRY_CAP, quiet_until, retry_delay, zone_or_default
from forever.mail.message import HeaderInjection, Unsubscribe, build_message

CATALOG = Path(__file__).resolve().parents[2] / "catalog.toml"
TEXT = CATALOG.read_text(encoding="utf-8")
ROME = ZoneInfo("Europe/Rome")


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        (datetime(2026, 11, 23, 12, 0, tzinfo=UTC), datetime(2026, 11, 23, 12, 0, tzinfo=UTC)),
        # 22:30 in Rome -> 08:00 next morning in Rome (07:00 UTC)
        (datetime(2026, 11, 23, 21, 30, tzinfo=UTC), datetime(2026, 11, 24, 7, 0, tzinfo=UTC)),
        # 03:00 in Rome -> 08:00 the same day
        (datetime(2026, 11, 24, 2, 0, tzinfo=UTC), datetime(2026, 11, 24, 7, 0, tzinfo=UTC)),
        # summer time: 21:00 in Rome is 19:00 UTC; wake at 08:00 CEST = 06:00 UTC
        (datetime(2026, 7, 1, 19, 0, tzinfo=UTC), datetime(2026, 7, 2, 6, 0, tzinfo=UTC)),
    ],
)
def test_quiet_hours_delay_to_the_morning(utc: datetime, expected: datetime) -> None:
    assert quiet_until(utc, ROME, 21, 8) == expected


def test_quiet_hours_that_do_not_wrap_and_switched_off() -> None:
    noon = datetime(2026, 11, 23, 12, 30, tzinfo=UTC)
    assert quiet_until(noon, ZoneInfo("UTC"), 12, 14) == noon.replace(hour=14, minute=0)
    assert quiet_until(noon, ZoneInfo("UTC"), 8, 8) == noon


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    delays = [retry_delay(n, rng) for n in range(1, 12)]
    assert timedelta(seconds=24) <= delays[0] <= timedelta(seconds=36)
    assert delays[3] > delays[1] > delays[0]
    assert all(d <= RETRY_CAP * 1.2 for d in delays)
    assert len({retry_delay(3, random.Random(s)) for s in range(5)}) > 1  # jitter


def test_header_values_with_line_breaks_are_refused() -> None:
    base = {
        "mail_from": "Forever <hello@forever.test>",
        "to": "ana@example.com",
        "subject": "Hi",
        "html": "<html></html>",
        "text": "hi",
        "key": "k",
        "date": datetime(2026, 11, 23, tzinfo=UTC),
    }
    build_message(**base)
    for field, value in (
        ("subject", "Hi\r\nBcc: victim@example.com"),
        ("to", "ana@example.com\nBcc: x@example.com"),
    ):
        with pytest.raises(HeaderInjection):
            build_message(**{**base, field: value})
    with pytest.raises(HeaderInjection):
        build_message(**base, unsubscribe=Unsubscribe("https://x/u/1\r\nX: y"))


def test_a_nul_byte_in_a_header_is_refused_like_a_line_break() -> None:
    base: dict[str, Any] = {
        "mail_from": "Forever <news@example.com>",
        "to": "ana@example.com",
        "subject": "Hi",
        "html": "<html></html>",
        "text": "hi",
        "key": "k",
        "date": datetime(2026, 11, 23, tzinfo=UTC),
    }
    for field, value in (
        ("subject", "Hi\x00Bcc: victim@example.com"),
        ("to", "ana@example.com\x00"),
        ("mail_from", "Forever\x00 <news@example.com>"),
    ):
        with pytest.raises(HeaderInjection):
            build_message(**{**base, field: value})
    with pytest.raises(HeaderInjection):
        build_message(**base, unsubscribe=Unsubscribe("https://x/u/1\x00"))


def test_the_shipped_journeys() -> None:
    catalog = load_catalog(CATALOG)
    by_id = {j.id: j for j in catalog.journeys}
    assert by_id["winback"].days == (7, 30, 90)
    assert by_id["winback"].trigger is Trigger.ACCESS_ENDED
    assert by_id["winback"].offer_id_for("too_expensive") == "comeback_40"
    assert by_id["winback"].offer_id_for("not_using") is None
    assert by_id["winback"].offer_id_for(None) == "comeback_40"
    assert by_id["payment_failed"].days == (0, 2)
    assert not by_id["trial_ending"].marketing and by_id["inactive"].marketing


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('trigger = "access_ended"', 'trigger = "gone"', r"journeys\[7\]\.trigger: unknown"),
        ("days = [7, 30, 90]", "days = [30, 7]", r"journeys\[7\]\.days: .*increasing"),
        ('other = "lower_tier", default', 'other = "free_lunch", default', r"unknown offer"),
        ('default = "comeback_40" }', 'default = "pause_month" }', r"a pause cannot"),
        ('id = "inactive"', 'id = "welcome"', r"duplicate journey id"),
    ],
)
def test_journey_mistakes_name_the_line(old: str, new: str, message: str) -> None:
    assert old in TEXT
    bad = TEXT.replace(old, new)
    with pytest.raises(CatalogError, match=message) as info:
        parse_catalog(bad)
    line = int(str(info.value).split(":")[1])
    assert new.split(",")[0].split("}")[0].strip() in bad.splitlines()[line - 1]


def test_time_zone_comes_from_the_person_then_their_language() -> None:
    utc = ZoneInfo("UTC")
    assert zone_or_default("Asia/Tokyo", utc, "ro") == ZoneInfo("Asia/Tokyo")
    assert zone_or_default(None, utc, "ro") == ZoneInfo("Europe/Bucharest")
    assert zone_or_default("Not/AZone", utc, "it-IT") == ZoneInfo("Europe/Rome")
    assert zone_or_default(None, utc, "en") == utc
