"""The console's catalog editor (owners only): plan names and prices edited in forms, the
`[[experiments]]` tables edited as TOML text, each checked by the same parser as
catalog.toml, saved as versions (who, when, what changed), put in force at once, rolled back
to any earlier version, exported as catalog.toml.

A price applies to what is sold from then on: invoices already issued keep their amount,
and a Stars subscription renews at the price Telegram fixed when it began.
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from forever.domain.catalog import (
    REQUIRED_LOCALES,
    Catalog,
    CatalogError,
    parse_catalog,
)
from forever.domain.catalog_toml import dumps
from forever.domain.clock import Clock
from forever.domain.lazy_text import lazy
from forever.domain.locales import LOCALES
from forever.services.ports import UnitOfWork
from forever.services.staff import AuditLog

PLAN_FIELDS = ("monthly_stars", "yearly_stars", *(f"name_{loc}" for loc in LOCALES))
MAX_STARS = 100_000  # more than Telegram accepts for one payment; the parser decides the rest
MAX_NAME = 64


@dataclass(frozen=True, slots=True)
class VersionLine:
    id: int
    created_by: int
    created_at: datetime
    changes: list[Any]
    note: str


class CatalogVersions(Protocol):
    async def add(
        self, *, staff_id: int, now: datetime, toml: str, changes: list[Any], note: str
    ) -> int: ...

    async def text_of(self, version_id: int) -> str | None: ...

    async def latest(self) -> tuple[int, str] | None: ...

    async def lines(self, limit: int) -> list[VersionLine]: ...


@dataclass(frozen=True, slots=True)
class Saved:
    ok: bool
    version_id: int = 0
    changes: tuple[tuple[str, Any, Any], ...] = ()
    errors: dict[str, str] | None = None


def plan_form(catalog: Catalog) -> dict[str, str]:
    """The form's values for the catalog in force: `PLAN.FIELD` -> text."""
    form: dict[str, str] = {}
    for plan in catalog.plans:
        form[f"{plan.id}.monthly_stars"] = str(plan.monthly_stars)
        form[f"{plan.id}.yearly_stars"] = str(plan.yearly_stars)
        given = next(
            (p.get("name") for p in catalog.raw.get("plans", []) if p.get("id") == plan.id), None
        )
        for loc in LOCALES:
            # A name the catalog leaves out (ru, es) shows empty: it falls back, see catalog.py.
            value = given.get(loc, "") if isinstance(given, dict) else plan.name.get(loc, "")
            form[f"{plan.id}.name_{loc}"] = value
    return form


# The parts of catalog.toml edited as TOML text on the page: section -> its top-level keys.
SECTIONS: dict[str, tuple[str, ...]] = {
    "offers": ("offers", "cancel_reasons", "offer_policy"),
    "journeys": ("journeys",),
    "experiments": ("experiments",),
}
MAX_IMPORT = 256 * 1024  # characters: far more than a real catalog.toml
_NOT_TOML = re.compile(r"(?s)(.*?): not valid TOML \((.*)\)")


def catalog_error(error: CatalogError) -> str:
    """The parser's message; its fixed framing ("not valid TOML") in the reader's language,
    the place and the parser's own detail kept as they are."""
    text = str(error)
    found = _NOT_TOML.fullmatch(text)
    if found is None:
        return text
    return lazy("%(where)s: not valid TOML (%(detail)s)", where=found[1], detail=found[2])


def section_text(catalog: Catalog, section: str) -> str:
    """A section's tables in the catalog in force, as catalog.toml writes them."""
    found = {k: catalog.raw[k] for k in SECTIONS[section] if catalog.raw.get(k)}
    return dumps(found) if found else ""


def experiments_text(catalog: Catalog) -> str:
    """The `[[experiments]]` tables of the catalog in force, as catalog.toml writes them."""
    return section_text(catalog, "experiments")


