"""The console's dashboard (GET /console?days=N) and its CSV exports
(GET /console/export/TABLE.csv?days=N). Charts are SVG drawn here: no script, no CDN."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from html import escape

from aiohttp import web

from forever.domain.kpi import Kpis
from forever.domain.lazy_text import lazy
from forever.services.console import ConsoleDashboard, Dashboard, Staff
from forever.services.stats import MAX_DAYS
from forever.web.console import HEADERS, ConsoleWeb

DEFAULT_DAYS = 30
PERIODS = (7, 30, 90, 365)
TABLES = ("plans", "revenue", "reasons", "offers", "cohorts", "daily")


def parse_days(raw: str | None) -> int | None:
    """The period from the query string: 1..MAX_DAYS whole days; None when not valid."""
    if raw is None or raw == "":
        return DEFAULT_DAYS
    raw = raw.strip()
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        return None
    return int(raw)


CHART_TITLE = lazy("Active members (line) and paid memberships ended (bars) per day")


def chart_svg(kpis: Kpis, width: int = 640, height: int = 220, title: str = CHART_TITLE) -> str:
    """Active members per day (line) and paid memberships ended per day (bars); `title` in
    the reader's language."""
    points = kpis.series
    pad_left, pad_bottom, pad_top = 40, 24, 10
    inner_w, inner_h = width - pad_left - 10, height - pad_bottom - pad_top
    top = max([p.active for p in points] + [1])
    top_churn = max([p.churned for p in points] + [1])
    n = max(len(points), 1)
    step = inner_w / n
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="chart-title">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<line x1="{pad_left}" y1="{pad_top + inner_h}" x2="{width - 10}" '
        f'y2="{pad_top + inner_h}" stroke="#767676"/>',
        f'<text x="4" y="{pad_top + 10}" font-size="11" fill="#1b1b1b">{top}</text>',
        f'<text x="4" y="{pad_top + inner_h}" font-size="11" fill="#1b1b1b">0</text>',
    ]
    for i, p in enumerate(points):
        if p.churned:
            h = inner_h * p.churned / top_churn / 2
            x = pad_left + i * step
            parts.append(
                f'<rect x="{x:.1f}" y="{pad_top + inner_h - h:.1f}" '
                f'width="{max(step * 0.8, 1):.1f}" height="{h:.1f}" fill="#b42318" opacity="0.6"/>'
            )
    line = " ".join(
        f"{pad_left + (i + 0.5) * step:.1f},{pad_top + inner_h - inner_h * p.active / top:.1f}"
        for i, p in enumerate(points)
    )
    if line:
        parts.append(f'<polyline points="{line}" fill="none" stroke="#1d4e89" stroke-width="2"/>')
    if points:
        first, last = points[0].day.strftime("%Y-%m-%d"), points[-1].day.strftime("%Y-%m-%d")
        parts.append(
            f'<text x="{pad_left}" y="{height - 6}" font-size="11" fill="#1b1b1b">'
            f"{escape(first)}</text>"
        )
        parts.append(
            f'<text x="{width - 10}" y="{height - 6}" font-size="11" text-anchor="end" '
            f'fill="#1b1b1b">{escape(last)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def heat(value: float | None) -> str:
    """A background for a retention cell: light to dark blue, text colour kept readable."""
    if value is None:
        return "background:#f2f2f2;color:#1b1b1b"
    light = round(95 - 65 * value)  # lightness 95% (0) .. 30% (1)
    ink = "#ffffff" if light < 55 else "#1b1b1b"
    return f"background:hsl(212,60%,{light}%);color:{ink}"


def rows_of(board: Dashboard, table: str) -> tuple[list[str], list[list[object]]]:
    """One dashboard table as a header and rows (the page's tables and the CSV agree)."""
    k = board.kpis
    if table == "plans":
        return ["plan", "active"], [[p, n] for p, n in k.active_by_plan.items()]
    if table == "revenue":
        return ["plan", "stars_received"], [[p, n] for p, n in board.revenue_by_plan.items()]
    if table == "reasons":
        return ["reason", "count"], [[r, n] for r, n in k.cancel_reasons.items()]
    if table == "offers":
        return ["offer", "shown", "saves", "save_rate"], [
            [o, f.shown, f.saves, _rate(f.save_rate.value)] for o, f in k.offers.items()
        ]
    if table == "cohorts":
        width = max((len(c.active) for c in board.cohorts), default=0)
        return ["signup_month", "size", *[f"month_{i}" for i in range(width)]], [
            [c.month, c.size, *c.active] for c in board.cohorts
        ]
    if table == "daily":
        return ["day_end", "active", "paid_ended"], [
            [p.day.isoformat(), p.active, p.churned] for p in k.series
        ]
    raise KeyError(table)


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        # A cell starting with = + - @ would be a formula in a spreadsheet: quote it out.
        writer.writerow(
            [f"'{v}" if isinstance(v, str) and v and v[0] in "=+-@" else v for v in row]
        )
    return out.getvalue()


class DashboardPages:
    def __init__(self, web_: ConsoleWeb, dashboard: ConsoleDashboard, names: object) -> None:
        self.web = web_
        self.dashboard = dashboard
        self.names = names  # plan, reason and offer names (wiring builds them)

    def install(self, app: web.Application) -> None:
        app.router.add_get("/console", self.web.page(self.show))
        app.router.add_get("/console/export/{table}.csv", self.web.page(self.export))

    async def show(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        days = parse_days(request.query.get("days"))
        if days is None:
            board = await self.dashboard(DEFAULT_DAYS)
            return self.web.page_response(
                "dashboard",
                status=400,
                staff=staff,
                board=board,
                chart=chart_svg(board.kpis, title=self.web.translate(CHART_TITLE)),
                periods=PERIODS,
                days_error=lazy(
                    "The period is a whole number of days from 1 to %(most)s.", most=MAX_DAYS
                ),
                days_value=request.query.get("days", ""),
                heat=heat,
                names=self.names,
            )
        board = await self.dashboard(days)
        return self.web.page_response(
            "dashboard",
            staff=staff,
            board=board,
            chart=chart_svg(board.kpis, title=self.web.translate(CHART_TITLE)),
            periods=PERIODS,
            days_error="",
            days_value=str(days),
            heat=heat,
            names=self.names,
        )

    async def export(self, request: web.Request, staff: Staff) -> web.StreamResponse:
        table = request.match_info["table"]
        days = parse_days(request.query.get("days"))
        if table not in TABLES or days is None:
            return self.web.page_response("not_found", status=404, staff=staff)
        board = await self.dashboard(days)
        header, rows = rows_of(board, table)
        return web.Response(
            text=to_csv(header, rows),
            content_type="text/csv",
            charset="utf-8",
            headers={
                **HEADERS,
                "Content-Disposition": f'attachment; filename="{table}-{days}d.csv"',
            },
        )
