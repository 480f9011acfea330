"""SQL expressions that need different spellings on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String
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


class utc_iso(FunctionElement[str]):
    """A `UTCDateTime` column as ISO 8601 text with its UTC offset, which
    `datetime.fromisoformat` reads back as the same instant (the outbox context's form)."""

    type = String()
    name = "utc_iso"
    inherit_cache = True


@compiles(utc_iso, "postgresql")
def _utc_iso_postgresql(element: utc_iso, compiler: Any, **kw: Any) -> str:
    value = compiler.process(element.clauses, **kw)
    return f"""to_char(({value}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""


@compiles(utc_iso, "sqlite")
def _utc_iso_sqlite(element: utc_iso, compiler: Any, **kw: Any) -> str:
    value = compiler.process(element.clauses, **kw)
    return f"(replace({value}, ' ', 'T') || '+00:00')"


class floor_days(FunctionElement[int]):
    """Whole days from the second `UTCDateTime` to the first, rounded down (Python's
    `(later - earlier).days`), to the microsecond."""

    type = Integer()
    name = "floor_days"
    inherit_cache = True


@compiles(floor_days, "postgresql")
def _floor_days_postgresql(element: floor_days, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(floor(extract(epoch FROM (({later}) - ({earlier}))) / 86400) AS INTEGER)"


@compiles(floor_days, "sqlite")
def _floor_days_sqlite(element: floor_days, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    # Naive UTC text 'YYYY-MM-DD HH:MM:SS.ffffff': whole seconds by strftime, then the
    # microseconds; integer arithmetic (julianday's float could round a boundary).
    micros = (
        f"((strftime('%s', {later}) - strftime('%s', {earlier})) * 1000000"
        f" + CAST(substr({later}, 21, 6) AS INTEGER) - CAST(substr({earlier}, 21, 6) AS INTEGER))"
    )
    day = 86_400_000_000
    return (
        f"(CASE WHEN {micros} >= 0 THEN {micros} / {day}"
        f" ELSE -((-{micros} + {day - 1}) / {day}) END)"
    )


class json_obj(FunctionElement[Any]):
    """A JSON object from alternating keys and values (json_object / json_build_object)."""

    name = "json_obj"
    inherit_cache = True


@compiles(json_obj, "postgresql")
def _json_obj_postgresql(element: json_obj, compiler: Any, **kw: Any) -> str:
    return f"json_build_object({compiler.process(element.clauses, **kw)})"


@compiles(json_obj, "sqlite")
def _json_obj_sqlite(element: json_obj, compiler: Any, **kw: Any) -> str:
    return f"json_object({compiler.process(element.clauses, **kw)})"