def _changed(before: Any, after: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[tuple[str, Any, Any]] = []
        for key in list(before) + [k for k in after if k not in before]:
            out += _changed(before.get(key), after.get(key), f"{path}.{key}" if path else key)
        return out
    if (
        isinstance(before, list)
        and isinstance(after, list)
        and len(before) == len(after)
        and all(isinstance(v, dict) for v in before + after)
    ):
        out = []
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            label = str(b.get("id", i)) if isinstance(b, dict) else str(i)
            out += _changed(b, a, f"{path}[{label}]")
        return out
    return [] if before == after else [(path, before, after)]


class ConsoleCatalog:
    def __init__(
        self,
        uow: UnitOfWork,
        versions: CatalogVersions,
        audit: AuditLog,
        clock: Clock,
        current: Callable[[], Catalog],
        put_in_force: Callable[[Catalog], None],
        default_locale: str = "en",
    ) -> None:
        self.uow = uow
        self.default_locale = default_locale  # what a name left out in ru or es falls back to
        self.versions = versions
        self.audit = audit
        self.clock = clock
        self.current = current
        self.put_in_force = put_in_force

    def export(self) -> str:
        return dumps(self.current().raw)

    async def history(self, limit: int = 30) -> list[VersionLine]:
        async with self.uow.begin():
            return await self.versions.lines(limit)

    async def edit_plans(self, *, staff_id: int, form: dict[str, str]) -> Saved:
        """Check the form, then the whole catalog as the file would be; save and apply, or
        change nothing and say what is wrong, per field."""
        catalog = self.current()
        raw = copy.deepcopy(catalog.raw)
        errors: dict[str, str] = {}
        plans = raw.get("plans", [])
        for index, plan in enumerate(plans):
            pid = str(plan.get("id"))
            for name in ("monthly_stars", "yearly_stars"):
                key = f"{pid}.{name}"
                text = form.get(key, "").strip()
                if not text.isdigit() or not 0 < int(text) <= MAX_STARS:
                    errors[key] = lazy(
                        "A whole number of Stars from 1 to %(most)s.", most=MAX_STARS
                    )
                    continue
                plans[index][name] = int(text)
            names = dict(plan.get("name") or {})
            for loc in LOCALES:
                key = f"{pid}.name_{loc}"
                text = form.get(key, "").strip()
                if not text and loc not in REQUIRED_LOCALES:
                    names.pop(loc, None)  # left out: shown in the default language's name
                elif not text:
                    errors[key] = lazy(
                        "A name is needed in %(languages)s.", languages=", ".join(REQUIRED_LOCALES)
                    )
                elif len(text) > MAX_NAME:
                    errors[key] = lazy("At most %(num)s characters.", num=MAX_NAME)
                else:
                    names[loc] = text
            plans[index]["name"] = names
        if errors:
            return Saved(False, errors=errors)
        return await self._save(staff_id, raw, catalog.raw, note="plans edited")

    async def edit_experiments(self, *, staff_id: int, text: str) -> Saved:
        """The `[[experiments]]` tables, replaced by `text` (TOML, nothing else in it; empty:
        no experiments), checked with the whole catalog as the file would be; saved and in
        force at once, or nothing changes and the field says what is wrong. Staff's stop
        and promote (kept in the database) stay in force over a status set here."""
        return await self.edit_section(staff_id=staff_id, section="experiments", text=text)

    async def edit_section(self, *, staff_id: int, section: str, text: str) -> Saved:
        """One of SECTIONS (offers with cancel reasons and the offer policy; journeys;
        experiments) replaced by `text`: TOML with only that section's tables in it, a table
        left out is removed (the file's default applies). Checked with the whole catalog as
        the file would be; saved as a version and in force at once, or nothing changes and
        the field says what is wrong."""
        keys = SECTIONS[section]
        try:
            table = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            return Saved(
                False, errors={section: lazy("Not valid TOML: %(detail)s.", detail=str(error))}
            )
        extra = sorted(set(table) - set(keys))
        if extra:
            allowed = ", ".join(f"[{k}]" for k in keys)
            if section in ("experiments", "journeys"):
                allowed = f"[[{section}]]"
            return Saved(
                False,
                errors={
                    section: lazy(
                        "Only %(allowed)s tables here, not %(extra)s.",
                        allowed=allowed,
                        extra=repr(extra[0]),
                    )
                },
            )
        catalog = self.current()
        raw = copy.deepcopy(catalog.raw)
        for key in keys:
            if table.get(key):
                raw[key] = table[key]
            else:
                raw.pop(key, None)
        return await self._save(staff_id, raw, catalog.raw, note=f"{section} edited", field=section)

    async def import_toml(self, *, staff_id: int, text: str) -> Saved:
        """An uploaded catalog.toml, checked exactly as the file is at start (the error names
        the line and the field); saved as a version and in force at once, or nothing
        changes."""
        if len(text) > MAX_IMPORT:
            return Saved(False, errors={"import": lazy("The file is too large for a catalog.")})
        try:
            imported = parse_catalog(
                text, source="catalog.toml", default_locale=self.default_locale
            )
        except CatalogError as error:
            return Saved(False, errors={"import": catalog_error(error)})
        return await self._save(
            staff_id, imported.raw, self.current().raw, note="imported catalog.toml", field="import"
        )

    async def rollback(self, *, staff_id: int, version_id: int) -> Saved:
        async with self.uow.begin():
            text = await self.versions.text_of(version_id)
        if text is None:
            return Saved(False, errors={"version": lazy("No such version.")})
        try:
            target = parse_catalog(
                text, source=f"version {version_id}", default_locale=self.default_locale
            )
        except CatalogError as error:
            return Saved(False, errors={"version": catalog_error(error)})
        return await self._save(
            staff_id, target.raw, self.current().raw, note=f"rollback to version {version_id}"
        )

    async def _save(
        self,
        staff_id: int,
        raw: dict[str, Any],
        before: dict[str, Any],
        *,
        note: str,
        field: str = "catalog",
    ) -> Saved:
        text = dumps(raw)
        try:
            catalog = parse_catalog(
                text, source="the edited catalog", default_locale=self.default_locale
            )
        except CatalogError as error:
            message = str(error).split(": ", 1)[-1]
            return Saved(False, errors={field: message})
        changes = _changed(before, raw)
        if not changes:
            return Saved(False, errors={field: lazy("Nothing changed.")})
        now = self.clock.now()
        async with self.uow.begin():
            version_id = await self.versions.add(
                staff_id=staff_id,
                now=now,
                toml=text,
                changes=[list(c) for c in changes],
                note=note,
            )
            self.audit.record(
                staff_id,
                "catalog_saved",
                now,
                version=version_id,
                note=note,
                changes=[f"{p}: {b!r} -> {a!r}" for p, b, a in changes][:20],
            )
            await self.uow.commit()
        self.put_in_force(catalog)
        return Saved(True, version_id, tuple(changes))

    async def refresh(self) -> bool:
        """Put the newest saved version in force if it differs from the catalog in use (at
        start and on each sweep, so every instance follows the console's edits)."""
        async with self.uow.begin():
            latest = await self.versions.latest()
        if latest is None:
            return False
        catalog = parse_catalog(
            latest[1], source=f"version {latest[0]}", default_locale=self.default_locale
        )
        if catalog.raw == self.current().raw:
            return False
        self.put_in_force(catalog)
        return True
