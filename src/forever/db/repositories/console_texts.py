"""The owner's text overrides (services.console_texts.TextVersions)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from forever.db.models import TextOverride
from forever.db.transactions import SqlUnitOfWork
from forever.services.console_texts import TextVersion


def _version(row: TextOverride) -> TextVersion:
    return TextVersion(
        row.id, row.locale, row.context, row.msgid, row.text, row.saved_by, row.saved_at
    )


class SqlTextVersions:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add(
        self, *, locale: str, context: str, msgid: str, text: str, staff_id: int, now: datetime
    ) -> int:
        row = TextOverride(
            locale=locale, context=context, msgid=msgid, text=text, saved_by=staff_id, saved_at=now
        )
        self._uow.session.add(row)
        await self._uow.session.flush()
        return row.id

    async def get(self, version_id: int) -> TextVersion | None:
        row = await self._uow.session.get(TextOverride, version_id)
        return _version(row) if row else None

    async def in_force(self) -> dict[tuple[str, str, str], str]:
        """The newest text per (locale, context, msgid); empty ones (back to the catalog)
        left out."""
        rows = await self._uow.session.execute(
            select(
                TextOverride.locale, TextOverride.context, TextOverride.msgid, TextOverride.text
            ).order_by(TextOverride.id)
        )
        newest = {(r[0], r[1], r[2]): r[3] for r in rows}
        return {key: text for key, text in newest.items() if text}

    async def history(self, locale: str, context: str, msgid: str) -> list[TextVersion]:
        rows = await self._uow.session.scalars(
            select(TextOverride)
            .where(
                TextOverride.locale == locale,
                TextOverride.context == context,
                TextOverride.msgid == msgid,
            )
            .order_by(TextOverride.id.desc())
            .limit(50)
        )
        return [_version(r) for r in rows]
