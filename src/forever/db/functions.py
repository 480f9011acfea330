"""SQL expressions that need different spellings on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class utc_day(FunctionElement[str]):
    """The UTC calendar day of a `UTCDateTime` column as 'YYYYMMDD' text (Python's
    `f"{instant:%Y%m%d}"` for the aware UTC datetime the column gives back)."""

    type = String()
    name = "utc_day"
    inherit_cache = True


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: Any, **kw: Any) -> str:
    # timestamptz AT TIME ZONE 'UTC' is the UTC wall time, whatever the session's zone.
    return f"to_char(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC', 'YYYYMMDD')"


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: Any, **kw: Any) -> str:
    # SQLite keeps these columns as naive UTC text ('YYYY-MM-DD HH:MM:SS.ffffff').
    return f"strftime('%Y%m%d', {compiler.process(element.clauses, **kw)})"
