"""Upgrade prompts (issue 13, item 7): they wait out the night in the person's zone, as
marketing email does, and compare the tiers as a list per tier, every feature in full."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from forever.config import LOCALES
from forever.domain.catalog import EmailRules
from forever.domain.marketing import Action, MarketingPolicy, Message, Recipient
from forever.rendering import Renderer
from tests.template_samples import CHAT

POLICY = MarketingPolicy.from_rules(EmailRules(), ZoneInfo("UTC"))
PROMPT = Message(channel="chat", marketing=False, attempts=1, has_person=True, quiet_hours=True)


def member(**fields: object) -> Recipient:
    values: dict[str, object] = {"telegram_id": 7, "state": "trial", "billing": "trial"}
    return Recipient(**(values | fields))  # type: ignore[arg-type]


def test_a_chat_prompt_at_night_in_the_persons_zone_waits_for_their_morning() -> None:
    night = datetime(2026, 12, 1, 20, 30, tzinfo=UTC)  # 22:30 in Bucharest
    verdict = POLICY.verdict(PROMPT, member(timezone="Europe/Bucharest"), night)
    assert verdict.action is Action.DEFER
    assert verdict.not_before == datetime(2026, 12, 2, 6, 0, tzinfo=UTC)  # 08:00 there
    # Same instant, daytime for someone in New York (15:30): it goes now, no consent needed.
    assert POLICY.verdict(PROMPT, member(timezone="America/New_York"), night).send
    # A reply to a tap (no quiet_hours flag) is never held back.
    answer = Message(channel="chat", marketing=False, attempts=1, has_person=True)
    assert POLICY.verdict(answer, member(timezone="Europe/Bucharest"), night).send


@pytest.mark.parametrize("locale", LOCALES)
def test_the_comparison_is_a_list_per_tier_with_every_feature_in_full(locale: str) -> None:
    sample = CHAT["upgrade_prompt"]
    long = "Weekly one-to-one session with a senior coach, booked in the app"
    higher = sample["higher"] | {"features": [*sample["higher"]["features"], long]}
    html = Renderer().chat("upgrade_prompt", locale, **(sample | {"higher": higher}))
    assert "<pre>" not in html and "…" not in html
    lines = html.splitlines()
    for tier in (sample["current"], higher):
        header = next(
            i for i, line in enumerate(lines) if line.startswith(f"<b>{tier['name']}</b>")
        )
        listed = lines[header + 1 : header + 1 + len(tier["features"])]
        assert listed == [f"• {feature}" for feature in tier["features"]]
