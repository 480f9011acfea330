"""The console's catalog editor (owners only): GET /console/catalog (plans in a form, the
experiments as TOML, the versions), POST /console/catalog (save the plans),
POST /console/catalog/{offers,journeys,experiments} (save that section, edited as TOML),
POST /console/catalog/import (an uploaded catalog.toml), POST /console/catalog/rollback, and
GET /console/catalog.toml (the catalog in force, as a file)."""

from __future__ import annotations

from aiohttp import web

from forever.domain import console
from forever.domain.catalog import REQUIRED_LOCALES
from forever.domain.lazy_text import lazy
from forever.domain.locales import LOCALES
from forever.services.console import Staff
from forever.services.console_catalog import (
    PLAN_FIELDS,
    SECTIONS,
    ConsoleCatalog,
    plan_form,
    section_text,
)
from forever.web.console import HEADERS, ConsoleWeb
from forever.web.console_people import parse_id


class CatalogPages:
    def __init__(self, web_: ConsoleWeb, editor: ConsoleCatalog) -> None:
        self.web = web_
        self.editor = editor

    def install(self, app: web.Application) -> None:
        w = self.web
        app.router.add_get("/console/catalog", w.page(self.page, console.CATALOG))
        app.router.add_get("/console/catalog.toml", w.page(self.export, console.CATALOG))
        app.router.add_post("/console/catalog", w.action(self.save, console.CATALOG))
        app.router.add_post("/console/catalog/rollback", w.action(self.rollback, console.CATALOG))
        app.router.add_post("/console/catalog/import", w.action(self.import_, console.CATALOG))
        for section in SECTIONS:
            app.router.add_post(
                f"/console/catalog/{section}", w.action(self.save_section, console.CATALOG)
            )

    async def _render(
        self,
        staff: Staff,
        status: int = 200,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        notice: str = "",
        texts: dict[str, str] | None = None,
    ) -> web.StreamResponse:
        catalog = self.editor.current()
        sections = {name: section_text(catalog, name) for name in SECTIONS}
        sections.update(texts or {})
        return self.web.page_response(
            "catalog",
            status,
            staff,
            plans=[p.id for p in catalog.plans],
            locales=LOCALES,
            required=REQUIRED_LOCALES,
            default_locale=self.editor.default_locale,
            form=form if form is not None else plan_form(catalog),
            errors=errors or {},
            notice=notice,
            sections=sections,
            versions=await self.editor.history(),
        )

    async def page(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        return await self._render(staff)

    async def export(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        return web.Response(
            text=self.editor.export(),
            content_type="application/toml",
            charset="utf-8",
            headers={**HEADERS, "Content-Disposition": 'attachment; filename="catalog.toml"'},
        )

    async def save(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        posted = await request.post()
        plans = [p.id for p in self.editor.current().plans]
        form = {
            f"{pid}.{name}": str(posted.get(f"{pid}.{name}", ""))
            for pid in plans
            for name in PLAN_FIELDS
        }
        saved = await self.editor.edit_plans(staff_id=staff.telegram_id, form=form)
        if not saved.ok:
            return await self._render(staff, 400, form=form, errors=saved.errors)
        return await self._render(
            staff,
            notice=lazy(
                "Saved as version %(id)s: in force now, for new sales.", id=saved.version_id
            ),
        )

    async def save_section(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        section = request.path.rsplit("/", 1)[-1]
        posted = await request.post()
        text = str(posted.get(section, "")).replace("\r\n", "\n")
        saved = await self.editor.edit_section(
            staff_id=staff.telegram_id, section=section, text=text
        )
        if not saved.ok:
            return await self._render(staff, 400, errors=saved.errors, texts={section: text})
        return await self._render(
            staff, notice=lazy("Saved as version %(id)s: in force now.", id=saved.version_id)
        )

    async def import_(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        posted = await request.post()
        upload = posted.get("file")
        if not isinstance(upload, web.FileField):
            return await self._render(
                staff, 400, errors={"import": lazy("Choose a catalog.toml file.")}
            )
        try:
            text = upload.file.read().decode("utf-8")
        except UnicodeDecodeError:
            return await self._render(
                staff,
                400,
                errors={"import": lazy("The file is not UTF-8 text: not a catalog.toml.")},
            )
        saved = await self.editor.import_toml(
            staff_id=staff.telegram_id, text=text.replace("\r\n", "\n")
        )
        if not saved.ok:
            return await self._render(staff, 400, errors=saved.errors)
        return await self._render(
            staff,
            notice=lazy(
                "Imported %(file)s: saved as version %(id)s, in force now.",
                file=upload.filename or "catalog.toml",
                id=saved.version_id,
            ),
        )

    async def rollback(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        posted = await request.post()
        version = parse_id(posted.get("version"))
        if version is None:
            return await self._render(staff, 400, errors={"version": lazy("Choose a version.")})
        saved = await self.editor.rollback(staff_id=staff.telegram_id, version_id=version)
        if not saved.ok:
            return await self._render(staff, 400, errors=saved.errors)
        return await self._render(
            staff,
            notice=lazy(
                "Back to version %(old)s, saved as version %(id)s.",
                old=version,
                id=saved.version_id,
            ),
        )
