"""The catalog's versions saved from the console (services.console_catalog.CatalogVersions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from forever.db.models import CatalogVersion
from forever.db.transactions import SqlUnitOfWork
from forever.services.console_catalog import VersionLine


class SqlCatalogVersions:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add(
        self, *, staff_id: int, now: datetime, toml: str, changes: list[Any], note: str
    ) -> int:
        row = CatalogVersion(
            created_by=staff_id, created_at=now, toml=toml, changes=changes, note=note[:200]
        )
        self._uow.session.add(row)
        await self._uow.session.flush()
        return row.id

    async def text_of(self, version_id: int) -> str | None:
        return await self._uow.session.scalar(
            select(CatalogVersion.toml).where(CatalogVersion.id == version_id)
        )

    async def latest(self) -> tuple[int, str] | None:
        row = (
            await self._uow.session.execute(
                select(CatalogVersion.id, CatalogVersion.toml)
                .order_by(CatalogVersion.id.desc())
                .limit(1)
            )
        ).first()
        return (row[0], row[1]) if row else None

    async def lines(self, limit: int) -> list[VersionLine]:
        rows = await self._uow.session.scalars(
            select(CatalogVersion).order_by(CatalogVersion.id.desc()).limit(limit)
        )
        return [
            VersionLine(r.id, r.created_by, r.created_at, list(r.changes or []), r.note)
            for r in rows
        ]
