"""The outbox: every email and scheduled chat message is first a row with a unique key.

`enqueue` is the one way in. A key that already exists is a no-op, so a sweep (or a handler
delivered twice) can ask for the same message again without doubling it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from forever.db.models import OutboxMessage
from forever.db.transactions import SqlUnitOfWork

CHANNELS = ("email", "chat", "telegram")
# Rows in these states have not been handed over yet and may still be called off.
WAITING = ("pending", "sending")

_DATETIME_TAG = "$datetime"


def to_json(value: Any) -> Any:
    """Context values as JSON: aware datetimes become tagged ISO strings."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in an outbox context; pass an aware one")
        return {_DATETIME_TAG: value.astimezone(UTC).isoformat()}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    raise TypeError(f"cannot store {type(value).__name__} in an outbox context")


def from_json(value: Any) -> Any:
    """The inverse of `to_json`."""
    if isinstance(value, dict):
        if len(value) == 1 and _DATETIME_TAG in value:
            return datetime.fromisoformat(value[_DATETIME_TAG])
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def _insert_ignoring_duplicates(session: AsyncSession, target: Any = OutboxMessage) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(target).on_conflict_do_nothing(index_elements=["idempotency_key"])
    if dialect == "sqlite":
        return sqlite.insert(target).on_conflict_do_nothing(index_elements=["idempotency_key"])
    return insert(target)  # pragma: no cover - only the two supported databases


async def enqueue(
    session: AsyncSession,
    *,
    key: str,
    channel: str,
    person_id: int | None,
    template: str,
    context: dict[str, Any],
    marketing: bool,
    not_before: datetime,
    now: datetime,
) -> bool:
    """Queue one message. False (and nothing changed) when `key` was queued before.

    Does not commit: the caller's use case commits it with the change that caused it.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown outbox channel {channel!r}")
    if not key or len(key) > 200:
        raise ValueError("an outbox key is 1 to 200 characters")
    values = {
        "idempotency_key": key,
        "channel": channel,
        "person_id": person_id,
        "template": template,
        "context": to_json(context),
        "marketing": marketing,
        "status": "pending",
        "not_before": not_before,
        "attempts": 0,
        "created_at": now,
    }
    stmt = _insert_ignoring_duplicates(session).values(**values)
    result = await session.execute(stmt)
    return bool(result.rowcount)


async def cancel_marketing(session: AsyncSession, person_id: int) -> int:
    """Call off every marketing message still waiting for this person; returns how many.

    A row a sender holds right now ('sending') is called off too: the sender re-checks the
    status before it hands a message over.
    """
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.person_id == person_id)
        .where(OutboxMessage.marketing.is_(True))
        .where(OutboxMessage.status.in_(WAITING))
        .values(status="canceled", last_error="unsubscribed", claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


async def enqueue_many(session: AsyncSession, rows: list[dict[str, Any]], now: datetime) -> int:
    """Queue many messages with one statement; keys already queued are skipped.

    Each row has the keyword arguments of `enqueue` except `session` and `now`. Returns how
    many were new. Does not commit.

    The whole batch travels as one JSON parameter that the database unpacks into rows
    (json_to_recordset / json_each): one encoder pass in C on our side, no per-row or
    per-value parameter handling in the driver.
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        stamp: Any = datetime.isoformat  # read back by a timestamptz cast
        statement, created = _PG_INSERT_MANY, _aware(now)
    else:  # the column's own SQLite text format
        column_type = OutboxMessage.__table__.c.not_before.type
        stamp = column_type.dialect_impl(dialect).bind_processor(dialect)
        statement, created = _SQLITE_INSERT_MANY, stamp(_aware(now))
    stamps: dict[datetime, str] = {}  # most rows of a batch share a few send times

    def not_before(value: datetime) -> str:
        found = stamps.get(value)
        if found is None:
            found = stamps[value] = stamp(_aware(value))
        return found

    batch = [
        {
            "k": _checked_key(r["key"]),
            "ch": _checked_channel(r["channel"]),
            "p": r["person_id"],
            "t": r["template"],
            "c": r["context"],
            "m": bool(r["marketing"]),
            "nb": not_before(r["not_before"]),
        }
        for r in rows
    ]
    payload = json.dumps(batch, default=_json_default)
    result = await session.execute(statement, {"rows": payload, "now": created})
    return int(result.rowcount or 0)


def _checked_key(key: str) -> str:
    if not key or len(key) > 200:
        raise ValueError("an outbox key is 1 to 200 characters")
    return key


def _checked_channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise ValueError(f"unknown outbox channel {channel!r}")
    return channel


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value


def _json_default(value: Any) -> Any:
    """`to_json` for the one kind of context value json.dumps cannot write by itself."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in an outbox context; pass an aware one")
        return {_DATETIME_TAG: value.astimezone(UTC).isoformat()}
    raise TypeError(f"cannot store {type(value).__name__} in an outbox context")


_PG_INSERT_MANY = text(
    "INSERT INTO outbox (idempotency_key, channel, person_id, template, context, marketing,"
    " status, not_before, attempts, created_at)"
    " SELECT k, ch, p, t, c, m, 'pending', nb, 0, CAST(:now AS TIMESTAMPTZ)"
    " FROM json_to_recordset(CAST(:rows AS JSON))"
    " AS r(k TEXT, ch TEXT, p INTEGER, t TEXT, c JSON, m BOOLEAN, nb TIMESTAMPTZ)"
    " ON CONFLICT (idempotency_key) DO NOTHING"
)
# `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
_SQLITE_INSERT_MANY = text(
    "INSERT INTO outbox (idempotency_key, channel, person_id, template, context, marketing,"
    " status, not_before, attempts, created_at)"
    " SELECT json_extract(value, '$.k'), json_extract(value, '$.ch'),"
    " json_extract(value, '$.p'), json_extract(value, '$.t'), json_extract(value, '$.c'),"
    " json_extract(value, '$.m'), 'pending', json_extract(value, '$.nb'), 0, :now"
    " FROM json_each(:rows) WHERE true"
    " ON CONFLICT (idempotency_key) DO NOTHING"
)


class SqlOutbox:
    """services.ports.Outbox on the open unit of work."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def enqueue(
        self,
        *,
        key: str,
        channel: str,
        person_id: int | None,
        template: str,
        context: dict[str, Any],
        marketing: bool,
        not_before: datetime,
        now: datetime,
    ) -> bool:
        return await enqueue(
            self._uow.session,
            key=key,
            channel=channel,
            person_id=person_id,
            template=template,
            context=context,
            marketing=marketing,
            not_before=not_before,
            now=now,
        )

    async def enqueue_many(self, rows: list[dict[str, Any]], now: datetime) -> int:
        return await enqueue_many(self._uow.session, rows, now)

    async def cancel_marketing(self, person_id: int) -> int:
        return await cancel_marketing(self._uow.session, person_id)
