"""When to suggest a higher tier: catalog rules over trial progress and usage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from forever.domain.catalog import UpgradeRules
from forever.domain.lifecycle import Membership, State


class PromptRule(StrEnum):
    TRIAL_PROGRESS = "trial_progress"
    USAGE = "usage"


@dataclass(frozen=True, slots=True)
class PromptFacts:
    membership: Membership
    trial_started_at: datetime | None
    trial_days: int
    usage: int
    usage_limit: int | None  # the current tier's limit; None: no usage rule for it
    has_higher_tier: bool
    last_prompt_at: datetime | None
    last_cancel_at: datetime | None


def upgrade_rule(facts: PromptFacts, rules: UpgradeRules, now: datetime) -> PromptRule | None:
    """The rule that says "prompt now", or None (capped, quiet after a cancel, no value yet)."""
    m = facts.membership
    if not facts.has_higher_tier or m.state not in (State.TRIAL, State.ACTIVE):
        return None
    if facts.last_prompt_at is not None and now - facts.last_prompt_at < timedelta(
        days=rules.cap_days
    ):
        return None
    if facts.last_cancel_at is not None and now - facts.last_cancel_at < timedelta(
        days=rules.quiet_after_cancel_days
    ):
        return None
    if (
        m.state is State.TRIAL
        and rules.trial_progress is not None
        and facts.trial_started_at is not None
        and now - facts.trial_started_at
        >= timedelta(days=facts.trial_days) * min(rules.trial_progress, 1.0)
    ):
        return PromptRule.TRIAL_PROGRESS
    if (
        rules.usage_ratio is not None
        and facts.usage_limit is not None
        and facts.usage >= facts.usage_limit * rules.usage_ratio
    ):
        return PromptRule.USAGE
    return None
