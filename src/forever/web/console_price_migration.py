"""Moving existing members to the catalog's current price, from the console (owners only):
GET /console/catalog/migrate shows, per plan, the preview `/migrateprice PLAN` gives in chat
(who would move, from which price to which, from when), each with a Confirm button carrying
the preview's token; POST /console/catalog/migrate (plan, token) confirms it.

The use case is the chat's (services/price_migration.py `PriceMigration`): a confirmation
goes ahead only while its token still names who moves, so a page shown before the members
changed moves nobody and shows the preview as it stands now, and a double submit moves and
tells each member once. The confirmation is audited as the chat's Confirm button is
(`price_migration`, `confirmed: button`), with `via: console`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from forever.domain import console
from forever.domain.catalog import Catalog
from forever.services.console import Staff
from forever.services.price_migration import Preview, PriceMigration
from forever.web.console import ConsoleWeb

PATH = "/console/catalog/migrate"
MAX_FIELD = 64  # a plan id or a token is far shorter


def preview_view(p: Preview, names: dict[str, str]) -> dict[str, Any]:
    """What the page shows of a preview: its rows as the chat's preview lists them."""
    effective: datetime | None = p.effective_at
    return {
        "plan": p.plan_id,
        "name": names.get(p.plan_id, p.plan_id),
        "members": p.members,
        "token": p.token,
        "date": effective.strftime("%Y-%m-%d") if effective else "",
        "new": dict(p.new),
        "rows": [
            {"billing": billing, "old": old, "new": p.new[billing], "members": n}
            for billing, counts in sorted(p.moving.items())
            for old, n in sorted(counts.items())
        ],
    }


class PriceMigrationPages:
    def __init__(
        self, web_: ConsoleWeb, migration: PriceMigration, catalog: Callable[[], Catalog]
    ) -> None:
        self.web = web_
        self.migration = migration
        self.catalog = catalog

    def install(self, app: web.Application) -> None:
        w = self.web
        app.router.add_get(PATH, w.page(self.page, console.CATALOG))
        app.router.add_post(PATH, w.action(self.confirm, console.CATALOG))

    def _names(self) -> dict[str, str]:
        return {p.id: p.name.get("en", p.id) for p in self.catalog().plans}

    async def _render(
        self,
        staff: Staff,
        status: int = 200,
        *,
        outcome: str = "",
        result: dict[str, Any] | None = None,
    ) -> web.StreamResponse:
        """Every plan's preview now. `outcome`, what a confirmation did (the template words
        it in the reader's language): done, nothing (nobody to move), already (a second
        submit), changed (who moves changed: nobody moved), no_plan; `result`: its preview."""
        names = self._names()
        previews = []
        for plan_id in names:
            found = await self.migration.preview(plan_id, staff_id=staff.telegram_id)
            if found is not None:
                previews.append(preview_view(found, names))
        return self.web.page_response(
            "migrate", status, staff, previews=previews, outcome=outcome, result=result
        )

    async def page(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        return await self._render(staff)

    async def confirm(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        posted = await request.post()
        plan_id = str(posted.get("plan", "")).strip()[:MAX_FIELD]
        # Always a token (never None, which would be the chat command's unchecked form):
        # an empty or forged one names nobody, so nothing moves.
        token = str(posted.get("token", "")).strip()[:MAX_FIELD]
        found = await self.migration.migrate(
            plan_id, staff_id=staff.telegram_id, expected=token, via="console"
        )
        if found is None:
            return await self._render(staff, 400, outcome="no_plan")
        result = preview_view(found, self._names())
        if not found.stale:
            outcome = "done" if found.members else "nothing"
            return await self._render(staff, outcome=outcome, result=result)
        if found.members == 0:
            # Mostly the second of two submits: the first one moved them.
            return await self._render(staff, outcome="already", result=result)
        return await self._render(staff, 409, outcome="changed", result=result)
