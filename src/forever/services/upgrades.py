"""Who should be shown an upgrade now (catalog rules), recorded so it is at most once per
cap period. The chat side sends the prompt (telegram/upgrade_prompts.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from forever.db.models import Event, Person, Subscription
from forever.db.repositories.customers import usage_of
from forever.domain.events import EventKind
from forever.domain.lifecycle import State
from forever.domain.upgrades import PromptFacts, PromptRule, upgrade_rule
from forever.services.events import record_event
from forever.services.memberships import to_membership

if TYPE_CHECKING:
    from forever.app import Container


@dataclass(frozen=True, slots=True)
class DuePrompt:
    person_id: int
    telegram_id: int
    language: str
    name: str | None
    from_plan: str
    to_plan: str
    rule: PromptRule
    usage: int


async def claim_due_prompts(
    container: Container, now: datetime, limit: int = 500
) -> list[DuePrompt]:
    """Find the people due a prompt and record UPGRADE_PROMPTED for each (committed before
    sending, so a repeated sweep never prompts twice)."""
    catalog = container.catalog
    rules = catalog.upgrade
    due: list[DuePrompt] = []
    async with container.sessions.begin() as session:
        rows = (
            await session.execute(
                select(Subscription, Person)
                .join(Person, Person.id == Subscription.person_id)
                .where(Subscription.state.in_([State.TRIAL.value, State.ACTIVE.value]))
                .where(Person.telegram_id.is_not(None))
                .where(Person.blocked_at.is_(None))
                .where(Person.erased_at.is_(None))
                .order_by(Subscription.id)
                .limit(limit)
            )
        ).all()
        for sub, person in rows:
            m = to_membership(sub)
            higher = catalog.next_tier_up(m.plan_id or "")
            if higher is None:
                continue
            plan = catalog.plan(m.plan_id or "")
            last = dict(
                (
                    await session.execute(
                        select(Event.kind, func.max(Event.at))
                        .where(Event.person_id == person.id)
                        .where(
                            Event.kind.in_(
                                [EventKind.UPGRADE_PROMPTED.value, EventKind.CANCELED.value]
                            )
                        )
                        .group_by(Event.kind)
                    )
                ).all()
            )
            facts = PromptFacts(
                membership=m,
                trial_started_at=person.trial_used_at,
                trial_days=catalog.trial.days,
                usage=await usage_of(session, person.id, rules.usage_metric, now),
                usage_limit=plan.usage_limit if plan else None,
                has_higher_tier=True,
                last_prompt_at=last.get(EventKind.UPGRADE_PROMPTED.value),
                last_cancel_at=last.get(EventKind.CANCELED.value),
            )
            rule = upgrade_rule(facts, rules, now)
            if rule is None:
                continue
            record_event(
                session,
                EventKind.UPGRADE_PROMPTED,
                now,
                person.id,
                from_plan=m.plan_id,
                to_plan=higher.id,
                rule=rule.value,
            )
            assert person.telegram_id is not None
            due.append(
                DuePrompt(
                    person.id,
                    person.telegram_id,
                    person.language,
                    person.first_name,
                    m.plan_id or "",
                    higher.id,
                    rule,
                    facts.usage,
                )
            )
    return due
