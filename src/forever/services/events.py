"""Writing to the append-only event history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from forever.db.models import Event


def record_event(
    session: AsyncSession, kind: str, at: datetime, person_id: int | None = None, **data: Any
) -> Event:
    """Adds an event to the session; the use case commits it with everything else."""
    event = Event(person_id=person_id, kind=kind, at=at, data=data)
    session.add(event)
    return event
