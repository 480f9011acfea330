"""The console's dashboard against the hand-computed history of tests/unit/test_kpi.py: the
same figures as /stats (same code), plus the cohorts and revenue per plan, by hand below."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from forever.app import Container
from forever.db.models import Event, Person
from forever.domain.clock import ManualClock
from forever.web.console import COOKIE
from forever.web.server import build_web_app
from forever.wiring import console
from tests.conftest import STAFF_ID
from tests.unit.test_kpi import END, HISTORY


@pytest.fixture
async def client(container: Container, clock: ManualClock) -> AsyncIterator[TestClient]:
    clock.set(END)
    async with container.sessions.begin() as db:
        for person in range(1, 21):
            db.add(Person(id=person, telegram_id=5000 + person, created_at=END, language="en"))
        await db.flush()
        for e in HISTORY:
            db.add(Event(person_id=e.person_id, kind=e.kind, at=e.at, data=dict(e.data)))
    app = build_web_app(container, [console.install_routes])
    async with TestClient(TestServer(app)) as c:
        token = await console.auth(container).issue_link(STAFF_ID)
        response = await c.post(f"/console/login/{token}", allow_redirects=False)
        c.session.cookie_jar.clear()
        c._console = response.cookies[COOKIE].value  # type: ignore[attr-defined]
        yield c


async def get(client: TestClient, path: str) -> tuple[int, str]:
    response = await client.get(path, headers={"Cookie": f"{COOKIE}={client._console}"})  # type: ignore[attr-defined]
    return response.status, await response.text()


async def test_the_cards_show_the_stats_figures(client: TestClient) -> None:
    status, page = await get(client, "/console?days=30")
    assert status == 200
    # MRR 1975 at the end, 2150 at the start: -175 of 2150 = -8.1%.
    assert "1975 ⭐" in page and "-8.1%" in page and "(was 2150)" in page
    # Paid churn 4 of 8; trial conversion 2 of 6 (33.3%); save rate 2 of 5 (40.0%);
    # won back 1 of 4 (too few for a rate: counts only); revenue 3810 - 660 = 3150.
    assert "50.0%" in page and "33.3%" in page and "40.0%" in page
    assert "1 / 4" in page
    assert "3150 ⭐" in page and "received 3810, refunded 660" in page
    assert "<svg" in page and "<polyline" in page


async def test_each_table_exports_as_csv(client: TestClient) -> None:
    expected = {
        # Active at the end: basic P2, P13, P15; plus P1, P9, P16; pro P3, P6.
        "plans": "plan,active\r\nbasic,3\r\nplus,3\r\npro,2\r\n",
        # XTR received in the period: plus 300+210+300+210+300, basic 150+1500+90+150, pro 600.
        "revenue": "plan,stars_received\r\nbasic,1890\r\nplus,1320\r\npro,600\r\n",
        "reasons": "reason,count\r\ntoo_expensive,3\r\nnot_using,2\r\n",
        "offers": "offer,shown,saves,save_rate\r\ndiscount_30,3,1,\r\npause_month,2,1,\r\n",
        # October: P11 and P19, both still in trial on 1 November, both gone by now.
        # November: P9, P10, P12, P13; now P9 and P13 pay (P10 tries, P12's trial ran out).
        "cohorts": "signup_month,size,month_0,month_1\r\n2026-10,2,0,0\r\n2026-11,4,2\r\n",
    }
    for table, body in expected.items():
        status, text = await get(client, f"/console/export/{table}.csv?days=30")
        assert status == 200, table
        assert text == body, table
    status, daily = await get(client, "/console/export/daily.csv?days=30")
    lines = daily.splitlines()
    assert lines[0] == "day_end,active,paid_ended" and len(lines) == 31
    assert lines[-1] == f"{END.isoformat()},8,0"


async def test_bad_periods_get_a_message_and_unknown_tables_404(client: TestClient) -> None:
    for bad in ("0", "abc", "99999", "-3"):
        status, page = await get(client, f"/console?days={bad}")
        assert status == 400
        assert "whole number of days from 1 to 3650" in page
        assert 'aria-invalid="true"' in page
    assert (await get(client, "/console/export/secrets.csv"))[0] == 404
    assert (await get(client, "/console/export/plans.csv?days=x"))[0] == 404
