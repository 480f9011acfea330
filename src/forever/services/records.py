"""The stored records the use cases read and change, as the use cases see them.

Repositories (in `db/`) return objects of this shape; changes made to them inside a unit of
work are saved when it commits. In rule tests, plain dataclasses from `tests/fakes` stand in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol


class PersonRecord(Protocol):
    id: int
    telegram_id: int | None
    username: str | None
    first_name: str | None
    language: str
    timezone: str | None
    email: str | None
    email_status: str
    created_at: datetime
    last_seen_at: datetime | None
    blocked_at: datetime | None
    erased_at: datetime | None
    trial_used_at: datetime | None
    awaiting: str | None


class SubscriptionRecord(Protocol):
    id: int
    person_id: int
    state: str
    plan_id: str | None
    billing: str | None
    period_end: datetime | None
    auto_renew: bool
    paused_until: datetime | None
    paused_credit_seconds: int | None
    star_charge_id: str | None
    star_payload: str | None
    cancel_reason: str | None
    canceled_at: datetime | None
    started_at: datetime | None
    updated_at: datetime
    version: int


class EventRecord(Protocol):
    id: int
    person_id: int | None
    kind: str
    at: datetime
    data: dict[str, Any]
