"""When to suggest a higher tier: catalog rules over trial progress and usage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from forever.domain.catalog import UpgradeRules
from forever.domain.economy import AddOn
from forever.domain.lifecycle import Membership, State


class PromptRule(StrEnum):
    TRIAL_PROGRESS = "trial_progress"
    USAGE = "usage"
    # Pay-per-use credits bought in the last 30 days cost more than the higher plan's month.
    SPENDING = "spending"


@dataclass(frozen=True, slots=True)
class PromptFacts:
    membership: Membership
    trial_started_at: datetime | None
    trial_days: int
    usage: int
    usage_limit: int | None  # the current tier's limit; None: no usage rule for it
    has_higher_tier: bool
    last_prompt_at: datetime | None  # the last upgrade prompt or add-on suggestion
    last_cancel_at: datetime | None
    ppu_stars: int = 0  # Stars paid for credit packs in the last 30 days (not refunded)
    higher_monthly_stars: int | None = None  # the higher tier's monthly price


def may_prompt(facts: PromptFacts, rules: UpgradeRules, now: datetime) -> bool:
    """The cap shared by upgrade prompts and add-on suggestions: a trial or active member,
    nothing of the kind in the last `cap_days`, no cancel in the last quiet days."""
    if facts.membership.state not in (State.TRIAL, State.ACTIVE):
        return False
    if facts.last_prompt_at is not None and now - facts.last_prompt_at < timedelta(
        days=rules.cap_days
    ):
        return False
    return not (
        facts.last_cancel_at is not None
        and now - facts.last_cancel_at < timedelta(days=rules.quiet_after_cancel_days)
    )


def upgrade_rule(facts: PromptFacts, rules: UpgradeRules, now: datetime) -> PromptRule | None:
    """The rule that says "prompt now", or None (capped, quiet after a cancel, no value yet)."""
    m = facts.membership
    if not facts.has_higher_tier or not may_prompt(facts, rules, now):
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
    if spends_more_than_plan(facts.ppu_stars, facts.higher_monthly_stars):
        return PromptRule.SPENDING
    return None


def spends_more_than_plan(ppu_stars: int, monthly_stars: int | None) -> bool:
    """Pay-per-use spending over the last 30 days passed a plan's monthly price."""
    return monthly_stars is not None and ppu_stars > monthly_stars


def suggest_addon(
    addons: tuple[AddOn, ...], plan_id: str | None, usage: int, owned: frozenset[str]
) -> AddOn | None:
    """The first add-on (catalog order) with a usage threshold the member reached, that their
    plan may buy and that they do not have in force already."""
    for addon in addons:
        if (
            addon.suggest_usage is not None
            and usage >= addon.suggest_usage
            and addon.available_to(plan_id)
            and addon.id not in owned
        ):
            return addon
    return None
